"""The live driver through the official client against the fake API server: apply, prune, observe,
failures with their reasons, logs, traffic."""

from __future__ import annotations

import base64
import contextlib
import queue
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from escadre.core.errors import OperationFailed, SpecError, UsageError
from escadre.core.progress import CollectingProgress, NullProgress
from escadre.drivers.base import LogLine, TrafficPlan
from escadre.drivers.kubernetes.driver import KubernetesDriver, from_target_config
from escadre.drivers.kubernetes.observe import revisions
from escadre.model.project import Port, Project, Service, frozen_map
from escadre.model.settings import ServiceSettings
from escadre.rollout.readiness import wait_for
from tests.drivers.conformance import eventually, revision_of
from tests.drivers.kubernetes.conftest import NAMESPACE
from tests.drivers.kubernetes.fakeapi import FakeCluster
from tests.drivers.kubernetes.helpers import load_fixture
from tests.support import project, service


def managers(obj: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["manager"], e["operation"]) for e in obj["metadata"].get("managedFields") or []}


def deploy(driver: KubernetesDriver, proj: Project, name: str, replicas: int | None = None) -> str:
    rev = revision_of(driver, proj, name)
    driver.apply_revision(proj, rev, proj.services[name].replicas if replicas is None else replicas, NullProgress())
    return rev.id


# ------------------------------------------------------------------------------ apply and prune


def test_ensure_shared_applies_everything_server_side_and_creates_secrets_from_files(
    kube: KubernetesDriver, cluster: FakeCluster
) -> None:
    proj = load_fixture("basic")
    progress = CollectingProgress()
    kube.ensure_shared(proj, progress)
    names = {
        (o["kind"], o["metadata"]["name"])
        for k in ("Service", "NetworkPolicy", "ConfigMap", "Secret", "PersistentVolumeClaim", "PodDisruptionBudget")
        for o in cluster.list(k, NAMESPACE)
    }
    assert {
        ("Service", "api"),
        ("Service", "web"),
        ("NetworkPolicy", "basic-back"),
        ("Secret", "basic-db-password"),
    } <= names
    assert ("ConfigMap", "basic-api-conf") in names and ("PersistentVolumeClaim", "basic-db-data") in names
    secret = cluster.get("Secret", NAMESPACE, "basic-db-password")
    value = (Path(proj.working_dir) / "db_password.txt").read_bytes()
    assert base64.b64decode(secret["data"]["db_password"]) == value
    assert managers(secret) == {("escadre", "Apply")}
    assert value.decode().strip() not in repr(progress.events)  # never in progress output
    warned = {e.subject for e in progress.events if e.action == "approximated" and e.status == "warning"}
    assert "services.api.depends_on" in warned  # value-level approximations are said, as render says them
    created = {e.subject for e in progress.events if e.action == "created"}
    assert {
        "network basic_back",
        "volume basic_db-data",
        "secret basic_db_password",
        "config basic_api_conf",
    } <= created


def test_applying_again_changes_nothing(kube: KubernetesDriver, cluster: FakeCluster) -> None:
    proj = load_fixture("basic")
    kube.ensure_shared(proj, NullProgress())
    deploy(kube, proj, "api")
    before = cluster.store.rv
    progress = CollectingProgress()
    kube.ensure_shared(proj, progress)
    deploy(kube, proj, "api")
    writes = [e for e in cluster.store.events if e[0] > before and e[2] != "pods"]
    assert [(e[2], e[4]) for e in writes if e[2] != "deployments" or e[4] != "MODIFIED"] == []
    assert not [e for e in progress.events if e.action in ("created", "updated", "applied")]


def test_prune_removes_what_the_app_no_longer_has_but_keeps_claims(
    kube: KubernetesDriver, cluster: FakeCluster
) -> None:
    proj = load_fixture("basic")
    kube.ensure_shared(proj, NullProgress())
    services = {k: v for k, v in proj.services.items() if k != "web"}
    api = replace(
        proj.services["api"], configs=(), networks=tuple(n for n in proj.services["api"].networks if n.name != "front")
    )
    services["api"] = api
    smaller = replace(
        proj,
        services=frozen_map(services),
        configs=frozen_map({}),
        networks=frozen_map({k: v for k, v in proj.networks.items() if k != "front"}),
    )
    progress = CollectingProgress()
    kube.ensure_shared(smaller, progress)
    assert cluster.names("ConfigMap", NAMESPACE) == []
    assert "basic-front" not in cluster.names("NetworkPolicy", NAMESPACE)
    assert "web" not in cluster.names("Service", NAMESPACE)
    assert cluster.names("PersistentVolumeClaim", NAMESPACE) == ["basic-db-data"]
    removed = {e.subject for e in progress.events if e.action == "removed"}
    assert {"config basic_api_conf", "network basic_front", "Service web"} <= removed


def test_someone_elses_fields_survive_and_escadres_are_taken_back(kube: KubernetesDriver, cluster: FakeCluster) -> None:
    proj = project("own", service("web", replicas=2))
    kube.ensure_shared(proj, NullProgress())
    rev = deploy(kube, proj, "web")
    name = f"web-{rev}"
    current = cluster.get("Deployment", NAMESPACE, name)
    current["metadata"]["annotations"]["team.example.com/owner"] = "payments"
    current["spec"]["replicas"] = 5
    res = cluster.catalog.by_kind["Deployment"]
    cluster.store.replace(res, NAMESPACE, name, current, "kubectl-edit")
    deploy(kube, proj, "web")
    after = cluster.get("Deployment", NAMESPACE, name)
    assert after["metadata"]["annotations"]["team.example.com/owner"] == "payments"
    assert after["spec"]["replicas"] == 2
    assert ("escadre", "Apply") in managers(after)


def test_external_objects_must_exist(kube: KubernetesDriver) -> None:
    with pytest.raises(
        UsageError, match="secret 'api_token' is external, but Secret 'shared-api-token' does not exist"
    ):
        kube.ensure_shared(load_fixture("jobs"), NullProgress())


def test_images_are_resolved_not_built(kube: KubernetesDriver, tmp_path: Path) -> None:
    proj = load_fixture("basic")
    pinned = kube.prepare_image(proj, "api", NullProgress())
    assert pinned.id is not None and pinned.id.startswith("sha256:")
    assert kube.prepare_image(proj, "web", NullProgress()).id == "nginx:1.27"
    build_only = project("b", replace(service("web"), spec=frozen_map({"build": {"context": "."}})))
    object.__setattr__(build_only.services["web"], "build", object())
    assert kube.prepare_image(build_only, "web", NullProgress(), dry_run=True).id is None
    with pytest.raises(SpecError, match="cannot use an image built here"):
        kube.prepare_image(build_only, "web", NullProgress())


# ------------------------------------------------------------------------------------- observe


@pytest.mark.parametrize(
    ("script", "state", "message"),
    [
        ("crashloop", "failed", "CrashLoopBackOff: back-off 10s restarting failed container=web"),
        ("imagepull", "failed", 'ImagePullBackOff: Back-off pulling image "escadre-test/busybox:1"'),
        ("unschedulable", "created", "not scheduled: 0/1 nodes are available: 1 Insufficient memory."),
    ],
)
def test_pod_failures_are_reported_with_their_reason(
    kube: KubernetesDriver, cluster: FakeCluster, script: str, state: str, message: str
) -> None:
    proj = project("fail", service("web"))
    cluster.controller.script(script, service="web")
    kube.ensure_shared(proj, NullProgress())
    rev = deploy(kube, proj, "web")

    def reported() -> bool:
        status = kube.observe("fail", "web").revision("web", rev)
        return status is not None and status.instances[0].state == state and message in status.instances[0].message

    eventually(reported, timeout=5)


def test_a_rollout_wait_fails_fast_with_the_reason(kube: KubernetesDriver, cluster: FakeCluster) -> None:
    proj = project("fast", service("web", healthy_after=0))
    cluster.controller.script("imagepull", service="web")
    kube.ensure_shared(proj, NullProgress())
    rev = deploy(kube, proj, "web")
    with pytest.raises(OperationFailed, match="ImagePullBackOff"):
        wait_for(kube, "fast", "web", rev, 1, "ready", timeout=10)


def test_never_ready_pods_are_starting_and_the_wait_times_out(kube: KubernetesDriver, cluster: FakeCluster) -> None:
    proj = project("slow", service("web", healthy_after=0))
    cluster.controller.script("never-ready", service="web")
    kube.ensure_shared(proj, NullProgress())
    rev = deploy(kube, proj, "web")
    with pytest.raises(OperationFailed, match=r"not ready within 1s \(0/1"):
        wait_for(kube, "slow", "web", rev, 1, "ready", timeout=1)
    (inst,) = kube.observe("slow", "web").for_service("web")[0].instances
    assert (inst.state, inst.health) == ("running", "starting")
    assert inst.addresses and inst.addresses[0].startswith("10.244.")


def test_missing_pods_are_placeholders_until_the_controller_catches_up() -> None:
    deployment = {
        "kind": "Deployment",
        "metadata": {
            "name": "web-abc",
            "uid": "u1",
            "generation": 3,
            "labels": {"escadre.service": "web", "escadre.revision": "abc"},
            "annotations": {"escadre.dev/replicas": "2"},
        },
        "spec": {
            "replicas": 2,
            "template": {
                "metadata": {"labels": {"escadre.service": "web", "escadre.revision": "abc"}},
                "spec": {"containers": [{"image": "x"}]},
            },
        },
        "status": {"observedGeneration": 2},
    }
    (status,) = revisions([deployment], [])
    assert status.desired == 2 and [i.state for i in status.instances] == ["created", "created"]
    assert "has not seen generation 3" in status.instances[0].message
    deployment["status"] = {
        "observedGeneration": 3,
        "conditions": [
            {
                "type": "ReplicaFailure",
                "status": "True",
                "reason": "FailedCreate",
                "message": 'pods "web-abc-x" is forbidden: violates PodSecurity "restricted"',
            }
        ],
    }
    (status,) = revisions([deployment], [])
    assert status.instances[0].state == "failed" and "violates PodSecurity" in status.instances[0].message


def test_jobs_complete_and_are_rerun_only_when_their_size_changes(kube: KubernetesDriver, cluster: FakeCluster) -> None:
    once = replace(service("once", command=("sh", "-c", "echo migrated")), restart="no")
    proj = project("jobs", once)
    kube.ensure_shared(proj, NullProgress())
    rev = deploy(kube, proj, "once")
    eventually(
        lambda: all(i.completed for i in kube.observe("jobs", "once").for_service("once")[0].instances), timeout=5
    )
    uid = cluster.get("Job", NAMESPACE, f"once-{rev}")["metadata"]["uid"]
    deploy(kube, proj, "once")
    assert cluster.get("Job", NAMESPACE, f"once-{rev}")["metadata"]["uid"] == uid
    deploy(kube, proj, "once", replicas=2)
    assert cluster.get("Job", NAMESPACE, f"once-{rev}")["metadata"]["uid"] != uid
    eventually(lambda: len(kube.observe("jobs", "once").for_service("once")[0].instances) == 2, timeout=5)


def test_a_statefulset_is_updated_in_place(kube: KubernetesDriver, cluster: FakeCluster) -> None:
    proj = load_fixture("stateful")
    claim = {"metadata": {"name": "legacy-claim"}, "spec": {"accessModes": ["ReadWriteOnce"]}}
    cluster.store.create(cluster.catalog.by_kind["PersistentVolumeClaim"], NAMESPACE, claim)
    kube.ensure_shared(proj, NullProgress())
    first = deploy(kube, proj, "db")
    assert cluster.names("StatefulSet", NAMESPACE) == ["db"]
    assert {f"pgdata-db-{i}" for i in range(3)} <= set(cluster.names("PersistentVolumeClaim", NAMESPACE))
    db = replace(
        proj.services["db"],
        environment=frozen_map({"V": "2"}),
        spec=frozen_map({**proj.services["db"].spec, "environment": {"V": "2"}}),
    )
    second_proj = replace(proj, services=frozen_map({**proj.services, "db": db}))
    second = deploy(kube, second_proj, "db")
    assert second != first and cluster.names("StatefulSet", NAMESPACE) == ["db"]
    kube.remove_revision("stateful", "db", first, NullProgress())  # the old revision: nothing to delete
    assert cluster.names("StatefulSet", NAMESPACE) == ["db"]
    eventually(lambda: [r.revision for r in kube.observe("stateful", "db").revisions] == [second], timeout=5)


# ---------------------------------------------------------------------------------------- logs


def test_logs_are_read_and_followed_across_new_pods(kube: KubernetesDriver, cluster: FakeCluster) -> None:
    proj = project("logs", service("web", command=("sh", "-c", "echo hello-from-web; sleep 100")))
    kube.ensure_shared(proj, NullProgress())
    rev = deploy(kube, proj, "web")
    eventually(lambda: any("hello-from-web" in line.text for line in kube.logs("logs")), timeout=5)
    lines = list(kube.logs("logs", ["web"], tail=1))
    assert len(lines) == 1 and lines[0].service == "web" and lines[0].ts
    stream = kube.logs("logs", follow=True)
    first = next(stream)
    assert first.service == "web"
    kube.apply_revision(proj, revision_of(kube, proj, "web"), 2, NullProgress())
    seen = {first.instance}
    lines: queue.Queue[LogLine] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    deadline = time.monotonic() + 5
    while len(seen) < 2 and time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            seen.add(lines.get(timeout=0.2).instance)
    assert len(seen) == 2 and all(name.startswith(f"web-{rev}") for name in seen)  # the new pod joined


# ------------------------------------------------------------------------------------- traffic


def routed(name: str = "web", *, gateway: str | None = "infra/public", env: str = "1") -> Project:
    settings = ServiceSettings.model_validate({"rollout": {"strategy": "canary", "steps": [{"set_weight": 20}]}})
    expose: dict[str, Any] = {"host": "web.example.com"}
    if gateway:
        expose["gateway"] = gateway
    else:
        expose["ingress_class"] = "nginx"
    svc: Service = service(
        name,
        ports=(Port(8080),),
        environment={"V": env},
        extra_spec={"x-kubernetes": {"expose": expose}, "ports": [{"target": 8080}]},
    )
    return project("traffic", replace(svc, settings=settings))


def weights(cluster: FakeCluster) -> list[tuple[str, int]]:
    route = cluster.get("HTTPRoute", NAMESPACE, "web")
    return [(b["name"], b["weight"]) for b in route["spec"]["rules"][0]["backendRefs"]]


def test_gateway_traffic_sets_http_route_weights_and_selectors(kube: KubernetesDriver, cluster: FakeCluster) -> None:
    v1, v2 = routed(env="1"), routed(env="2")
    kube.ensure_shared(v1, NullProgress())
    r1, r2 = deploy(kube, v1, "web"), deploy(kube, v2, "web")
    assert kube.route(v2, "web", TrafficPlan(stable=r1, canary=r2, canary_weight=20), NullProgress()) is True
    assert weights(cluster) == [("web", 80), ("web-canary", 20)]
    assert cluster.get("Service", NAMESPACE, "web")["spec"]["selector"]["escadre.revision"] == r1
    assert cluster.get("Service", NAMESPACE, "web-canary")["spec"]["selector"]["escadre.revision"] == r2
    kube.ensure_shared(v2, NullProgress())  # up in the middle of a rollout keeps the rollout's choices
    assert weights(cluster) == [("web", 80), ("web-canary", 20)]
    assert cluster.get("Service", NAMESPACE, "web")["spec"]["selector"]["escadre.revision"] == r1
    kube.route(v2, "web", TrafficPlan(stable=r2), NullProgress())
    assert weights(cluster) == [("web", 100)]
    assert "web-canary" not in cluster.names("Service", NAMESPACE)
    assert cluster.get("Service", NAMESPACE, "web")["spec"]["selector"]["escadre.revision"] == r2


def test_ingress_nginx_traffic_uses_a_canary_ingress(kubeconfig: Path, cluster: FakeCluster) -> None:
    kube = KubernetesDriver("fake", kubeconfig=str(kubeconfig), namespace=NAMESPACE, traffic="ingress-nginx")
    v1, v2 = routed(gateway=None, env="1"), routed(gateway=None, env="2")
    kube.ensure_shared(v1, NullProgress())
    r1, r2 = deploy(kube, v1, "web"), deploy(kube, v2, "web")
    assert kube.route(v2, "web", TrafficPlan(stable=r1, canary=r2, canary_weight=30), NullProgress())
    canary = cluster.get("Ingress", NAMESPACE, "web-canary")
    assert canary["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary"] == "true"
    assert canary["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "30"
    assert canary["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "web-canary"
    kube.route(v2, "web", TrafficPlan(stable=r2), NullProgress())
    assert cluster.names("Ingress", NAMESPACE) == ["web"]


def test_replica_ratio_when_no_gateway_is_known(kube: KubernetesDriver, cluster: FakeCluster) -> None:
    v1 = routed(gateway=None)
    kube.ensure_shared(v1, NullProgress())
    r1 = deploy(kube, v1, "web")
    assert kube.route(v1, "web", TrafficPlan(stable=r1, canary="x", canary_weight=50), NullProgress()) is False
    assert "escadre.revision" not in cluster.get("Service", NAMESPACE, "web")["spec"]["selector"]
    assert kube.traffic_mode(v1, "web") == "replicas"


def test_the_autoscaler_follows_the_stable_revision(kube: KubernetesDriver, cluster: FakeCluster) -> None:
    settings = ServiceSettings.model_validate({"autoscale": {"min_replicas": 2, "max_replicas": 5, "cpu": 60}})
    v1 = project("hpa", replace(service("api", replicas=2, environment={"V": "1"}), settings=settings))
    v2 = project("hpa", replace(service("api", replicas=2, environment={"V": "2"}), settings=settings))
    kube.ensure_shared(v1, NullProgress())
    r1, r2 = deploy(kube, v1, "api"), deploy(kube, v2, "api")
    assert kube.route(v2, "api", TrafficPlan(stable=r1, canary=r2, canary_weight=10), NullProgress()) is False
    assert cluster.get("HorizontalPodAutoscaler", NAMESPACE, "api")["spec"]["scaleTargetRef"]["name"] == f"api-{r1}"
    kube.route(v2, "api", TrafficPlan(stable=r2), NullProgress())
    assert cluster.get("HorizontalPodAutoscaler", NAMESPACE, "api")["spec"]["scaleTargetRef"]["name"] == f"api-{r2}"
    kube.ensure_shared(v2, NullProgress())  # kept, still aimed at the stable revision
    assert cluster.get("HorizontalPodAutoscaler", NAMESPACE, "api")["spec"]["scaleTargetRef"]["name"] == f"api-{r2}"


# ----------------------------------------------------------------------------------- target config


def test_target_config_and_info(kubeconfig: Path) -> None:
    driver = from_target_config(
        "prod", {"kubeconfig": str(kubeconfig), "context": "fake", "namespace": NAMESPACE, "traffic": "replicas"}
    )
    info = driver.info()
    assert (info.kind, info.name) == ("kubernetes", "prod")
    assert info.endpoint.startswith("http://127.0.0.1:")
    assert info.version == "v1.31.0-escadre-fake"
    assert info.details["namespace"] == NAMESPACE and info.details["traffic"] == "replicas"
    assert driver._version() == "1.31"
    with pytest.raises(UsageError, match="unknown Kubernetes setting"):
        from_target_config("prod", {"kubeconfig": str(kubeconfig), "host": "tcp://x"})
    with pytest.raises(UsageError, match="unknown traffic mode"):
        from_target_config("prod", {"traffic": "magic"})


def test_namespace_per_app_is_created_labelled_and_removed_with_volumes(kubeconfig: Path, cluster: FakeCluster) -> None:
    driver = KubernetesDriver("fake", kubeconfig=str(kubeconfig))
    proj = project("Per_App", service("web"), volumes=["data"])
    driver.ensure_shared(proj, NullProgress())
    assert cluster.get("Namespace", None, "per-app")["metadata"]["labels"]["escadre.app"] == "Per_App"
    assert driver.list_apps() == ["Per_App"]
    driver.remove_app("Per_App", NullProgress())
    assert "per-app" in cluster.names("Namespace")
    driver.remove_app("Per_App", NullProgress(), volumes=True)
    assert "per-app" not in cluster.names("Namespace")
    assert driver.list_apps() == []


def test_a_volume_removed_from_the_compose_file_keeps_its_claim(kube: KubernetesDriver, cluster: FakeCluster) -> None:
    kube.ensure_shared(project("vols", service("web"), volumes=["data"]), NullProgress())
    kube.ensure_shared(project("vols", service("web")), NullProgress())
    assert cluster.names("PersistentVolumeClaim", NAMESPACE) == ["vols-data"]  # only down -v deletes data


def test_blue_green_preview_service(kube: KubernetesDriver, cluster: FakeCluster) -> None:
    v1, v2 = routed(env="1"), routed(env="2")
    kube.ensure_shared(v1, NullProgress())
    r1, r2 = deploy(kube, v1, "web"), deploy(kube, v2, "web")
    kube.route(v2, "web", TrafficPlan(stable=r1, canary=r2, preview=r2), NullProgress())
    assert cluster.get("Service", NAMESPACE, "web-preview")["spec"]["selector"]["escadre.revision"] == r2
    assert weights(cluster) == [("web", 100)]  # the preview gets no production traffic
    kube.route(v2, "web", TrafficPlan(stable=r2), NullProgress())
    assert "web-preview" not in cluster.names("Service", NAMESPACE)


def test_min_ready_seconds_counts_only_available_pods() -> None:
    def pod(name: str) -> dict[str, Any]:
        return {
            "metadata": {
                "name": name,
                "uid": name,
                "labels": {"escadre.service": "web", "escadre.revision": "abc"},
                "ownerReferences": [{"uid": "d1"}],
            },
            "spec": {"containers": [{"name": "web", "readinessProbe": {}}]},
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "web", "state": {"running": {}}}],
            },
        }

    deployment = {
        "kind": "Deployment",
        "metadata": {
            "name": "web-abc",
            "uid": "d1",
            "generation": 1,
            "labels": {"escadre.service": "web", "escadre.revision": "abc"},
        },
        "spec": {"replicas": 2, "minReadySeconds": 15},
        "status": {"observedGeneration": 1, "availableReplicas": 1},
    }
    (status,) = revisions([deployment], [pod("a"), pod("b")])
    assert status.ready == 1
    assert "not yet available" in next(i for i in status.instances if not i.ready).message
