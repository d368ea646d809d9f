"""``escadre up`` / ``down`` on a Kubernetes target (the fake API server), through the operations layer:
target registry, support report, dependency order, rollouts, readiness waits."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from escadre.model.settings import ServiceSettings
from escadre.operations.context import Context
from escadre.operations.deploy import down, up
from escadre.operations.targets import add_target
from tests.drivers.kubernetes.conftest import NAMESPACE
from tests.drivers.kubernetes.fakeapi import FakeCluster
from tests.drivers.kubernetes.helpers import EXAMPLES, load_example


def test_up_and_down_of_the_shop_example(ctx: Context, cluster: FakeCluster, kubeconfig: Path) -> None:
    _record, info = add_target(
        ctx, "k8s", "kubernetes", {"kubeconfig": str(kubeconfig), "context": "fake", "namespace": NAMESPACE}
    )
    assert info is not None and info.version == "v1.31.0-escadre-fake"
    project = load_example(EXAMPLES[0])
    # the example's api is a canary analysed by HTTP probes of its pods' IPs, which a process outside the
    # cluster cannot reach (docs/kubernetes.md): roll it out with the rolling strategy here
    rolling = ServiceSettings.model_validate({"rollout": {"strategy": "rolling", "max_surge": 1, "max_unavailable": 0}})
    project = replace(project, services={**project.services, "api": replace(project.services["api"], settings=rolling)})
    result = up(ctx, project, target="k8s", timeout=60)
    assert result.ok, [o.message for o in result.failures]
    status = ctx.driver("k8s").observe("shop")
    assert {"proxy", "web", "api", "db", "redis", "migrate"} == set(status.services)
    assert all(i.completed for i in status.for_service("migrate")[0].instances)
    assert len(cluster.names("Deployment", NAMESPACE, "escadre.service=api")) == 1
    # a second up changes nothing
    again = up(ctx, project, target="k8s", timeout=60)
    assert {o.status for o in again.outcomes} == {"unchanged"}
    # a changed service is rolled out to a new revision (a new Deployment), the old one removed
    api = project.services["api"]
    changed = replace(
        project,
        services={
            **project.services,
            "api": replace(
                api,
                environment={**api.environment, "V": "2"},
                spec={**api.spec, "environment": {**api.spec["environment"], "V": "2"}},
            ),
        },
    )
    rolled = up(ctx, changed, target="k8s", timeout=60)
    assert rolled.ok, [(o.service, o.status, o.message) for o in rolled.outcomes]
    assert {o.service: o.status for o in rolled.outcomes}["api"] == "updated"
    (api_deployment,) = cluster.names("Deployment", NAMESPACE, "escadre.service=api")
    assert api_deployment != f"api-{status.for_service('api')[0].revision}"
    down(ctx, "shop", target="k8s", volumes=True)
    assert cluster.list("Deployment", NAMESPACE) == [] and cluster.list("PersistentVolumeClaim", NAMESPACE) == []


def test_up_of_the_production_variant(ctx: Context, cluster: FakeCluster, kubeconfig: Path) -> None:
    add_target(ctx, "k8s", "kubernetes", {"kubeconfig": str(kubeconfig), "namespace": NAMESPACE})
    result = up(ctx, load_example(EXAMPLES[1]), target="k8s", timeout=60)  # replicas, limits, read-only
    assert result.ok, [o.message for o in result.failures]
    assert cluster.get("PodDisruptionBudget", NAMESPACE, "api")["spec"]["maxUnavailable"] == 1
    down(ctx, "shop", target="k8s", volumes=True)
