"""What ``apply_revision`` and ``remove_revision`` wait for, and the errors they turn waits into.

Swarm accepts a service at once and decides later whether it can run: the orchestrator creates its tasks,
the scheduler places them, the node starts their containers. The driver waits for just enough of that to
keep its promises, never for health:

* **settle** — the orchestrator created (or retired) the tasks, so ``observe`` right after
  ``apply_revision`` shows the requested number of instances (tens of milliseconds);
* **admit** — only for services whose placement or start can fail for a reason of the user's: with
  placement constraints, reservations or ``max_replicas_per_node`` the scheduler must have placed every
  task (a constraint no node satisfies → ``UsageError`` naming it and the nodes); with host-mode published
  ports the containers must have started (a port taken → ``ConflictError``). The caller removes the
  service when either is raised, so nothing is left pending or restarting;
* **stopped** — a removed service's tasks have stopped, so its host ports and overlay addresses are free
  for the revision that replaces it (tasks on a node that is down never report, and are not waited for).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from escadre.core.errors import ConflictError, TargetError, UsageError
from escadre.drivers.swarm.mesh import host_ports
from escadre.drivers.swarm.spec import ServicePlan
from escadre.drivers.swarm.tasks import LIVE_DESIRED, NodeInfo, current_tasks, start_failure, unschedulable
from escadre.model.project import Service

Tasks = Callable[[Sequence[str]], list[dict[str, Any]]]
Nodes = Callable[[], dict[str, NodeInfo]]

SETTLE_TIMEOUT = 10.0
ADMIT_TIMEOUT = 15.0
PORT_GRACE = 2.0
"""A taken port fails a container's start within a second: a task still ``starting`` (waiting for its health
check) this long after it was first seen has bound its ports."""
STOP_MARGIN = 15.0
STOPPED = frozenset({"shutdown", "complete", "failed", "rejected", "remove", "orphaned"})
PORT_ERRORS = ("port is already allocated", "address already in use")


def settle(tasks: Tasks, service_id: str, replicas: int) -> None:
    """Wait (briefly) until the service has ``replicas`` tasks meant to run (or ended by themselves)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    delay = 0.05
    while time.monotonic() < deadline:
        current = current_tasks(tasks([service_id]))
        if sum(1 for c in current if c.task.get("DesiredState") in (*LIVE_DESIRED, "shutdown")) == replicas:
            return
        time.sleep(delay)
        delay = min(0.3, delay * 1.5)


def check_host_ports(svc: Service, plan: ServicePlan, replicas: int, nodes: Nodes) -> None:
    """Refuse more replicas than nodes for a fixed host-mode port (one task per node can bind it)."""
    fixed = host_ports(plan.endpoint.ports if plan.endpoint else ())
    if not fixed or svc.deploy.mode == "global":
        return
    eligible = [n for n in nodes().values() if n.state == "ready" and n.availability == "active"]
    if replicas > len(eligible):
        raise UsageError(
            f"service {svc.name!r} publishes host port {fixed[0]} in host mode and asks for {replicas} "
            f"replicas, but the swarm has {len(eligible)} node(s) to run them: one task per node can bind it",
            hint="put Escadre's router in front of the service (x-escadre.route), leave the host port out, "
            "or use deploy.mode: global",
        )


def admit(
    tasks: Tasks, nodes: Nodes, service_id: str, svc: Service, plan: ServicePlan, replicas: int, target: str
) -> None:
    """Settle, then — when placement or start can fail for a reason of the user's — wait for it (module doc)."""
    placement, reservations = svc.deploy.placement, svc.deploy.reservations
    constrained = bool(placement.constraints or placement.max_replicas_per_node)
    constrained = constrained or bool(reservations.cpus or reservations.memory) or svc.deploy.mode == "global"
    ports = host_ports(plan.endpoint.ports if plan.endpoint else ())
    if svc.deploy.mode != "global":
        settle(tasks, service_id, replicas)
    if not (constrained or ports) or replicas == 0:
        return
    wanted = replicas if svc.deploy.mode != "global" else 1
    deadline = time.monotonic() + ADMIT_TIMEOUT
    starting: dict[str, float] = {}  # when each task was first seen starting
    while time.monotonic() < deadline:
        found = tasks([service_id])
        reason = unschedulable(found)
        if reason is not None:
            raise UsageError(unschedulable_message(svc, reason), hint=placement_hint(nodes()))
        failure = start_failure(found) if ports else None
        if failure is not None and any(p in failure for p in PORT_ERRORS):
            raise ConflictError(
                f"service {svc.name!r}: {port_message(failure, ports)}",
                target=target,
                hint="change the published port in the Compose file, or stop what is listening there",
            )
        current = [c.task for c in current_tasks(found) if c.task.get("DesiredState") in LIVE_DESIRED]
        now = time.monotonic()
        for t in current:
            if _state(t) == "starting":
                starting.setdefault(str(t.get("ID")), now)
        placed = all(_state(t) not in ("new", "pending", "allocated") for t in current)
        started = all(
            _state(t) in ("running", "complete") or now - starting.get(str(t.get("ID")), now) > PORT_GRACE
            for t in current
        )
        if len(current) >= wanted and (started if ports else placed):
            return
        time.sleep(0.2)


def wait_stopped(tasks: Tasks, nodes: Nodes, service_ids: Sequence[str], grace: float | None) -> None:
    """Wait until the tasks of removed services stopped (those on nodes that are down excepted)."""
    deadline = time.monotonic() + (grace if grace is not None else 10.0) + STOP_MARGIN
    down: set[str] | None = None
    while time.monotonic() < deadline:
        try:
            found = tasks(service_ids)
            if down is None:
                down = {n.id for n in nodes().values() if n.state == "down"} if found else set()
        except TargetError:
            return
        if all(_state(t) in STOPPED or str(t.get("NodeID")) in down for t in found):
            return
        time.sleep(0.2)


def _state(task: Mapping[str, Any]) -> str:
    return str((task.get("Status") or {}).get("State") or "")


def unschedulable_message(svc: Service, reason: str) -> str:
    placement = svc.deploy.placement
    parts = []
    if placement.constraints:
        parts.append(f"placement constraints {', '.join(placement.constraints)}")
    if placement.max_replicas_per_node:
        parts.append(f"max_replicas_per_node {placement.max_replicas_per_node}")
    if svc.deploy.reservations.cpus or svc.deploy.reservations.memory:
        parts.append("resource reservations")
    what = " and ".join(parts) or "its requirements"
    return f"service {svc.name!r} cannot be placed: no node satisfies {what} (swarm: {reason})"


def placement_hint(nodes: Mapping[str, NodeInfo]) -> str:
    listing = ", ".join(f"{n.hostname} ({n.role}, {n.state})" for n in sorted(nodes.values(), key=lambda n: n.hostname))
    return (
        f"nodes: {listing}; check the constraints against docker node inspect, add labels with "
        "docker node update --label-add KEY=VALUE NODE, or relax the constraints"
    )


def port_message(failure: str, ports: Sequence[int]) -> str:
    for port in ports:
        if re.search(rf":{port}\b", failure):
            return f"port {port} is already in use on the node its task was placed on"
    return f"a published port is already in use ({failure[-160:]})"


__all__ = ["admit", "check_host_ports", "placement_hint", "settle", "unschedulable_message", "wait_stopped"]
