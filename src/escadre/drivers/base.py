"""The driver seam: the few coarse verbs every target (Docker, Swarm, Kubernetes, ECS) implements.

A driver knows how to make one target platform hold a project's *shared resources* (networks, volumes,
secrets...) and any number of *revisions* of each service, each with N instances, and how to read that
back. Everything target-neutral — what changed, in which order to deploy, how to roll out, when to wait —
lives above, in ``escadre.operations`` and ``escadre.rollout``, and talks to targets only through
``Driver``. ``docs/architecture.md`` maps each verb onto each platform.

Rules every driver follows (the conformance suite in ``tests/drivers/conformance.py`` checks them):

* every object it creates carries the labels from ``labels_for`` (``escadre.app``, ``escadre.service``,
  ``escadre.revision``, ``escadre.managed``), so state can always be re-observed from the target and
  ``remove_app`` removes exactly what Escadre created;
* verbs are idempotent: applying the same revision with the same replicas twice changes nothing;
* verbs do not wait for health; callers poll ``observe`` (drivers may make that cheap);
* SDK exceptions never cross the seam: they become ``TargetError`` subclasses (see ``core.errors``);
* secrets are given to instances as files and never appear in labels, env, logs or returned values.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from escadre.core.progress import Progress
from escadre.drivers.support import KeySupport
from escadre.model.project import Project
from escadre.model.revision import Revision

LABEL_APP = "escadre.app"
LABEL_SERVICE = "escadre.service"
LABEL_REVISION = "escadre.revision"
LABEL_MANAGED = "escadre.managed"
LABEL_REPLICA = "escadre.replica"
LABEL_ROLE = "escadre.role"
LABEL_SPEC_HASH = "escadre.spec-hash"

Capability = Literal["build", "traffic", "native-rolling", "render", "logs-follow", "placement"]

InstanceState = Literal["created", "starting", "running", "exited", "failed", "removing", "unknown"]
Health = Literal["healthy", "unhealthy", "starting", "none"]


def labels_for(app: str, service: str | None = None, revision: str | None = None, **extra: str) -> dict[str, str]:
    """The labels every Escadre-created object carries."""
    labels = {LABEL_MANAGED: "true", LABEL_APP: app}
    if service is not None:
        labels[LABEL_SERVICE] = service
    if revision is not None:
        labels[LABEL_REVISION] = revision
    labels.update({f"escadre.{k.replace('_', '-')}": v for k, v in extra.items()})
    return labels


@dataclass(frozen=True, slots=True)
class TargetInfo:
    kind: str
    name: str
    endpoint: str
    version: str = ""
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResolvedImage:
    """The image a revision runs: ``ref`` to start it, ``id`` (content id or digest) when known."""

    ref: str
    id: str | None
    built: bool = False


@dataclass(frozen=True, slots=True)
class Instance:
    """One running unit of a revision: a container, a swarm task, a pod, an ECS task."""

    id: str
    name: str
    service: str
    revision: str
    state: InstanceState
    health: Health = "none"
    exit_code: int | None = None
    restarts: int = 0
    node: str | None = None
    ports: tuple[str, ...] = ()
    started_at: float | None = None
    message: str = ""
    addresses: tuple[str, ...] = ()
    """IPs the instance is reachable at, for probes: first the one Escadre's own process reaches when the
    target has one (a swarm task on the local manager: its ``docker_gwbridge`` address), then its
    addresses on the app's networks."""

    @property
    def ready(self) -> bool:
        return self.state == "running" and self.health in ("healthy", "none")

    @property
    def completed(self) -> bool:
        return self.state == "exited" and self.exit_code == 0


@dataclass(frozen=True, slots=True)
class RevisionStatus:
    service: str
    revision: str
    desired: int
    instances: tuple[Instance, ...] = ()
    image: str = ""

    @property
    def ready(self) -> int:
        return sum(1 for i in self.instances if i.ready)

    @property
    def failed(self) -> tuple[Instance, ...]:
        return tuple(
            i
            for i in self.instances
            if i.state == "failed" or i.health == "unhealthy" or (i.state == "exited" and i.exit_code not in (0, None))
        )


@dataclass(frozen=True, slots=True)
class ResourceRef:
    kind: Literal["network", "volume", "secret", "config", "router", "other"]
    name: str
    id: str = ""


@dataclass(frozen=True, slots=True)
class AppStatus:
    app: str
    revisions: tuple[RevisionStatus, ...] = ()
    resources: tuple[ResourceRef, ...] = ()

    def for_service(self, service: str) -> tuple[RevisionStatus, ...]:
        return tuple(r for r in self.revisions if r.service == service)

    def revision(self, service: str, revision: str) -> RevisionStatus | None:
        for rev in self.revisions:
            if rev.service == service and rev.revision == revision:
                return rev
        return None

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(sorted({r.service for r in self.revisions}))


@dataclass(frozen=True, slots=True)
class TrafficPlan:
    """Where a routed service's traffic goes: ``canary_weight`` percent to the canary revision, the rest
    to the stable one; ``preview`` is the revision served on the preview port (blue-green)."""

    stable: str | None
    canary: str | None = None
    canary_weight: int = 0
    preview: str | None = None


@dataclass(frozen=True, slots=True)
class LogLine:
    service: str
    instance: str
    text: str
    stream: Literal["stdout", "stderr"] = "stdout"
    ts: str | None = None


@runtime_checkable
class Driver(Protocol):
    """What every target implements. ``app`` is the project name."""

    kind: str
    name: str
    capabilities: frozenset[str]

    def info(self) -> TargetInfo:
        """Connect and describe the target; raises ``TargetUnreachableError`` when it cannot."""
        ...

    def prepare_image(
        self, project: Project, service: str, progress: Progress, *, build: bool = False, dry_run: bool = False
    ) -> ResolvedImage:
        """Make the service's image available on the target and resolve it to an id: build it when it
        has ``build:`` and its sources changed (always with ``build``), pull it when missing. With
        ``dry_run`` nothing is built or pulled and the id is ``None`` when it cannot be known yet."""
        ...

    def ensure_shared(self, project: Project, progress: Progress) -> None:
        """Create the project's networks, volumes, secrets and configs that do not exist yet."""
        ...

    def apply_revision(self, project: Project, revision: Revision, replicas: int, progress: Progress) -> None:
        """Make ``revision`` run exactly ``replicas`` instances (creating or scaling); no waiting."""
        ...

    def remove_revision(self, app: str, service: str, revision: str, progress: Progress) -> None:
        """Stop and remove every instance of that revision."""
        ...

    def observe(self, app: str, service: str | None = None) -> AppStatus:
        """Read the app's revisions, instances and shared resources back from the target."""
        ...

    def remove_app(self, app: str, progress: Progress, *, volumes: bool = False) -> None:
        """Remove everything labelled with ``app``; named volumes only when ``volumes``."""
        ...

    def logs(
        self, app: str, services: Sequence[str] = (), *, follow: bool = False, tail: int | None = None
    ) -> Iterator[LogLine]:
        """Log lines of the app's instances, oldest first; with ``follow`` the iterator keeps going."""
        ...

    def list_apps(self) -> list[str]:
        """Names of the apps Escadre manages on this target."""
        ...

    def support(self) -> Mapping[str, KeySupport] | None:
        """What this target does with each Compose key (``None``: everything is honoured)."""
        ...

    def route(self, project: Project, service: str, plan: TrafficPlan, progress: Progress) -> bool:
        """Point the service's traffic as ``plan`` says; ``False`` when the target has no router for it
        (the rollout engine then splits traffic by replica ratio)."""
        ...

    def probe(self, app: str, service: str, revision: str) -> bool | None:
        """Run the revision's health test in every running instance now; ``True`` when all pass.

        Lets a wait finish as soon as the service is healthy instead of at the platform's next check
        interval. ``None`` when the target cannot probe (the caller then relies on ``observe``)."""
        ...

    def close(self) -> None: ...


# ------------------------------------------------------------------------------ native rolling update

NativeState = Literal["updating", "paused", "completed", "rollback_started", "rollback_paused", "rollback_completed"]
NATIVE_TERMINAL: frozenset[str] = frozenset({"paused", "completed", "rollback_paused", "rollback_completed"})


@dataclass(frozen=True, slots=True)
class UpdateProgress:
    """Where a platform's own rolling update stands (see ``NativeRolling``)."""

    state: NativeState
    revision: str
    """The revision being rolled out (for a rollback: the one being returned to)."""
    updated: int
    """Running instances of that revision."""
    total: int
    """Instances wanted."""
    message: str = ""
    failures: tuple[str, ...] = field(default_factory=tuple)
    """Errors of this revision's instances that failed (newest first), as the platform reports them."""

    @property
    def done(self) -> bool:
        return self.state in NATIVE_TERMINAL

    @property
    def ok(self) -> bool:
        return self.state == "completed"

    def describe(self) -> str:
        text = f"{self.state.replace('_', ' ')}: {self.updated}/{self.total} on {self.revision}"
        if self.message:
            text += f" — {self.message}"
        if self.failures:
            text += f" (last error: {self.failures[0]})"
        return text


@runtime_checkable
class NativeRolling(Protocol):
    """A target whose platform rolls a service from one revision to the next *in place* by itself (Swarm's
    ``update_config``/``rollback_config``). Drivers that have it list ``"native-rolling"`` in their
    capabilities; the rollout engine then hands a plain ``rolling`` strategy to the platform and follows it,
    instead of running the batches itself with one workload per revision."""

    def native_update(
        self, project: Project, revision: Revision, replicas: int, progress: Progress, *, from_revision: str
    ) -> Iterator[UpdateProgress]:
        """Update the workload running ``from_revision`` to ``revision`` in place, yielding progress until
        a terminal state. Called again for a workload already at ``revision``, it resumes a paused update
        (or just watches it)."""
        ...

    def native_rollback(self, app: str, service: str, revision: str, progress: Progress) -> Iterator[UpdateProgress]:
        """Roll the workload now at ``revision`` back to its previous spec, yielding progress."""
        ...
