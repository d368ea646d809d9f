"""The fake API server keeps the semantics the driver relies on — checked through the official client's
own typed APIs, as a real API server would be used."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from tests.drivers.kubernetes.conftest import NAMESPACE
from tests.drivers.kubernetes.fakeapi import FakeCluster

APPLY = "application/apply-patch+yaml"


def message(exc: ApiException) -> str:
    return str(json.loads(exc.body)["message"])


@pytest.fixture
def api(cluster: FakeCluster, kubeconfig: Path) -> Iterator[Any]:
    client = kubernetes.config.new_client_from_config(str(kubeconfig))
    yield client
    client.close()


def deployment(name: str = "web", replicas: int = 1, **labels: str) -> dict[str, Any]:
    labels = {"app": name, **labels}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx", "env": [{"name": "A", "value": "1"}]}]},
            },
        },
    }


def test_resource_versions_and_optimistic_concurrency(api: Any) -> None:
    core = kubernetes.client.CoreV1Api(api)
    made = core.create_namespaced_config_map(NAMESPACE, {"metadata": {"name": "c"}, "data": {"a": "1"}})
    first = made.metadata.resource_version
    made.data = {"a": "2"}
    updated = core.replace_namespaced_config_map("c", NAMESPACE, made)
    assert int(updated.metadata.resource_version) > int(first)
    made.metadata.resource_version = first  # stale
    with pytest.raises(ApiException) as info:
        core.replace_namespaced_config_map("c", NAMESPACE, made)
    assert info.value.status == 409 and "has been modified" in info.value.body
    with pytest.raises(ApiException) as exists:
        core.create_namespaced_config_map(NAMESPACE, {"metadata": {"name": "c"}})
    assert exists.value.status == 409


def test_generation_status_subresource_and_observed_generation(api: Any, cluster: FakeCluster) -> None:
    apps = kubernetes.client.AppsV1Api(api)
    apps.create_namespaced_deployment(NAMESPACE, deployment())
    current = apps.read_namespaced_deployment("web", NAMESPACE)
    assert current.metadata.generation == 1 and current.status.observed_generation == 1  # the controller saw it
    apps.patch_namespaced_deployment("web", NAMESPACE, {"metadata": {"labels": {"extra": "x"}}})
    assert apps.read_namespaced_deployment("web", NAMESPACE).metadata.generation == 1  # metadata only
    apps.patch_namespaced_deployment("web", NAMESPACE, {"spec": {"replicas": 3}, "status": {"replicas": 99}})
    after = apps.read_namespaced_deployment("web", NAMESPACE)
    assert after.metadata.generation == 2 and after.status.replicas == 3  # status ignored on the main resource
    apps.patch_namespaced_deployment_status("web", NAMESPACE, {"status": {"observedGeneration": 7}})
    assert apps.read_namespaced_deployment("web", NAMESPACE).metadata.generation == 2


def test_label_selectors(api: Any) -> None:
    core = kubernetes.client.CoreV1Api(api)
    for name, labels in (
        ("a", {"tier": "web", "env": "prod"}),
        ("b", {"tier": "db", "env": "prod"}),
        ("c", {"tier": "web"}),
    ):
        core.create_namespaced_config_map(NAMESPACE, {"metadata": {"name": name, "labels": labels}})

    def names(selector: str) -> list[str]:
        return [c.metadata.name for c in core.list_namespaced_config_map(NAMESPACE, label_selector=selector).items]

    assert names("tier=web") == ["a", "c"]
    assert names("tier!=web") == ["b"]
    assert names("tier in (web,db),env") == ["a", "b"]
    assert names("tier notin (db),!env") == ["c"]


def test_server_side_apply_creates_merges_removes_and_conflicts(api: Any, cluster: FakeCluster) -> None:
    apps = kubernetes.client.AppsV1Api(api)
    created = apps.patch_namespaced_deployment(
        "web", NAMESPACE, deployment(), field_manager="escadre", _content_type=APPLY
    )
    assert created.metadata.generation == 1
    assert [(m.manager, m.operation) for m in created.metadata.managed_fields] == [("escadre", "Apply")]
    # another manager adds a label and an env var: both survive escadre's next apply
    apps.patch_namespaced_deployment(
        "web",
        NAMESPACE,
        {"metadata": {"labels": {"owner": "ops"}}},
        field_manager="kubectl",
        _content_type="application/merge-patch+json",
    )
    body = deployment(replicas=2)
    body["spec"]["template"]["spec"]["containers"][0]["env"] = []  # escadre no longer sets A
    merged = apps.patch_namespaced_deployment("web", NAMESPACE, body, field_manager="escadre", _content_type=APPLY)
    assert merged.metadata.labels["owner"] == "ops"
    assert merged.spec.replicas == 2 and merged.metadata.generation == 2
    assert not merged.spec.template.spec.containers[0].env  # removed: escadre owned it and stopped applying it
    # a field another manager applied with a different value: 409 unless forced
    apps.patch_namespaced_deployment(
        "web",
        NAMESPACE,
        {**deployment(replicas=5), "metadata": {"name": "web"}},
        field_manager="hpa-like",
        force=True,
        _content_type=APPLY,
    )
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment(
            "web", NAMESPACE, deployment(replicas=2), field_manager="escadre", _content_type=APPLY
        )
    assert info.value.status == 409 and 'conflict with "hpa-like": .spec.replicas' in message(info.value)
    forced = apps.patch_namespaced_deployment(
        "web", NAMESPACE, deployment(replicas=2), field_manager="escadre", force=True, _content_type=APPLY
    )
    assert forced.spec.replicas == 2
    unchanged = apps.patch_namespaced_deployment(
        "web", NAMESPACE, deployment(replicas=2), field_manager="escadre", force=True, _content_type=APPLY
    )
    assert unchanged.metadata.generation == forced.metadata.generation  # nothing changed: no new generation


def test_watch_streams_changes_from_a_resource_version(api: Any) -> None:
    core = kubernetes.client.CoreV1Api(api)
    start = core.list_namespaced_config_map(NAMESPACE).metadata.resource_version
    core.create_namespaced_config_map(NAMESPACE, {"metadata": {"name": "w", "labels": {"x": "1"}}})
    core.patch_namespaced_config_map("w", NAMESPACE, {"data": {"k": "v"}})
    core.delete_namespaced_config_map("w", NAMESPACE)
    core.create_namespaced_config_map(NAMESPACE, {"metadata": {"name": "other"}})
    watch = kubernetes.watch.Watch()
    events = [
        (e["type"], e["object"].metadata.name)
        for e in watch.stream(
            core.list_namespaced_config_map, NAMESPACE, label_selector="x=1", resource_version=start, timeout_seconds=1
        )
    ]
    assert events == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


def test_deletion_cascades_to_owned_objects_and_namespaces(api: Any, cluster: FakeCluster) -> None:
    apps = kubernetes.client.AppsV1Api(api)
    core = kubernetes.client.CoreV1Api(api)
    apps.create_namespaced_deployment(NAMESPACE, deployment(replicas=2))
    assert len(core.list_namespaced_pod(NAMESPACE, label_selector="app=web").items) == 2
    apps.delete_namespaced_deployment("web", NAMESPACE, propagation_policy="Background")
    assert core.list_namespaced_pod(NAMESPACE).items == []
    core.create_namespace({"metadata": {"name": "gone"}})
    core.create_namespaced_config_map("gone", {"metadata": {"name": "c"}})
    core.delete_namespace("gone")
    assert cluster.names("ConfigMap", "gone") == []
    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map("gone", {"metadata": {"name": "c"}})
    assert info.value.status == 404 and message(info.value) == 'namespaces "gone" not found'


def test_discovery_version_and_the_optional_gateway_api(api: Any, tmp_path: Path) -> None:
    assert kubernetes.client.VersionApi(api).get_code().minor == "31"
    groups = {g.name for g in kubernetes.client.ApisApi(api).get_api_versions().groups}
    assert {"apps", "batch", "gateway.networking.k8s.io"} <= groups
    with FakeCluster(gateway_api=False) as bare:
        client = kubernetes.config.new_client_from_config(str(bare.kubeconfig(tmp_path / "kc")))
        assert "gateway.networking.k8s.io" not in {
            g.name for g in kubernetes.client.ApisApi(client).get_api_versions().groups
        }
        with pytest.raises(ApiException) as info:
            kubernetes.client.CustomObjectsApi(client).list_namespaced_custom_object(
                "gateway.networking.k8s.io", "v1", "default", "httproutes"
            )
        assert info.value.status == 404
        client.close()


def test_forbidden_namespaces_and_bad_tokens(tmp_path: Path) -> None:
    with FakeCluster(forbidden={"locked"}) as cluster:
        client = kubernetes.config.new_client_from_config(str(cluster.kubeconfig(tmp_path / "kc")))
        with pytest.raises(ApiException) as info:
            kubernetes.client.CoreV1Api(client).list_namespaced_pod("locked")
        assert info.value.status == 403 and 'cannot list resource "pods"' in message(info.value)
        kubeconfig = (tmp_path / "kc").read_text().replace("fake-token", "wrong")
        (tmp_path / "kc2").write_text(kubeconfig)
        wrong = kubernetes.config.new_client_from_config(str(tmp_path / "kc2"))
        with pytest.raises(ApiException) as unauthorized:
            kubernetes.client.CoreV1Api(wrong).list_namespace()
        wrong.close()
        assert unauthorized.value.status == 401
        client.close()


def test_the_controller_runs_pods_jobs_and_scripted_failures(api: Any, cluster: FakeCluster) -> None:
    import time

    apps = kubernetes.client.AppsV1Api(api)
    core = kubernetes.client.CoreV1Api(api)
    cluster.controller.script("crashloop", app="bad")
    apps.create_namespaced_deployment(NAMESPACE, deployment("good", replicas=2))
    apps.create_namespaced_deployment(NAMESPACE, deployment("bad"))
    time.sleep(1.3)
    good = apps.read_namespaced_deployment("good", NAMESPACE)
    assert good.status.available_replicas == 2
    assert {c.type: c.status for c in good.status.conditions} == {"Available": "True", "Progressing": "True"}
    bad = apps.read_namespaced_deployment("bad", NAMESPACE)
    assert {c.type: c.reason for c in bad.status.conditions}["Progressing"] == "ProgressDeadlineExceeded"
    (pod,) = core.list_namespaced_pod(NAMESPACE, label_selector="app=bad").items
    status = pod.status.container_statuses[0]
    assert status.state.waiting.reason == "CrashLoopBackOff" and status.restart_count >= 2
    assert status.last_state.terminated.exit_code == 1
    assert "c started (nginx)" in core.read_namespaced_pod_log(pod.metadata.name, NAMESPACE)
