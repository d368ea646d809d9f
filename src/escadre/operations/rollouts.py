"""Rollouts as operations: starting one from ``up``, resuming one after a crash, and the human verbs
(status, promote, pause, resume, abort, retry, rollback).

A running rollout belongs to one process (its *owner*, ``host:pid``, recorded on the deployment). Other
processes steer it by writing commands to the state store, which the owner's engine polls. When the owner
is gone (kill -9, a closed laptop) the deployment is *orphaned*: the next ``up`` of that revision, or
``escadre rollout resume``, takes it over and continues from its checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from escadre.core.errors import OperationFailed, UsageError
from escadre.core.progress import ProgressEvent
from escadre.drivers.base import Driver
from escadre.model.project import Project
from escadre.model.revision import Revision
from escadre.operations.context import Context
from escadre.rollout.engine import EngineDeps, RolloutEngine
from escadre.rollout.steps import Analyze
from escadre.state.store import DeploymentRecord, EventRecord, default_owner, owner_alive


def exclusive(project: Project, service: str) -> bool:
    """Two revisions of the service cannot run side by side (host ports or a fixed name, no router)."""
    svc = project.services[service]
    return bool(svc.container_name) or (bool(svc.published_ports) and not project.is_routed(service))


# ------------------------------------------------------------------------------------ revisions


def seal_and_record(ctx: Context, project: Project, target: str, revision: Revision) -> None:
    ctx.store.record_revision(project.name, target, revision, sealed=ctx.sealer.seal(dict(revision.spec)))


def stored_revision(ctx: Context, project: Project, target: str, service: str, revision_id: str) -> Revision | None:
    """A revision re-created from the state store (its sealed spec), or ``None`` when unknown."""
    from escadre.spec.build_model import service_from_spec

    record = ctx.store.get_revision(project.name, target, service, revision_id)
    if record is None:
        return None
    sealed = ctx.store.sealed_spec(project.name, target, service, record.revision)
    model = None
    spec = record.spec
    if sealed is not None:
        spec = ctx.sealer.unseal(sealed)
        model = service_from_spec(project.name, service, dict(spec), project.services[service].settings)
    return Revision(service, record.revision, record.image, record.image_id, spec, service_model=model)


def pin(project: Project, revision: Revision) -> Project:
    """The project with the service as ``revision`` defines it (not as the Compose files say now),
    keeping what a revision leaves out: the replica count and the x-escadre settings of today."""
    model = revision.service_model
    assert model is not None
    current = project.services[revision.service]
    services = dict(project.services)
    services[revision.service] = replace(model, deploy=replace(model.deploy, replicas=current.replicas))
    return replace(project, services=services)


def find_stable(
    ctx: Context, project: Project, target: str, driver: Driver, service: str, canary: str
) -> Revision | None:
    """The revision serving now: the last finished deployment's, else the biggest one running."""
    running = {r.revision: r.desired for r in driver.observe(project.name, service).for_service(service)}
    running.pop(canary, None)
    if not running:
        return None
    stable_id = ctx.store.stable_revision(project.name, target, service)
    if stable_id not in running:
        stable_id = max(running, key=lambda rev: running[rev])
    found = stored_revision(ctx, project, target, service, stable_id)
    if found is None:
        # deployed before Escadre kept its history: it can be scaled down and removed, not re-created
        found = Revision(service, stable_id, "", None, {})
    return found


# --------------------------------------------------------------------------------------- engine


def make_deps(
    ctx: Context,
    project: Project,
    driver: Driver,
    target: str,
    canary: Revision,
    stable: Revision | None,
    *,
    timeout: float,
) -> EngineDeps:
    deps = EngineDeps(ctx.store, driver, ctx.progress, target, actor=ctx.actor, wait_timeout=timeout)
    deps.analysis = _analysis_factory(project, driver, canary, stable)
    if project.settings is not None and project.settings.notifications:
        from escadre.rollout.notify import Notifier

        deps.notify = Notifier(project.settings.notifications)
    return deps


def _analysis_factory(
    project: Project, driver: Driver, canary: Revision, stable: Revision | None
) -> Callable[[Analyze | None, str, Callable[[dict[str, Any]], None]], Any]:
    from escadre.model.settings import AnalysisRef
    from escadre.rollout.analysis import AnalysisRun, Measurement, Target

    service = canary.service
    templates = project.settings.analysis_templates if project.settings is not None else {}
    spec = project.rollout_for(service)
    port = _probe_port(project, service)

    def status(role: str) -> Any:
        rev = canary.id if role == "canary" else (stable.id if stable else None)
        return driver.observe(project.name, service).revision(service, rev) if rev else None

    def addresses(role: str) -> list[str]:
        found = status(role)
        if found is None:
            return []
        # running and not unhealthy: Escadre may have seen them ready (probed) before the engine's next check
        serving = [i for i in found.instances if i.state == "running" and i.health != "unhealthy"]
        return [f"{a}:{port}" for inst in serving for a in inst.addresses[:1]]

    target = Target(project.name, service, canary.id, stable.id if stable else None, addresses, status)

    def factory(step: Analyze | None, name: str, on_measurement: Callable[[dict[str, Any]], None]) -> Any:
        def forward(m: Measurement) -> None:
            on_measurement({**m.as_dict(), "at": time.time()})

        if step is None:
            ref = spec.analysis
            assert ref is not None
            return AnalysisRun.for_ref(name, ref, templates, target, on_measurement=forward, background=True)
        ref = AnalysisRef(templates=list(step.templates), args=dict(step.args))
        return AnalysisRun.for_ref(name, ref, templates, target, on_measurement=forward)

    return factory


def _probe_port(project: Project, service: str) -> int:
    svc = project.services[service]
    if svc.settings is not None and svc.settings.route is not None and svc.settings.route.port:
        return svc.settings.route.port
    if svc.ports:
        return svc.ports[0].target
    if svc.expose:
        return int(str(svc.expose[0]).split("/")[0].split("-")[0])
    return 80


def run_rollout(
    ctx: Context,
    project: Project,
    driver: Driver,
    target: str,
    revision: Revision,
    *,
    reason: str,
    timeout: float,
    full: bool = False,
) -> str:
    """Roll ``revision`` out (or take over an orphaned rollout of it) and return the final status."""
    deployment, stable = open_rollout(ctx, project, driver, target, revision, reason=reason, full=full)
    engine = RolloutEngine(
        make_deps(ctx, project, driver, target, revision, stable, timeout=timeout),
        project,
        deployment,
        revision,
        stable,
        replicas=project.services[revision.service].replicas,
        exclusive=exclusive(project, revision.service),
    )
    return engine.run()


def open_rollout(
    ctx: Context,
    project: Project,
    driver: Driver,
    target: str,
    revision: Revision,
    *,
    reason: str,
    full: bool = False,
    owner: str | None = None,
) -> tuple[DeploymentRecord, Revision | None]:
    """The deployment that rolls ``revision`` out: an orphaned one taken over, or a new one (which
    supersedes any other active one of the service). ``owner=""`` leaves it for another process."""
    service = revision.service
    store = ctx.store
    active = store.list_deployments(project.name, target, service=service, active_only=True)
    resumed: DeploymentRecord | None = None
    for record in active:
        if owner_alive(record) and record.owner != default_owner():
            raise UsageError(
                f"a rollout of {service!r} is in progress (deployment {record.id}, run by {record.owner})",
                hint=f"follow it with escadre rollout status {service}; steer it with promote / pause / abort",
            )
        if record.revision == revision.id:
            resumed = store.update_deployment(record.id, owner=default_owner() if owner is None else owner)
            store.add_event(
                "deploy.adopted",
                f"{service}: taking over deployment {record.id} left by {record.owner}",
                project=project.name,
                target=target,
                service=service,
                deployment_id=record.id,
                actor=ctx.actor,
            )
    seal_and_record(ctx, project, target, revision)
    if resumed is not None and resumed.from_revision:
        stable = stored_revision(ctx, project, target, service, resumed.from_revision)
    elif resumed is not None:
        stable = None
    else:
        stable = find_stable(ctx, project, target, driver, service, revision.id)
    strategy = project.rollout_for(service).strategy
    deployment = resumed or store.start_deployment(
        project.name,
        target,
        service,
        revision.id,
        from_revision=stable.id if stable else None,
        strategy=strategy,
        checkpoint={"full": True} if full else None,
        owner=owner,
    )
    if resumed is None:
        store.add_event(
            "deploy.started",
            f"{service} → {revision.id} ({reason})",
            project=project.name,
            target=target,
            service=service,
            deployment_id=deployment.id,
            actor=ctx.actor,
            data={"revision": revision.id, "from": stable.id if stable else None, "strategy": strategy},
        )
    return deployment, stable


def require_success(service: str, final: str, ctx: Context, deployment_id: int | None = None) -> None:
    if final == "succeeded":
        return
    message = ""
    if deployment_id is not None:
        record = ctx.store.get_deployment(deployment_id)
        message = record.message if record else ""
    raise OperationFailed(
        f"rollout of {service!r} {final}" + (f": {message}" if message else ""),
        hint=f"escadre rollout status {service} shows each step and measurement",
    )


# ------------------------------------------------------------------------------------------ verbs


@dataclass(frozen=True, slots=True)
class RolloutStatus:
    deployment: DeploymentRecord
    events: tuple[EventRecord, ...]
    owner_alive: bool


def _latest(ctx: Context, project: str, target: str, service: str | None, *, active: bool) -> DeploymentRecord:
    records = ctx.store.list_deployments(
        project, target, service=service, active_only=active, limit=None if active else 1
    )
    if not records:
        what = f"of {service!r} " if service else ""
        raise UsageError(
            f"no {'active ' if active else ''}rollout {what}in project {project!r}",
            hint="see escadre history" if active else "start one with escadre up",
        )
    services = {r.service for r in records}
    if active and len(services) > 1 and service is None:
        raise UsageError(
            f"several rollouts are active ({', '.join(sorted(services))})",
            hint="name the service",
        )
    return records[0]


def status(
    ctx: Context, project: str, *, target: str | None = None, service: str | None = None, events: int = 30
) -> list[RolloutStatus]:
    """The latest rollout of each service (or of ``service``), with its recent events."""
    name = ctx.target_spec(target).name
    records = ctx.store.list_deployments(project, name, service=service)
    latest: dict[str, DeploymentRecord] = {}
    for record in records:
        latest.setdefault(record.service, record)
    out = []
    for record in sorted(latest.values(), key=lambda r: r.service):
        evs = ctx.store.events(deployment_id=record.id, limit=events, newest_first=True)
        out.append(RolloutStatus(record, tuple(reversed(evs)), owner_alive(record)))
    return out


def command(
    ctx: Context, project: str, verb: str, *, target: str | None = None, service: str | None = None, full: bool = False
) -> DeploymentRecord:
    """Send ``promote`` / ``pause`` / ``resume`` / ``abort`` to the active rollout."""
    name = ctx.target_spec(target).name
    record = _latest(ctx, project, name, service, active=True)
    ctx.store.add_command(record.id, verb, {"full": full} if full else {}, actor=ctx.actor)
    ctx.store.add_event(
        f"rollout.{verb}-requested",
        f"{verb} requested for {record.service}",
        project=project,
        target=name,
        service=record.service,
        deployment_id=record.id,
        actor=ctx.actor,
    )
    return record


def resume(
    ctx: Context,
    project: Project,
    *,
    target: str | None = None,
    service: str | None = None,
    timeout: float | None = None,
) -> tuple[str, str]:
    """Take over an orphaned rollout (its process died) and run it to the end in this process."""
    spec = ctx.target_spec(target)
    record = _latest(ctx, project.name, spec.name, service, active=True)
    if owner_alive(record) and record.owner != default_owner():
        # the owner runs: resume means "continue after a pause"
        ctx.store.add_command(record.id, "resume", actor=ctx.actor)
        return record.service, "resume-requested"
    final = _roll_stored(ctx, project, spec.name, record.service, record.revision, reason="resumed", timeout=timeout)
    return record.service, final


def rollback(
    ctx: Context,
    project: Project,
    service: str,
    *,
    target: str | None = None,
    to: str | None = None,
    timeout: float | None = None,
) -> tuple[str, str]:
    """Roll ``service`` back to ``to`` (default: the revision before the current stable one)."""
    spec = ctx.target_spec(target)
    if service not in project.services:
        raise UsageError(f"no service {service!r} in this project")
    current = ctx.store.stable_revision(project.name, spec.name, service)
    if to is None:
        previous = [
            d
            for d in ctx.store.list_deployments(project.name, spec.name, service=service)
            if d.status == "succeeded" and d.revision != current
        ]
        if not previous:
            raise UsageError(
                f"{service!r} has no earlier successful revision to roll back to", hint=f"see escadre history {service}"
            )
        to = previous[0].revision
    ctx.progress.emit(ProgressEvent(f"service {service}", "rolling back", "running", detail=f"to {to}"))
    final = _roll_stored(
        ctx, project, spec.name, service, to, reason=f"rollback from {current}", timeout=timeout, full=True
    )
    return to, final


__all__: Sequence[str] = ["command", "resume", "rollback", "run_rollout", "status"]


def retry(
    ctx: Context, project: Project, service: str, *, target: str | None = None, timeout: float | None = None
) -> str:
    """Run the latest (aborted or failed) rollout of ``service`` again, from its first step."""
    spec = ctx.target_spec(target)
    latest = ctx.store.list_deployments(project.name, spec.name, service=service, limit=1)
    if not latest or latest[0].status not in ("aborted", "failed", "rolled-back"):
        state = latest[0].status if latest else "none"
        raise UsageError(f"the latest rollout of {service!r} did not fail (it is {state}): nothing to retry")
    return _roll_stored(ctx, project, spec.name, service, latest[0].revision, reason="retry", timeout=timeout)


def _roll_stored(
    ctx: Context,
    project: Project,
    target: str,
    service: str,
    revision_id: str,
    *,
    reason: str,
    timeout: float | None,
    full: bool = False,
) -> str:
    """Roll out a revision re-created from the state store (resume, retry, rollback)."""
    revision = stored_revision(ctx, project, target, service, revision_id)
    if revision is None or revision.service_model is None:
        raise UsageError(
            f"revision {revision_id} of {service!r} cannot be re-created: it is not in the state store",
            hint=f"escadre history {service} lists the revisions Escadre knows",
        )
    return run_rollout(
        ctx,
        pin(project, revision),
        ctx.driver(target),
        target,
        replace(revision, service_model=None),
        reason=reason,
        timeout=timeout or ctx.settings.wait_timeout,
        full=full,
    )
