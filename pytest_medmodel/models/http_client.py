"""JSON over HTTP for serving backends: bounded concurrency, retries with backoff, per-request timeouts.

Standard library only (``urllib`` and threads), so a CI machine needs nothing
more to test a model behind an OpenAI-compatible server. What is retried: HTTP
429 and 5xx answers and dropped or refused connections, up to ``retries`` more
times, waiting ``backoff * 2**attempt`` seconds (or the server's ``Retry-After``,
when it sends one, capped at :data:`MAX_WAIT`). What is not: any other 4xx (the
request is wrong; asking again cannot help) and a timeout (a server that hangs
once hangs again; the run should say so now, not after every retry). Every
failure ends as one :class:`~pytest_medmodel.models.base.AdapterError` line
naming the server, the endpoint and what happened.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .base import AdapterError

MAX_WAIT = 30.0
"""The longest a retry waits, whatever Retry-After says."""


@dataclass
class JsonClient:
    """POSTs JSON to one base URL; :meth:`post_many` runs at most ``concurrency`` requests at once."""

    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    """Sent with every request (the Authorization header lives here, never in a message)."""
    timeout: float = 60.0
    retries: int = 3
    backoff: float = 0.5
    concurrency: int = 4
    sleep: Callable[[float], None] = time.sleep
    retried: int = 0
    """Requests sent again after a retryable failure (for the summary and tests)."""

    def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """One request, retried as the module says; the decoded JSON answer."""
        url = self.base_url.rstrip("/") + path
        data = json.dumps(body).encode("utf-8")
        for attempt in range(self.retries + 1):
            request = self._request(url, data)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    return dict(json.loads(answer.read().decode("utf-8")))
            except urllib.error.HTTPError as exc:
                detail = _detail(exc)
                if exc.code != 429 and exc.code < 500:
                    raise AdapterError(f"{url}: HTTP {exc.code} {detail}") from None
                problem, wait = f"HTTP {exc.code} {detail}", _retry_after(exc)
            except TimeoutError:
                raise AdapterError(f"{url}: no answer within {self.timeout:g} s (per-request timeout)") from None
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                    raise AdapterError(f"{url}: no answer within {self.timeout:g} s (per-request timeout)") from None
                problem, wait = f"cannot connect ({exc.reason})", None
            except (ConnectionError, http.client.HTTPException) as exc:
                problem, wait = f"connection dropped ({type(exc).__name__}: {exc})", None
            except json.JSONDecodeError as exc:
                raise AdapterError(f"{url}: the answer is not JSON ({exc})") from None
            if attempt == self.retries:
                tries = f" after {self.retries + 1} attempts" if self.retries else ""
                raise AdapterError(f"{url}: {problem}{tries}")
            self.retried += 1
            self.sleep(min(MAX_WAIT, wait if wait is not None else self.backoff * 2**attempt))
        raise AssertionError("unreachable")

    def post_many(self, path: str, bodies: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Every body posted, at most ``concurrency`` at once; answers in order (the first error stops all)."""
        if len(bodies) <= 1 or self.concurrency <= 1:
            return [self.post(path, body) for body in bodies]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(bodies))) as pool:
            return list(pool.map(lambda body: self.post(path, body), bodies))

    def _request(self, url: str, data: bytes | None = None) -> urllib.request.Request:
        """A POST with a JSON body, or a GET without one; the client's headers on either."""
        request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in self.headers.items():
            request.add_header(name, value)
        return request

    def get(self, path: str) -> dict[str, Any]:
        url = self.base_url.rstrip("/") + path
        try:
            with urllib.request.urlopen(self._request(url), timeout=self.timeout) as answer:
                return dict(json.loads(answer.read().decode("utf-8")))
        except urllib.error.HTTPError as exc:
            raise AdapterError(f"{url}: HTTP {exc.code} {_detail(exc)}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AdapterError(f"{url}: cannot reach the server ({reason}); is it running?") from None


def _detail(exc: urllib.error.HTTPError) -> str:
    try:
        text = exc.read().decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return (text or exc.reason or "").replace("\n", " ")[:200]


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    value = exc.headers.get("Retry-After") if exc.headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
