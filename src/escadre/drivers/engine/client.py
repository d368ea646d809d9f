"""Connecting to a Docker engine and translating the SDK's errors into Escadre's.

This module and its siblings are the only place that imports the ``docker`` SDK. The low-level
``APIClient`` is used throughout: it maps one-to-one onto Engine API calls, so we pay for exactly the
requests we make (the high-level client reloads objects after most calls).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import docker
import docker.errors
import requests.exceptions

from escadre.core.errors import (
    ConflictError,
    EscadreError,
    OperationFailed,
    TargetError,
    TargetUnreachableError,
    TemporaryTargetError,
    UsageError,
)

DEFAULT_SOCKET = "unix:///var/run/docker.sock"


@dataclass(frozen=True, slots=True)
class Connection:
    """How to reach an engine: ``host`` is ``unix://``, ``tcp://`` or ``ssh://``; TLS files optional."""

    host: str | None = None
    tls: bool = False
    tls_verify: bool = True
    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    timeout: float = 120.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Connection:
        return cls(
            host=config.get("host"),
            tls=bool(config.get("tls", False)),
            tls_verify=bool(config.get("tls_verify", True)),
            ca_cert=config.get("ca_cert"),
            client_cert=config.get("client_cert"),
            client_key=config.get("client_key"),
        )

    @property
    def endpoint(self) -> str:
        return self.host or os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET

    @property
    def is_local(self) -> bool:
        """True when the engine sees this machine's files (bind mounts of local paths work)."""
        host = self.endpoint
        if host.startswith(("unix://", "npipe://")):
            return True
        return bool(re.match(r"tcp://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?/?$", host))


def connect(conn: Connection, target: str) -> docker.APIClient:
    """An ``APIClient`` for ``conn`` with the API version negotiated; raises ``TargetUnreachableError``."""
    kwargs: dict[str, Any] = {"base_url": conn.endpoint, "version": "auto", "timeout": conn.timeout}
    if conn.tls or conn.ca_cert or conn.client_cert:
        from docker.tls import TLSConfig

        cert = (conn.client_cert, conn.client_key) if conn.client_cert and conn.client_key else None
        kwargs["tls"] = TLSConfig(client_cert=cert, ca_cert=conn.ca_cert, verify=conn.ca_cert or conn.tls_verify)
    if conn.endpoint.startswith("ssh://"):
        kwargs["use_ssh_client"] = True
    try:
        return docker.APIClient(**kwargs)
    except docker.errors.DockerException as exc:
        raise unreachable(conn, target, exc) from exc
    except (requests.exceptions.RequestException, OSError) as exc:
        raise unreachable(conn, target, exc) from exc


def unreachable(conn: Connection, target: str, exc: BaseException) -> TargetUnreachableError:
    detail = str(exc)
    if "Connection refused" in detail or "FileNotFoundError" in detail or "No such file" in detail:
        detail = "nothing is listening there"
    elif "Permission denied" in detail:
        detail = "permission denied on the socket"
    hint = (
        "start the engine (dockerd), or point --host / DOCKER_HOST at a running one"
        if conn.is_local
        else "check that the engine is running and reachable from here, and the TLS/SSH settings of the target"
    )
    return TargetUnreachableError(
        f"cannot reach the Docker engine at {conn.endpoint}: {detail}", target=target, hint=hint
    )


_PORT_TAKEN = re.compile(r"(?:Bind for |listen tcp[46]? |listen udp[46]? )([0-9a-f.:\[\]]*?):(\d+)")


def explain_api_error(exc: docker.errors.APIError, target: str, doing: str) -> EscadreError:
    """Turn an Engine API error into an Escadre error that says what to do."""
    text = str(exc.explanation or exc)
    status = exc.status_code or 0
    if "port is already allocated" in text or "address already in use" in text:
        m = _PORT_TAKEN.search(text)
        where = f"port {m.group(2)} on {m.group(1) or '0.0.0.0'}" if m else "a published port"
        return ConflictError(
            f"{doing}: {where} is already in use",
            target=target,
            hint="change the published port in the Compose file, or stop what is listening there",
        )
    if status == 409:
        return ConflictError(f"{doing}: {text}", target=target)
    if status == 404:
        return TargetError(f"{doing}: {text}", target=target)
    if status in (500, 502, 503) and ("timeout" in text.lower() or "try again" in text.lower()):
        return TemporaryTargetError(f"{doing}: {text}", target=target, delay=1.0)
    if status == 400:
        return UsageError(f"{doing}: the engine rejected the request: {text}")
    return TargetError(f"{doing}: {text}", target=target)


@contextmanager
def translate(target: str, doing: str, conn: Connection | None = None) -> Iterator[None]:
    """Run SDK calls, re-raising their failures as Escadre errors mentioning ``doing``."""
    try:
        yield
    except EscadreError:
        raise
    except docker.errors.ImageNotFound as exc:
        raise OperationFailed(f"{doing}: image not found: {exc.explanation}") from exc
    except docker.errors.APIError as exc:
        raise explain_api_error(exc, target, doing) from exc
    except (requests.exceptions.ConnectionError, ConnectionError) as exc:
        raise unreachable(conn or Connection(), target, exc) from exc
    except requests.exceptions.ReadTimeout as exc:
        raise TemporaryTargetError(f"{doing}: the engine did not answer in time", target=target) from exc
    except docker.errors.DockerException as exc:
        raise TargetError(f"{doing}: {exc}", target=target) from exc


def parse_time(value: str | None) -> float | None:
    """An Engine API timestamp (RFC 3339 with nanoseconds) as epoch seconds; ``None`` for the zero time."""
    if not value or value.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(value[:26].rstrip("Z") + "+00:00").timestamp()
    except ValueError:
        return None
