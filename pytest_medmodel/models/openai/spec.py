"""An ``openai:`` model spec taken apart: the server's base URL, its settings, and credentials kept secret.

``openai:<base-url>#model=<served name>&revision=<rev>&concurrency=4&timeout=60&retries=3&tokenizer=<folder>``
(everything after ``#`` optional; ``images=png`` or ``images=jpeg&jpeg_quality=90``: it takes images).
Credentials in the URL (``http://user:password@host/v1``) are taken out of it here, so nothing
downstream ever holds a URL that carries them; the API key comes from the environment. Errors name
the spec with its credentials replaced by ``***``.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass, field

from ...credentials import Secret, shown, split_credentials
from ..base import AdapterError

KEY_VARIABLES = ("MEDMODEL_OPENAI_API_KEY", "OPENAI_API_KEY")
OPTIONS = {"model", "revision", "concurrency", "timeout", "retries", "tokenizer", "images", "jpeg_quality"}


@dataclass(frozen=True)
class ServedSpec:
    """An ``openai:`` spec taken apart."""

    url: str
    """The base URL without credentials."""
    options: dict[str, str]
    credentials: Secret | None = field(default=None, repr=False)
    """``user:password@`` from the URL, as an HTTP Basic ``Authorization`` value."""


def parse_spec(spec: str) -> ServedSpec:
    """``openai:URL#k=v&...`` taken apart; a one-line error (credentials left out) for anything else."""
    where = f"--medmodel={shown(spec)}"
    raw, _, fragment = spec[len("openai:") :].partition("#")
    try:
        url, credentials = split_credentials(raw)
        parsed = urllib.parse.urlparse(url)
        usable = parsed.scheme in ("http", "https") and bool(parsed.hostname) and (parsed.port or 1) > 0
    except ValueError:  # a port that is not a number
        usable = False
    if not usable:
        raise AdapterError(f"{where}: write openai:http://host:port/v1 (the server's base URL)")
    options = dict(urllib.parse.parse_qsl(fragment, keep_blank_values=True))
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise AdapterError(f"{where}: unknown setting(s) {', '.join(unknown)}; use {', '.join(sorted(OPTIONS))}")
    for name in ("concurrency", "retries"):
        if name in options and not options[name].isdigit():
            raise AdapterError(f"{where}: {name} must be a whole number, got {options[name]!r}")
    images, quality = options.get("images"), options.get("jpeg_quality")
    if images is not None and images not in ("png", "jpeg"):
        raise AdapterError(f"{where}: images must be png or jpeg (how pictures are sent), got {images!r}")
    if quality is not None and (images != "jpeg" or not quality.isdigit() or not 1 <= int(quality) <= 95):
        raise AdapterError(f"{where}: jpeg_quality is a whole number from 1 to 95, with images=jpeg; got {quality!r}")
    timeout = options.get("timeout")
    if timeout is not None and (not re.fullmatch(r"\d+(\.\d+)?", timeout) or float(timeout) <= 0):
        raise AdapterError(f"{where}: timeout must be a positive number of seconds, got {timeout!r}")
    return ServedSpec(url.rstrip("/"), options, credentials)


def api_key() -> Secret | None:
    """The API key from the environment, as a ``Bearer`` header value."""
    for variable in KEY_VARIABLES:
        value = os.environ.get(variable)
        if value:
            return Secret(f"Bearer {value}", value)
    return None
