"""Weighted traffic on a plain Docker engine: one HAProxy container per app, driven live.

No Docker tool splits traffic by weight, so the Docker target runs its own router: Debian's HAProxy in a
container named ``<app>-router`` (image from ``router_image``), labelled like everything Escadre creates
(``escadre down`` removes it), joined to the app's networks and publishing the routed services' ports.

* **Listeners** (``ensure``) change rarely; they are HAProxy frontends and backends in a generated
  configuration. A change is applied with a *seamless* reload (master-worker mode, ``SIGUSR2``, listening
  sockets handed to the new worker through ``expose-fd listeners``): no connection is refused. Only a
  change of *published host ports* recreates the container, as Docker fixes them at creation.
* **Servers and weights** (``apply``) change every few seconds during a rollout; they go through the
  Runtime API only — never a reload — into pre-allocated server slots (see ``router_config`` for why).
* The Runtime API is reached through a unix socket in a host directory bind-mounted into the container
  when the engine is local (Python talks to it directly), and otherwise through ``exec`` of busybox ``nc``
  to ``127.0.0.1:9999`` inside the container, so remote engines (TCP/TLS/SSH) work too.
* Every ``apply`` also rewrites the configuration and a small ``state.json`` with the new assignment (in
  the host directory, or inside the container for remote engines), so a reload or ``docker restart``
  comes back with exactly the last applied servers and weights.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.types import LogConfig

from escadre.core.errors import ConflictError, OperationFailed, TargetError, TemporaryTargetError, UsageError
from escadre.drivers.base import LABEL_APP, labels_for
from escadre.drivers.engine.client import translate
from escadre.drivers.engine.router_config import (
    ADMIN_PORT,
    BASE_WEIGHT,
    METRICS_PORT,
    RUN_DIR,
    Counters,
    Listener,
    Role,
    Server,
    Slot,
    State,
    backend_name,
    check_listeners,
    counters_from_rows,
    parse_stat,
    place,
    preview_ports,
    render_config,
    roles_of,
    runtime_errors,
    serving,
    shares_from_rows,
    slot_commands,
    split_weights,
)
from escadre.drivers.engine.router_image import ensure_router_image, find_binaries
from escadre.drivers.engine.routing import router_networks
from escadre.model.project import Project

LABEL_SHAPE = "escadre.router-shape"
READY_TIMEOUT = 15.0
MAX_LINE = 8000  # Runtime API lines are read into a 16 kB buffer: stay well below
_PID = re.compile(r"^Pid: (\d+)$", re.M)


def server_of(container: Mapping[str, Any], networks: Sequence[str], port: int) -> Server | None:
    """The ``Server`` for a container (``inspect_container`` JSON) on the first of ``networks`` it shares
    with the router, or ``None`` when it is on none of them (or not running)."""
    attached = ((container.get("NetworkSettings") or {}).get("Networks")) or {}
    for net in networks:
        address = (attached.get(net) or {}).get("IPAddress")
        if address:
            return Server(str(address), port)
    return None


class Router:
    """The router of ``app`` on one engine. Thread-safe; cheap to construct (no engine call)."""

    def __init__(
        self,
        api: docker.APIClient,
        target: str,
        app: str,
        *,
        networks: Sequence[str],
        local: bool,
        data_dir: Path | None,
        metrics_port: int | None = None,
        slots: int = 16,
        aliases: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        if not 1 <= slots <= 256:
            raise UsageError(f"router slots must be within 1..256, not {slots}")
        self.api = api
        self.target = target
        self.app = app
        self.name = f"{app}-router"
        self.networks = tuple(networks)
        # the routed services' names on each network: services calling ``api:8000`` reach the router
        self.aliases = {net: sorted(set(names)) for net, names in (aliases or {}).items()}
        self.local = local
        self.metrics_port = metrics_port
        self.slots = slots
        # files on the host (and the Runtime API as a unix socket) only when the engine shares our disk
        self.host_dir = (data_dir / self.name).absolute() if local and data_dir is not None else None
        self._lock = threading.RLock()

    # ------------------------------------------------------------------------------------ public

    @property
    def metrics_url(self) -> str | None:
        """Where Prometheus scrapes the router (published on the engine host's loopback)."""
        if self.metrics_port is None or not self.local:
            return None
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def ensure(self, listeners: Sequence[Listener]) -> None:
        """Make the router run and route exactly ``listeners``; idempotent (see the module docstring)."""
        check_listeners(listeners)
        image = ensure_router_image(self.api, self.target)
        with self._locked():
            info = self._inspect()
            old, had_state = self._load(exists=info is not None)
            state = State(slots=self.slots, metrics=self.metrics_port is not None)
            state.listeners = sorted(listeners, key=lambda item: (item.port, item.service))
            for listener in state.listeners:
                if listener.key in old.backends:
                    state.backends[listener.key] = old.backends[listener.key]
                state.backend(listener)
            config = render_config(state)
            validate(config)
            shape = self._shape(state.listeners)
            if info is not None:
                status = info["State"]
                if (
                    info["Config"].get("Image") != image
                    or (info["Config"].get("Labels") or {}).get(LABEL_SHAPE) != shape
                    or status.get("Restarting")
                    or status.get("Status") == "dead"
                ):
                    self._remove_container()
                    info = None
            if info is None:
                self._create(image, shape, state, config)
                return
            self._join_networks(info)
            if not info["State"].get("Running"):
                self._write(state, config)
                with self._t(f"starting {self.name}"):
                    self.api.start(self.name)
                self._wait_ready()
            elif not had_state or old.structure != state.structure:
                self._write(state, config)
                self._reload()

    def apply(
        self,
        service: str,
        port: int,
        *,
        stable: Sequence[Server],
        canary: Sequence[Server],
        canary_weight: int,
        preview: Sequence[Server] | None = None,
    ) -> None:
        """Route ``canary_weight`` % of ``service:port``'s requests to ``canary`` and the rest to ``stable``
        (each split evenly over its servers) through the Runtime API; ``preview`` (when not ``None``) becomes
        the preview backend's servers. Persisted, so a reload or restart keeps it."""
        with self._locked():
            state, _ = self._load(exists=True)
            listener = state.listener(service, port)
            backend = state.backend(listener)
            if preview is not None and "preview" not in roles_of(listener):
                raise UsageError(f"{listener.key} has no preview port: give its Listener a preview_published")
            n_stable, n_canary = len(set(stable)), len(set(canary))
            w_stable, w_canary = split_weights(canary_weight, n_stable, n_canary)
            what = f"router {listener.key}"
            new: dict[Role, list[Slot]] = {
                "stable": place(backend.slots["stable"], stable, w_stable, f"{what} stable"),
                "canary": place(backend.slots["canary"], canary, w_canary, f"{what} canary"),
            }
            if preview is not None:
                new["preview"] = place(backend.slots["preview"], preview, BASE_WEIGHT if preview else 0, what)
            up: list[str] = []
            down: list[str] = []
            for role, slots in new.items():
                bring_up, take_down = slot_commands(backend_name(listener, role), role, slots)
                up += bring_up
                down += take_down
            reply = self._runtime(up + down)
            errors = runtime_errors(reply)
            if errors:
                raise TargetError(
                    f"the router of {self.app} refused a change for {listener.key}: {errors[0]}", target=self.target
                )
            for role, slots in new.items():
                backend.slots[role] = slots
            backend.canary_weight = canary_weight
            self._write(state, render_config(state))

    def counters(self, service: str, port: int) -> dict[str, Counters]:
        """Cumulative counters per role (``stable``/``canary``, and ``preview`` when it has one) since the
        router process started; reloads reset them, so callers compare deltas."""
        listener, rows = self._stat(service, port)
        return counters_from_rows(rows, roles_of(listener))

    def weights(self, service: str, port: int) -> dict[str, int]:
        """Percent of new requests each role gets right now (servers down by health check excluded); the
        preview backend is separate: 100 when a preview server serves, else 0."""
        listener, rows = self._stat(service, port)
        main = [row for row in rows if row.get("pxname") == backend_name(listener)]
        shares = shares_from_rows(main, ("stable", "canary"))
        if "preview" in roles_of(listener):
            previews = [row for row in rows if row.get("pxname") == backend_name(listener, "preview")]
            shares["preview"] = 100 if any(serving(r) for r in previews if r.get("svname") != "BACKEND") else 0
        return shares

    def remove(self) -> None:
        """Remove the router container and its host directory."""
        with self._lock:
            self._remove_container()
            if self.host_dir is not None:
                shutil.rmtree(self.host_dir, ignore_errors=True)

    # ----------------------------------------------------------------------------- the container

    def _t(self, doing: str) -> contextlib.AbstractContextManager[None]:
        return translate(self.target, doing)

    def _inspect(self) -> dict[str, Any] | None:
        with self._t(f"inspecting container {self.name}"):
            try:
                info: dict[str, Any] = self.api.inspect_container(self.name)
            except docker.errors.NotFound:
                return None
        if (info["Config"].get("Labels") or {}).get(LABEL_APP) != self.app:
            raise ConflictError(
                f"a container named {self.name!r} exists and is not the router Escadre made for {self.app!r}",
                target=self.target,
                hint=f"remove or rename it: docker rm -f {self.name}",
            )
        return info

    def _ports(self, listeners: Sequence[Listener]) -> dict[int | str, Any]:
        bindings: dict[int | str, Any] = {}
        previews = preview_ports(listeners)
        for listener in listeners:
            for inside, published in (
                (listener.port, listener.published),
                (previews.get(listener.key), listener.preview_published),
            ):
                if inside is not None and published is not None:
                    bindings[inside] = (listener.host_ip, published) if listener.host_ip else published
        if self.metrics_port is not None:
            bindings[METRICS_PORT] = ("127.0.0.1", self.metrics_port)
        return bindings

    def _shape(self, listeners: Sequence[Listener]) -> str:
        """What the container was created with and cannot change: published ports and the host directory."""
        ports = {str(k): v for k, v in sorted(self._ports(listeners).items())}
        return json.dumps({"ports": ports, "dir": str(self.host_dir or "")}, sort_keys=True, separators=(",", ":"))

    def _create(self, image: str, shape: str, state: State, config: str) -> None:
        api = self.api
        bindings = self._ports(state.listeners)
        if self.host_dir is not None:
            self._write(state, config)
        with self._t(f"creating container {self.name}"):
            host_config = api.create_host_config(
                port_bindings=bindings or None,
                restart_policy={"Name": "unless-stopped"},
                binds={str(self.host_dir): {"bind": RUN_DIR, "mode": "rw"}} if self.host_dir else None,
                log_config=LogConfig(type="json-file", config={"max-size": "10m", "max-file": "2"}),
            )
            networking = None
            if self.networks:
                first = self.networks[0]
                endpoint = api.create_endpoint_config(aliases=self.aliases.get(first) or None)
                networking = api.create_networking_config({first: endpoint})  # type: ignore[arg-type]
            created = api.create_container(
                image,
                name=self.name,
                labels={**labels_for(self.app, role="router"), LABEL_SHAPE: shape},
                ports=list(bindings) or None,
                host_config=host_config,
                networking_config=networking,
            )
        try:
            if self.host_dir is None:
                self._write(state, config)
            with self._t(f"starting container {self.name}"):
                for net in self.networks[1:]:
                    api.connect_container_to_network(created["Id"], net, aliases=self.aliases.get(net) or None)
                api.start(created["Id"])
            self._wait_ready()
        except Exception:
            # a router that never started is not left behind half-made: the next ensure starts clean
            with contextlib.suppress(docker.errors.APIError):
                api.remove_container(created["Id"], force=True, v=True)
            raise

    def _join_networks(self, info: Mapping[str, Any]) -> None:
        attached = (info.get("NetworkSettings") or {}).get("Networks") or {}
        for net in self.networks:
            wanted = self.aliases.get(net) or []
            if net in attached:
                have = set(attached[net].get("Aliases") or [])
                if set(wanted) <= have:
                    continue
                # aliases cannot be changed in place: reconnect (a routed service was added)
                with self._t(f"reconnecting {self.name} to network {net}"):
                    self.api.disconnect_container_from_network(self.name, net)
            with self._t(f"connecting {self.name} to network {net}"):
                self.api.connect_container_to_network(self.name, net, aliases=wanted or None)

    def _remove_container(self) -> None:
        with self._t(f"removing container {self.name}"), contextlib.suppress(docker.errors.NotFound):
            self.api.remove_container(self.name, force=True, v=True)

    def _logs(self) -> str:
        with contextlib.suppress(Exception), self._t(f"reading the logs of {self.name}"):
            raw: bytes = self.api.logs(self.name, tail=5)
            return raw.decode("utf-8", "replace").strip()
        return ""

    def _wait_ready(self, *, other_than: str | None = None) -> None:
        """Wait until HAProxy answers on its Runtime API (with a new worker pid when ``other_than``)."""
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            pid = self._pid()
            if pid is not None and pid != other_than:
                return
            if time.monotonic() > deadline:
                doing = "reload" if other_than else "start"
                raise OperationFailed(
                    f"the router of {self.app} did not {doing} within {READY_TIMEOUT:.0f}s; its last log lines:\n"
                    + (self._logs() or "(none)")
                )
            time.sleep(0.1)

    def _pid(self) -> str | None:
        try:
            m = _PID.search(self._runtime(["show info"]))
        except TargetError:
            return None
        return m.group(1) if m else None

    def _reload(self) -> None:
        """Seamless reload: the master re-reads the configuration and starts a new worker, which takes over
        the listening sockets of the old one; the old one finishes its connections (``hard-stop-after``)."""
        before = self._pid()
        with self._t(f"reloading {self.name}"):
            self.api.kill(self.name, signal="SIGUSR2")
        self._wait_ready(other_than=before)

    # ---------------------------------------------------------------------------- state and files

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """This object's lock and, with a host directory, a file lock other processes respect too."""
        with self._lock:
            if self.host_dir is None:
                yield
                return
            self.host_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            with (self.host_dir / "lock").open("w") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                yield

    def _load(self, *, exists: bool) -> tuple[State, bool]:
        """The persisted state, and whether there was one."""
        text: str | None = None
        if self.host_dir is not None:
            path = self.host_dir / "state.json"
            text = path.read_text() if path.exists() else None
        elif exists:
            with self._t(f"reading the state of {self.name}"):
                try:
                    stream, _ = self.api.get_archive(self.name, f"{RUN_DIR}/state.json")
                    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                        member = tar.extractfile("state.json")
                        text = member.read().decode() if member else None
                except docker.errors.NotFound:
                    text = None
        try:
            return State.loads(text, slots=self.slots, metrics=self.metrics_port is not None), bool(text)
        except (ValueError, KeyError, TypeError) as exc:
            raise OperationFailed(
                f"the router state of {self.app} is unreadable ({exc})",
                hint=f"remove it (docker rm -f {self.name}) and deploy again",
            ) from exc

    def _write(self, state: State, config: str) -> None:
        files = {"state.json": state.dumps(), "haproxy.cfg": config}
        if self.host_dir is not None:
            self.host_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            for name, text in files.items():
                tmp = self.host_dir / f".{name}.tmp"
                tmp.write_text(text)
                os.replace(tmp, self.host_dir / name)
            return
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, text in files.items():
                data = text.encode()
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o600
                info.mtime = int(time.time())
                tar.addfile(info, io.BytesIO(data))
        with self._t(f"writing the configuration of {self.name}"):
            self.api.put_archive(self.name, RUN_DIR, buf.getvalue())

    # -------------------------------------------------------------------------------- Runtime API

    def _runtime(self, commands: Sequence[str]) -> str:
        """Send ``commands`` to the Runtime API (batched ``a; b; c`` lines) and return the replies."""
        lines: list[str] = []
        for command in commands:
            if lines and len(lines[-1]) + len(command) + 2 <= MAX_LINE:
                lines[-1] += "; " + command
            else:
                lines.append(command)
        if not lines:
            return ""
        if self.host_dir is not None:
            return "".join(self._socket(line) for line in lines)
        return self._exec(lines)

    def _socket(self, line: str) -> str:
        path = self.host_dir / "admin.sock"  # type: ignore[operator]
        try:
            with _unix_socket(path) as sock:
                sock.sendall(line.encode() + b"\n")
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
        except OSError as exc:
            raise TemporaryTargetError(
                f"the router of {self.app} does not answer on {path}: {exc.strerror or exc}",
                target=self.target,
                hint=f"is it running? docker logs {self.name}",
            ) from exc
        return b"".join(chunks).decode("utf-8", "replace")

    def _exec(self, lines: Sequence[str]) -> str:
        script = "; ".join(f"printf '%s\\n' {shlex.quote(line)} | nc -w 5 127.0.0.1 {ADMIN_PORT}" for line in lines)
        with self._t(f"talking to the Runtime API of {self.name}"):
            exec_id = self.api.exec_create(self.name, ["sh", "-c", script], stdout=True, stderr=True)["Id"]
            out = self.api.exec_start(exec_id).decode("utf-8", "replace")
        if "can't connect" in out or "Connection refused" in out:
            raise TemporaryTargetError(
                f"the router of {self.app} does not answer on its Runtime API: {out.strip()[:200]}",
                target=self.target,
            )
        return str(out)

    def _stat(self, service: str, port: int) -> tuple[Listener, list[dict[str, str]]]:
        with self._locked():
            listener = self._load(exists=True)[0].listener(service, port)
        roles: tuple[Role, ...] = ("stable", "preview") if "preview" in roles_of(listener) else ("stable",)
        reply = self._runtime([f"show stat {backend_name(listener, role)} 4 -1" for role in roles])
        return listener, parse_stat(reply)


@contextlib.contextmanager
def _unix_socket(path: Path, timeout: float = 10.0) -> Iterator[socket.socket]:
    """A connected unix socket; long paths (over the 107-byte limit) go through ``/proc/self/fd``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        if len(os.fsencode(path)) < 100:
            sock.connect(str(path))
        else:
            fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                sock.connect(f"/proc/self/fd/{fd}/{path.name}")
            finally:
                os.close(fd)
        yield sock
    finally:
        sock.close()


def validate(config: str) -> None:
    """Check ``config`` with this machine's HAProxy (the very binary the image is made of)."""
    haproxy = find_binaries().haproxy
    with tempfile.TemporaryDirectory(prefix="escadre-router-") as tmp:
        path = Path(tmp) / "haproxy.cfg"
        path.write_text(config)
        proc = subprocess.run([str(haproxy), "-c", "-f", str(path)], capture_output=True, text=True, check=False)
    if proc.returncode == 0:
        return
    alerts = [
        re.sub(r"^\[ALERT\]\s+\(\d+\)\s*:\s*(config\s*:\s*)?", "", line).replace(str(path), "haproxy.cfg")
        for line in (proc.stderr + proc.stdout).splitlines()
        if line.startswith("[ALERT]")
    ]
    message = alerts[0] if alerts else (proc.stderr or proc.stdout).strip()[:300]
    raise OperationFailed(f"HAProxy refused the router configuration: {message}")


class RouterCache:
    """The routers of the apps one driver deploys: one ``Router`` per app and shape (its networks and
    router settings), rebuilt when the shape changes. Its lock serialises the rollouts of several
    services of an app. Thread-safe."""

    def __init__(
        self, api: Callable[[], docker.APIClient], target: str, *, local: bool, data_dir: Callable[[], Path]
    ) -> None:
        self._api = api
        self.target = target
        self.local = local
        self._data_dir = data_dir
        self._lock = threading.Lock()
        self._routers: dict[str, tuple[Any, Router]] = {}

    def get(self, project: Project) -> Router | None:
        """The app's router, when any of its services is routed."""
        if not any(project.is_routed(name) for name in project.services):
            return None
        networks = router_networks(project)
        settings = project.settings.router if project.settings is not None else None
        key = (project.name, repr(sorted(networks.items())), repr(settings))
        api = self._api()  # the driver's client may take a lock of its own: fetched before ours
        with self._lock:
            if self._routers.get(project.name, (None, None))[0] != key:
                router = Router(
                    api,
                    self.target,
                    project.name,
                    networks=sorted(networks),
                    local=self.local,
                    data_dir=self._data_dir(),
                    metrics_port=settings.metrics_port if settings else None,
                    slots=settings.slots if settings else 16,
                    aliases=networks,
                )
                self._routers[project.name] = (key, router)
            return self._routers[project.name][1]

    def forget(self, app: str) -> None:
        with self._lock:
            self._routers.pop(app, None)


__all__ = ["Counters", "Listener", "Router", "RouterCache", "Server", "server_of"]
