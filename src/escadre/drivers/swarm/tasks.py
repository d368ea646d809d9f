"""Reading Swarm tasks back as Escadre instances (pure: Engine API JSON in, ``Instance`` values out).

Swarm keeps a task *history* per slot (replicated services) or per node (global ones): every restart,
reschedule or update leaves the previous task behind, shut down, for up to ``TaskHistoryRetentionLimit``
tasks. An instance is therefore a task Swarm **wants running** (desired state ``running``, or ``ready``
while a restart delay elapses) — not necessarily the newest of its slot: a ``start-first`` rollback
keeps the old task and shuts the newer one down — or, in a slot with no such task, its newest task when
that one ended by itself and is not restarted (a completed one-shot task, a failure after
``max_attempts``). Tasks Swarm is removing (scaled away, desired ``remove``) and tasks replaced by an update
or a reschedule are not instances.

The older tasks of a slot tell the instance's story: ``restarts`` counts the ones of the same revision
that failed, were rejected or exited; the newest error among them explains a task that is restarting.
A task whose node is down is reported ``unknown`` until Swarm reschedules it.

A pending task that no node may run because of its placement constraints is reported *failed* at once
(readiness waits end with the reason instead of a timeout); pending for lack of resources or because a
host-mode port is still held by a stopping task is only a message, as those resolve by themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from escadre.drivers.base import LABEL_REVISION, LABEL_SERVICE, Health, Instance, InstanceState
from escadre.drivers.engine.client import parse_time

LIVE_DESIRED = frozenset({"running", "ready"})
ENDED = frozenset({"complete", "failed", "rejected"})
STATES: dict[str, InstanceState] = {
    "new": "created",
    "allocated": "created",
    "pending": "created",
    "assigned": "created",
    "accepted": "created",
    "preparing": "created",
    "ready": "created",
    "starting": "starting",
    "running": "running",
    "complete": "exited",
    "shutdown": "exited",
    "failed": "failed",
    "rejected": "failed",
    "remove": "removing",
    "orphaned": "unknown",
}
UNSCHEDULABLE = "scheduling constraints not satisfied"


@dataclass(frozen=True, slots=True)
class NodeInfo:
    id: str
    hostname: str
    state: str = "ready"
    address: str = ""
    role: str = "worker"
    availability: str = "active"


def nodes_by_id(nodes: Iterable[Mapping[str, Any]]) -> dict[str, NodeInfo]:
    out = {}
    for node in nodes:
        status = node.get("Status") or {}
        spec = node.get("Spec") or {}
        out[node["ID"]] = NodeInfo(
            id=node["ID"],
            hostname=str((node.get("Description") or {}).get("Hostname") or node["ID"][:12]),
            state=str(status.get("State") or "unknown"),
            address=str(status.get("Addr") or ""),
            role=str(spec.get("Role") or "worker"),
            availability=str(spec.get("Availability") or "active"),
        )
    return out


def revision_of(task: Mapping[str, Any]) -> str:
    labels = ((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Labels") or {}
    return str(labels.get(LABEL_REVISION, ""))


def service_of(task: Mapping[str, Any]) -> str:
    labels = ((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Labels") or {}
    return str(labels.get(LABEL_SERVICE, ""))


def _order(task: Mapping[str, Any]) -> tuple[str, int]:
    return (str(task.get("CreatedAt", "")), int((task.get("Version") or {}).get("Index", 0)))


def _slot_key(task: Mapping[str, Any]) -> tuple[str, str]:
    slot = task.get("Slot")
    return (str(task.get("ServiceID", "")), str(slot) if slot else f"node:{task.get('NodeID', '')}")


@dataclass(frozen=True, slots=True)
class Current:
    """The newest task of a slot, with what its predecessors say."""

    task: Mapping[str, Any]
    restarts: int
    previous_error: str


def current_tasks(tasks: Iterable[Mapping[str, Any]]) -> list[Current]:
    """The tasks that are instances (see the module docstring), oldest slot first.

    Every task Swarm wants running is one (during a ``start-first`` update a slot briefly has two: the old
    task still serving and its replacement starting); a slot with none is represented by its newest task
    when that one ended by itself and is not restarted."""
    slots: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for task in tasks:
        slots.setdefault(_slot_key(task), []).append(task)
    out: list[Current] = []
    for history in slots.values():
        history.sort(key=_order)
        live = [t for t in history if t.get("DesiredState") in LIVE_DESIRED]
        newest = history[-1]
        if not live and newest.get("DesiredState") == "shutdown" and (newest.get("Status") or {}).get("State") in ENDED:
            live = [newest]
        for task in live:
            revision = revision_of(task)
            older = [t for t in history[: history.index(task)] if revision_of(t) == revision]
            ended = [t for t in older if (t.get("Status") or {}).get("State") in ENDED]
            previous_error = next(
                (
                    str((t.get("Status") or {}).get("Err"))
                    for t in reversed(ended)
                    if (t.get("Status") or {}).get("Err")
                ),
                "",
            )
            out.append(Current(task, len(ended), previous_error))
    return out


def addresses_by_network(task: Mapping[str, Any]) -> dict[str, str]:
    """The task's IP on each network it is attached to (the ingress network left out)."""
    out: dict[str, str] = {}
    for attachment in task.get("NetworksAttachments") or []:
        network = attachment.get("Network") or {}
        name = str((network.get("Spec") or {}).get("Name") or "")
        if not name or (network.get("Spec") or {}).get("Ingress"):
            continue
        for address in attachment.get("Addresses") or []:
            out.setdefault(name, str(address).split("/")[0])
    return out


def _health(task: Mapping[str, Any], state: str) -> Health:
    test = (((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Healthcheck") or {}).get("Test") or []
    if not test or test[0] == "NONE":
        return "none"
    if state == "running":
        return "healthy"  # Swarm reports a task running only once its health check passed
    if state == "starting":
        return "starting"
    return "none"


def instance(
    current: Current, service_name: str, nodes: Mapping[str, NodeInfo], networks: Sequence[str] = ()
) -> Instance:
    """``current`` as an ``Instance``; ``networks`` orders (and limits) its addresses."""
    task = current.task
    status = task.get("Status") or {}
    raw = str(status.get("State") or "unknown")
    node = nodes.get(str(task.get("NodeID") or ""))
    state: InstanceState = STATES.get(raw, "unknown")
    health = _health(task, raw)
    if raw == "starting" and health == "starting":
        state = "running"
    err = str(status.get("Err") or "")
    message = err
    if raw == "pending" and UNSCHEDULABLE in err:
        state = "failed"
    if node is not None and node.state == "down" and raw in ("running", "starting", "assigned", "accepted"):
        state = "unknown"
        message = f"node {node.hostname} is down; Swarm reschedules its tasks"
    if not message and current.previous_error and state in ("created", "starting"):
        message = f"restarting after: {current.previous_error}"
    container = status.get("ContainerStatus") or {}
    exit_code = container.get("ExitCode") if raw in ("complete", "failed", "shutdown") else None
    if raw == "complete" and exit_code is None:
        exit_code = 0
    slot = task.get("Slot")
    name = f"{service_name}.{slot}" if slot else f"{service_name}.{node.hostname if node else task.get('NodeID', '')}"
    ports = tuple(
        dict.fromkeys(  # Swarm lists a host-mode binding once per address family
            f"{node.address if node else ''}:{p.get('PublishedPort')}->{p.get('TargetPort')}/{p.get('Protocol', 'tcp')}"
            for p in (status.get("PortStatus") or {}).get("Ports") or []
        )
    )
    found = addresses_by_network(task)
    order = [n for n in networks if n in found] or sorted(found)
    return Instance(
        id=str(task.get("ID", "")),
        name=name,
        service=service_of(task),
        revision=revision_of(task),
        state=state,
        health=health,
        exit_code=int(exit_code) if exit_code is not None and state in ("exited", "failed") else None,
        restarts=current.restarts,
        node=node.hostname if node else None,
        ports=ports,
        started_at=parse_time(str(status.get("Timestamp") or "")) if raw == "running" else None,
        message=message[:300],
        addresses=tuple(found[n] for n in order),
    )


def unschedulable(tasks: Iterable[Mapping[str, Any]]) -> str | None:
    """The scheduler's reason when a task is pending because no node may run it, else ``None``."""
    for task in tasks:
        status = task.get("Status") or {}
        if status.get("State") == "pending" and task.get("DesiredState") in LIVE_DESIRED:
            err = str(status.get("Err") or "")
            if err.startswith("no suitable node") and "host-mode port already in use" not in err:
                return err
    return None


def start_failure(tasks: Iterable[Mapping[str, Any]]) -> str | None:
    """The error of a task that could not start (a port taken, an image missing on its node), else ``None``."""
    for task in tasks:
        status = task.get("Status") or {}
        if status.get("State") in ("failed", "rejected") and status.get("Err"):
            return str(status["Err"])
    return None


__all__ = [
    "Current",
    "NodeInfo",
    "addresses_by_network",
    "current_tasks",
    "instance",
    "nodes_by_id",
    "revision_of",
    "start_failure",
    "unschedulable",
]
