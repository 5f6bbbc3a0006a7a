"""A loopback server that answers like an OpenAI-compatible server until told to misbehave.

Loopback only, one thread per request, and bounded: every request is answered or
dropped within a few seconds, and the server shuts itself down after ``lifetime``
seconds even if a test forgets it. It records each request's headers, so a test can
tell whether a credential went somewhere it should not.

Faults (``mode``), applied to ``/completions`` answers after ``healthy`` good ones
(the model's resolution probe takes two), or to ``/models`` where it says so:

==================  =====================================================================
``redirect``        302 to another loopback server (``elsewhere``), which answers with no choices
``no_choices``      ``{"choices": []}``
``not_completion``  a JSON object without choices
``truncated``       ``{"choices": [`` and nothing more
``html``            an HTML error page with status 200
``list``            ``[1, 2, 3]``
``choices_str``     ``{"choices": "oops"}``
``latin1``          a body in Latin-1, not UTF-8
``no_logprobs``     completions without the log-probabilities the probe saw
``http401``         401 with a JSON error
``http500_big``     500 with a 10 MB body
``echo_headers``    500 whose body repeats the request's headers (and so its credentials)
``hang``            never answers
``slow``            sends its answer one byte every 0.3 s
``surrogate``       a valid JSON answer whose text is a lone surrogate (``"\\udce9"``)
``models_truncated``  ``/models`` announces more bytes than it sends
``markup``          a model id and texts full of Markdown, HTML, ANSI escapes and line breaks
==================  =====================================================================
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MARKUP = "![px](http://evil.test/p.png) [click](http://evil.test) <img src=x> \x1b[31mred\r\nrow|cell \u202eevil"


class HostileServer:
    def __init__(self, mode: str = "ok", healthy: int = 2, lifetime: float = 120.0, echo: bool = True) -> None:
        self.mode = mode
        self.healthy = healthy
        self.echo = echo
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.completions = 0
        self.elsewhere: HostileServer | None = None
        if mode == "redirect":
            self.elsewhere = HostileServer("not_completion", healthy=0, lifetime=lifetime)
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # a client that stops sending cannot hold a thread

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                server.requests.append((self.path, dict(self.headers)))
                model = MARKUP if server.mode == "markup" else "hostile-model"
                data = json.dumps({"data": [{"id": model}]}).encode()
                if server.mode == "models_truncated":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data) + 100))
                    self.end_headers()
                    self.wfile.write(data[:10])
                    return
                self._raw(200, data)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append((self.path, dict(self.headers)))
                server.completions += 1
                if server.completions <= server.healthy or server.mode in ("ok", "markup", "no_logprobs"):
                    self._json(200, server.good(body))
                    return
                server.misbehave(self, body)

            def _json(self, code: int, payload: Any) -> None:
                self._raw(code, json.dumps(payload).encode())

            def _raw(self, code: int, data: bytes, kind: str = "application/json", **headers: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:
                    pass

        self.handler = Handler
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self._reaper = threading.Timer(lifetime, self.close)
        self._reaper.daemon = True
        self._reaper.start()

    # ------------------------------------------------------------------ answers

    def good(self, body: dict[str, Any]) -> dict[str, Any]:
        """A character-level model: it echoes log-probabilities, always answers ' A', prefers 'A'."""
        prompt = str(body.get("prompt", ""))
        text = MARKUP if self.mode == "markup" else " A"
        if not body.get("logprobs") or (self.mode == "no_logprobs" and self.completions > self.healthy):
            return {"choices": [{"text": text}]}
        echo = bool(body.get("echo")) and self.echo
        tokens = list(prompt) + [" A"] if echo else [" A"]
        values: list[float | None] = [-0.5 if t.strip() == "A" else -1.5 for t in tokens]
        if echo:
            values[0] = None
        offsets = list(range(len(prompt))) + [len(prompt)] if echo else [len(prompt)]
        top = [None if v is None else {t: v, " B": -2.0} for t, v in zip(tokens, values, strict=True)]
        logprobs = {"tokens": tokens, "token_logprobs": values, "text_offset": offsets, "top_logprobs": top}
        return {"choices": [{"text": (prompt if echo else "") + " A", "logprobs": logprobs}]}

    def misbehave(self, handler: Any, body: dict[str, Any]) -> None:
        mode = self.mode
        if mode == "redirect":
            assert self.elsewhere is not None
            handler._raw(302, b"", Location=f"{self.elsewhere.url}/completions")
        elif mode == "no_choices":
            handler._json(200, {"choices": []})
        elif mode == "not_completion":
            handler._json(200, {"id": "x", "object": "text_completion"})
        elif mode == "truncated":
            handler._raw(200, b'{"choices": [')
        elif mode == "html":
            handler._raw(200, b"<html><body><h1>Bad Gateway</h1></body></html>", kind="text/html")
        elif mode == "list":
            handler._json(200, [1, 2, 3])
        elif mode == "choices_str":
            handler._json(200, {"choices": "oops"})
        elif mode == "latin1":
            handler._raw(200, '{"choices": [{"text": "café"}]}'.encode("latin-1"))
        elif mode == "http401":
            handler._json(401, {"error": {"message": "invalid api key"}})
        elif mode == "http500_big":
            handler._raw(500, b"x" * (10 * 1024 * 1024), kind="text/plain")
        elif mode == "echo_headers":
            said = f"rejected {handler.headers.get('Authorization')} from {handler.headers.get('Host')}"
            handler._raw(500, json.dumps({"error": said, "headers": dict(handler.headers)}).encode())
        elif mode == "hang":
            time.sleep(8)
        elif mode == "slow":
            data = json.dumps(self.good(body)).encode()
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            for i in range(len(data)):
                try:
                    handler.wfile.write(data[i : i + 1])
                    handler.wfile.flush()
                except OSError:
                    return
                time.sleep(0.3)
        elif mode == "surrogate":
            if body.get("logprobs"):
                handler._json(200, self.good(body))
            else:
                handler._raw(200, b'{"choices": [{"text": " \\udce9 A"}]}')
        else:
            raise AssertionError(f"unknown mode {mode}")

    def close(self) -> None:
        self._reaper.cancel()
        self.server.shutdown()
        self.server.server_close()
        if self.elsewhere is not None:
            self.elsewhere.close()
