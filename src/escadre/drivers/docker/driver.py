"""The Docker engine driver: a revision is N labelled containers on one engine.

Shared resources are Docker networks and volumes; secrets and configs are files given to each container
(see ``containers.py``). Observing reads containers back by the ``escadre.app`` label, so the engine is the
source of truth for what runs and a lost state file loses history, never control.
"""

from __future__ import annotations

import contextlib
import queue
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import docker
import docker.errors

from escadre.core.errors import ConflictError, TargetError, UsageError
from escadre.core.progress import Progress, ProgressEvent
from escadre.core.settings import Settings
from escadre.drivers.base import (
    LABEL_APP,
    LABEL_MANAGED,
    LABEL_REPLICA,
    LABEL_REVISION,
    LABEL_ROLE,
    LABEL_SERVICE,
    AppStatus,
    Health,
    Instance,
    InstanceState,
    LogLine,
    ResolvedImage,
    ResourceRef,
    RevisionStatus,
    TargetInfo,
    TrafficPlan,
    labels_for,
)
from escadre.drivers.docker.containers import archive, container_plan
from escadre.drivers.docker.support import TABLE as SUPPORT_TABLE
from escadre.drivers.engine.client import Connection, connect, parse_time, translate
from escadre.drivers.engine.images import resolve_image
from escadre.drivers.engine.networks import create_network
from escadre.drivers.engine.probe import run_health_test
from escadre.drivers.engine.router import Router, RouterCache, server_of
from escadre.drivers.engine.router_config import Listener, Server
from escadre.drivers.engine.routing import apply_plan, router_listeners
from escadre.drivers.support import KeySupport
from escadre.model.project import Project
from escadre.model.revision import Revision

T = TypeVar("T")
PARALLELISM = 8


def _parallel(fn: Callable[[T], Any], items: Sequence[T]) -> None:
    """Run ``fn`` over ``items`` on a small pool; re-raise the first error after all finished."""
    if len(items) <= 1:
        for item in items:
            fn(item)
        return
    with ThreadPoolExecutor(max_workers=min(PARALLELISM, len(items))) as pool:
        futures = [pool.submit(fn, item) for item in items]
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise errors[0]  # type: ignore[misc]


class DockerDriver:
    """``Driver`` for one Docker engine (local socket, TCP with TLS, or SSH)."""

    kind = "docker"
    capabilities = frozenset({"build", "logs-follow"})

    def __init__(self, name: str = "local", connection: Connection | None = None) -> None:
        self.name = name
        self.connection = connection or Connection()
        self._api: docker.APIClient | None = None
        self._lock = threading.Lock()
        self._image_locks: dict[str, threading.Lock] = {}
        self._routers = RouterCache(
            lambda: self.api,
            name,
            local=self.connection.is_local,
            data_dir=lambda: Settings.from_env().data_dir / "docker" / name,
        )

    # ------------------------------------------------------------------------------- connection

    @property
    def api(self) -> docker.APIClient:
        with self._lock:
            if self._api is None:
                self._api = connect(self.connection, self.name)
            return self._api

    def _t(self, doing: str) -> Any:
        return translate(self.name, doing, self.connection)

    def info(self) -> TargetInfo:
        with self._t("asking the engine for its version"):
            version = self.api.version()
        return TargetInfo(
            kind=self.kind,
            name=self.name,
            endpoint=self.connection.endpoint,
            version=str(version.get("Version", "")),
            details={"api": str(version.get("ApiVersion", "")), "os": str(version.get("Os", ""))},
        )

    def support(self) -> Mapping[str, KeySupport] | None:
        return SUPPORT_TABLE

    def close(self) -> None:
        with self._lock:
            if self._api is not None:
                self._api.close()
                self._api = None

    # ----------------------------------------------------------------------------------- images

    def prepare_image(
        self, project: Project, service: str, progress: Progress, *, build: bool = False, dry_run: bool = False
    ) -> ResolvedImage:
        svc = project.services[service]
        # services sharing one image tag (api and its migrate job built from the same context) resolve it
        # one at a time, so the second finds the first's build instead of building it again in parallel
        key = svc.image or f"{project.name}-{service}"
        with self._lock:
            lock = self._image_locks.setdefault(key, threading.Lock())
        with lock:
            return resolve_image(self.api, self.name, project, svc, progress, build=build, dry_run=dry_run)

    # --------------------------------------------------------------------------- shared resources

    def ensure_shared(self, project: Project, progress: Progress) -> None:
        api = self.api
        with self._t("listing networks"):
            existing_nets = {n["Name"]: n for n in api.networks()}
        for net in project.networks.values():
            found = existing_nets.get(net.name)
            subject = f"network {net.name}"
            if net.external:
                if found is None:
                    raise UsageError(
                        f"network {net.name!r} is declared external but does not exist on target {self.name!r}",
                        hint=f"create it first: docker network create {net.name}",
                    )
                continue
            if found is not None:
                if (found.get("Labels") or {}).get(LABEL_APP) != project.name:
                    raise ConflictError(
                        f"network {net.name!r} already exists and was not created by Escadre for {project.name!r}",
                        target=self.name,
                        hint=f"mark it external: true, give networks.{net.key}.name another value, or remove it",
                    )
                continue
            with self._t(f"creating network {net.name}"):
                create_network(api, project, net, driver=net.driver or "bridge", attachable=net.attachable or None)
            progress.emit(ProgressEvent(subject, "created", "done"))
        with self._t("listing volumes"):
            existing_vols = {v["Name"]: v for v in (api.volumes().get("Volumes") or [])}
        for vol in project.volumes.values():
            found = existing_vols.get(vol.name)
            if vol.external:
                if found is None:
                    raise UsageError(
                        f"volume {vol.name!r} is declared external but does not exist on target {self.name!r}",
                        hint=f"create it first: docker volume create {vol.name}",
                    )
                continue
            if found is not None:
                continue
            with self._t(f"creating volume {vol.name}"):
                api.create_volume(
                    vol.name,
                    driver=vol.driver or "local",
                    driver_opts=dict(vol.driver_opts) or None,
                    labels={**vol.labels, **labels_for(project.name)},
                )
            progress.emit(ProgressEvent(f"volume {vol.name}", "created", "done"))
        self._ensure_router(project, progress)

    # ------------------------------------------------------------------------------- containers

    def _containers(self, app: str, service: str | None = None, revision: str | None = None) -> list[dict[str, Any]]:
        filters = [f"{LABEL_APP}={app}"]
        if service is not None:
            filters.append(f"{LABEL_SERVICE}={service}")
        if revision is not None:
            filters.append(f"{LABEL_REVISION}={revision}")
        with self._t(f"listing the containers of {app}"):
            return list(self.api.containers(all=True, filters={"label": filters}))

    def _running_container(self, app: str, service: str) -> str | None:
        """Name of a running container of ``service`` (for network_mode/links/volumes_from)."""
        running = [c for c in self._containers(app, service) if c.get("State") == "running"]
        return str(running[0]["Names"][0]).lstrip("/") if running else None

    def _network_mode_container(self, project: Project, revision: Revision) -> str | None:
        mode = project.services[revision.service].network_mode or ""
        if not mode.startswith("service:"):
            return None
        return self._running_container(project.name, mode.removeprefix("service:"))

    def _create_and_start(self, project: Project, revision: Revision, replica: int, progress: Progress) -> None:
        api = self.api
        image = revision.image
        if revision.image_id:
            with self._t(f"inspecting image {revision.image}"):
                try:
                    if api.inspect_image(revision.image)["Id"] != revision.image_id:  # type: ignore[no-untyped-call]
                        image = revision.image_id
                except docker.errors.NotFound:
                    image = revision.image_id
        plan = container_plan(
            project,
            revision,
            replica,
            image=image,
            local=self.connection.is_local,
            network_mode_container=self._network_mode_container(project, revision),
            resolve=lambda service: self._running_container(project.name, service),
            routed=project.is_routed(revision.service),
        )
        subject = f"service {revision.service}"
        doing = f"creating container {plan.name}"
        with self._t(doing):
            host_config = api.create_host_config(**plan.host_config)
            networking = None
            if plan.first_network is not None:
                net, endpoint = plan.first_network
                networking = api.create_networking_config(
                    {net: api.create_endpoint_config(**{k: v for k, v in endpoint.items() if v})}  # type: ignore[arg-type]
                )
            created = api.create_container(host_config=host_config, networking_config=networking, **plan.create)
        cid = created["Id"]
        try:
            with self._t(f"starting container {plan.name}"):
                for net, endpoint in plan.extra_networks:
                    api.connect_container_to_network(cid, net, **{k: v for k, v in endpoint.items() if v})
                if plan.copies:
                    api.put_archive(cid, "/", archive(plan.copies))
                api.start(cid)
        except Exception:
            # a container that never started is not left behind: the next up starts clean
            with contextlib.suppress(docker.errors.APIError):
                api.remove_container(cid, force=True, v=True)
            raise
        progress.emit(ProgressEvent(subject, "started", "done", detail=plan.name, data={"revision": revision.id}))

    def apply_revision(self, project: Project, revision: Revision, replicas: int, progress: Progress) -> None:
        svc = project.services[revision.service]
        fixed = [p for p in svc.ports if p.published is not None]
        if replicas > 1 and fixed and not project.is_routed(svc.name):
            raise UsageError(
                f"service {svc.name!r} publishes host port {fixed[0].published} and asks for {replicas} replicas: "
                "on one engine only one container can bind a host port",
                hint="leave the host port out (ports: ['80']) so each replica gets its own, "
                "or put Escadre's router in front of the service (x-escadre.route)",
            )
        existing = self._containers(project.name, revision.service, revision.id)
        by_replica: dict[int, dict[str, Any]] = {}
        extra: list[dict[str, Any]] = []
        for c in existing:
            n = int((c.get("Labels") or {}).get(LABEL_REPLICA, "0") or 0)
            if 1 <= n <= replicas and n not in by_replica:
                by_replica[n] = c
            else:
                extra.append(c)
        missing = [n for n in range(1, replicas + 1) if n not in by_replica]
        stopped = [
            c
            for c in by_replica.values()
            if c.get("State") in ("created", "exited", "dead") and not _completed_oneshot(c)
        ]

        def start(n: int) -> None:
            self._create_and_start(project, revision, n, progress)

        def restart(c: dict[str, Any]) -> None:
            with self._t(f"starting container {c['Names'][0].lstrip('/')}"):
                self.api.start(c["Id"])
            progress.emit(ProgressEvent(f"service {revision.service}", "started", "done", detail=c["Names"][0][1:]))

        _parallel(lambda c: self._remove_container(c, progress), extra)
        _parallel(restart, stopped)
        _parallel(start, missing)

    def _remove_container(self, c: dict[str, Any], progress: Progress | None = None) -> None:
        name = c["Names"][0].lstrip("/") if c.get("Names") else c["Id"][:12]
        try:
            with self._t(f"stopping container {name}"):
                if c.get("State") in ("running", "restarting", "paused"):
                    self.api.stop(c["Id"])
                self.api.remove_container(c["Id"], v=True, force=True)
        except TargetError as exc:
            if "No such container" in str(exc) or "is already in progress" in str(exc):
                return
            raise
        if progress is not None:
            progress.emit(ProgressEvent(f"container {name}", "removed", "done"))

    def remove_revision(self, app: str, service: str, revision: str, progress: Progress) -> None:
        containers = self._containers(app, service, revision)
        _parallel(lambda c: self._remove_container(c, progress), containers)

    # ---------------------------------------------------------------------------------- observe

    def _instance(self, summary: dict[str, Any]) -> Instance:
        labels = summary.get("Labels") or {}
        name = summary["Names"][0].lstrip("/") if summary.get("Names") else summary["Id"][:12]
        try:
            with self._t(f"inspecting container {name}"):
                detail = self.api.inspect_container(summary["Id"])
        except TargetError:
            return Instance(
                summary["Id"], name, labels.get(LABEL_SERVICE, ""), labels.get(LABEL_REVISION, ""), "unknown"
            )
        st = detail.get("State") or {}
        status = st.get("Status", "")
        state: InstanceState
        exit_code = st.get("ExitCode")
        if status == "running":
            state = "running"
        elif status == "restarting":
            state = "starting"
        elif status == "created":
            state = "created"
        elif status == "removing":
            state = "removing"
        elif status in ("exited", "dead"):
            state = "exited" if status == "exited" and not st.get("OOMKilled") else "failed"
        else:
            state = "unknown"
        health: Health = "none"
        if st.get("Health"):
            raw = st["Health"].get("Status", "none")
            health = raw if raw in ("healthy", "unhealthy", "starting") else "none"
        message = st.get("Error") or ""
        if st.get("OOMKilled"):
            message = "killed: out of memory"
        elif health == "unhealthy" and st.get("Health", {}).get("Log"):
            last = st["Health"]["Log"][-1]
            message = f"healthcheck failed (exit {last.get('ExitCode')}): {str(last.get('Output', '')).strip()[:200]}"
        networks = (detail.get("NetworkSettings") or {}).get("Networks") or {}
        addresses = tuple(n["IPAddress"] for _, n in sorted(networks.items()) if n.get("IPAddress"))
        ports = tuple(
            f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}->{port}"
            for port, bindings in sorted(((detail.get("NetworkSettings") or {}).get("Ports") or {}).items())
            for b in (bindings or [])
        )
        return Instance(
            id=summary["Id"],
            name=name,
            service=labels.get(LABEL_SERVICE, ""),
            revision=labels.get(LABEL_REVISION, ""),
            state=state,
            health=health,
            exit_code=exit_code if state in ("exited", "failed") else None,
            restarts=int(detail.get("RestartCount") or 0),
            node=None,
            ports=ports,
            started_at=parse_time(st.get("StartedAt")),
            message=message,
            addresses=addresses,
        )

    def observe(self, app: str, service: str | None = None) -> AppStatus:
        everything = self._containers(app, service)
        containers = [c for c in everything if (c.get("Labels") or {}).get(LABEL_ROLE) != "router"]
        routers = [c for c in everything if (c.get("Labels") or {}).get(LABEL_ROLE) == "router"]
        if len(containers) > 4:
            with ThreadPoolExecutor(max_workers=PARALLELISM) as pool:
                instances = list(pool.map(self._instance, containers))
        else:
            instances = [self._instance(c) for c in containers]
        groups: dict[tuple[str, str], list[Instance]] = {}
        images: dict[tuple[str, str], str] = {}
        for summary, inst in zip(containers, instances, strict=True):
            key = (inst.service, inst.revision)
            groups.setdefault(key, []).append(inst)
            images[key] = str(summary.get("Image", ""))
        revisions = tuple(
            RevisionStatus(svc, rev, len(insts), tuple(sorted(insts, key=lambda i: i.name)), images[(svc, rev)])
            for (svc, rev), insts in sorted(groups.items())
        )
        resources: list[ResourceRef] = [ResourceRef("router", c["Names"][0].lstrip("/"), c["Id"]) for c in routers]
        if service is None:
            with self._t(f"listing the networks and volumes of {app}"):
                for n in self.api.networks(filters={"label": f"{LABEL_APP}={app}"}):
                    resources.append(ResourceRef("network", n["Name"], n["Id"]))
                for v in self.api.volumes(filters={"label": f"{LABEL_APP}={app}"}).get("Volumes") or []:
                    resources.append(ResourceRef("volume", v["Name"]))
        return AppStatus(app=app, revisions=revisions, resources=tuple(resources))

    def list_apps(self) -> list[str]:
        with self._t("listing Escadre's apps"):
            containers = self.api.containers(all=True, filters={"label": f"{LABEL_MANAGED}=true"})
            networks = self.api.networks(filters={"label": f"{LABEL_MANAGED}=true"})
        apps = {(c.get("Labels") or {}).get(LABEL_APP) for c in containers}
        apps |= {(n.get("Labels") or {}).get(LABEL_APP) for n in networks}
        return sorted(a for a in apps if a)

    # ---------------------------------------------------------------------------------- traffic

    def _router(self, project: Project) -> Router | None:
        """The project's router, when any of its services is routed."""
        return self._routers.get(project)

    @staticmethod
    def listeners(project: Project) -> list[Listener]:
        """What the router listens on: each routed service's ports (published ones on the host too)."""
        return router_listeners(project)

    def _ensure_router(self, project: Project, progress: Progress) -> None:
        router = self._router(project)
        if router is None:
            return
        router.ensure(self.listeners(project))
        progress.emit(ProgressEvent(f"router {router.name}", "ready", "done", detail=router.metrics_url or ""))

    def route(self, project: Project, service: str, plan: TrafficPlan, progress: Progress) -> bool:
        if not project.is_routed(service):
            return False  # the rollout engine splits traffic by replica ratio on the shared DNS alias
        router = self._router(project)
        assert router is not None
        status = self.observe(project.name, service)
        containers = {c["Id"]: c for c in self._containers(project.name, service)}

        def servers(revision: str | None, port: int) -> list[Server]:
            found = status.revision(service, revision) if revision else None
            out = []
            for inst in found.instances if found else ():
                if inst.state != "running" or inst.health == "unhealthy" or inst.id not in containers:
                    continue
                with self._t("inspecting a routed container"):
                    detail = self.api.inspect_container(inst.id)
                server = server_of(detail, router.networks, port)
                if server is not None:
                    out.append(server)
            return out

        apply_plan(router, project, service, plan, servers)
        return True

    # ------------------------------------------------------------------------------------ probe

    def probe(self, app: str, service: str, revision: str) -> bool | None:
        containers = [c for c in self._containers(app, service, revision) if c.get("State") == "running"]
        if not containers:
            return False
        return all(run_health_test(self.api, self.name, c["Id"]) for c in containers)

    # ----------------------------------------------------------------------------------- remove

    def remove_app(self, app: str, progress: Progress, *, volumes: bool = False) -> None:
        containers = self._containers(app)
        router_dir = Settings.from_env().data_dir / "docker" / self.name / f"{app}-router"
        if router_dir.exists():
            shutil.rmtree(router_dir, ignore_errors=True)
        _parallel(lambda c: self._remove_container(c, progress), containers)
        api = self.api
        with self._t(f"listing the networks of {app}"):
            networks = api.networks(filters={"label": f"{LABEL_APP}={app}"})
        for n in networks:
            with self._t(f"removing network {n['Name']}"):
                try:
                    api.remove_network(n["Id"])
                except docker.errors.NotFound:
                    continue
            progress.emit(ProgressEvent(f"network {n['Name']}", "removed", "done"))
        if volumes:
            with self._t(f"listing the volumes of {app}"):
                vols = api.volumes(filters={"label": f"{LABEL_APP}={app}"}).get("Volumes") or []
            for v in vols:
                with self._t(f"removing volume {v['Name']}"):
                    try:
                        api.remove_volume(v["Name"], force=True)
                    except docker.errors.NotFound:
                        continue
                progress.emit(ProgressEvent(f"volume {v['Name']}", "removed", "done"))

    # ------------------------------------------------------------------------------------- logs

    def logs(
        self, app: str, services: Sequence[str] = (), *, follow: bool = False, tail: int | None = None
    ) -> Iterator[LogLine]:
        containers = [
            c for c in self._containers(app) if not services or (c.get("Labels") or {}).get(LABEL_SERVICE) in services
        ]
        if not follow:
            lines: list[tuple[str, LogLine]] = []
            for c in containers:
                lines.extend(self._read_logs(c, tail))
            lines.sort(key=lambda pair: pair[0])
            yield from (line for _, line in lines)
            return
        yield from self._follow_logs(containers, tail)

    def _read_logs(self, c: dict[str, Any], tail: int | None) -> list[tuple[str, LogLine]]:
        labels = c.get("Labels") or {}
        name = c["Names"][0].lstrip("/")
        out: list[tuple[str, LogLine]] = []
        for stream in ("stdout", "stderr"):
            with self._t(f"reading the logs of {name}"):
                raw = self.api.logs(
                    c["Id"],
                    stdout=stream == "stdout",
                    stderr=stream == "stderr",
                    timestamps=True,
                    tail=tail if tail is not None else "all",
                )
            for line in raw.decode("utf-8", "replace").splitlines():
                ts, _, text = line.partition(" ")
                out.append((ts, LogLine(labels.get(LABEL_SERVICE, ""), name, text, stream, ts)))
        return out

    def _follow_logs(self, containers: list[dict[str, Any]], tail: int | None) -> Iterator[LogLine]:
        lines: queue.Queue[LogLine | None] = queue.Queue(maxsize=10_000)

        def pump(c: dict[str, Any]) -> None:
            labels = c.get("Labels") or {}
            name = c["Names"][0].lstrip("/")
            buf = b""
            try:
                for chunk in self.api.logs(c["Id"], stream=True, follow=True, tail=tail if tail is not None else "all"):
                    buf += chunk
                    *complete, buf = buf.split(b"\n")
                    for raw in complete:
                        lines.put(LogLine(labels.get(LABEL_SERVICE, ""), name, raw.decode("utf-8", "replace")))
            except Exception:  # the container went away: its stream simply ends
                pass
            finally:
                if buf:
                    lines.put(LogLine(labels.get(LABEL_SERVICE, ""), name, buf.decode("utf-8", "replace")))
                lines.put(None)

        for c in containers:
            threading.Thread(target=pump, args=(c,), daemon=True).start()
        remaining = len(containers)
        while remaining:
            item = lines.get()
            if item is None:
                remaining -= 1
                continue
            yield item


def _completed_oneshot(c: dict[str, Any]) -> bool:
    """An exited container whose status says exit code 0 (a finished one-shot task)."""
    return c.get("State") == "exited" and str(c.get("Status", "")).startswith("Exited (0)")


def from_target_config(name: str, config: Mapping[str, Any]) -> DockerDriver:
    return DockerDriver(name, Connection.from_config(config))


__all__ = ["DockerDriver", "from_target_config"]
