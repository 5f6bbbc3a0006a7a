"""JSON over HTTP for serving backends: bounded concurrency, retries with backoff, a deadline per request.

Standard library only (``http.client`` and threads), so a CI machine needs
nothing more to test a model behind an OpenAI-compatible server.

What is retried: HTTP 429 and 5xx answers and dropped or refused connections,
up to ``retries`` more times, waiting ``backoff * 2**attempt`` seconds (or the
server's ``Retry-After``, when it sends one, capped at :data:`MAX_WAIT`). What is
not: any other 4xx (the request is wrong; asking again cannot help) and a
timeout (a server that hangs once hangs again; the run should say so now).

What is never done, because a server is not trusted:

* **following a redirect**: the request carries the API key, and a redirect
  could send it to another host (and that host's answer would become the
  model's). A 3xx is an error naming where it pointed;
* **waiting longer than** ``timeout`` **for a whole answer**: the limit covers
  connecting, the headers and the body together, so a server that sends one
  byte a second cannot hold a run past it;
* **reading more than** :data:`MAX_ANSWER_BYTES` (an error body: :data:`MAX_DETAIL_BYTES`);
* **showing a credential**: the ``Authorization`` value is a
  :class:`~pytest_medmodel.credentials.Secret`, and text from the server is
  redacted before it reaches a message.

Every failure ends as one :class:`~pytest_medmodel.models.base.AdapterError`
line naming the URL and what happened. Proxies from the environment are not
used (``http.client`` talks to the server directly).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ...credentials import Secret
from ...text_safety import inert, well_formed
from ..base import AdapterError

MAX_WAIT = 30.0
"""The longest a retry waits, whatever Retry-After says."""
MAX_ANSWER_BYTES = 64 * 1024 * 1024
"""The largest answer read (an echo of a long prompt with log-probabilities is a few hundred KB)."""
MAX_DETAIL_BYTES = 4096
"""How much of an error answer is read for its message."""


@dataclass
class JsonClient:
    """Sends JSON to one base URL; :meth:`post_many` runs at most ``concurrency`` requests at once."""

    base_url: str
    """Without credentials (see :func:`~pytest_medmodel.credentials.split_credentials`)."""
    authorization: Secret | None = field(default=None, repr=False)
    """The ``Authorization`` header's value, sent with every request and shown nowhere."""
    timeout: float = 60.0
    """Seconds one request may take from connecting to the last byte of its answer."""
    retries: int = 3
    backoff: float = 0.5
    concurrency: int = 4
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    retried: int = 0
    """Requests sent again after a retryable failure (for the summary and tests)."""

    def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """One POST, retried as the module says; the decoded JSON object it answered."""
        return self._send(path, json.dumps(body).encode("utf-8"))

    def get(self, path: str) -> dict[str, Any]:
        """One GET (retried like a POST); the decoded JSON object it answered."""
        return self._send(path, None)

    def post_many(self, path: str, bodies: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Every body posted, at most ``concurrency`` at once; answers in order (the first error stops all)."""
        if len(bodies) <= 1 or self.concurrency <= 1:
            return [self.post(path, body) for body in bodies]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(bodies))) as pool:
            return list(pool.map(lambda body: self.post(path, body), bodies))

    # ------------------------------------------------------------------ one request

    def _send(self, path: str, data: bytes | None) -> dict[str, Any]:
        url = self.base_url.rstrip("/") + path
        for attempt in range(self.retries + 1):
            try:
                status, headers, raw = self._exchange(url, data)
            except _Retryable as exc:
                problem, wait = str(exc), None
            else:
                if 200 <= status < 300:
                    return self._decoded(url, raw)
                detail = self._detail(raw)
                if 300 <= status < 400:
                    raise AdapterError(f"{url}: HTTP {status} {_redirect(headers)}")
                if status != 429 and status < 500:
                    hint = "; check MEDMODEL_OPENAI_API_KEY" if status in (401, 403) else ""
                    raise AdapterError(f"{url}: HTTP {status} {detail}{hint}")
                problem, wait = f"HTTP {status} {detail}", _retry_after(headers)
            if attempt == self.retries:
                tries = f" after {self.retries + 1} attempts" if self.retries else ""
                raise AdapterError(f"{url}: {problem}{tries}")
            self.retried += 1
            self.sleep(min(MAX_WAIT, wait if wait is not None else self.backoff * 2**attempt))
        raise AssertionError("unreachable")

    def _exchange(self, url: str, data: bytes | None) -> tuple[int, Mapping[str, str], bytes]:
        """Status, headers and body of one request, all within ``timeout`` seconds (or an error)."""
        parts = urllib.parse.urlsplit(url)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        try:
            connection = kind(parts.hostname or "", parts.port, timeout=self.timeout)
        except ValueError as exc:  # a port that is not a number
            raise AdapterError(f"{url}: not a usable address ({exc})") from None
        cut = threading.Event()
        watchdog: threading.Timer | None = None
        try:
            started = time.monotonic()
            connection.connect()  # bounded by the socket's own timeout
            # http.client hands the socket to the response (and forgets it) when the server closes after
            # answering, so the watchdog keeps its own reference.
            left = max(0.0, self.timeout - (time.monotonic() - started))
            watchdog = threading.Timer(left, _cut_off, (connection.sock, cut))
            watchdog.daemon = True
            watchdog.start()
            connection.request(
                "POST" if data is not None else "GET",
                (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                body=data,
                headers=self._headers(data is not None),
            )
            answer = connection.getresponse()
            limit = MAX_ANSWER_BYTES if 200 <= answer.status < 300 else MAX_DETAIL_BYTES
            raw = answer.read(limit + 1)
            if len(raw) <= limit and answer.length:  # the connection ended before the announced length
                raise http.client.IncompleteRead(raw, answer.length)
            if len(raw) > limit and 200 <= answer.status < 300:
                raise AdapterError(f"{url}: the answer is larger than {MAX_ANSWER_BYTES // 2**20} MiB; not read")
            return answer.status, {k.lower(): v for k, v in answer.getheaders()}, raw[:limit]
        except TimeoutError:
            raise AdapterError(f"{url}: no answer within {self.timeout:g} s (per-request timeout)") from None
        except (ConnectionRefusedError, socket.gaierror) as exc:
            raise _Retryable(f"cannot reach the server ({_reason(exc)}); is it running?") from None
        except (OSError, http.client.HTTPException) as exc:
            if cut.is_set():
                raise AdapterError(f"{url}: no answer within {self.timeout:g} s (per-request timeout)") from None
            if isinstance(exc, ssl.SSLError):
                raise AdapterError(f"{url}: TLS failed ({_reason(exc)})") from None
            raise _Retryable(f"connection dropped ({type(exc).__name__}: {_reason(exc)})") from None
        finally:
            if watchdog is not None:
                watchdog.cancel()
            connection.close()

    def _headers(self, has_body: bool) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if has_body:
            headers["Content-Type"] = "application/json"
        if self.authorization is not None:
            headers["Authorization"] = self.authorization.reveal()
        return headers

    def _decoded(self, url: str, raw: bytes) -> dict[str, Any]:
        """The answer as a JSON object with valid text throughout, or an error saying what it was instead."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AdapterError(f"{url}: the answer is not UTF-8 (byte 0x{raw[exc.start]:02x} at {exc.start})") from None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            start = self.shown(text[:60])
            raise AdapterError(
                f"{url}: the answer is not JSON ({exc.msg} at character {exc.pos}; it starts {start!r})"
            ) from None
        if not isinstance(value, dict):
            raise AdapterError(f"{url}: the answer is a JSON {type(value).__name__}, not an object")
        return valid_text(value) if "\\ud" in text.lower() else value

    def _detail(self, raw: bytes) -> str:
        """An error answer as one short, printable, credential-free line."""
        return self.shown(raw.decode("utf-8", "replace").strip())[:200]

    def shown(self, text: str) -> str:
        """Text from the server made fit for a message: one printable line, no credential in it."""
        if self.authorization is not None:
            text = self.authorization.redact(text)
        return inert(text)


class _Retryable(Exception):
    """A failure asking again may cure (the message says what it was)."""


def _cut_off(sock: socket.socket | None, cut: threading.Event) -> None:
    """The deadline passed: wake the request up wherever it blocks (sending, the headers or the body)."""
    cut.set()
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc or type(exc).__name__)


def _redirect(headers: Mapping[str, str]) -> str:
    target = urllib.parse.urlsplit(headers.get("location", ""))
    where = f" to {target.hostname}" if target.hostname else ""
    return (
        f"redirect{where}: not followed (the request carries credentials, and the answer would become the model's); "
        "give the address the server really answers at as the base URL"
    )


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def valid_text(value: Any) -> Any:
    """``value`` with every lone surrogate (JSON ``"\\udce9"``) in its strings replaced by U+FFFD."""
    if isinstance(value, str):
        return well_formed(value)
    if isinstance(value, list):
        return [valid_text(v) for v in value]
    if isinstance(value, dict):
        return {valid_text(k): valid_text(v) for k, v in value.items()}
    return value
