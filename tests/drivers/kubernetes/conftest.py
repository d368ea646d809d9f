"""Fixtures for the Kubernetes target's tests: a fake API server per test and drivers pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from escadre.drivers.kubernetes.driver import KubernetesDriver
from tests.drivers.kubernetes.fakeapi import FakeCluster

NAMESPACE = "escadre-test"


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    with FakeCluster() as fake:
        fake.namespace(NAMESPACE)
        yield fake


@pytest.fixture
def kubeconfig(cluster: FakeCluster, tmp_path: Path) -> Path:
    return cluster.kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def kube(kubeconfig: Path) -> Iterator[KubernetesDriver]:
    """A driver on the fake cluster, deploying into the shared namespace ``escadre-test``."""
    driver = KubernetesDriver("fake", kubeconfig=str(kubeconfig), namespace=NAMESPACE)
    yield driver
    driver.close()
