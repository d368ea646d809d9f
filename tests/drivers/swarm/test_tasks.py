"""Swarm tasks read back as instances, on a corpus of real daemon JSON (``capture_tasks.py`` records it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from escadre.drivers.base import RevisionStatus
from escadre.drivers.swarm.tasks import (
    addresses_by_network,
    current_tasks,
    instance,
    nodes_by_id,
    start_failure,
    unschedulable,
)
from escadre.rollout.readiness import judge

DATA = Path(__file__).parent / "data" / "tasks"


def corpus(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())


def instances(name: str) -> list[Any]:
    doc = corpus(name)
    nodes = nodes_by_id(doc["nodes"])
    return [instance(c, doc["service"]["Spec"]["Name"], nodes) for c in current_tasks(doc["tasks"])]


def test_a_task_that_failed_after_its_last_restart_is_a_failed_instance_with_its_history() -> None:
    (inst,) = instances("restarts")
    assert inst.state == "failed" and inst.exit_code == 3
    assert inst.restarts == 2 and inst.message == "task: non-zero exit (3)"
    assert inst.service == "web" and inst.revision == "r1" and inst.name == "corpus_restarts.1"
    verdict = judge(RevisionStatus("web", "r1", 1, (inst,)), 1, "ready")
    assert verdict.failure is not None and "exited with code 3" in verdict.failure


def test_a_completed_one_shot_task_is_a_completed_instance() -> None:
    (inst,) = instances("oneshot")
    assert inst.completed and inst.exit_code == 0 and inst.node == "vm"
    assert judge(RevisionStatus("web", "r1", 1, (inst,)), 1, "completed").done


def test_tasks_being_scaled_away_are_not_instances() -> None:
    (inst,) = instances("scaled")
    assert inst.name == "corpus_scaled.1" and inst.state == "running" and inst.started_at


def test_a_constraint_no_node_satisfies_fails_at_once() -> None:
    doc = corpus("unschedulable")
    (inst,) = instances("unschedulable")
    assert inst.state == "failed" and "scheduling constraints not satisfied" in inst.message
    assert unschedulable(doc["tasks"]) == "no suitable node (scheduling constraints not satisfied on 1 node)"


def test_a_task_waiting_for_its_health_check_is_running_and_starting() -> None:
    found = instances("health-starting")
    assert [(i.state, i.health) for i in found] == [("running", "starting")] * 2
    assert all(i.addresses and i.addresses[0].startswith("10.0.") for i in found)
    assert not any(i.ready for i in found)


def test_tasks_of_a_lost_node_give_way_to_their_replacements() -> None:
    doc = corpus("node-down")
    found = instances("node-down")
    down = {n.hostname for n in nodes_by_id(doc["nodes"]).values() if n.state == "down"}
    assert len(found) == 4 and not {i.node for i in found} & down
    assert sorted(i.state for i in found) == ["created", "created", "running", "running"]


def test_a_task_on_a_node_that_is_down_is_unknown() -> None:
    doc = corpus("node-down")
    nodes = nodes_by_id(doc["nodes"])
    lost = next(t for t in doc["tasks"] if nodes[t["NodeID"]].state == "down")
    lost = {**lost, "DesiredState": "running"}  # before Swarm rescheduled it
    (current,) = current_tasks([lost])
    inst = instance(current, "svc", nodes)
    assert inst.state == "unknown" and "is down" in inst.message


def test_start_first_rollbacks_keep_the_old_task_as_the_instance() -> None:
    def task(slot: int, created: str, desired: str, state: str, revision: str, err: str = "") -> dict[str, Any]:
        labels = {"escadre.service": "web", "escadre.revision": revision}
        return {
            "ID": f"t{slot}{created}",
            "CreatedAt": created,
            "ServiceID": "s",
            "Slot": slot,
            "NodeID": "n",
            "DesiredState": desired,
            "Status": {"State": state, "Err": err},
            "Spec": {"ContainerSpec": {"Labels": labels}},
        }

    tasks = [
        task(3, "1", "running", "running", "v1"),
        task(3, "2", "shutdown", "failed", "v2", "task: non-zero exit (3)"),
        task(3, "3", "shutdown", "shutdown", "v1"),
    ]
    (current,) = current_tasks(tasks)
    assert current.task["CreatedAt"] == "1"


def test_start_failures_and_addresses() -> None:
    failed = {"Status": {"State": "failed", "Err": "Bind for 0.0.0.0:8080 failed: port is already allocated"}}
    assert start_failure([failed]) == "Bind for 0.0.0.0:8080 failed: port is already allocated"
    assert start_failure([{"Status": {"State": "running"}}]) is None
    attached = {
        "NetworksAttachments": [
            {"Network": {"Spec": {"Name": "ingress", "Ingress": True}}, "Addresses": ["10.0.0.5/24"]},
            {"Network": {"Spec": {"Name": "app_default"}}, "Addresses": ["10.0.1.7/24"]},
        ]
    }
    assert addresses_by_network(attached) == {"app_default": "10.0.1.7"}


@pytest.mark.parametrize("name", sorted(p.stem for p in DATA.glob("*.json")))
def test_every_corpus_file_reads(name: str) -> None:
    for inst in instances(name):
        assert inst.id and inst.name and inst.service == "web"
