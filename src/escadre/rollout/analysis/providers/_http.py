"""The few HTTP calls providers make, on the standard library, and how their failures are worded.

``urllib.request`` rather than a client library: analysis needs plain GETs and POSTs with a timeout,
and Escadre must not grow a dependency for that (``httpx`` is not installed; ``requests`` only comes
with the Docker SDK, which layers above the driver must not rely on). Redirects are never followed: a
probe must see a ``302`` as such (``success_status`` decides whether it counts), and a webhook or
Prometheus answering with a redirect is misconfigured, which is better said than silently followed.

Credentials in a URL (``http://user:pw@host``) become a basic ``Authorization`` header. Messages never
include request headers (they carry tokens) nor the userinfo or query string of a URL.
"""

from __future__ import annotations

import base64
import http.client
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Failure = (OSError, http.client.HTTPException)
"""What a request raises when it gets no HTTP answer (urllib's ``URLError`` is an ``OSError``)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)
_DIRECT = urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def send(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float,
    direct: bool = False,
) -> Response:
    """Send one request and read the whole answer, whatever its status.

    Raises one of ``Failure`` when no answer comes (refused, timed out, reset) and ``ValueError`` for a
    URL urllib cannot use. ``direct`` ignores ``HTTP_PROXY`` (probes talk to instance addresses).
    """
    url, headers = _credentials(url, dict(headers or {}))
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    opener = _DIRECT if direct else _OPENER
    try:
        with opener.open(request, timeout=timeout) as answer:
            return Response(answer.status, answer.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return Response(exc.code, exc.read())


def _credentials(url: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    """Move ``user:password@`` out of ``url`` (urllib would take it for part of the host name) into an
    ``Authorization: Basic`` header, unless the headers already authorize."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url, headers
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if not any(k.lower() == "authorization" for k in headers):
        user, _, password = userinfo.partition(":")
        token = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
    return urllib.parse.urlunsplit(parts._replace(netloc=hostport)), headers


def describe(exc: BaseException, timeout: float | None = None) -> str:
    """A short reason for a request failure: ``connection refused``, ``timed out after 2s``..."""
    reason: object = exc
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
    if isinstance(reason, TimeoutError | socket.timeout):
        return f"timed out after {timeout:g}s" if timeout is not None else "timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, ConnectionResetError | http.client.RemoteDisconnected):
        return "connection closed without an answer"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host name ({reason.strerror})"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror[0].lower() + reason.strerror[1:]
    return str(reason) or type(reason).__name__


def safe_url(url: str) -> str:
    """``url`` without credentials nor query string, fit for a message."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def snippet(body: bytes, secrets: Sequence[str] = (), limit: int = 200) -> str:
    """The start of an answer's body for a message, with any of ``secrets`` masked (a server may echo
    the request's headers back)."""
    text = body.decode("utf-8", "replace").strip()
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "<redacted>")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."
