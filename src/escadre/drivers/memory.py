"""An in-memory target: the ``Driver`` seam with no platform behind it.

It serves three purposes: hermetic unit tests of everything above the seam (operations, rollouts), the
``--dry-run`` of ``up``, and executable documentation of what a driver must do — it passes the same
conformance suite as the real drivers.

Behaviour can be scripted per service or revision: instances may take a number of ``observe`` calls to
become healthy (``health_delay``), stay unhealthy (``unhealthy``), exit with a code (``exit_codes``, for
one-shot services), or fail to start (``fail_start``). Images resolve to a stable fake id derived from
their reference unless ``image_ids`` says otherwise.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from escadre.core.progress import Progress, ProgressEvent
from escadre.drivers.base import (
    AppStatus,
    Instance,
    LogLine,
    ResolvedImage,
    ResourceRef,
    RevisionStatus,
    TargetInfo,
    TrafficPlan,
    labels_for,
)
from escadre.drivers.support import KeySupport
from escadre.model.project import Project
from escadre.model.revision import Revision


@dataclass
class _Instance:
    id: str
    name: str
    replica: int
    created_at: float
    polls: int = 0
    restarts: int = 0
    logs: list[str] = field(default_factory=list)


@dataclass
class _Revision:
    service: str
    revision: str
    image: str
    has_healthcheck: bool
    labels: dict[str, str]
    instances: dict[int, _Instance] = field(default_factory=dict)


@dataclass
class _App:
    resources: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    revisions: dict[tuple[str, str], _Revision] = field(default_factory=dict)


class MemoryDriver:
    """A complete, thread-safe ``Driver`` that keeps the target in a dictionary."""

    kind = "memory"
    capabilities = frozenset({"build", "logs-follow"})

    def __init__(
        self,
        name: str = "memory",
        *,
        health_delay: int = 0,
        unhealthy: Sequence[str] = (),
        exit_codes: Mapping[str, int] | None = None,
        fail_start: Sequence[str] = (),
        image_ids: Mapping[str, str] | None = None,
        routed: bool = True,
    ) -> None:
        self.name = name
        self.health_delay = health_delay
        self.unhealthy = set(unhealthy)
        self.exit_codes = dict(exit_codes or {})
        self.fail_start = set(fail_start)
        self.image_ids = dict(image_ids or {})
        self.calls: list[tuple[str, ...]] = []
        self.routed = routed
        self.traffic: dict[tuple[str, str], TrafficPlan] = {}
        self.routes: list[tuple[str, str, TrafficPlan]] = []
        self._apps: dict[str, _App] = {}
        self._lock = threading.RLock()
        self._ids = itertools.count(1)

    # -------------------------------------------------------------------------------------- helpers

    def _matches(self, service: str, revision: str, names: set[str]) -> bool:
        return service in names or f"{service}@{revision}" in names

    def _instance(self, rev: _Revision, inst: _Instance, observe: bool) -> Instance:
        if observe:
            inst.polls += 1
        if self._matches(rev.service, rev.revision, self.fail_start):
            return Instance(inst.id, inst.name, rev.service, rev.revision, "failed", message="failed to start")
        if rev.service in self.exit_codes or f"{rev.service}@{rev.revision}" in self.exit_codes:
            code = self.exit_codes.get(f"{rev.service}@{rev.revision}", self.exit_codes.get(rev.service, 0))
            if inst.polls > self.health_delay:
                return Instance(inst.id, inst.name, rev.service, rev.revision, "exited", exit_code=code)
            return Instance(inst.id, inst.name, rev.service, rev.revision, "running")
        health: str = "none"
        if rev.has_healthcheck:
            if self._matches(rev.service, rev.revision, self.unhealthy):
                health = "unhealthy" if inst.polls > self.health_delay else "starting"
            else:
                health = "healthy" if inst.polls > self.health_delay else "starting"
        return Instance(
            inst.id,
            inst.name,
            rev.service,
            rev.revision,
            "running",
            health=health,  # type: ignore[arg-type]
            restarts=inst.restarts,
            started_at=inst.created_at,
        )

    # --------------------------------------------------------------------------------- driver verbs

    def info(self) -> TargetInfo:
        return TargetInfo(kind=self.kind, name=self.name, endpoint="memory://", version="1")

    def prepare_image(
        self, project: Project, service: str, progress: Progress, *, build: bool = False, dry_run: bool = False
    ) -> ResolvedImage:
        svc = project.services[service]
        ref = svc.image or f"{project.name}-{service}"
        with self._lock:
            self.calls.append(("prepare_image", service))
        if svc.build is not None:
            progress.emit(ProgressEvent(f"service {service}", "building", "done", detail=ref))
        image_id = self.image_ids.get(ref) or "sha256:" + hashlib.sha256(ref.encode()).hexdigest()
        return ResolvedImage(ref=ref, id=image_id, built=svc.build is not None)

    def ensure_shared(self, project: Project, progress: Progress) -> None:
        with self._lock:
            self.calls.append(("ensure_shared", project.name))
            app = self._apps.setdefault(project.name, _App())
            wanted: list[tuple[str, str]] = [("network", n.name) for n in project.networks.values() if not n.external]
            wanted += [("volume", v.name) for v in project.volumes.values() if not v.external]
            for kind, name in wanted:
                if (kind, name) not in app.resources:
                    app.resources[(kind, name)] = labels_for(project.name)
                    progress.emit(ProgressEvent(f"{kind} {name}", "created", "done"))

    def apply_revision(self, project: Project, revision: Revision, replicas: int, progress: Progress) -> None:
        svc = project.services[revision.service]
        with self._lock:
            self.calls.append(("apply_revision", revision.service, revision.id, str(replicas)))
            app = self._apps.setdefault(project.name, _App())
            key = (revision.service, revision.id)
            rev = app.revisions.get(key)
            if rev is None:
                rev = _Revision(
                    service=revision.service,
                    revision=revision.id,
                    image=revision.image,
                    has_healthcheck=svc.healthcheck is not None and not svc.healthcheck.disabled,
                    labels=labels_for(project.name, revision.service, revision.id),
                )
                app.revisions[key] = rev
            for n in range(1, replicas + 1):
                if n not in rev.instances:
                    iid = f"m{next(self._ids):06d}"
                    name = f"{project.name}-{revision.service}-{revision.id[:6]}-{n}"
                    rev.instances[n] = _Instance(iid, name, n, time.time(), logs=[f"{name} started"])
                    progress.emit(ProgressEvent(f"service {revision.service}", "started", "done", detail=name))
            for n in [n for n in rev.instances if n > replicas]:
                del rev.instances[n]

    def remove_revision(self, app: str, service: str, revision: str, progress: Progress) -> None:
        with self._lock:
            self.calls.append(("remove_revision", service, revision))
            state = self._apps.get(app)
            if state and state.revisions.pop((service, revision), None) is not None:
                progress.emit(ProgressEvent(f"service {service}", "removed", "done", detail=revision))

    def observe(self, app: str, service: str | None = None) -> AppStatus:
        with self._lock:
            state = self._apps.get(app)
            if state is None:
                return AppStatus(app=app)
            revisions = []
            for (svc, rev_id), rev in sorted(state.revisions.items()):
                if service is not None and svc != service:
                    continue
                instances = tuple(self._instance(rev, i, True) for _, i in sorted(rev.instances.items()))
                revisions.append(RevisionStatus(svc, rev_id, len(rev.instances), instances, rev.image))
            resources = tuple(ResourceRef(kind, name) for kind, name in sorted(state.resources))  # type: ignore[arg-type]
            return AppStatus(app=app, revisions=tuple(revisions), resources=resources)

    def remove_app(self, app: str, progress: Progress, *, volumes: bool = False) -> None:
        with self._lock:
            self.calls.append(("remove_app", app))
            state = self._apps.get(app)
            if state is None:
                return
            for svc, rev in list(state.revisions):
                self.remove_revision(app, svc, rev, progress)
            for kind, name in list(state.resources):
                if kind == "volume" and not volumes:
                    continue
                del state.resources[(kind, name)]
                progress.emit(ProgressEvent(f"{kind} {name}", "removed", "done"))
            if not state.resources:
                del self._apps[app]

    def logs(
        self, app: str, services: Sequence[str] = (), *, follow: bool = False, tail: int | None = None
    ) -> Iterator[LogLine]:
        with self._lock:
            state = self._apps.get(app)
            lines: list[LogLine] = []
            for (svc, _), rev in sorted(state.revisions.items()) if state else []:
                if services and svc not in services:
                    continue
                for inst in rev.instances.values():
                    chosen = inst.logs[-tail:] if tail else inst.logs
                    lines.extend(LogLine(svc, inst.name, text) for text in chosen)
        yield from lines

    def list_apps(self) -> list[str]:
        with self._lock:
            return sorted(self._apps)

    def support(self) -> Mapping[str, KeySupport] | None:
        return None

    def probe(self, app: str, service: str, revision: str) -> bool | None:
        return None

    def route(self, project: Project, service: str, plan: TrafficPlan, progress: Progress) -> bool:
        """Records the plan; ``traffic`` shows the latest one and ``routes`` all of them, in order."""
        with self._lock:
            self.calls.append(("route", service, str(plan.stable), str(plan.canary), str(plan.canary_weight)))
            self.traffic[(project.name, service)] = plan
            self.routes.append((project.name, service, plan))
        return self.routed

    def close(self) -> None:
        return None

    # ------------------------------------------------------------------------------- test controls

    def crash(self, app: str, service: str, revision: str | None = None) -> None:
        """Simulate a restart of every instance of ``service`` (or one revision of it)."""
        with self._lock:
            for (svc, rev_id), rev in self._apps[app].revisions.items():
                if svc == service and revision in (None, rev_id):
                    for key, inst in rev.instances.items():
                        rev.instances[key] = replace(inst, restarts=inst.restarts + 1)


__all__ = ["MemoryDriver", "from_target_config"]


_SHARED: dict[str, MemoryDriver] = {}


def from_target_config(name: str, config: Mapping[str, object]) -> MemoryDriver:
    """One in-memory target per name per process (so successive commands in a test see the same state)."""
    if name not in _SHARED:
        _SHARED[name] = MemoryDriver(name)
    return _SHARED[name]
