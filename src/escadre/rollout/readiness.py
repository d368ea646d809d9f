"""Waiting for a revision to be started, ready (healthy) or completed, by polling the driver.

``depends_on`` conditions and ``up``'s own wait are built on this. Failing fast matters as much as
waiting: a container that exits non-zero without a restart policy, a healthcheck that reports
unhealthy, or an instance that keeps restarting ends the wait at once with the reason, instead of
running out the timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from escadre.core.errors import OperationFailed
from escadre.drivers.base import Driver, RevisionStatus

Want = Literal["started", "ready", "completed"]
CRASH_LOOP_RESTARTS = 3


@dataclass(frozen=True, slots=True)
class Verdict:
    done: bool
    completed: bool = False
    failure: str | None = None
    summary: str = ""


def judge(status: RevisionStatus | None, replicas: int, want: Want, baseline_restarts: int = 0) -> Verdict:
    """Whether ``status`` satisfies ``want`` for ``replicas`` instances, has failed, or must be waited on."""
    if status is None or not status.instances:
        if replicas == 0:
            return Verdict(True, summary="scaled to zero")
        return Verdict(False, summary="no instance yet")
    insts = status.instances
    for inst in insts:
        if inst.state == "failed" or (inst.state == "exited" and inst.exit_code not in (0, None)):
            code = f" with code {inst.exit_code}" if inst.exit_code is not None else ""
            extra = f": {inst.message}" if inst.message else ""
            return Verdict(False, failure=f"{inst.name} exited{code}{extra}")
        if inst.health == "unhealthy":
            return Verdict(False, failure=f"{inst.name} is unhealthy" + (f" ({inst.message})" if inst.message else ""))
    restarts = sum(i.restarts for i in insts) - baseline_restarts
    if restarts >= CRASH_LOOP_RESTARTS * max(1, len(insts)):
        return Verdict(False, failure=f"instances keep restarting ({restarts} restarts)")
    completed = [i for i in insts if i.completed]
    if completed and len(completed) == len(insts):
        return Verdict(True, completed=True, summary="completed")
    if want == "completed":
        return Verdict(False, summary=f"{len(completed)}/{len(insts)} completed")
    if want == "started":
        started = [i for i in insts if i.state in ("running", "exited")]
        return Verdict(len(started) >= replicas, summary=f"{len(started)}/{replicas} started")
    ready = status.ready
    health = {i.health for i in insts}
    label = "healthy" if "healthy" in health or "starting" in health else "running"
    return Verdict(ready >= replicas, summary=f"{ready}/{replicas} {label}")


def wait_for(
    driver: Driver,
    app: str,
    service: str,
    revision: str,
    replicas: int,
    want: Want,
    *,
    timeout: float,
    on_update: Callable[[Verdict], None] | None = None,
    interval: float = 0.5,
    probe: bool = True,
    check: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Verdict:
    """Poll until ``want`` holds; raise ``OperationFailed`` on failure or timeout.

    While instances report their health as ``starting``, the driver is asked to run the health test
    itself (``probe``), so a healthy service is seen at once rather than at the platform's next check
    interval (Compose's default interval is 30 s). A failing probe is never a failure: only the
    platform's own ``unhealthy`` verdict is.
    """
    deadline = clock() + timeout
    last_summary = ""
    baseline: int | None = None
    delay = min(interval, 0.1)
    fast_until = clock() + 10.0
    while True:
        if check is not None:
            check()  # lets a caller stop the wait (a rollout being aborted) by raising
        status = driver.observe(app, service).revision(service, revision)
        if baseline is None and status is not None:
            baseline = sum(i.restarts for i in status.instances)
        verdict = judge(status, replicas, want, baseline or 0)
        if (
            probe
            and want == "ready"
            and not verdict.done
            and verdict.failure is None
            and status is not None
            and len(status.instances) >= replicas
            and all(i.state == "running" and i.health == "starting" for i in status.instances)
            and driver.probe(app, service, revision)
        ):
            verdict = Verdict(True, summary=f"{len(status.instances)}/{replicas} healthy (probed)")
        if verdict.failure:
            raise OperationFailed(
                f"service {service!r} failed: {verdict.failure}",
                hint=f"see its output with: escadre logs {service}",
            )
        if on_update is not None and verdict.summary != last_summary:
            on_update(verdict)
            last_summary = verdict.summary
        if verdict.done:
            return verdict
        if clock() >= deadline:
            raise OperationFailed(
                f"service {service!r} was not {want} within {timeout:g}s ({verdict.summary})",
                hint=f"see escadre ps and escadre logs {service}; allow more time with --timeout",
            )
        sleep(delay)
        if clock() > fast_until:
            delay = min(interval, delay * 1.5)
