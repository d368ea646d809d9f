"""Bad input: one clear Escadre error each, never an SDK exception or a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from escadre.core.errors import SpecError, TargetError, TargetUnreachableError, UsageError
from escadre.core.progress import NullProgress
from escadre.drivers.base import TrafficPlan
from escadre.drivers.kubernetes.driver import KubernetesDriver
from escadre.drivers.registry import make_driver
from tests.drivers.kubernetes.conftest import NAMESPACE
from tests.drivers.kubernetes.fakeapi import FakeCluster
from tests.drivers.kubernetes.test_driver import deploy, routed
from tests.support import project, service


def test_a_kubeconfig_that_does_not_exist(tmp_path: Path) -> None:
    driver = make_driver("k", "kubernetes", {"kubeconfig": str(tmp_path / "nope")})
    with pytest.raises(UsageError, match=r"kubeconfig .*nope does not exist") as info:
        driver.info()
    assert "kind get kubeconfig" in str(info.value)


def test_a_context_that_does_not_exist(kubeconfig: Path) -> None:
    driver = make_driver("k", "kubernetes", {"kubeconfig": str(kubeconfig), "context": "prod"})
    with pytest.raises(UsageError, match="context 'prod' is not in kubeconfig") as info:
        driver.info()
    assert "known contexts: fake" in str(info.value)


def test_a_kubeconfig_that_is_not_one(tmp_path: Path) -> None:
    (tmp_path / "kc").write_text("this: is not a kubeconfig\n")
    with pytest.raises(UsageError, match="cannot read kubeconfig"):
        make_driver("k", "kubernetes", {"kubeconfig": str(tmp_path / "kc")}).info()


def test_a_namespace_without_rights(tmp_path: Path) -> None:
    with FakeCluster(forbidden={"locked"}) as cluster:
        cluster.namespace("locked")
        kubeconfig = cluster.kubeconfig(tmp_path / "kc")
        driver = KubernetesDriver("k", kubeconfig=str(kubeconfig), namespace="locked")
        with pytest.raises(TargetError, match="cannot create Deployments in namespace 'locked'") as info:
            driver.info()
        assert "kubectl auth can-i" in str(info.value)
        with pytest.raises(TargetError, match=r"forbidden: listing .* in namespace 'locked' is not allowed") as listing:
            driver.ensure_shared(project("app", service("web")), NullProgress())
        assert "cannot list resource" in str(listing.value) and "Role" in str(listing.value)


def test_credentials_the_cluster_refuses(tmp_path: Path, cluster: FakeCluster) -> None:
    kubeconfig = cluster.kubeconfig(tmp_path / "kc")
    config = yaml.safe_load(kubeconfig.read_text())
    config["users"][0]["user"]["token"] = "stale"
    kubeconfig.write_text(yaml.safe_dump(config))
    with pytest.raises(TargetError, match="refused the credentials"):
        KubernetesDriver("k", kubeconfig=str(kubeconfig)).info()


def test_a_cluster_that_does_not_answer(tmp_path: Path, cluster: FakeCluster) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kubeconfig = cluster.kubeconfig(tmp_path / "kc")
    kubeconfig.write_text(kubeconfig.read_text().replace(cluster.url, f"http://127.0.0.1:{port}"))
    with pytest.raises(TargetUnreachableError, match=f"cannot reach the API server at http://127.0.0.1:{port}") as info:
        KubernetesDriver("k", kubeconfig=str(kubeconfig)).info()
    assert "cluster-info" in str(info.value)


def test_a_namespace_that_does_not_exist(kubeconfig: Path) -> None:
    driver = KubernetesDriver("k", kubeconfig=str(kubeconfig), namespace="ghost")
    with pytest.raises(UsageError, match="namespace 'ghost' does not exist") as info:
        driver.ensure_shared(project("app", service("web")), NullProgress())
    assert "kubectl create namespace ghost" in str(info.value)


def test_no_gateway_api_says_so_and_offers_the_fallback(tmp_path: Path) -> None:
    with FakeCluster(gateway_api=False) as cluster:
        cluster.namespace(NAMESPACE)
        kubeconfig = str(cluster.kubeconfig(tmp_path / "kc"))
        explicit = KubernetesDriver("k", kubeconfig=kubeconfig, namespace=NAMESPACE, traffic="gateway")
        v1 = routed()
        with pytest.raises(UsageError, match="the cluster has no HTTPRoute API") as info:
            explicit.ensure_shared(v1, NullProgress())
        assert "standard-install.yaml" in str(info.value) and "traffic: replicas" in str(info.value)
        auto = KubernetesDriver("k", kubeconfig=kubeconfig, namespace=NAMESPACE)
        with pytest.raises(UsageError, match="exposed through a Gateway, but the cluster has no HTTPRoute API") as info:
            auto.ensure_shared(v1, NullProgress())
        assert "ingress_class" in str(info.value)
        fallback = KubernetesDriver("k", kubeconfig=kubeconfig, namespace=NAMESPACE, traffic="replicas")
        plain = routed(gateway=None)
        fallback.ensure_shared(plain, NullProgress())
        rev = deploy(fallback, plain, "web")
        assert fallback.route(plain, "web", TrafficPlan(stable=rev), NullProgress()) is False


def test_gateway_traffic_without_a_gateway_to_attach_to(kubeconfig: Path) -> None:
    driver = KubernetesDriver("k", kubeconfig=str(kubeconfig), namespace=NAMESPACE, traffic="gateway")
    with pytest.raises(UsageError, match="has no Gateway to attach its HTTPRoute to"):
        driver.traffic_mode(routed(gateway=None), "web")


def test_an_invalid_rendered_object_is_refused_before_it_is_sent(kube: KubernetesDriver, cluster: FakeCluster) -> None:
    import escadre.drivers.kubernetes.translate.pods as pods

    proj = project("bad", service("web"))
    kube.ensure_shared(proj, NullProgress())
    original = pods.container

    def broken(*args: object, **kwargs: object) -> dict[str, object]:
        made = original(*args, **kwargs)  # type: ignore[arg-type]
        made["imagePullPolicy"] = 3  # what a bug in a translation could produce
        return made

    pods.container = broken  # type: ignore[assignment]
    try:
        sent = len(cluster.requests)
        with pytest.raises(
            SpecError, match=r"Deployment/web-\w+ \(from services.web\) is not a valid Kubernetes 1.31 object"
        ):
            deploy(kube, proj, "web")
        assert not [r for r in cluster.requests[sent:] if r[0] == "PATCH"]
    finally:
        pods.container = original


def test_an_object_the_api_server_rejects(kube: KubernetesDriver) -> None:
    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_Valid", "namespace": NAMESPACE}}
    with pytest.raises(SpecError, match="the API server rejected applying ConfigMap/Not_Valid"):
        kube.kube.apply(bad)


def test_the_cli_prints_one_message_and_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "ESCADRE_STATE": str(tmp_path / "state.db")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "escadre.cli.main",
            "target",
            "add",
            "k8s",
            "--kind",
            "kubernetes",
            "--kubeconfig",
            str(tmp_path / "missing"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr
