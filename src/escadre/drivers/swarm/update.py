"""Swarm's own rolling update, watched task by task: the ``rolling`` strategy on a swarm target.

For a plain rolling update Swarm already does everything Compose's ``deploy.update_config`` describes —
batches of ``parallelism`` tasks, ``delay`` between them, ``order`` (stop-first / start-first), a
``monitor`` window after each batch, ``failure_action`` (pause, continue, rollback) when more than
``max_failure_ratio`` of the tasks fail — and rolls back with ``rollback_config``. So the driver updates the
revision's service *in place* (its spec becomes the new revision's, labels included) and reports progress
from the task states, instead of re-implementing the batches with two services.

``start`` issues the update (or the rollback) and returns a ``Watch``; iterating it yields an
``UpdateProgress`` whenever something changed, until Swarm reaches a terminal state: ``completed``,
``paused`` (``failure_action: pause``: a human decides — resume with another update, or roll back),
``rollback_completed`` (``failure_action: rollback`` rolled it back by itself) or ``rollback_paused``.

Swarm's ``UpdateStatus`` keeps the *previous* update's state until the new one starts, so a watch only
trusts an ``UpdateStatus`` whose ``StartedAt`` differs from the one seen before the update was issued.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import docker

from escadre.drivers.base import NATIVE_TERMINAL, NativeState, UpdateProgress
from escadre.drivers.swarm.tasks import NodeInfo, current_tasks, nodes_by_id, revision_of

UpdateState = NativeState
TERMINAL = NATIVE_TERMINAL
POLL = 0.3
STALL = 5.0
MAX_KICKS = 2
STOPPED = frozenset({"shutdown", "complete", "failed", "rejected", "remove", "orphaned"})
NO_UPDATE_GRACE = 5.0
"""Seconds after which an update Swarm did not start (nothing to change) counts as done once every task
runs the wanted revision."""


def update_status(service: Mapping[str, Any]) -> tuple[str, str, str]:
    """(state, message, started_at) of a service's ``UpdateStatus`` (empty strings when none)."""
    status = service.get("UpdateStatus") or {}
    return str(status.get("State") or ""), str(status.get("Message") or ""), str(status.get("StartedAt") or "")


def issue_update(api: docker.APIClient, service: Mapping[str, Any], spec: Mapping[str, Any]) -> None:
    """Replace the service's spec (Swarm then rolls the tasks per its ``UpdateConfig``)."""
    raw: Any = api  # the SDK has no call for a full-spec update nor for a rollback: its own helpers are used
    version = int(service["Version"]["Index"])
    url = raw._url("/services/{0}/update", service["ID"])
    raw._raise_for_status(raw._post_json(url, data=dict(spec), params={"version": version}))


def issue_rollback(api: docker.APIClient, service: Mapping[str, Any]) -> None:
    """``docker service rollback``: back to the previous spec, paced by ``RollbackConfig``."""
    raw: Any = api
    version = int(service["Version"]["Index"])
    url = raw._url("/services/{0}/update", service["ID"])
    params = {"version": version, "rollback": "previous"}
    raw._raise_for_status(raw._post_json(url, data=dict(service["Spec"]), params=params))


def force_update(api: docker.APIClient, service_id: str) -> None:
    """``docker service update --force``: every task is replaced, which restarts a stuck updater."""
    raw: Any = api
    service = raw.inspect_service(service_id)
    spec = dict(service["Spec"])
    template = dict(spec["TaskTemplate"])
    template["ForceUpdate"] = int(template.get("ForceUpdate") or 0) + 1
    spec["TaskTemplate"] = template
    issue_update(api, service, spec)


@dataclass(frozen=True, slots=True)
class _Seen:
    progress: UpdateProgress
    started: str
    signature: tuple[tuple[str, str], ...]
    down: tuple[str, ...]
    """Down nodes that still hold unfinished tasks of the service."""
    pace: float
    """Seconds one batch may take (delay + monitor)."""


class Watch:
    """Iterate to follow an update (or rollback) of one service until Swarm reaches a terminal state.

    Swarm's updater waits for every task it started to run or fail; a task assigned to a node that then
    went down does neither, and the update hangs for as long as the node is gone. When nothing changed
    for ``STALL`` seconds (plus two batches' delay and monitor) while a down node holds such a task, the
    watch calls ``kick`` (a forced update, which restarts the updater on the nodes that are left) up to
    ``MAX_KICKS`` times, then reports the update ``paused`` with the reason.
    """

    def __init__(
        self,
        api: docker.APIClient,
        service_id: str,
        revision: str,
        *,
        before: str,
        rollback: bool = False,
        kick: Callable[[], None] | None = None,
        poll: float = POLL,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api
        self.service_id = service_id
        self.revision = revision
        self.before = before
        self.rollback = rollback
        self.kick = kick
        self.poll = poll
        self.clock = clock
        self.sleep = sleep

    def _observe(self) -> _Seen:
        raw: Any = self.api
        service = raw.inspect_service(self.service_id)
        tasks = raw.tasks(filters={"service": self.service_id})
        nodes: dict[str, NodeInfo] = nodes_by_id(raw.nodes())
        state, message, started = update_status(service)
        spec = service.get("Spec") or {}
        mode = spec.get("Mode") or {}
        current = current_tasks(tasks)
        total = int(mode["Replicated"].get("Replicas") or 0) if "Replicated" in mode else len(current)
        down = {n.id: n.hostname for n in nodes.values() if n.state == "down"}
        mine = [c for c in current if revision_of(c.task) == self.revision]
        updated = sum(
            1
            for c in mine
            if (c.task.get("Status") or {}).get("State") == "running" and str(c.task.get("NodeID")) not in down
        )
        failures = tuple(
            str((t.get("Status") or {}).get("Err"))
            for t in sorted(tasks, key=lambda t: str(t.get("CreatedAt", "")), reverse=True)
            if revision_of(t) == self.revision
            and (t.get("Status") or {}).get("State") in ("failed", "rejected")
            and (t.get("Status") or {}).get("Err")
        )
        if started == self.before or not state:
            # Swarm has not started this update yet (or had nothing to roll): judge by the tasks
            state = "rollback_started" if self.rollback else "updating"
            message = ""
        config = spec.get("RollbackConfig" if self.rollback else "UpdateConfig") or {}
        pace = (int(config.get("Delay") or 0) + int(config.get("Monitor") or 5_000_000_000)) / 1e9
        stuck = tuple(
            sorted(
                {
                    down[str(t.get("NodeID"))]
                    for t in tasks
                    if str(t.get("NodeID")) in down and (t.get("Status") or {}).get("State") not in STOPPED
                }
            )
        )
        signature = tuple(sorted((str(t.get("ID")), str((t.get("Status") or {}).get("State"))) for t in tasks))
        progress = UpdateProgress(
            state=state,  # type: ignore[arg-type]
            revision=self.revision,
            updated=updated,
            total=total,
            message=message,
            failures=failures[:3],
        )
        return _Seen(progress, started, signature, stuck, pace)

    def __iter__(self) -> Iterator[UpdateProgress]:
        began = changed = self.clock()
        last: UpdateProgress | None = None
        signature: tuple[tuple[str, str], ...] = ()
        kicks = 0
        while True:
            seen = self._observe()
            progress = seen.progress
            converged = progress.updated >= progress.total and not progress.done
            if converged and self.clock() - began > NO_UPDATE_GRACE and progress.message == "":
                done: UpdateState = "rollback_completed" if self.rollback else "completed"
                progress = replace(progress, state=done, message="every task runs it")
            if seen.signature != signature:
                signature, changed = seen.signature, self.clock()
            elif not progress.done and seen.down and self.clock() - changed > STALL + 2 * seen.pace:
                nodes = ", ".join(seen.down)
                if self.kick is not None and kicks < MAX_KICKS:
                    kicks += 1
                    self.before, changed = seen.started, self.clock()
                    self.kick()
                    progress = replace(progress, message=f"stalled on tasks of down node(s) {nodes}: update restarted")
                else:
                    state: UpdateState = "rollback_paused" if self.rollback else "paused"
                    progress = replace(
                        progress, state=state, message=f"stalled: tasks on down node(s) {nodes} never finish"
                    )
            if progress != last:
                last = progress
                yield progress
            if progress.done:
                return
            self.sleep(self.poll)


__all__ = [
    "TERMINAL",
    "UpdateProgress",
    "Watch",
    "force_update",
    "issue_rollback",
    "issue_update",
    "update_status",
]
