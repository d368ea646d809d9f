"""Health: restarts and unhealthy instances of a revision, read from the target through the driver.

A canary that crash-loops may still answer most probes (the platform restarts it fast) and may not
show in request metrics at all if it never gets traffic. The engine already observes the target, so
this provider asks it, through ``Target.status(role)``, and counts what went wrong since the analysis
started: restarts of every instance beyond the count it had when the run began (an instance that
appeared later counts all its restarts) plus every instance that is failed or unhealthy now.

Without a condition the metric passes while ``result <= max_restarts``. A role whose status cannot be
found is *no data*: the revision may not be scheduled yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from escadre.rollout.analysis.model import MeasureContext, Reading

if TYPE_CHECKING:
    from escadre.drivers.base import Instance
    from escadre.model.settings import Metric

_START = "restarts_at_start"


def _why(instance: Instance) -> str:
    if instance.message:
        return instance.message
    if instance.health == "unhealthy":
        return "unhealthy"
    return instance.state if instance.exit_code is None else f"{instance.state}, exit code {instance.exit_code}"


class Health:
    """The ``health`` provider; keeps each instance's restart count at the start in ``ctx.memo``."""

    def begin(self, metric: Metric, ctx: MeasureContext) -> None:
        status = ctx.target.status(ctx.role)
        if status is not None:
            ctx.memo[_START] = {i.id: i.restarts for i in status.instances}

    def measure(self, metric: Metric, ctx: MeasureContext) -> Reading:
        status = ctx.target.status(ctx.role)
        if status is None:
            return Reading(None, detail=f"no status for the {ctx.role} revision {ctx.revision or ''}".rstrip())
        start: dict[str, int] = ctx.memo.setdefault(_START, {i.id: i.restarts for i in status.instances})
        restarts = sum(max(0, i.restarts - start.get(i.id, 0)) for i in status.instances)
        failed = status.failed
        detail = (
            f"{restarts} restart(s) since the analysis started, {len(failed)} of {len(status.instances)} "
            f"instance(s) failed or unhealthy"
        )
        if failed:
            detail += ": " + ", ".join(f"{i.name} ({_why(i)})" for i in failed[:3])
        return Reading(float(restarts + len(failed)), {"restarts": restarts, "unhealthy": len(failed)}, detail=detail)
