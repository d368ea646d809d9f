"""Opt-in: the Kubernetes target against a real cluster (kind or k3d on a laptop).

Skipped unless ``ESCADRE_E2E_KUBECONFIG`` names a kubeconfig; ``ESCADRE_E2E_CONTEXT`` picks a context
(default: the current one). Everything happens in throw-away namespaces named ``escadre-e2e-…``, removed
afterwards. See docs/kubernetes.md ("End-to-end tests on a real cluster") for the set-up, including how to
load the test images into kind (no registry is needed).

* every rendered fixture and example is admitted by the real API server (server-side apply, dry run);
* the driver conformance suite, on real controllers and kubelets;
* the shop example deployed with ``escadre up`` and removed with ``escadre down``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from escadre.core.progress import CollectingProgress, NullProgress, Progress
from escadre.drivers.kubernetes.driver import KubernetesDriver
from escadre.drivers.kubernetes.translate import Options, translate
from escadre.model.project import Project, frozen_map
from escadre.model.revision import Revision
from tests.drivers.conformance import DriverConformance
from tests.drivers.kubernetes.helpers import EXAMPLES, fixture_names, load_example, load_fixture

KUBECONFIG = os.environ.get("ESCADRE_E2E_KUBECONFIG")
CONTEXT = os.environ.get("ESCADRE_E2E_CONTEXT") or None
pytestmark = pytest.mark.skipif(not KUBECONFIG, reason="set ESCADRE_E2E_KUBECONFIG to run against a real cluster")


def real_driver(namespace: str | None = None, driver: type[KubernetesDriver] = KubernetesDriver) -> KubernetesDriver:
    return driver("e2e", kubeconfig=KUBECONFIG, context=CONTEXT, namespace=namespace)


@pytest.fixture
def scratch() -> Iterator[tuple[KubernetesDriver, str]]:
    """A driver and a fresh namespace it owns."""
    name = f"escadre-e2e-{uuid.uuid4().hex[:6]}"
    driver = real_driver()
    driver.kube.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"escadre.e2e": "true"}}}
    )
    yield driver, name
    driver.kube.delete("Namespace", None, name)
    driver.close()


SOURCES: list[tuple[str, Any]] = [(n, lambda n=n: load_fixture(n)) for n in fixture_names()]
SOURCES += [("+".join(f), lambda f=f: load_example(f)) for f in EXAMPLES]


@pytest.mark.parametrize(("name", "load"), SOURCES, ids=[s[0] for s in SOURCES])
def test_the_api_server_admits_every_rendered_object(
    scratch: tuple[KubernetesDriver, str], name: str, load: Any
) -> None:
    driver, namespace = scratch
    version = driver._version()
    objects = translate(load(), Options(namespace, k8s_version=version)).objects
    gateway = driver.gateway_api()
    for obj in objects:
        if obj["kind"] == "Namespace" or (obj["kind"] == "HTTPRoute" and not gateway):
            continue
        driver.kube.apply(obj, dry_run=True)


class _OneShotOnce(KubernetesDriver):
    """As in test_conformance: ``once`` is a Job, which Compose says with ``restart: "no"``."""

    def apply_revision(self, project: Project, revision: Revision, replicas: int, progress: Progress) -> None:
        if "once" in project.services:
            once = replace(
                project.services["once"],
                restart="no",
                spec=frozen_map({**project.services["once"].spec, "restart": "no"}),
            )
            project = replace(project, services=frozen_map({**project.services, "once": once}))
        super().apply_revision(project, revision, replicas, progress)


class TestRealClusterConformance(DriverConformance):
    """Needs the test busybox image on the nodes: ``kind load docker-image escadre-test/busybox:1``."""

    @pytest.fixture
    def driver(self) -> Iterator[KubernetesDriver]:
        driver = real_driver(driver=_OneShotOnce)
        yield driver
        driver.close()

    @pytest.fixture
    def app(self, driver: KubernetesDriver) -> Iterator[str]:
        name = f"escadre-e2e-{uuid.uuid4().hex[:6]}"
        yield name
        driver.remove_app(name, NullProgress(), volumes=True)


def test_the_shop_example_goes_up_and_down(tmp_path: Any) -> None:
    """Needs the shop images on the nodes (built by docker compose build, then kind load docker-image)."""
    from escadre.core.settings import Settings
    from escadre.operations.context import Context
    from escadre.operations.deploy import down, up
    from escadre.operations.targets import add_target

    project = load_example(EXAMPLES[0])
    project = replace(project, name=f"escadre-e2e-shop-{uuid.uuid4().hex[:4]}")
    progress = CollectingProgress()
    ctx = Context(settings=Settings.from_env({"ESCADRE_STATE": str(tmp_path / "state.db")}), progress=progress)
    try:
        add_target(ctx, "kind", "kubernetes", {"kubeconfig": KUBECONFIG, "context": CONTEXT})
        result = up(ctx, project, target="kind", timeout=300)
        assert result.ok, [o.message for o in result.failures]
        status = ctx.driver("kind").observe(project.name)
        assert {"proxy", "web", "api", "db", "redis", "migrate"} <= set(status.services)
    finally:
        down(ctx, project.name, target="kind", volumes=True)
        ctx.close()
