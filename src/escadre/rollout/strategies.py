"""Rollout strategies as pure step generators: recreate, rolling, blue-green, canary.

Each function takes a ``RolloutPlan`` (what is being replaced by what, and how the user asked for it)
and yields steps; it is sent each step's outcome and stops at the first failure (the engine then aborts
the same way for every strategy). Nothing here does I/O or reads a clock, so every path — including
crash-resume, which replays recorded outcomes through the same generator — is unit-tested directly.

Compose's own ``deploy.update_config`` drives the rolling strategy (parallelism, order, delay, monitor,
failure_action) so a Compose file means the same thing with Escadre as with Swarm. Canary and blue-green
follow Argo Rollouts' vocabulary (``set_weight``, ``pause``, ``analysis``, ``auto_promote``,
``scale_down_delay``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from escadre.model.project import UpdateConfig
from escadre.model.settings import RolloutSpec
from escadre.rollout.steps import (
    Analyze,
    Pause,
    Promote,
    RetireOld,
    Scale,
    SetPreview,
    SetWeight,
    Strategy,
    WaitReady,
)


@dataclass(frozen=True, slots=True)
class RolloutPlan:
    replicas: int
    """Desired replicas of the service once rolled out."""
    has_stable: bool
    """A stable revision runs (False on a first deploy)."""
    stable_replicas: int
    """How many stable instances run now."""
    routed: bool
    """Traffic goes through a router that can split it by weight (else: by replica ratio)."""
    spec: RolloutSpec
    update: UpdateConfig | None = None
    exclusive: bool = False
    """Two revisions cannot run side by side (a fixed host port or container_name without a router)."""


def _ratio(value: int | str | None, total: int, default: int) -> int:
    """``max_surge``/``max_unavailable``: a count, or a percentage of ``total`` (rounded up)."""
    if value is None:
        return default
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(total * float(value[:-1]) / 100)
    return int(value)


def recreate(plan: RolloutPlan) -> Strategy:
    """Stop everything old, then start everything new (downtime, no overlap)."""
    if plan.has_stable and plan.stable_replicas:
        yield Scale("stable", 0)
    yield Scale("canary", plan.replicas)
    if not (yield WaitReady("canary", plan.replicas)).ok:
        return
    yield SetWeight(100)
    yield Promote()
    yield RetireOld(0)


def rolling(plan: RolloutPlan) -> Strategy:
    """Replace instances in batches, honouring Compose's ``update_config``."""
    n = plan.replicas
    if not plan.has_stable:
        yield from recreate(plan)
        return
    uc = plan.update or UpdateConfig()
    batch = uc.parallelism or n  # parallelism 0 means "all at once", as in Compose
    surge = _ratio(plan.spec.max_surge, n, 0)
    unavailable = _ratio(plan.spec.max_unavailable, n, 0)
    start_first = (uc.order == "start-first" or surge > 0) and not plan.exclusive
    if plan.spec.max_surge is not None or plan.spec.max_unavailable is not None:
        batch = max(1, surge if start_first else unavailable or 1)
    new, old = 0, plan.stable_replicas
    while new < n:
        step = min(batch, n - new)
        if start_first:
            yield Scale("canary", new + step)
            outcome = yield WaitReady("canary", new + step)
            new += step
            old = max(0, old - step) if new < n else 0
            if outcome.ok:
                yield Scale("stable", old)
        else:
            old = max(0, old - step) if new + step < n else 0
            yield Scale("stable", old)
            yield Scale("canary", new + step)
            outcome = yield WaitReady("canary", new + step)
            new += step
        if not outcome.ok:
            if uc.failure_action == "continue":
                continue
            if uc.failure_action == "rollback":
                return
            # "pause" (Compose's default): a human decides — promote carries on, abort rolls back
            if not (yield Pause(None, f"update failed: {outcome.detail}")).ok:
                return
        if plan.routed:
            yield SetWeight(round(100 * new / max(1, new + old)))
        if uc.monitor:
            yield Pause(uc.monitor, "monitor")
            if not (yield WaitReady("canary", new)).ok and uc.failure_action != "continue":
                return
        if uc.delay and new < n:
            yield Pause(uc.delay, "update delay")
    if old:
        yield Scale("stable", 0)
    yield SetWeight(100)
    yield Promote()
    yield RetireOld(0)


def blue_green(plan: RolloutPlan) -> Strategy:
    """Bring the whole new revision up beside the old one, preview it, switch all traffic at once."""
    spec = plan.spec
    n = plan.replicas
    if not plan.has_stable:
        yield from recreate(plan)
        return
    yield Scale("canary", n)
    if not (yield WaitReady("canary", n)).ok:
        return
    if plan.routed:
        yield SetPreview(True)
    if spec.pre_promotion_analysis is not None:
        ref = spec.pre_promotion_analysis
        if not (yield Analyze(tuple(ref.templates), tuple(ref.args.items()), "pre-promotion analysis")).ok:
            return
    if spec.auto_promote:
        if spec.auto_promote_after:
            yield Pause(spec.auto_promote_after, "auto-promote")
    else:
        yield Pause(None, "waiting for promotion")
    yield SetWeight(100)
    yield Promote()
    if plan.routed:
        yield SetPreview(False)
    if spec.post_promotion_analysis is not None:
        ref = spec.post_promotion_analysis
        if not (yield Analyze(tuple(ref.templates), tuple(ref.args.items()), "post-promotion analysis")).ok:
            return
    yield RetireOld(spec.scale_down_delay)


def canary(plan: RolloutPlan) -> Strategy:
    """Shift traffic to the new revision step by step, with pauses and analyses in between."""
    spec = plan.spec
    n = plan.replicas
    if not plan.has_stable:
        yield from recreate(plan)
        return
    override: int | None = spec.canary_replicas
    canary_now = 0

    def canary_size(weight: int) -> int:
        if override is not None:
            return override
        size = math.ceil(n * weight / 100)
        return max(1, size) if plan.routed else size

    for step in spec.steps:
        if step.set_weight is not None:
            weight = step.set_weight
            wanted = canary_size(weight)
            if wanted > canary_now:
                yield Scale("canary", wanted)
                if not (yield WaitReady("canary", wanted)).ok:
                    return
                canary_now = wanted
            if not plan.routed:
                # replica ratio: the stable shrinks as the canary grows (never to zero before promotion)
                yield Scale("stable", max(n - wanted, 0 if weight == 100 else 1))
            yield SetWeight(weight)
        elif step.set_canary_scale is not None:
            override = step.set_canary_scale
            yield Scale("canary", override)
            if override and not (yield WaitReady("canary", override)).ok:
                return
            canary_now = override
        elif step.pause is not None:
            yield Pause(step.pause.duration, "step")
        elif step.analysis is not None:
            ref = step.analysis
            if not (yield Analyze(tuple(ref.templates), tuple(ref.args.items()))).ok:
                return
    if canary_now < n:
        yield Scale("canary", n)
        if not (yield WaitReady("canary", n)).ok:
            return
    yield SetWeight(100)
    if plan.stable_replicas and not plan.routed:
        # replica ratio: the old revision must go before it is renamed: after Promote, "stable" is the new one
        yield Scale("stable", 0)
    yield Promote()
    yield RetireOld(spec.scale_down_delay)


STRATEGIES: dict[str, Callable[[RolloutPlan], Strategy]] = {
    "recreate": recreate,
    "rolling": rolling,
    "blue-green": blue_green,
    "canary": canary,
}


def strategy_for(plan: RolloutPlan) -> Strategy:
    return STRATEGIES[plan.spec.strategy](plan)
