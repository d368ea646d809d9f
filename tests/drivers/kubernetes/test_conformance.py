"""The driver conformance suite against the fake API server, through the official client.

Run twice: with a target namespace shared by every app, and with one namespace per app (no namespace in
the target's config). One adaptation, declared rather than hidden: Kubernetes restarts a Deployment's
container whatever its exit code, so a one-shot service is a Job, which Compose says with
``restart: "no"``; the suite's ``once`` service does not say it, so ``OneShotOnce`` adds it (the memory
driver's fixture likewise declares ``once`` with ``exit_codes``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from escadre.core.progress import NullProgress, Progress
from escadre.drivers.kubernetes.driver import KubernetesDriver
from escadre.model.project import Project, frozen_map
from escadre.model.revision import Revision
from tests.drivers.conformance import DriverConformance
from tests.drivers.kubernetes.conftest import NAMESPACE
from tests.support import unique


class OneShotOnce(KubernetesDriver):
    def apply_revision(self, project: Project, revision: Revision, replicas: int, progress: Progress) -> None:
        if "once" in project.services:
            once = project.services["once"]
            once = replace(once, restart="no", spec=frozen_map({**once.spec, "restart": "no"}))
            project = replace(project, services=frozen_map({**project.services, "once": once}))
        super().apply_revision(project, revision, replicas, progress)


class TestKubernetesDriver(DriverConformance):
    @pytest.fixture
    def driver(self, kubeconfig: Path) -> Iterator[KubernetesDriver]:
        driver = OneShotOnce("fake", kubeconfig=str(kubeconfig), namespace=NAMESPACE)
        yield driver
        driver.close()

    @pytest.fixture
    def app(self, driver: KubernetesDriver) -> Iterator[str]:
        name = unique("conf")
        yield name
        driver.remove_app(name, NullProgress(), volumes=True)


class TestKubernetesDriverNamespacePerApp(TestKubernetesDriver):
    @pytest.fixture
    def driver(self, kubeconfig: Path) -> Iterator[KubernetesDriver]:
        driver = OneShotOnce("fake", kubeconfig=str(kubeconfig))
        yield driver
        driver.close()
