"""The rollout engine: runs a strategy's steps against a target, durably, under human control.

For one deployment (one service moving from a *stable* revision to a *canary* revision) the engine
drives the strategy generator, carries out each step through the driver (scale, wait, route traffic,
pause, analyse, promote, retire), and records every transition:

* **Durable.** Before a step runs, its index is checkpointed; after, its outcome. After a crash (kill -9
  of the CLI or server) a new engine replays the recorded outcomes through the same generator — which is
  deterministic — and re-runs the step that was in flight. Every step is idempotent, pauses resume with
  their remaining time, analyses start over.
* **Controllable.** ``promote`` (skip the current pause; ``--full``: every remaining pause and analysis),
  ``pause``, ``resume`` and ``abort`` arrive as commands in the state store from any process, and are
  polled while the engine waits.
* **Safe.** Any failure — a canary that never gets ready, a failed analysis, an abort — ends the same way
  for every strategy: all traffic back to stable *first*, then stable back to full size, then the canary
  removed. There is never more than one stable revision and never an unlabelled container.
* **Honest about missing data.** An inconclusive analysis (no data) pauses for a human; it neither
  aborts nor promotes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from escadre.core.errors import EscadreError, OperationFailed
from escadre.core.progress import Progress, ProgressEvent, Status
from escadre.drivers.base import Driver, NativeRolling, RevisionStatus, TrafficPlan, UpdateProgress
from escadre.model.project import Project
from escadre.model.revision import Revision
from escadre.rollout.notify import Notifier
from escadre.rollout.readiness import wait_for
from escadre.rollout.steps import (
    OK,
    Analyze,
    Outcome,
    Pause,
    Promote,
    RetireOld,
    Role,
    Scale,
    SetPreview,
    SetWeight,
    Step,
    WaitReady,
    describe,
    to_json,
)
from escadre.rollout.strategies import RolloutPlan, strategy_for
from escadre.state.store import DeploymentRecord, StateStore

POLL = 0.2


class Aborted(Exception):
    """The rollout must stop and roll back (an abort command, a failed background analysis)."""


@dataclass
class Checkpoint:
    """What a restarted engine needs to continue exactly where the previous one stopped."""

    outcomes: list[dict[str, Any]] = field(default_factory=list)
    weight: int = 0
    preview: bool = False
    promoted: bool = False
    full: bool = False
    canary_replicas: int = 0
    stable_replicas: int = 0
    step_started: float | None = None
    """Wall-clock start of the step in flight (pauses resume with their remaining time)."""
    routed: bool | None = None
    initial_stable: int | None = None
    """Stable instances when the rollout began: the strategy is replayed from the same plan."""
    native: str = ""
    """A platform-native rolling update: ``updating`` or ``rolling-back`` (empty: the engine's own steps)."""

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> Checkpoint:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def dump(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class EngineDeps:
    """Everything the engine talks to (the operations layer builds it)."""

    store: StateStore
    driver: Driver
    progress: Progress
    target: str
    actor: str = ""
    wait_timeout: float = 300.0
    analysis: Callable[[Analyze | None, str, Callable[[dict[str, Any]], None]], Any] | None = None
    """Factory for analysis runs: ``(step or None for background, name, on_measurement)`` → a run with
    ``run()``, ``start()``, ``stop()``, ``result()``. ``None``: analyses are skipped as successful."""
    notify: Notifier | None = None
    """Outbound webhooks for the project's ``x-escadre.notifications``."""
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


class RolloutEngine:
    def __init__(
        self,
        deps: EngineDeps,
        project: Project,
        deployment: DeploymentRecord,
        canary: Revision,
        stable: Revision | None,
        *,
        replicas: int,
        exclusive: bool = False,
    ) -> None:
        self.deps = deps
        self.project = project
        self.deployment = deployment
        self.canary = canary
        self.stable = stable
        self.previous: Revision | None = None
        self.replicas = replicas
        self.exclusive = exclusive
        self.service = canary.service
        self.spec = project.rollout_for(self.service)
        self.state = Checkpoint.load(deployment.checkpoint)
        self.user_paused = False
        self.promote_requested = False
        self.background: Any = None
        self.paused_reason = ""
        self._last_traffic: tuple[int, str | None, str | None] | None = None

    # ------------------------------------------------------------------------------------ events

    def _event(self, kind: str, message: str, level: str = "info", **data: Any) -> None:
        self.deps.store.add_event(
            kind,
            message,
            project=self.project.name,
            target=self.deps.target,
            service=self.service,
            deployment_id=self.deployment.id,
            level=level,
            actor=self.deps.actor,
            data=data,
        )
        if self.deps.notify is not None:
            self.deps.notify(
                kind,
                message,
                project=self.project.name,
                service=self.service,
                deployment=self.deployment.id,
                data=data,
            )
        status: Status = "failed" if level == "error" else "warning" if level == "warning" else "info"
        if kind == "rollout.step":
            status = "running"
        self.deps.progress.emit(
            ProgressEvent(f"service {self.service}", kind.removeprefix("rollout."), status, detail=message, data=data)
        )

    def _save(self, *, status: str | None = None, step: int | None = None, message: str | None = None) -> None:
        self.deployment = self.deps.store.update_deployment(
            self.deployment.id, status=status, step=step, checkpoint=self.state.dump(), message=message
        )

    # ----------------------------------------------------------------------------------- control

    def _control(self) -> None:
        """Apply pending commands and the background analysis' verdict; wait while paused by a user.
        Raises ``Aborted`` when the rollout must stop."""
        self._apply_commands()
        if self.background is not None:
            result = self.background.result()
            if result.phase in ("failed", "error"):
                raise Aborted(f"background analysis failed: {result.message}")
            if result.phase == "inconclusive":
                self.background.stop()
                self.background = None
                if not self._hold(f"background analysis inconclusive: {result.message}"):
                    raise Aborted("aborted after an inconclusive background analysis")
        while self.user_paused:
            self.deps.sleep(POLL)
            self._apply_commands()

    def _apply_commands(self) -> None:
        for command, args, actor in self.deps.store.take_commands(self.deployment.id):
            who = f" by {actor}" if actor else ""
            if command == "abort":
                raise Aborted(f"aborted{who}")
            if command == "pause":
                self.user_paused = True
                self._event("rollout.paused", f"paused{who}")
                self._save(status="paused", message=f"paused{who}")
            elif command == "resume":
                self.user_paused = False
                self._event("rollout.resumed", f"resumed{who}")
                self._save(status="progressing", message="")
            elif command == "promote":
                self.promote_requested = True
                if self.user_paused:
                    self.user_paused = False
                    self._save(status="progressing", message="")
                if args.get("full"):
                    self.state.full = True
                self._event("rollout.promote", "full promotion requested" if args.get("full") else f"promoted{who}")

    def _hold(self, reason: str) -> bool:
        """Pause for a human: ``True`` when promoted, ``False`` when aborted."""
        self.promote_requested = False
        self.paused_reason = reason
        self._event("rollout.paused", reason, level="warning")
        self._save(status="paused", message=reason)
        try:
            while not self.promote_requested:
                self.deps.sleep(POLL)
                self._apply_commands()
        except Aborted:
            return False
        self.promote_requested = False
        self._save(status="progressing", message="")
        return True

    # ------------------------------------------------------------------------------------ traffic

    def _revision(self, role: Role) -> Revision | None:
        return self.canary if role == "canary" else self.stable

    def _route(self) -> bool:
        plan = TrafficPlan(
            stable=self.stable.id if self.stable else None,
            canary=self.canary.id if not self.state.promoted else None,
            canary_weight=self.state.weight if not self.state.promoted else 0,
            preview=self.canary.id if self.state.preview and not self.state.promoted else None,
        )
        routed = self.deps.driver.route(self.project, self.service, plan, self.deps.progress)
        self.state.routed = routed
        shown = (plan.canary_weight, plan.preview, plan.stable)
        if shown != self._last_traffic:
            self._last_traffic = shown
            where = f"canary {plan.canary_weight}%" if plan.canary else f"all traffic on {plan.stable}"
            if plan.preview:
                where += f", preview serves {plan.preview}"
            self._event(
                "rollout.traffic",
                where + ("" if routed else " (by replica ratio)"),
                weight=plan.canary_weight,
                stable=plan.stable,
                canary=plan.canary,
                preview=plan.preview,
            )
        return routed

    def project_for(self, revision: Revision | None) -> Project:
        """The project with ``revision``'s own spec for the service (stable revisions differ from the
        Compose files, which describe the canary)."""
        if revision is None or revision.id == self.canary.id or revision.service_model is None:
            return self.project
        services = dict(self.project.services)
        services[self.service] = revision.service_model
        return replace(self.project, services=services)

    # --------------------------------------------------------------------------------------- steps

    def _execute(self, step: Step) -> Outcome:
        match step:
            case Scale(role, replicas):
                return self._scale(role, replicas)
            case WaitReady(role, replicas):
                return self._wait_ready(role, replicas)
            case SetWeight(weight):
                self.state.weight = weight
                self._route()
                return OK
            case SetPreview(enabled):
                self.state.preview = enabled
                self._route()
                return OK
            case Pause(duration, reason):
                return self._pause(duration, reason)
            case Analyze():
                return self._analyze(step)
            case Promote():
                return self._promote()
            case RetireOld(delay):
                return self._retire(delay)
        raise AssertionError(step)

    def _scale(self, role: Role, replicas: int) -> Outcome:
        revision = self._revision(role)
        if revision is None:
            return OK
        current = self.state.canary_replicas if role == "canary" else self.state.stable_replicas
        if role == "stable" and replicas > current and revision.service_model is None:
            raise OperationFailed(
                f"cannot grow stable revision {revision.id} of {self.service!r}: its spec was not kept",
                hint="deploy it again with escadre up",
            )
        if replicas == 0:
            self.deps.driver.remove_revision(self.project.name, self.service, revision.id, self.deps.progress)
        else:
            self.deps.driver.apply_revision(self.project_for(revision), revision, replicas, self.deps.progress)
        if role == "canary":
            self.state.canary_replicas = replicas
        else:
            self.state.stable_replicas = replicas
        if self.state.routed:
            self._route()
        return OK

    def _wait_ready(self, role: Role, replicas: int) -> Outcome:
        revision = self._revision(role)
        if revision is None or replicas == 0:
            return OK
        try:
            wait_for(
                self.deps.driver,
                self.project.name,
                self.service,
                revision.id,
                replicas,
                "ready",
                timeout=min(self.deps.wait_timeout, self.spec.progress_deadline),
                check=self._control,
                clock=self.deps.clock,
                sleep=self.deps.sleep,
            )
        except OperationFailed as exc:
            return Outcome("failed", exc.message)
        if self.state.routed:
            self._route()  # newly ready instances join the router
        if role == "canary" and self.stable is not None and self.background is None and not self.state.promoted:
            self._start_background()
        return OK

    def _pause(self, duration: float | None, reason: str) -> Outcome:
        if self.state.full:
            return Outcome("skipped", "full promotion")
        if duration is None:
            return (
                OK
                if self._hold(f"paused: {reason or 'waiting for promotion'} (escadre promote to continue)")
                else Outcome("failed", "aborted while paused")
            )
        started = self.state.step_started or self.deps.wall()
        self.promote_requested = False
        while self.deps.wall() - started < duration:
            self._control()
            if self.promote_requested:
                self.promote_requested = False
                return Outcome("skipped", "promoted during the pause")
            self.deps.sleep(min(POLL, max(0.0, duration - (self.deps.wall() - started))))
        return OK

    def _analyze(self, step: Analyze) -> Outcome:
        if self.state.full:
            return Outcome("skipped", "full promotion")
        if self.deps.analysis is None:
            return Outcome("skipped", "no analysis configured")
        run = self.deps.analysis(step, step.name, self._measured)
        run.start()
        try:
            while True:
                result = run.result()
                if result.phase != "running":
                    break
                self._control()
                if self.promote_requested:
                    self.promote_requested = False
                    return Outcome("skipped", "promoted during the analysis")
                self.deps.sleep(POLL)
        finally:
            run.stop()
        if result.phase == "successful":
            self._event("rollout.analysis", f"{step.name} successful", verdict="successful")
            return OK
        if result.phase == "inconclusive":
            reason = f"{step.name} inconclusive: {result.message} — promote to continue, abort to roll back"
            return OK if self._hold(reason) else Outcome("failed", "aborted after an inconclusive analysis")
        self._event("rollout.analysis", f"{step.name} failed: {result.message}", level="error", verdict=result.phase)
        return Outcome("failed", f"{step.name} failed: {result.message}")

    def _measured(self, measurement: dict[str, Any]) -> None:
        phase = str(measurement.get("phase"))
        level = {"failed": "error", "error": "error", "inconclusive": "warning"}.get(phase, "info")
        shown = measurement.get("value")
        if measurement.get("baseline") is not None:
            shown = f"{shown} vs stable {measurement.get('baseline')}"
        text = f"{measurement.get('metric')}: {phase} ({shown})"
        if measurement.get("message") and phase != "successful":
            text += f" — {measurement.get('message')}"
        self._event("rollout.measurement", text, level=level, measurement=measurement)

    def _start_background(self) -> None:
        if self.spec.analysis is None or self.deps.analysis is None:
            return
        self.background = self.deps.analysis(None, "background analysis", self._measured)
        self.background.start()
        self._event("rollout.analysis", "background analysis started")

    def _stop_background(self) -> None:
        if self.background is not None:
            self.background.stop()
            self.background = None

    def _promote(self) -> Outcome:
        self._stop_background()
        self.previous = self.stable
        self.state.promoted = True
        self.state.weight = 100
        self.stable = self.canary
        self.state.stable_replicas, self.state.canary_replicas = self.state.canary_replicas, 0
        self._route()
        self._event("rollout.promoted", f"{self.canary.id} is now stable")
        return OK

    def _retire(self, delay: float) -> Outcome:
        started = self.state.step_started or self.deps.wall()
        while self.deps.wall() - started < delay:
            self._control()
            self.deps.sleep(min(POLL, max(0.0, delay - (self.deps.wall() - started))))
        self._remove_others(keep=self.canary.id)
        return OK

    def _remove_others(self, keep: str | None) -> None:
        status = self.deps.driver.observe(self.project.name, self.service)
        for rev in status.for_service(self.service):
            if rev.revision != keep:
                self.deps.driver.remove_revision(self.project.name, self.service, rev.revision, self.deps.progress)
                self._event("rollout.removed", f"revision {rev.revision} removed")

    # ----------------------------------------------------------------------------------------- run

    def run(self) -> str:
        """Run (or resume) the rollout to its end; returns the deployment's final status."""
        if self.state.native or self._native_applies():
            return self._run_native()
        plan = RolloutPlan(
            replicas=self.replicas,
            has_stable=self.stable is not None,
            stable_replicas=(
                self.state.initial_stable if self.state.initial_stable is not None else self._running(self.stable)
            ),
            routed=True,
            spec=self.spec,
            update=self.project.services[self.service].deploy.update_config,
            exclusive=self.exclusive,
        )
        resumed = bool(self.state.outcomes)
        if not resumed:
            self.state.initial_stable = plan.stable_replicas
            self.state.stable_replicas = plan.stable_replicas
            self.state.canary_replicas = self._running(self.canary)
            plan = replace(plan, routed=self._route())
            self._remove_leftovers()
        else:
            plan = replace(plan, routed=bool(self.state.routed))
            self._event("rollout.resumed", f"resuming at step {len(self.state.outcomes)} after a restart")
        self._save(status="progressing")
        generator = strategy_for(plan)
        outcome = OK
        try:
            step = next(generator)
            index = 0
            while True:
                if index < len(self.state.outcomes):
                    recorded = self.state.outcomes[index]
                    outcome = Outcome(recorded["status"], recorded.get("detail", ""))
                    if isinstance(step, Promote):
                        self.previous, self.stable = self.stable, self.canary
                else:
                    if self.state.step_started is None:
                        self.state.step_started = self.deps.wall()
                    self._save(step=index)
                    self._event("rollout.step", describe(step), index=index, step=to_json(step))
                    self._control()
                    outcome = self._execute(step)
                    self.state.outcomes.append({"status": outcome.status, "detail": outcome.detail})
                    self.state.step_started = None
                    self._save(step=index + 1)
                    if not outcome.ok:
                        break
                step = generator.send(outcome)
                index += 1
        except StopIteration:
            return self._finish()
        except Aborted as exc:
            return self._abort(str(exc))
        except EscadreError as exc:
            return self._abort(exc.message)
        finally:
            self._stop_background()
            if self.deps.notify is not None:
                self.deps.notify.flush()
        return self._abort(outcome.detail or "a step failed")

    # ---------------------------------------------------------------------------- native rolling

    def _native_applies(self) -> bool:
        """A plain rolling update the platform can do by itself: a stable revision to replace, no router
        (the platform replaces instances behind its own name) and no analysis to run alongside."""
        return (
            self.spec.strategy == "rolling"
            and self.stable is not None
            and "native-rolling" in self.deps.driver.capabilities
            and isinstance(self.deps.driver, NativeRolling)
            and not self.project.is_routed(self.service)
            and self.spec.analysis is None
        )

    def _run_native(self) -> str:
        """Hand the update to the platform and follow it: Swarm's ``update_config`` paces the batches and
        its ``failure_action`` decides a failure; a ``pause`` there waits for ``promote`` (resume) or
        ``abort`` (roll back), as the engine's own pauses do. Resumes after a crash from the checkpoint."""
        driver = self.deps.driver
        assert isinstance(driver, NativeRolling)
        assert self.stable is not None
        stable = self.stable
        if self.state.native == "rolling-back":
            self._event("rollout.resumed", "resuming the rollback after a restart")
            return self._native_rollback(driver, self.deployment.message or "rollback resumed")
        if self.state.native:
            self._event("rollout.resumed", "following the platform's update again after a restart")
        else:
            self._remove_leftovers()
            self.state.native = "updating"
        self._save(status="progressing")
        self._event("rollout.step", f"native rolling update {stable.id} → {self.canary.id}", native=True)
        try:
            while True:
                last = self._follow(
                    driver.native_update(
                        self.project, self.canary, self.replicas, self.deps.progress, from_revision=stable.id
                    )
                )
                if last.ok:
                    self.state.native = ""
                    self.state.promoted = True
                    self.previous, self.stable = self.stable, self.canary
                    self._event("rollout.promoted", f"{self.canary.id} is now stable")
                    return self._finish()
                if last.state == "rollback_completed":
                    return self._end_native("aborted", f"the platform rolled the update back: {last.describe()}")
                if last.state == "rollback_paused":
                    raise Aborted(f"the platform's own rollback paused: {last.describe()}")
                # paused: a human decides, as with the engine's own pauses
                if not self._hold(f"update paused: {last.describe()} (promote to resume, abort to roll back)"):
                    raise Aborted("aborted while the update was paused")
        except Aborted as exc:
            return self._native_rollback(driver, str(exc))
        except EscadreError as exc:
            return self._native_rollback(driver, exc.message)
        finally:
            if self.deps.notify is not None:
                self.deps.notify.flush()

    def _follow(self, updates: Iterator[UpdateProgress], *, steerable: bool = True) -> UpdateProgress:
        """Follow a native update (or rollback) to its terminal state; an update (``steerable``) applies
        commands in between."""
        last: UpdateProgress | None = None
        for last in updates:
            self._native_event(last)
            if steerable:
                self.state.canary_replicas = last.updated
                self._control()
            if last.done:
                break
        if last is None:
            raise OperationFailed(f"the platform reported nothing about the update of {self.service!r}")
        return last

    def _native_event(self, step: UpdateProgress) -> None:
        """The platform's progress (instances on the new revision, failures) into the event log."""
        level = "warning" if step.state in ("paused", "rollback_paused") or step.failures else "info"
        self._event(
            "rollout.update",
            step.describe(),
            level=level,
            state=step.state,
            revision=step.revision,
            updated=step.updated,
            total=step.total,
        )

    def _native_rollback(self, driver: NativeRolling, reason: str) -> str:
        """Back to the stable revision with the platform's own rollback (unless it is already there)."""
        self.state.native = "rolling-back"
        self._save(message=reason)
        self._event("rollout.aborting", reason, level="error")
        final = "aborted"
        try:
            current = {
                r.revision for r in self.deps.driver.observe(self.project.name, self.service).for_service(self.service)
            }
            if self.canary.id in current:
                rollback = driver.native_rollback(self.project.name, self.service, self.canary.id, self.deps.progress)
                last = self._follow(rollback, steerable=False)
                if last.state != "rollback_completed":
                    final = "failed"
                    reason = f"{reason}; the rollback did not complete: {last.describe()}"
        except EscadreError as exc:
            final = "failed"
            reason = f"{reason}; rolling back also failed: {exc.message}"
        self.state.canary_replicas = 0
        return self._end_native(final, reason)

    def _end_native(self, final: str, reason: str) -> str:
        """A native update that did not succeed ends here: recorded with its reason."""
        self.state.native = ""
        self._save(status=final, message=reason)
        self._event(f"rollout.{final}", reason, level="error")
        return final

    def _running(self, revision: Revision | None) -> int:
        if revision is None:
            return 0
        status = self.deps.driver.observe(self.project.name, self.service).revision(self.service, revision.id)
        return len(status.instances) if status else 0

    def _remove_leftovers(self) -> None:
        """Revisions other than stable and canary (an interrupted, superseded rollout) go first."""
        keep = {r.id for r in (self.stable, self.canary) if r is not None}
        for rev in self.deps.driver.observe(self.project.name, self.service).for_service(self.service):
            if rev.revision not in keep:
                self.deps.driver.remove_revision(self.project.name, self.service, rev.revision, self.deps.progress)
                self._event("rollout.removed", f"leftover revision {rev.revision} removed")

    def _finish(self) -> str:
        self._save(status="succeeded", message="")
        self._event("rollout.succeeded", f"{self.service} runs {self.canary.id}")
        return "succeeded"

    def _abort(self, reason: str) -> str:
        """Traffic back to stable first, stable back to full size, canary removed."""
        self._stop_background()
        self._event("rollout.aborting", reason, level="error")
        try:
            if self.state.promoted and self.previous is not None:
                # a post-promotion failure: revert to the previous revision while it still runs
                self.stable = self.previous
                self.state.promoted = False
                self.state.weight = 0
                self.state.preview = False
                self._route()
                self._grow_stable()
                self.deps.driver.remove_revision(self.project.name, self.service, self.canary.id, self.deps.progress)
                final = "rolled-back"
            elif self.stable is not None:
                self.state.weight = 0
                self.state.preview = False
                self._route()
                self._grow_stable()
                self.deps.driver.remove_revision(self.project.name, self.service, self.canary.id, self.deps.progress)
                final = "aborted"
            else:
                final = "failed"  # first deploy: nothing to go back to; the failed instances stay for logs
        except EscadreError as exc:
            reason = f"{reason}; rolling back also failed: {exc.message}"
            final = "failed"
        self.state.canary_replicas = 0
        self._save(status=final, message=reason)
        self._event(f"rollout.{final}", reason, level="error")
        return final

    def _grow_stable(self) -> None:
        stable = self.stable
        if stable is None:
            return
        if self._running(stable) < self.replicas:
            self._scale("stable", self.replicas)
            try:
                wait_for(
                    self.deps.driver,
                    self.project.name,
                    self.service,
                    stable.id,
                    self.replicas,
                    "ready",
                    timeout=self.deps.wait_timeout,
                    clock=self.deps.clock,
                    sleep=self.deps.sleep,
                )
            except OperationFailed as exc:
                self._event("rollout.aborting", f"stable not fully ready again: {exc.message}", level="warning")
        self.state.stable_replicas = self.replicas


def status_line(status: RevisionStatus | None) -> str:
    if status is None:
        return "0 instances"
    return f"{status.ready}/{len(status.instances)} ready"
