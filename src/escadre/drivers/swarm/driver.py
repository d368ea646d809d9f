"""The Docker Swarm driver: a revision is one swarm service, ``<app>_<service>_<revision[:6]>``.

Everything goes through one *manager* engine (local socket, TCP with TLS, or SSH); an engine that is not
a manager is refused with the command that makes it one. The modules beside this one each own a part:

* ``spec`` — a revision as a service spec (pure); ``mesh`` — publishing without IPVS;
* ``shared`` — attachable overlay networks and volumes; ``objects`` — secrets and configs versioned by
  content; ``images`` — pushing to the target's registry when it has one;
* ``admission`` — the little ``apply_revision`` waits for, so a constraint no node satisfies or a port
  already taken fails at once with one clear message and the service removed, never left pending;
* ``tasks`` — tasks read back as instances (pure); ``logs`` — service logs named by task;
* ``traffic`` — Escadre's HAProxy router, a container on the manager joined to the overlays;
* ``update`` — Swarm's own rolling update and rollback, watched task by task (``native_update``);
* ``render`` and ``support`` — the stack file and the per-key support table.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import docker.errors

from escadre.core.errors import OperationFailed, TargetError, UsageError
from escadre.core.progress import Progress, ProgressEvent
from escadre.core.settings import Settings
from escadre.drivers.base import (
    LABEL_APP,
    LABEL_MANAGED,
    LABEL_REVISION,
    LABEL_ROLE,
    LABEL_SERVICE,
    AppStatus,
    Instance,
    LogLine,
    ResolvedImage,
    ResourceRef,
    RevisionStatus,
    TargetInfo,
    TrafficPlan,
)
from escadre.drivers.engine.client import Connection, connect, translate
from escadre.drivers.engine.images import resolve_image
from escadre.drivers.engine.probe import run_health_test
from escadre.drivers.support import KeySupport
from escadre.drivers.swarm import admission
from escadre.drivers.swarm import logs as service_logs
from escadre.drivers.swarm.images import push
from escadre.drivers.swarm.mesh import Mesh, Setting, detect
from escadre.drivers.swarm.objects import KINDS, ObjectRef, Objects, in_use, wanted
from escadre.drivers.swarm.shared import (
    check_networks,
    check_volumes,
    ensure_networks,
    ensure_volumes,
    remove_networks,
    remove_volumes,
)
from escadre.drivers.swarm.spec import LABEL_IMAGE, service_spec
from escadre.drivers.swarm.support import TABLE as SUPPORT_TABLE
from escadre.drivers.swarm.tasks import NodeInfo, current_tasks, instance, nodes_by_id, revision_of
from escadre.drivers.swarm.traffic import Routers
from escadre.drivers.swarm.update import (
    UpdateProgress,
    Watch,
    force_update,
    issue_rollback,
    issue_update,
    update_status,
)
from escadre.model.project import Project
from escadre.model.revision import Revision


class SwarmDriver:
    """``Driver`` for a Docker Swarm, through one of its managers."""

    kind = "swarm"
    capabilities = frozenset({"build", "logs-follow", "native-rolling", "placement", "traffic"})

    def __init__(
        self,
        name: str = "swarm",
        connection: Connection | None = None,
        *,
        registry: str | None = None,
        routing_mesh: Setting = "auto",
    ) -> None:
        self.name = name
        self.connection = connection or Connection()
        self.registry = registry.rstrip("/") if registry else None
        self.routing_mesh = routing_mesh
        self._api: docker.APIClient | None = None
        self._lock = threading.Lock()
        self._objects_lock = threading.RLock()
        self._image_locks: dict[str, threading.Lock] = {}
        self._manager: str | None = None
        self._mesh: Mesh | None = None
        self._warned: set[str] = set()
        self._gateway_cache: dict[str, str] = {}
        self.routers = Routers(lambda: self.api, name, local=self.connection.is_local, data_dir=self._router_dir)

    # ------------------------------------------------------------------------------- connection

    @property
    def api(self) -> docker.APIClient:
        with self._lock:
            if self._api is None:
                self._api = connect(self.connection, self.name)
            return self._api

    @property
    def _swarm(self) -> Any:
        """The same client, for the SDK's swarm calls (services, tasks, nodes), which its stubs leave untyped."""
        return self.api

    @contextlib.contextmanager
    def _t(self, doing: str) -> Iterator[None]:
        """``translate`` plus the one message every swarm call gets from an engine that is not a manager."""
        try:
            with translate(self.name, doing, self.connection):
                yield
        except TargetError as exc:
            if "not a swarm manager" in exc.message or "not part of a swarm" in exc.message:
                raise self._not_manager("worker" if "Worker nodes" in exc.message else "inactive") from exc
            raise

    def _not_manager(self, state: str) -> UsageError:
        endpoint = self.connection.endpoint
        if state in ("inactive", "pending", "locked", "error", ""):
            what = f"is not part of a swarm (swarm: {state or 'inactive'})"
            hint = (
                "make it a manager: docker swarm init --advertise-addr <this host's IP> "
                "(or join it to a swarm as a manager), or point the target at a manager with --host"
            )
        else:
            what = "is a swarm worker: only managers can create and inspect services"
            hint = "point the target at a manager node (--host), or promote this one: docker node promote <node>"
        return UsageError(f"target {self.name!r}: the engine at {endpoint} {what}", hint=hint)

    def _require_manager(self) -> str:
        """This manager's node id (checked once per driver)."""
        if self._manager is None:
            with self._t("asking the engine about its swarm"):
                swarm = self.api.info().get("Swarm") or {}
            state = str(swarm.get("LocalNodeState") or "inactive")
            if state != "active":
                raise self._not_manager(state)
            if not swarm.get("ControlAvailable"):
                raise self._not_manager("worker")
            self._manager = str(swarm.get("NodeID") or "")
        return self._manager

    def mesh(self) -> Mesh:
        """Whether VIPs and the ingress routing mesh work on this swarm (see ``mesh``)."""
        if self._mesh is None:
            self._mesh = detect(local=self.connection.is_local, setting=self.routing_mesh)
        return self._mesh

    def info(self) -> TargetInfo:
        with self._t("asking the engine for its version"):
            version = self.api.version()
        node = self._require_manager()
        with self._t("listing the swarm's nodes"):
            nodes = nodes_by_id(self._swarm.nodes())
        mesh = self.mesh()
        return TargetInfo(
            kind=self.kind,
            name=self.name,
            endpoint=self.connection.endpoint,
            version=str(version.get("Version", "")),
            details={
                "api": str(version.get("ApiVersion", "")),
                "node": nodes[node].hostname if node in nodes else node,
                "nodes": str(len(nodes)),
                "ready": str(sum(1 for n in nodes.values() if n.state == "ready")),
                "routing_mesh": "yes" if mesh.ipvs else f"no ({mesh.how})",
            },
        )

    def support(self) -> Mapping[str, KeySupport] | None:
        return SUPPORT_TABLE

    def close(self) -> None:
        with self._lock:
            if self._api is not None:
                self._api.close()
                self._api = None

    def _nodes(self) -> dict[str, NodeInfo]:
        with self._t("listing the swarm's nodes"):
            return nodes_by_id(self._swarm.nodes())

    def _warn_once(self, key: str, event: ProgressEvent, progress: Progress) -> None:
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        progress.emit(event)

    # ----------------------------------------------------------------------------------- images

    def prepare_image(
        self, project: Project, service: str, progress: Progress, *, build: bool = False, dry_run: bool = False
    ) -> ResolvedImage:
        svc = project.services[service]
        key = svc.image or f"{project.name}-{service}"
        with self._lock:
            lock = self._image_locks.setdefault(key, threading.Lock())
        with lock:
            image = resolve_image(self.api, self.name, project, svc, progress, build=build, dry_run=dry_run)
            if dry_run or image.id is None:
                return image
            if self.registry:
                return push(self.api, self.name, self.registry, project, svc, image, progress)
        if len(self._nodes()) > 1 and "@sha256:" not in image.ref:
            self._warn_once(
                f"image:{image.id}",
                ProgressEvent(
                    f"service {service}",
                    "image only on the manager",
                    "warning",
                    detail=f"{image.ref} is not in a registry: nodes that run its tasks need it too "
                    "(docker save | docker load), or give the target a registry to push to",
                ),
                progress,
            )
        return image

    # --------------------------------------------------------------------------- shared resources

    def ensure_shared(self, project: Project, progress: Progress) -> None:
        self._require_manager()
        # everything that can fail on the user's side is checked before anything is created
        secrets, configs = wanted(project, "secret"), wanted(project, "config")
        with self._t(f"checking the shared resources of {project.name}"):
            networks = check_networks(self.api, self.name, project)
            volumes = check_volumes(self.api, self.name, project)
            for kind, items in zip(KINDS, (secrets, configs), strict=True):
                Objects(self.api, kind).check(items, self.name)
        with self._t(f"creating the networks of {project.name}"):
            ensure_networks(self.api, project, networks, progress)
        with self._t(f"creating the volumes of {project.name}"):
            ensure_volumes(self.api, project, volumes, progress)
        with self._objects_lock:
            for kind, items in zip(KINDS, (secrets, configs), strict=True):
                with self._t(f"creating the {kind}s of {project.name}"):
                    _, created = Objects(self.api, kind).ensure(items, self.name)
                for name in created:
                    progress.emit(ProgressEvent(f"{kind} {name}", "created", "done"))
        self.routers.ensure(project, progress)

    def _objects_for(self, project: Project, service: str) -> tuple[dict[str, ObjectRef], dict[str, ObjectRef]]:
        """The versioned secrets and configs of one service, created when missing (callers hold the lock)."""
        refs: list[dict[str, ObjectRef]] = []
        for kind in KINDS:
            items = wanted(project, kind, services=[service])
            with self._t(f"creating the {kind}s of {service}"):
                found, _ = Objects(self.api, kind).ensure(items, self.name)
            refs.append(found)
        return refs[0], refs[1]

    def _prune_objects(self, app: str, progress: Progress) -> None:
        """Remove the app's secret and config versions no service uses any more."""
        with self._objects_lock:
            services = self._services(app)
            for kind in KINDS:
                store = Objects(self.api, kind)
                used = in_use(services, kind)
                with self._t(f"listing the {kind}s of {app}"):
                    mine = store.of_app(app)
                for obj in mine:
                    if obj["ID"] in used:
                        continue
                    try:
                        with self._t(f"removing {kind} {obj['Spec']['Name']}"):
                            store.remove(obj["ID"])
                    except TargetError:
                        continue  # still referenced by a service being removed: the next prune takes it
                    progress.emit(ProgressEvent(f"{kind} {obj['Spec']['Name']}", "removed", "done"))

    # --------------------------------------------------------------------------------- services

    def _services(self, app: str, service: str | None = None, revision: str | None = None) -> list[dict[str, Any]]:
        filters = [f"{LABEL_APP}={app}"]
        if service is not None:
            filters.append(f"{LABEL_SERVICE}={service}")
        if revision is not None:
            filters.append(f"{LABEL_REVISION}={revision}")
        with self._t(f"listing the services of {app}"):
            return list(self._swarm.services(filters={"label": filters}))

    def _tasks(self, service_ids: Sequence[str]) -> list[dict[str, Any]]:
        if not service_ids:
            return []
        with self._t("listing tasks"):
            return list(self._swarm.tasks(filters={"service": list(service_ids)}))

    def apply_revision(self, project: Project, revision: Revision, replicas: int, progress: Progress) -> None:
        self._require_manager()
        svc = project.services[revision.service]
        subject = f"service {svc.name}"
        existing = self._services(project.name, svc.name, revision.id)
        if existing:
            self._scale(existing[0], replicas, progress)
            return
        with self._objects_lock:
            secrets, configs = self._objects_for(project, svc.name)
            plan = service_spec(
                project, revision, replicas=replicas, mesh=self.mesh(), secrets=secrets, configs=configs
            )
            admission.check_host_ports(svc, plan, replicas, self._nodes)
            with self._t(f"creating service {plan.name}"):
                created = self._swarm.create_service(
                    plan.spec["TaskTemplate"],
                    name=plan.name,
                    labels=plan.spec["Labels"],
                    mode=plan.spec["Mode"],
                    endpoint_spec=plan.spec["EndpointSpec"],
                    update_config=plan.spec.get("UpdateConfig"),
                    rollback_config=plan.spec.get("RollbackConfig"),
                )
        for note in plan.notes:
            # the endpoint-mode fallback is the same for every service: said once per app
            key = f"{project.name}:dnsrr" if note.startswith("endpoint_mode") else f"{project.name}:{svc.name}:{note}"
            self._warn_once(key, ProgressEvent(subject, "approximated", "warning", detail=note), progress)
        try:
            admission.admit(self._tasks, self._nodes, str(created["ID"]), svc, plan, replicas, self.name)
        except Exception:
            # nothing half-applied: a service that cannot run is not left pending or restarting
            with contextlib.suppress(docker.errors.APIError, TargetError):
                self._swarm.remove_service(created["ID"])
            admission.wait_stopped(self._tasks, self._nodes, [str(created["ID"])], svc.stop_grace_period)
            with contextlib.suppress(TargetError):
                self._prune_objects(project.name, progress)
            raise
        progress.emit(ProgressEvent(subject, "created", "done", detail=plan.name, data={"revision": revision.id}))

    def _scale(self, service: Mapping[str, Any], replicas: int, progress: Progress) -> None:
        mode = (service.get("Spec") or {}).get("Mode") or {}
        if "Replicated" not in mode:
            return  # global: one task per eligible node, whatever the count
        if int(mode["Replicated"].get("Replicas") or 0) != replicas:
            spec = dict(service["Spec"])
            spec["Mode"] = {"Replicated": {"Replicas": replicas}}
            with self._t(f"scaling service {spec['Name']}"):
                issue_update(self.api, service, spec)
            labels = spec.get("Labels") or {}
            progress.emit(
                ProgressEvent(
                    f"service {labels.get(LABEL_SERVICE, '')}",
                    "scaled",
                    "done",
                    detail=f"{spec['Name']} → {replicas}",
                    data={"revision": labels.get(LABEL_REVISION)},
                )
            )
        admission.settle(self._tasks, str(service["ID"]), replicas)

    def remove_revision(self, app: str, service: str, revision: str, progress: Progress) -> None:
        found = self._services(app, service, revision)
        for item in found:
            with self._t(f"removing service {item['Spec']['Name']}"), contextlib.suppress(docker.errors.NotFound):
                self._swarm.remove_service(item["ID"])
            progress.emit(
                ProgressEvent(
                    f"service {service}", "removed", "done", detail=item["Spec"]["Name"], data={"revision": revision}
                )
            )
        if found:
            admission.wait_stopped(self._tasks, self._nodes, [str(s["ID"]) for s in found], None)
            self._prune_objects(app, progress)

    # ------------------------------------------------------------------------------------ observe

    def observe(self, app: str, service: str | None = None) -> AppStatus:
        services = self._services(app, service)
        tasks = self._tasks([s["ID"] for s in services])
        nodes = self._nodes() if tasks else {}
        gateways = self._gateways(tasks) if tasks and self.connection.is_local else {}
        by_service: dict[str, list[dict[str, Any]]] = {}
        for task in tasks:
            by_service.setdefault(str(task.get("ServiceID")), []).append(task)
        groups: dict[tuple[str, str], list[Instance]] = {}
        desired: dict[tuple[str, str], int] = {}
        images: dict[tuple[str, str], str] = {}
        for item in services:
            spec = item["Spec"]
            labels = spec.get("Labels") or {}
            own = (str(labels.get(LABEL_SERVICE, "")), str(labels.get(LABEL_REVISION, "")))
            networks = [n.get("Target", "") for n in (spec.get("TaskTemplate") or {}).get("Networks") or []]
            names = _network_names(networks, by_service.get(item["ID"], []))
            found = [
                _reachable(instance(c, spec["Name"], nodes, names), c.task, gateways)
                for c in current_tasks(by_service.get(item["ID"], []))
            ]
            groups.setdefault(own, [])
            images[own] = str(labels.get(LABEL_IMAGE, ""))
            for inst in found:
                key = (inst.service or own[0], inst.revision or own[1])
                groups.setdefault(key, []).append(inst)
            mode = spec.get("Mode") or {}
            desired[own] = int(mode["Replicated"].get("Replicas") or 0) if "Replicated" in mode else len(found)
        revisions = tuple(
            RevisionStatus(
                svc,
                rev,
                desired.get((svc, rev), len(insts)),
                tuple(sorted(insts, key=lambda i: i.name)),
                images.get((svc, rev), ""),
            )
            for (svc, rev), insts in sorted(groups.items())
        )
        resources: list[ResourceRef] = []
        if service is None:
            resources = self._resources(app)
        return AppStatus(app=app, revisions=revisions, resources=tuple(resources))

    def _gateways(self, tasks: Sequence[Mapping[str, Any]]) -> Mapping[str, str]:
        """Container id → its address on this host's ``docker_gwbridge``: the one address of a task on
        this (manager) node that a process on the host reaches — overlay addresses live in the overlay's
        own network namespace. A container keeps its address for life, so the bridge is read again only
        when a running task here is not known yet (observe is polled during every wait)."""
        here = self._require_manager()
        running = {
            cid
            for t in tasks
            if t.get("NodeID") == here
            and (t.get("Status") or {}).get("State") in ("running", "starting")  # both count as running
            and (cid := _container_of(t))
        }
        with self._lock:
            known = self._gateway_cache
        if running <= known.keys():
            return known
        try:
            with self._t("inspecting docker_gwbridge"):
                found = self.api.inspect_network("docker_gwbridge")
        except TargetError:
            return {}  # not created yet
        fresh = {
            cid: str(c.get("IPv4Address") or "").split("/")[0]
            for cid, c in (found.get("Containers") or {}).items()
            if c.get("IPv4Address")
        }
        with self._lock:
            self._gateway_cache = fresh  # every container on this host's bridge: the old entries go with it
        return fresh

    def _resources(self, app: str) -> list[ResourceRef]:
        label = {"label": [f"{LABEL_APP}={app}"]}
        out: list[ResourceRef] = []
        with self._t(f"listing the resources of {app}"):
            for c in self.api.containers(all=True, filters={"label": [f"{LABEL_APP}={app}", f"{LABEL_ROLE}=router"]}):
                out.append(ResourceRef("router", c["Names"][0].lstrip("/"), c["Id"]))
            for n in self.api.networks(filters=label):
                out.append(ResourceRef("network", n["Name"], n["Id"]))
            for v in self.api.volumes(filters=label).get("Volumes") or []:
                out.append(ResourceRef("volume", v["Name"]))
            for kind in KINDS:
                for obj in Objects(self.api, kind).of_app(app):
                    out.append(ResourceRef(kind, obj["Spec"]["Name"], obj["ID"]))
        return out

    def list_apps(self) -> list[str]:
        label = {"label": [f"{LABEL_MANAGED}=true"]}
        with self._t("listing Escadre's apps"):
            services = self._swarm.services(filters=label)
            networks = self.api.networks(filters=label)
        apps = {((s.get("Spec") or {}).get("Labels") or {}).get(LABEL_APP) for s in services}
        apps |= {(n.get("Labels") or {}).get(LABEL_APP) for n in networks}
        return sorted(a for a in apps if a)

    # ----------------------------------------------------------------------------------- remove

    def remove_app(self, app: str, progress: Progress, *, volumes: bool = False) -> None:
        services = self._services(app)
        for item in services:
            with self._t(f"removing service {item['Spec']['Name']}"), contextlib.suppress(docker.errors.NotFound):
                self._swarm.remove_service(item["ID"])
            progress.emit(ProgressEvent(f"service {item['Spec']['Name']}", "removed", "done"))
        with self._t(f"listing the router of {app}"):
            routers = self.api.containers(all=True, filters={"label": [f"{LABEL_APP}={app}", f"{LABEL_ROLE}=router"]})
        for c in routers:
            with self._t(f"removing container {c['Names'][0]}"), contextlib.suppress(docker.errors.NotFound):
                self.api.remove_container(c["Id"], force=True, v=True)
            progress.emit(ProgressEvent(f"router {c['Names'][0].lstrip('/')}", "removed", "done"))
        shutil.rmtree(self._router_dir() / f"{app}-router", ignore_errors=True)
        self.routers.forget(app)
        # tasks detach from the networks as they stop: removing a network is retried until they have
        with self._t(f"removing the networks of {app}"):
            remove_networks(self.api, app, progress)
        with self._objects_lock:
            for kind in KINDS:
                store = Objects(self.api, kind)
                with self._t(f"removing the {kind}s of {app}"):
                    for obj in store.of_app(app):
                        with contextlib.suppress(docker.errors.NotFound):
                            store.remove(obj["ID"])
                        progress.emit(ProgressEvent(f"{kind} {obj['Spec']['Name']}", "removed", "done"))
        if volumes:
            with self._t(f"removing the volumes of {app}"):
                remove_volumes(self.api, app, progress)

    # ------------------------------------------------------------------------------------- logs

    def logs(
        self, app: str, services: Sequence[str] = (), *, follow: bool = False, tail: int | None = None
    ) -> Iterator[LogLine]:
        chosen = [
            s
            for s in self._services(app)
            if not services or (s["Spec"].get("Labels") or {}).get(LABEL_SERVICE) in services
        ]
        tasks = self._tasks([s["ID"] for s in chosen])
        spec_names = {s["ID"]: s["Spec"]["Name"] for s in chosen}
        names = {
            str(
                t["ID"]
            ): f"{spec_names.get(t.get('ServiceID', ''), '')}.{t.get('Slot') or str(t.get('NodeID', ''))[:12]}"
            for t in tasks
        }
        limit = tail if tail is not None else "all"
        if follow:
            sources = [
                (
                    str((s["Spec"].get("Labels") or {}).get(LABEL_SERVICE, "")),
                    _opener(self.api, s["ID"], limit),
                )
                for s in chosen
            ]
            yield from service_logs.follow(sources, names)
            return
        lines: list[LogLine] = []
        for s in chosen:
            label = str((s["Spec"].get("Labels") or {}).get(LABEL_SERVICE, ""))
            for stream in ("stdout", "stderr"):
                with self._t(f"reading the logs of {s['Spec']['Name']}"):
                    chunks = self._swarm.service_logs(
                        s["ID"],
                        details=True,
                        stdout=stream == "stdout",
                        stderr=stream == "stderr",
                        timestamps=True,
                        tail=limit,
                    )
                    for raw in service_logs.split_lines(chunks):
                        lines.append(service_logs.parse_line(raw, label, names, stream))
        lines.sort(key=lambda line: line.ts or "")
        yield from lines

    # ---------------------------------------------------------------------------------- traffic

    def _router_dir(self) -> Path:
        return Settings.from_env().data_dir / "swarm" / self.name

    def route(self, project: Project, service: str, plan: TrafficPlan, progress: Progress) -> bool:
        if not project.is_routed(service):
            return False  # the rollout engine splits traffic by replica ratio on the shared DNS name
        tasks = self._tasks([s["ID"] for s in self._services(project.name, service)])
        self.routers.route(project, service, plan, tasks, self._nodes() if tasks else {})
        return True

    # ------------------------------------------------------------------------------------ probe

    def probe(self, app: str, service: str, revision: str) -> bool | None:
        manager = self._require_manager()
        services = self._services(app, service)
        running = [
            c.task
            for c in current_tasks(self._tasks([s["ID"] for s in services]))
            if revision_of(c.task) == revision and (c.task.get("Status") or {}).get("State") in ("running", "starting")
        ]
        if not running:
            return False
        if any(t.get("NodeID") != manager for t in running):
            return None  # tasks on other nodes cannot be exec'd into through the manager
        containers = [_container_of(t) for t in running]
        return all(c and run_health_test(self.api, self.name, c) for c in containers)

    # ---------------------------------------------------------------------------- native rolling

    def native_update(
        self, project: Project, revision: Revision, replicas: int, progress: Progress, *, from_revision: str
    ) -> Iterator[UpdateProgress]:
        """Roll the service running ``from_revision`` to ``revision`` with Swarm's own rolling update
        (``deploy.update_config``), yielding progress until Swarm reaches a terminal state (see ``update``).
        Calling it again for a service already at ``revision`` resumes a paused update, or just watches."""
        self._require_manager()
        svc = project.services[revision.service]
        found = self._services(project.name, svc.name, revision.id) or self._services(
            project.name, svc.name, from_revision
        )
        if not found:
            raise OperationFailed(
                f"no swarm service runs revision {from_revision} of {svc.name!r} to update in place",
                hint="deploy it first with escadre up",
            )
        current = found[0]
        _, _, before = update_status(current)
        with self._objects_lock:
            secrets, configs = self._objects_for(project, svc.name)
            plan = service_spec(
                project,
                revision,
                replicas=replicas,
                mesh=self.mesh(),
                secrets=secrets,
                configs=configs,
                name=current["Spec"]["Name"],
            )
            with self._t(f"updating service {plan.name}"):
                issue_update(self.api, current, plan.spec)
        progress.emit(
            ProgressEvent(
                f"service {svc.name}", "updating", "running", detail=f"{plan.name}: {from_revision} → {revision.id}"
            )
        )
        yield from self._watch(str(current["ID"]), revision.id, before, svc.name, rollback=False)

    def native_rollback(self, app: str, service: str, revision: str, progress: Progress) -> Iterator[UpdateProgress]:
        """``docker service rollback`` of the service now at ``revision``, back to its previous spec."""
        found = self._services(app, service, revision)
        if not found:
            raise OperationFailed(f"no swarm service of {service!r} runs revision {revision} to roll back")
        current = found[0]
        previous = ((current.get("PreviousSpec") or {}).get("Labels") or {}).get(LABEL_REVISION)
        if previous is None:
            raise OperationFailed(f"swarm service {current['Spec']['Name']} has no previous spec to roll back to")
        _, _, before = update_status(current)
        with self._t(f"rolling back service {current['Spec']['Name']}"):
            issue_rollback(self.api, current)
        progress.emit(ProgressEvent(f"service {service}", "rolling back", "running", detail=f"{revision} → {previous}"))
        yield from self._watch(str(current["ID"]), str(previous), before, service, rollback=True)

    def _watch(
        self, service_id: str, revision: str, before: str, service: str, *, rollback: bool
    ) -> Iterator[UpdateProgress]:
        def kick() -> None:
            with self._t(f"restarting the update of {service}"):
                force_update(self.api, service_id)

        watch = Watch(self.api, service_id, revision, before=before, rollback=rollback, kick=kick)
        with self._t(f"following the update of {service}"):
            yield from watch  # the rollout engine records each step (rollout.update events)


def _container_of(task: Mapping[str, Any]) -> str:
    return str(((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID") or "")


def _reachable(inst: Instance, task: Mapping[str, Any], gateways: Mapping[str, str]) -> Instance:
    """``inst`` with its host-reachable address first, when its container runs on this host."""
    gateway = gateways.get(_container_of(task))
    if not gateway or inst.state != "running":
        return inst
    return replace(inst, addresses=(gateway, *inst.addresses))


def _network_names(targets: Sequence[str], tasks: Sequence[Mapping[str, Any]]) -> list[str]:
    """Network *names* in the order of a service's attachments (the stored spec holds network ids)."""
    by_id: dict[str, str] = {}
    for task in tasks:
        for attachment in task.get("NetworksAttachments") or []:
            network = attachment.get("Network") or {}
            by_id[str(network.get("ID", ""))] = str((network.get("Spec") or {}).get("Name", ""))
    return [by_id.get(t, t) for t in targets]


def _opener(api: docker.APIClient, service_id: str, tail: int | str) -> Any:
    def open_stream() -> Any:
        raw: Any = api
        return raw.service_logs(
            service_id, details=True, follow=True, stdout=True, stderr=True, timestamps=True, tail=tail
        )

    return open_stream


def from_target_config(name: str, config: Mapping[str, Any]) -> SwarmDriver:
    settings: dict[str, Setting] = {"auto": "auto", "on": "on", "off": "off"}
    return SwarmDriver(
        name,
        Connection.from_config(config),
        registry=config.get("registry"),
        routing_mesh=settings.get(str(config.get("routing_mesh") or "auto"), "auto"),
    )


__all__ = ["SwarmDriver", "from_target_config"]
