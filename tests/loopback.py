"""What every loopback JSON server of the serving tests shares: quiet handlers, JSON in and out, a thread.

A test server subclasses :class:`JsonHandler` for its routes and starts with
:func:`serve`, which gives back the server (``shutdown()`` stops it) and its
OpenAI-style base URL (``http://127.0.0.1:<port>/v1``).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JsonHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing, reads a JSON body and answers JSON."""

    def log_message(self, *args: Any) -> None:
        pass

    def read_json(self) -> Any:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def serve(handler: type[JsonHandler]) -> tuple[ThreadingHTTPServer, str]:
    """``handler`` served on a free loopback port, one thread per request; the server and its ``/v1`` URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"
