"""Escadre's own canary on Kubernetes: the rollout engine driving the Kubernetes driver on the fake API.

The weights are read back from the API server's history of the HTTPRoute (its watch event log), so the
test sees exactly what a Gateway implementation would have been told, in order. Time is fake for pauses
(the engine's clock) and real for the simulated controller (pods become ready after a fraction of a
second): each engine sleep also waits a little real time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from escadre.core.progress import CollectingProgress, NullProgress
from escadre.drivers.kubernetes.driver import KubernetesDriver
from escadre.model.project import Project
from escadre.model.revision import Revision
from escadre.rollout.engine import EngineDeps, RolloutEngine
from escadre.state.store import StateStore
from tests.drivers.conformance import revision_of
from tests.drivers.kubernetes.conftest import NAMESPACE
from tests.drivers.kubernetes.fakeapi import FakeCluster
from tests.drivers.kubernetes.test_driver import routed

CANARY = {
    "strategy": "canary",
    "scale_down_delay": 0,
    "steps": [{"set_weight": 20}, {"pause": "10s"}, {"set_weight": 60}, {"pause": "10s"}],
}


@dataclass
class Clock:
    now: float = 1_000.0
    hooks: list[tuple[float, Callable[[], None]]] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        time.sleep(0.005)
        self.now += max(seconds, 0.05)
        due = [h for h in self.hooks if h[0] <= self.now]
        self.hooks = [h for h in self.hooks if h[0] > self.now]
        for _, fn in due:
            fn()

    def at(self, delay: float, fn: Callable[[], None]) -> None:
        self.hooks.append((self.now + delay, fn))


@dataclass
class Rig:
    cluster: FakeCluster
    driver: KubernetesDriver
    store: StateStore
    clock: Clock

    def start(self, v1: Project, v2: Project) -> tuple[RolloutEngine, Revision, Revision]:
        self.driver.ensure_shared(v1, NullProgress())
        stable = replace(revision_of(self.driver, v1, "web"), service_model=v1.services["web"])
        self.driver.apply_revision(v1, stable, 2, NullProgress())
        canary = revision_of(self.driver, v2, "web")
        record = self.store.start_deployment(
            "traffic", "fake", "web", canary.id, from_revision=stable.id, strategy="canary"
        )
        deps = EngineDeps(
            self.store,
            self.driver,
            CollectingProgress(),
            "fake",
            wait_timeout=60,
            clock=self.clock.clock,
            wall=self.clock.clock,
            sleep=self.clock.sleep,
        )
        return RolloutEngine(deps, v2, record, canary, stable, replicas=2), canary, stable

    def weights(self) -> list[dict[str, int]]:
        """Every distinct backend weighting the HTTPRoute had, in order."""
        out: list[dict[str, int]] = []
        for _, _, plural, _, kind, obj in self.cluster.store.events:
            if plural == "httproutes" and kind != "DELETED":
                refs = {b["name"]: b.get("weight", 1) for b in obj["spec"]["rules"][0]["backendRefs"]}
                if not out or out[-1] != refs:
                    out.append(refs)
        return out

    def deployments(self) -> list[str]:
        return self.cluster.names("Deployment", NAMESPACE)


@pytest.fixture
def rig(cluster: FakeCluster, kube: KubernetesDriver, tmp_path: Path) -> Iterator[Rig]:
    store = StateStore.open(f"sqlite:///{tmp_path}/state.db")
    yield Rig(cluster, kube, store, Clock())
    store.close()


def versions(rollout: dict[str, Any], **kwargs: Any) -> tuple[Project, Project]:
    from escadre.model.settings import ServiceSettings

    settings = ServiceSettings.model_validate({"rollout": rollout})
    v1, v2 = routed(env="1", **kwargs), routed(env="2", **kwargs)
    svc = replace(v2.services["web"], settings=settings)
    return v1, replace(v2, services={"web": svc})


def test_a_canary_moves_http_route_weights_and_ends_on_the_new_revision(rig: Rig) -> None:
    v1, v2 = versions(CANARY)
    engine, canary, _stable = rig.start(v1, v2)
    assert engine.run() == "succeeded"
    assert rig.weights() == [
        {"web": 100},
        {"web": 80, "web-canary": 20},
        {"web": 40, "web-canary": 60},
        {"web": 0, "web-canary": 100},
        {"web": 100},  # promoted: <web> now selects the new revision
    ]
    service = rig.cluster.get("Service", NAMESPACE, "web")
    assert service["spec"]["selector"]["escadre.revision"] == canary.id
    assert rig.deployments() == [f"web-{canary.id}"]
    assert "web-canary" not in rig.cluster.names("Service", NAMESPACE)


def test_an_aborted_canary_sends_traffic_back_to_stable_first(rig: Rig) -> None:
    v1, v2 = versions(CANARY)
    engine, canary, stable = rig.start(v1, v2)
    rig.clock.at(5, lambda: rig.store.add_command(engine.deployment.id, "abort", actor="ops"))
    assert engine.run() == "aborted"
    assert rig.weights()[-2:] == [{"web": 80, "web-canary": 20}, {"web": 100}]
    assert rig.cluster.get("Service", NAMESPACE, "web")["spec"]["selector"]["escadre.revision"] == stable.id
    assert rig.deployments() == [f"web-{stable.id}"]
    assert "web-canary" not in rig.cluster.names("Service", NAMESPACE)
    # the route went back to stable before the canary's Deployment was deleted
    events = rig.cluster.store.events
    back = max(e[0] for e in events if e[2] == "httproutes")
    gone = max(
        e[0]
        for e in events
        if e[2] == "deployments" and e[4] == "DELETED" and e[5]["metadata"]["name"] == f"web-{canary.id}"
    )
    assert back < gone


def test_a_failing_canary_is_rolled_back_with_the_reason(rig: Rig) -> None:
    v1, v2 = versions(CANARY)
    engine, canary, stable = rig.start(v1, v2)
    rig.cluster.controller.script("crashloop", revision=canary.id)
    assert engine.run() == "aborted"
    record = rig.store.get_deployment(engine.deployment.id)
    assert record is not None and "CrashLoopBackOff" in record.message
    assert rig.deployments() == [f"web-{stable.id}"]
    assert rig.weights()[-1] == {"web": 100}


def test_without_a_gateway_a_rolling_update_goes_by_replica_ratio(rig: Rig) -> None:
    v1, v2 = versions({"strategy": "rolling"}, gateway=None)
    engine, canary, _ = rig.start(v1, v2)
    assert engine.run() == "succeeded"
    assert rig.weights() == []
    assert "escadre.revision" not in rig.cluster.get("Service", NAMESPACE, "web")["spec"]["selector"]
    assert rig.deployments() == [f"web-{canary.id}"]


def test_without_a_gateway_a_canary_goes_by_replica_ratio(rig: Rig) -> None:
    v1, v2 = versions(CANARY, gateway=None)
    engine, canary, _ = rig.start(v1, v2)
    assert engine.run() == "succeeded"
    assert rig.weights() == []
    assert rig.deployments() == [f"web-{canary.id}"]
