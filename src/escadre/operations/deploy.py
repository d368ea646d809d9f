"""``up`` and ``down``: bring a target to what the Compose files say, changing only what changed.

``up`` runs in two phases. First every service's image is resolved (built when its sources changed) in
parallel and its revision computed, which gives the plan. Then services are deployed as a dependency
graph: each starts as soon as the services it ``depends_on`` meet their condition (``service_started``,
``service_healthy``, ``service_completed_successfully``), so independent services are created in
parallel. A service that fails stops only its dependents; the others carry on, and the result reports
each outcome. Every deployment is recorded in the state store before it touches the target and closed
after, so an interrupted ``up`` leaves a record the next one supersedes.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from escadre.core.errors import EscadreError, OperationFailed, SpecError, UsageError
from escadre.core.progress import ProgressEvent
from escadre.drivers.base import AppStatus, Driver, ResolvedImage
from escadre.drivers.support import SupportFinding, report
from escadre.model.project import Project
from escadre.model.revision import Revision
from escadre.operations.context import Context
from escadre.operations.plan import Plan, ServiceChange, plan_service, service_revision
from escadre.rollout.readiness import Verdict, Want, wait_for

if TYPE_CHECKING:
    from escadre.state.store import DeploymentRecord

OutcomeStatus = Literal["created", "updated", "scaled", "started", "unchanged", "detached", "failed", "skipped"]
IMAGE_WORKERS = 4
START_SLOTS = 3
"""How many services are created/started at once (engines serialise much of container start-up)."""


@dataclass(frozen=True, slots=True)
class ServiceOutcome:
    service: str
    status: OutcomeStatus
    revision: str | None = None
    message: str = ""
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class UpResult:
    project: str
    target: str
    plan: Plan
    outcomes: tuple[ServiceOutcome, ...]
    removed_orphans: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(o.status not in ("failed", "skipped") for o in self.outcomes)

    @property
    def failures(self) -> tuple[ServiceOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status in ("failed", "skipped"))


@dataclass
class _Run:
    """Per-service coordination between the graph's worker threads."""

    started: threading.Event = field(default_factory=threading.Event)
    settled: threading.Event = field(default_factory=threading.Event)  # ready, completed, or failed
    completed: bool = False
    failed: str | None = None


class _Gate:
    """A semaphore that admits the highest priority waiter first.

    Engines start containers only a few at a time; when everything is started at once the service on the
    critical path (the database all others wait for) queues behind leaves nobody waits for. Admitting
    services by the length of the dependency chain behind them starts the critical path first.
    """

    def __init__(self, slots: int) -> None:
        self._slots = slots
        self._lock = threading.Lock()
        self._waiting: list[tuple[int, int, threading.Event]] = []
        self._seq = 0

    def acquire(self, priority: int) -> None:
        with self._lock:
            if self._slots > 0 and not self._waiting:
                self._slots -= 1
                return
            event = threading.Event()
            self._seq += 1
            heapq.heappush(self._waiting, (-priority, self._seq, event))
        event.wait()

    def release(self) -> None:
        with self._lock:
            if self._waiting:
                _, _, event = heapq.heappop(self._waiting)
                event.set()
            else:
                self._slots += 1


def chain_lengths(project: Project, names: Sequence[str]) -> dict[str, int]:
    """For each service, the length of the longest chain of services waiting on it (itself included)."""
    dependents: dict[str, list[str]] = {n: [] for n in names}
    for name in names:
        for dep in project.services[name].depends_on:
            if dep.service in dependents:
                dependents[dep.service].append(name)
    lengths: dict[str, int] = {}

    def length(name: str) -> int:
        if name not in lengths:
            lengths[name] = 1 + max((length(d) for d in dependents[name]), default=0)
        return lengths[name]

    for name in names:
        length(name)
    return lengths


def selected_services(project: Project, services: Sequence[str] | None) -> list[str]:
    """``services`` plus everything they depend on (like ``docker compose up web``)."""
    if not services:
        return list(project.services)
    unknown = [s for s in services if s not in project.services]
    if unknown:
        raise SpecError(
            f"no such service: {', '.join(unknown)}",
            hint=f"services in this project: {', '.join(project.services)}",
        )
    chosen: list[str] = []
    stack = list(services)
    while stack:
        name = stack.pop()
        if name in chosen:
            continue
        chosen.append(name)
        stack.extend(d.service for d in project.services[name].depends_on if d.service in project.services)
    return [s for s in project.services if s in chosen]


def support_findings(driver: Driver, project: Project, names: Sequence[str]) -> list[SupportFinding]:
    """Keys of the selected services (and shared resources) the target does not fully honour."""
    table = driver.support()
    if table is None:
        return []
    selected = {f"services.{n}." for n in names}
    return [
        f
        for f in report(project, table)
        if not f.path.startswith("services.") or any(f.path.startswith(s) for s in selected)
    ]


def check_conditions(project: Project) -> None:
    """``service_healthy`` on a service without a healthcheck can never be met: say so before starting."""
    for svc in project.services.values():
        for dep in svc.depends_on:
            target = project.services.get(dep.service)
            if target is None or dep.condition != "service_healthy":
                continue
            if target.healthcheck is None or target.healthcheck.disabled or not target.healthcheck.test:
                raise SpecError(
                    f"service {svc.name!r} waits for {dep.service!r} to be healthy, "
                    f"but {dep.service!r} has no healthcheck",
                    location=svc.location,
                    hint=f"add a healthcheck to {dep.service!r} or use condition: service_started",
                )


def compute_plan(
    ctx: Context,
    project: Project,
    driver: Driver,
    observed: AppStatus,
    names: Sequence[str],
    *,
    build: bool,
    dry_run: bool,
    target: str,
    failures: dict[str, str] | None = None,
) -> tuple[Plan, dict[str, Revision]]:
    """Resolve images (in parallel) and decide each service's change."""
    progress = ctx.progress
    images: dict[str, ResolvedImage] = {}

    def resolve(name: str) -> None:
        try:
            images[name] = driver.prepare_image(project, name, progress, build=build, dry_run=dry_run)
        except EscadreError as exc:
            if failures is None:
                raise
            failures[name] = str(exc)
            progress.emit(ProgressEvent(f"service {name}", "image", "failed", detail=str(exc)))

    with ThreadPoolExecutor(max_workers=IMAGE_WORKERS) as pool:
        for f in [pool.submit(resolve, n) for n in names]:
            f.result()
    changes: list[ServiceChange] = []
    revisions: dict[str, Revision] = {}
    for name in names:
        if name not in images:
            continue
        svc = project.services[name]
        image = images[name]
        revision = service_revision(project, svc, image)
        revisions[name] = revision
        previous = None
        running = observed.for_service(name)
        if len(running) == 1 and running[0].revision != revision.id:
            record = ctx.store.get_revision(project.name, target, name, running[0].revision)
            previous = record.spec if record else None
        changes.append(
            plan_service(
                svc,
                revision,
                observed,
                image_pending=image.id is None and svc.build is not None,
                previous_spec=previous,
            )
        )
    orphans = tuple(s for s in observed.services if s not in project.services)
    return Plan(project.name, target, tuple(changes), orphans), revisions


def plan(ctx: Context, project: Project, *, target: str | None = None, services: Sequence[str] | None = None) -> Plan:
    """What ``up`` would do, without building, pulling or changing anything."""
    driver = ctx.driver(target)
    name = ctx.target_spec(target).name
    driver.info()
    observed = driver.observe(project.name)
    result, _ = compute_plan(
        ctx, project, driver, observed, selected_services(project, services), build=False, dry_run=True, target=name
    )
    return result


def up(
    ctx: Context,
    project: Project,
    *,
    target: str | None = None,
    services: Sequence[str] | None = None,
    build: bool = False,
    wait: bool = True,
    timeout: float | None = None,
    remove_orphans: bool = False,
    strict: bool = False,
    detach: Callable[[DeploymentRecord], None] | None = None,
    allow_policy_violations: bool = False,
) -> UpResult:
    """Deploy ``project`` to ``target``; returns every service's outcome (never raises for one service)."""
    check_conditions(project)
    spec = ctx.target_spec(target)
    driver = ctx.driver(spec.name)
    store = ctx.store
    progress = ctx.progress
    timeout = timeout if timeout is not None else ctx.settings.wait_timeout
    names = selected_services(project, services)
    driver.info()
    findings = support_findings(driver, project, names)
    if strict and findings:
        listing = "; ".join(f"{x.path}: {x.level} ({x.note})" for x in findings)
        raise UsageError(
            f"target {spec.name!r} does not fully honour {len(findings)} key(s) with --strict: {listing}",
            hint="remove those keys, or deploy without --strict to accept the approximations",
        )
    blocking = [f for f in findings if f.level == "rejected"]
    if blocking:
        raise SpecError(
            "; ".join(f"{f.path}: not supported on a {driver.kind} target ({f.note})" for f in blocking),
            hint="escadre check --target shows what each target does with every key",
        )
    for finding in findings:
        progress.emit(ProgressEvent(finding.path, finding.level, "warning", detail=finding.note))
    from escadre.operations.check import gate as policy_gate

    policy_gate(ctx, project, target=spec.name, target_kind=spec.kind, allow=allow_policy_violations)
    store.upsert_project(project.name, spec.name, working_dir=project.working_dir, files=project.files)
    store.add_event(
        "up.started",
        f"up of {len(names)} service(s)",
        project=project.name,
        target=spec.name,
        actor=ctx.actor,
        data={"services": names},
    )
    driver.ensure_shared(project, progress)
    observed = driver.observe(project.name)
    image_failures: dict[str, str] = {}
    the_plan, revisions = compute_plan(
        ctx,
        project,
        driver,
        observed,
        names,
        build=build,
        dry_run=False,
        target=spec.name,
        failures=image_failures,
    )
    changes = {c.service: c for c in the_plan.changes}
    runs = {name: _Run() for name in names}
    gate = _Gate(START_SLOTS)
    priority = chain_lengths(project, names)
    outcomes: dict[str, ServiceOutcome] = {}
    for name, message in image_failures.items():
        runs[name].failed = message
        runs[name].started.set()
        runs[name].settled.set()
        outcomes[name] = ServiceOutcome(name, "failed", None, message)

    needs: dict[str, set[Want]] = {name: set() for name in names}
    for name in names:
        for dep in project.services[name].depends_on:
            if dep.service in needs:
                needs[dep.service].add(
                    "ready"
                    if dep.condition == "service_healthy"
                    else "completed"
                    if dep.condition == "service_completed_successfully"
                    else "started"
                )

    def worker(name: str) -> None:
        run = runs[name]
        begun = time.monotonic()
        svc = project.services[name]
        subject = f"service {name}"
        try:
            for dep in svc.depends_on:
                if dep.service not in runs:
                    continue
                other = runs[dep.service]
                if dep.condition == "service_started":
                    other.started.wait()
                else:
                    if not other.settled.is_set():
                        progress.emit(
                            ProgressEvent(subject, f"waiting for {dep.service}", "running", detail=dep.condition)
                        )
                    other.settled.wait()
                if other.failed:
                    if not dep.required:
                        continue
                    raise _Skipped(f"dependency {dep.service!r} failed")
                if dep.condition == "service_completed_successfully" and not other.completed:
                    raise _Skipped(f"dependency {dep.service!r} did not complete successfully")
            change = changes[name]
            if change.action == "update" and "completed" not in needs[name] and serving(observed, name):
                # the stable revision keeps serving while the new one rolls out: dependents need not wait
                run.started.set()
                run.settled.set()
                status = _execute(
                    ctx, project, driver, spec.name, change, revisions[name], timeout=timeout, detach=detach
                )
            else:
                gate.acquire(priority[name])
                try:
                    status = _execute(
                        ctx, project, driver, spec.name, change, revisions[name], timeout=timeout, detach=detach
                    )
                finally:
                    gate.release()
            run.started.set()
            want: Want | None = None
            if status == "detached":
                pass
            elif "completed" in needs[name]:
                want = "completed"
            elif wait or "ready" in needs[name]:
                want = "ready"
            if want is not None:
                verdict = _wait(ctx, driver, project, change, revisions[name], want, timeout)
                run.completed = verdict.completed
            outcomes[name] = ServiceOutcome(name, status, revisions[name].id, seconds=time.monotonic() - begun)
        except _Skipped as exc:
            run.failed = str(exc)
            outcomes[name] = ServiceOutcome(name, "skipped", None, str(exc))
            progress.emit(ProgressEvent(subject, "skipped", "skipped", detail=str(exc)))
        except EscadreError as exc:
            run.failed = str(exc)
            outcomes[name] = ServiceOutcome(name, "failed", revisions[name].id, str(exc), time.monotonic() - begun)
            progress.emit(ProgressEvent(subject, "failed", "failed", detail=exc.message))
        finally:
            run.started.set()
            run.settled.set()

    # the critical path first: submission order decides who reaches the start gate first
    pending = sorted((n for n in names if n not in outcomes), key=lambda n: -priority[n])
    if pending:
        with ThreadPoolExecutor(max_workers=len(pending)) as pool:
            for future in [pool.submit(worker, n) for n in pending]:
                future.result()

    removed: list[str] = []
    for orphan in the_plan.orphans:
        if remove_orphans:
            for rev in observed.for_service(orphan):
                driver.remove_revision(project.name, orphan, rev.revision, progress)
            store.add_event(
                "service.removed",
                f"orphan service {orphan} removed",
                project=project.name,
                target=spec.name,
                service=orphan,
                actor=ctx.actor,
            )
            removed.append(orphan)
        else:
            progress.emit(
                ProgressEvent(
                    f"service {orphan}",
                    "orphan",
                    "warning",
                    detail="runs on the target but is not in the Compose files; remove it with --remove-orphans",
                )
            )
    result = UpResult(
        project.name, spec.name, the_plan, tuple(outcomes[n] for n in names if n in outcomes), tuple(removed)
    )
    store.add_event(
        "up.finished" if result.ok else "up.failed",
        "up finished" if result.ok else f"up failed: {', '.join(o.service for o in result.failures)}",
        project=project.name,
        target=spec.name,
        actor=ctx.actor,
        level="info" if result.ok else "error",
        data={o.service: o.status for o in result.outcomes},
    )
    return result


class _Skipped(Exception):
    pass


def _orphaned(ctx: Context, app: str, target: str, service: str, revision: str) -> bool:
    from escadre.state.store import owner_alive

    return any(
        d.revision == revision and not owner_alive(d)
        for d in ctx.store.list_deployments(app, target, service=service, active_only=True)
    )


def serving(observed: AppStatus, service: str) -> bool:
    """A revision of ``service`` runs with every instance ready (it can keep serving during a rollout)."""
    return any(r.instances and r.ready == len(r.instances) for r in observed.for_service(service))


def _wait(
    ctx: Context,
    driver: Driver,
    project: Project,
    change: ServiceChange,
    revision: Revision,
    want: Want,
    timeout: float,
) -> Verdict:
    subject = f"service {change.service}"

    def show(v: Verdict) -> None:
        if not v.done:
            ctx.progress.emit(ProgressEvent(subject, f"waiting {want}", "running", detail=v.summary))

    verdict = wait_for(
        driver, project.name, change.service, revision.id, change.replicas, want, timeout=timeout, on_update=show
    )
    ctx.progress.emit(ProgressEvent(subject, verdict.summary or want, "done", detail=revision.id))
    return verdict


def _execute(
    ctx: Context,
    project: Project,
    driver: Driver,
    target: str,
    change: ServiceChange,
    revision: Revision,
    *,
    timeout: float,
    detach: Callable[[DeploymentRecord], None] | None = None,
) -> OutcomeStatus:
    """Carry out one service's change; a new revision is rolled out by the rollout engine, which records
    the deployment and every step in the state store."""
    store, progress = ctx.store, ctx.progress
    subject = f"service {change.service}"
    app = project.name
    if change.action != "update" and _orphaned(ctx, app, target, change.service, revision.id):
        # a rollout of this very revision was interrupted (kill -9 of the process running it): finish it
        change = replace(change, action="update", reason="resuming an interrupted rollout")
    if change.action == "unchanged":
        progress.emit(ProgressEvent(subject, "unchanged", "done", detail=revision.id))
        return "unchanged"
    if change.action in ("scale", "start"):
        progress.emit(ProgressEvent(subject, "scaling" if change.action == "scale" else "starting", "running"))
        driver.apply_revision(project, revision, change.replicas, progress)
        store.add_event(
            f"service.{'scaled' if change.action == 'scale' else 'started'}",
            f"{change.service}: {change.reason}",
            project=app,
            target=target,
            service=change.service,
            actor=ctx.actor,
            data={"revision": revision.id, "replicas": change.replicas},
        )
        return "scaled" if change.action == "scale" else "started"
    from escadre.operations.rollouts import open_rollout, require_success, run_rollout

    if detach is not None:
        deployment, _ = open_rollout(ctx, project, driver, target, revision, reason=change.reason, owner="")
        detach(deployment)
        progress.emit(
            ProgressEvent(subject, "rollout continues in the background", "done", detail=f"deployment {deployment.id}")
        )
        return "detached"

    progress.emit(
        ProgressEvent(
            subject,
            "creating" if change.action == "create" else f"rolling out ({ctx_strategy(project, change.service)})",
            "running",
            detail=f"{revision.id} ({change.reason})",
        )
    )
    final = run_rollout(ctx, project, driver, target, revision, reason=change.reason, timeout=timeout)
    latest = store.list_deployments(app, target, service=change.service, limit=1)
    require_success(change.service, final, ctx, latest[0].id if latest else None)
    return "created" if change.action == "create" else "updated"


def ctx_strategy(project: Project, service: str) -> str:
    return project.rollout_for(service).strategy


def down(ctx: Context, project_name: str, *, target: str | None = None, volumes: bool = False) -> list[str]:
    """Remove everything Escadre created for the project on the target; returns what was removed."""
    spec = ctx.target_spec(target)
    driver = ctx.driver(spec.name)
    removed: list[str] = []

    class _Collect:
        def emit(self, event: ProgressEvent) -> None:
            if event.action == "removed":
                removed.append(event.subject)
            ctx.progress.emit(event)

    driver.remove_app(project_name, _Collect(), volumes=volumes)
    if ctx.store.get_project(project_name, spec.name) is not None:
        active = ctx.store.list_deployments(project_name, spec.name, active_only=True)
        for dep in active:
            ctx.store.update_deployment(dep.id, status="aborted", message="removed by down")
        ctx.store.add_event(
            "down",
            f"removed {len(removed)} object(s)" + (" including volumes" if volumes else ""),
            project=project_name,
            target=spec.name,
            actor=ctx.actor,
            data={"removed": removed},
        )
    if not removed and not volumes:
        ctx.progress.emit(ProgressEvent(f"project {project_name}", "nothing to remove", "info"))
    return removed


__all__ = ["OperationFailed", "ServiceOutcome", "UpResult", "compute_plan", "down", "plan", "up"]
