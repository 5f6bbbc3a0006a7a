"""Credentials that must never be seen: an API key, a password in a URL.

CI logs and JUnit files are often public, and pytest prints the arguments of
every frame of a traceback. So a credential lives in a :class:`Secret`, whose
repr and str are ``***``; a model spec or URL is shown through :func:`shown`,
which drops the ``user:password@`` part; and text a server sends back (an error
page may echo the request's headers) goes through :meth:`Secret.redact`.
"""

from __future__ import annotations

import base64
import re
import urllib.parse

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s?#]*)@")
"""``scheme://user:password@``: the part of a URL that carries credentials."""


class Secret:
    """A credential's value: read it with :meth:`reveal`, at the one place it is sent; shown as ``***``."""

    __slots__ = ("_forms", "_value")

    def __init__(self, value: str, *forms: str) -> None:
        self._value = value
        self._forms = tuple(f for f in {value, *forms} if len(f) >= 4)
        """Every spelling of the credential that may come back in text (the header value, the bare key)."""

    def reveal(self) -> str:
        return self._value

    def redact(self, text: str) -> str:
        """``text`` with every spelling of this credential replaced by ``***``."""
        for form in sorted(self._forms, key=len, reverse=True):
            text = text.replace(form, "***")
        return text

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret is not pickled (it would carry the credential along)")


def shown(text: str) -> str:
    """``text`` with the credentials of every URL in it replaced by ``***`` (``http://***@host/v1``)."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}***@", text)


def split_credentials(url: str) -> tuple[str, Secret | None]:
    """A URL without its ``user:password@`` part, and that part as an HTTP Basic ``Authorization`` value."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    clean = urllib.parse.urlunsplit(parts._replace(netloc=host))
    user, _, password = userinfo.partition(":")
    user, password = urllib.parse.unquote(user), urllib.parse.unquote(password)
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return clean, Secret(f"Basic {token}", token, password, userinfo)
