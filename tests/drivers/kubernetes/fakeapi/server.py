"""The HTTP face of the fake API server: the REST paths the official Python client calls.

``FakeCluster`` starts a threaded HTTP server on 127.0.0.1 (a random port), writes a kubeconfig for it and
runs the simulated controller. It serves discovery (``/version``, ``/api``, ``/api/v1``, ``/apis``,
``/apis/<group>[/<version>]``), and for every resource in ``resources.py``: GET, LIST (``labelSelector``,
``watch=true`` streaming JSON lines from a ``resourceVersion``), POST, PUT, PATCH (``apply-patch+yaml``
with ``fieldManager``/``force``, ``merge-patch+json``, ``strategic-merge-patch+json``), DELETE (with
``propagationPolicy``) and DELETE of a collection, the ``status`` subresource, pod logs (with ``follow``,
``tailLines``, ``timestamps``) and ``SelfSubjectAccessReview``.

Test knobs: ``gateway_api`` (the Gateway API group exists or not), ``forbidden`` namespaces (every request
in them is a 403, and access reviews say no), ``token`` (requests without it are 401), ``requests`` (every
request as ``(method, path)``, to assert what the driver did).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from tests.drivers.kubernetes.fakeapi.controller import Controller
from tests.drivers.kubernetes.fakeapi.resources import Catalog, Resource
from tests.drivers.kubernetes.fakeapi.store import ApiError, Obj, Store

VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0-escadre-fake",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.22",
    "compiler": "gc",
    "platform": "linux/amd64",
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def setup(self) -> None:
        super().setup()
        # answers are written in two parts (headers, body): without this, Nagle's algorithm and the client's
        # delayed ACK add 40 ms to every request
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # ------------------------------------------------------------------------------------ plumbing

    def _send(self, code: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, chunks: Iterator[bytes], content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in chunks:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            return yaml.safe_load(raw.decode())
        except yaml.YAMLError as exc:
            raise ApiError(400, "BadRequest", f"cannot parse the body: {exc}") from None

    def _dispatch(self, method: str) -> None:
        cluster = self.server.cluster
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        cluster.requests.append((method, url.path))
        try:
            if cluster.token and self.headers.get("Authorization") != f"Bearer {cluster.token}":
                raise ApiError(401, "Unauthorized", "Unauthorized")
            self._route(method, url.path, query)
        except ApiError as exc:
            self._send(exc.code, exc.status())

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ------------------------------------------------------------------------------------- routing

    def _route(self, method: str, path: str, query: dict[str, str]) -> None:
        cluster = self.server.cluster
        catalog = cluster.catalog
        parts = [p for p in path.split("/") if p]
        if parts == ["version"]:
            return self._send(200, VERSION)
        if parts == ["api"]:
            return self._send(200, catalog.api_versions())
        if parts == ["apis"]:
            return self._send(200, catalog.group_list())
        if parts[:1] == ["api"] and len(parts) == 2:
            return self._send(200, catalog.resource_list("", parts[1]))
        if parts[:1] == ["apis"] and len(parts) in (2, 3):
            found = catalog.group(parts[1]) if len(parts) == 2 else catalog.resource_list(parts[1], parts[2])
            if found is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return self._send(200, found)
        if parts[:1] == ["api"]:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        res = catalog.find(group, version, rest[0]) if rest else None
        if res is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        target_ns = namespace if res.namespaced else (name if res.kind == "Namespace" else None)
        if target_ns in cluster.forbidden:
            verb = {
                "GET": "get" if name else "list",
                "POST": "create",
                "PUT": "update",
                "PATCH": "patch",
                "DELETE": "delete",
            }[method]
            group_text = f' in API group "{res.group}"' if res.group else ' in API group ""'
            raise ApiError(
                403,
                "Forbidden",
                f'{res.plural}{"." + res.group if res.group else ""} is forbidden: User "escadre-test" cannot {verb} '
                f'resource "{res.plural}"{group_text} in the namespace "{target_ns}"',
                {"kind": res.plural},
            )
        if res.kind == "SelfSubjectAccessReview" and method == "POST":
            return self._send(201, self._review(self._body()))
        self._resource(method, res, namespace, name, sub, query)
        return None

    def _review(self, body: Obj) -> Obj:
        attrs = (body.get("spec") or {}).get("resourceAttributes") or {}
        allowed = attrs.get("namespace") not in self.server.cluster.forbidden
        body["status"] = {"allowed": allowed, **({} if allowed else {"reason": "no RBAC policy matched"})}
        return body

    def _resource(
        self,
        method: str,
        res: Resource,
        namespace: str | None,
        name: str | None,
        sub: str | None,
        query: dict[str, str],
    ) -> None:
        store = self.server.cluster.store
        manager = query.get("fieldManager") or self.headers.get("User-Agent", "unknown")[:32]
        if sub == "log" and res.kind == "Pod" and name is not None and method == "GET":
            return self._logs(namespace, name, query)
        if sub not in (None, "status"):
            raise ApiError(404, "NotFound", f"the fake has no {sub} subresource")
        if sub == "status" and not res.status:
            raise ApiError(404, "NotFound", f"{res.plural} have no status subresource")
        if name is None:
            if method == "GET" and query.get("watch") in ("true", "1"):
                return self._watch(res, namespace, query)
            if method == "GET":
                items, rv = store.list(res, namespace, query.get("labelSelector"))
                kind = f"{res.kind}List"
                return self._send(
                    200,
                    {
                        "kind": kind,
                        "apiVersion": res.group_version,
                        "metadata": {"resourceVersion": rv},
                        "items": items,
                    },
                )
            if method == "POST":
                return self._send(201, store.create(res, namespace, self._body(), manager))
            if method == "DELETE":
                items = store.delete_collection(res, namespace, query.get("labelSelector"))
                return self._send(
                    200, {"kind": f"{res.kind}List", "apiVersion": res.group_version, "metadata": {}, "items": items}
                )
            raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed on a collection")
        if method == "GET":
            return self._send(200, store.get(res, namespace, name))
        if method == "PUT":
            return self._send(200, store.replace(res, namespace, name, self._body(), manager, sub))
        if method == "PATCH":
            ctype = self.headers.get("Content-Type", "")
            force = query.get("force") in ("true", "1")
            existed = True
            if "apply-patch" in ctype:
                try:
                    store.get(res, namespace, name)
                except ApiError:
                    existed = False
            body = self._body()
            if query.get("dryRun") == "All":  # admitted, not stored
                body.setdefault("metadata", {}).setdefault("namespace", namespace)
                return self._send(200 if existed else 201, body)
            out = store.patch(
                res, namespace, name, body, ctype, query.get("fieldManager"), force=force, subresource=sub
            )
            return self._send(200 if existed else 201, out)
        if method == "DELETE":
            body = self._body() or {}
            policy = query.get("propagationPolicy") or body.get("propagationPolicy") or "Background"
            deleted = store.delete(res, namespace, name, policy)
            return self._send(
                200,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Success",
                    "details": {"name": name, "uid": deleted["metadata"]["uid"]},
                },
            )
        raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed")

    def _watch(self, res: Resource, namespace: str | None, query: dict[str, str]) -> None:
        store = self.server.cluster.store
        since = int(query.get("resourceVersion") or 0)
        timeout = float(query.get("timeoutSeconds") or 30)
        if not since:
            items, rv = store.list(res, namespace, query.get("labelSelector"))
            initial = [{"type": "ADDED", "object": o} for o in items]
            since = int(rv)
        else:
            initial = []
        events = store.watch(res, namespace, query.get("labelSelector"), since, timeout)
        try:
            first = list(initial)
            self._stream(
                (json.dumps(e).encode() + b"\n" for e in _chain(first, events, self.server.cluster.stopping)),
                "application/json",
            )
        except ApiError as exc:
            self._send(exc.code, exc.status())

    def _logs(self, namespace: str | None, name: str, query: dict[str, str]) -> None:
        cluster = self.server.cluster
        pod = cluster.store.get(cluster.catalog.by_kind["Pod"], namespace, name)
        key = (namespace or "", name)
        tail = int(query["tailLines"]) if "tailLines" in query else None
        stamps = query.get("timestamps") in ("true", "1")

        def render(lines: list[tuple[str, str]]) -> bytes:
            return "".join(f"{ts} {text}\n" if stamps else f"{text}\n" for ts, text in lines).encode()

        with cluster.store.lock:
            lines = list(cluster.logs.get(key, []))
        if tail is not None:
            lines = lines[-tail:] if tail else []
        if query.get("follow") not in ("true", "1"):
            return self._send(200, render(lines), "text/plain")
        del pod

        def follow() -> Iterator[bytes]:
            yield render(lines) or b""
            seen = len(cluster.logs.get(key, []))
            while not cluster.stopping.is_set():
                with cluster.store.lock:
                    current = cluster.logs.get(key)
                    if current is None or key not in cluster.live_pods():
                        return
                    fresh = current[seen:]
                    seen = len(current)
                if fresh:
                    yield render(fresh)
                time.sleep(0.05)

        self._stream((c for c in follow() if c), "text/plain")
        return None


def _chain(first: list[Obj], events: Iterator[Obj], stopping: threading.Event) -> Iterator[Obj]:
    yield from first
    for event in events:
        if stopping.is_set():
            return
        yield event


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    cluster: FakeCluster


class FakeCluster:
    """A fake Kubernetes API server plus a simulated controller, on 127.0.0.1."""

    def __init__(
        self, *, gateway_api: bool = True, forbidden: set[str] | None = None, token: str | None = "fake-token"
    ) -> None:
        self.catalog = Catalog(gateway_api)
        self.store = Store()
        self.forbidden = set(forbidden or ())
        self.token = token
        self.requests: list[tuple[str, str]] = []
        self.logs: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self.stopping = threading.Event()
        self.controller = Controller(self)
        self._http = _Server(("127.0.0.1", 0), _Handler)
        self._http.cluster = self
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        for ns in ("default", "kube-system"):
            self.store.create(self.catalog.by_kind["Namespace"], None, {"metadata": {"name": ns}})

    def start(self) -> FakeCluster:
        self._thread.start()
        self.controller.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.controller.stop()
        self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> FakeCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------------------------------- helpers

    def kubeconfig(self, path: Path, *, context: str = "fake", namespace: str | None = None) -> Path:
        """Write a kubeconfig pointing at this server (context ``context``)."""
        ctx: dict[str, Any] = {"cluster": "fake", "user": "tester"}
        if namespace:
            ctx["namespace"] = namespace
        user: dict[str, Any] = {"token": self.token} if self.token else {}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": user}],
            "contexts": [{"name": context, "context": ctx}],
            "current-context": context,
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def namespace(self, name: str) -> None:
        self.store.create(self.catalog.by_kind["Namespace"], None, {"metadata": {"name": name}})

    def get(self, kind: str, namespace: str | None, name: str) -> Obj:
        return self.store.get(self.catalog.by_kind[kind], namespace, name)

    def list(self, kind: str, namespace: str | None = None, selector: str | None = None) -> list[Obj]:
        return self.store.list(self.catalog.by_kind[kind], namespace, selector)[0]

    def live_pods(self) -> set[tuple[str, str]]:
        return {(k[2], k[3]) for k in self.store.objects if k[:2] == ("", "pods")}

    def names(self, kind: str, namespace: str | None = None, selector: str | None = None) -> list[str]:
        return [o["metadata"]["name"] for o in self.list(kind, namespace, selector)]
