"""Fixtures for the Swarm driver's tests: the host engine as a single-node swarm, and a real multi-node
swarm built on this machine (``cluster.py``).

The host engine is made a swarm manager when it is not one yet (``docker swarm init --advertise-addr
127.0.0.1``) and left so: plain containers keep working, other suites are unaffected, and every test
removes the services, networks, secrets and configs it creates (unique app names). The multi-node swarm
is session-scoped (built once, ~3 s) and torn down completely at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from escadre.core.progress import NullProgress
from escadre.drivers.engine.client import Connection
from escadre.drivers.swarm import SwarmDriver
from tests.drivers.swarm.cluster import HarnessUnavailable, SwarmCluster, unavailable_reason
from tests.support import BUSYBOX, unique

REQUIRE = os.environ.get("ESCADRE_REQUIRE_DOCKER") == "1"


def _skip_or_fail(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"ESCADRE_REQUIRE_DOCKER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def swarm_host(busybox: str) -> str:
    """The host engine, made a swarm manager when it is not one."""
    state = subprocess.run(
        ["docker", "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if state[:1] != ["active"]:
        init = subprocess.run(
            ["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], capture_output=True, text=True, check=False
        )
        if init.returncode != 0:
            _skip_or_fail(f"the host engine cannot become a swarm manager: {init.stderr.strip()}")
    elif state[1:] != ["true"]:
        _skip_or_fail("the host engine is a swarm worker, not a manager")
    return busybox


@pytest.fixture
def swarm(swarm_host: str) -> Iterator[SwarmDriver]:
    driver = SwarmDriver("swarm-test")
    yield driver
    driver.close()


@pytest.fixture
def app(swarm: SwarmDriver) -> Iterator[str]:
    name = unique("sw")
    yield name
    swarm.remove_app(name, NullProgress(), volumes=True)


@pytest.fixture(scope="session")
def cluster(busybox: str) -> Iterator[SwarmCluster]:
    """A manager, two workers and one engine outside the swarm, each its own dockerd in its own netns."""
    reason = unavailable_reason()
    if reason is not None:
        _skip_or_fail(reason)
    # with Debian's docker-registry installed, the cluster has a registry every node trusts
    built = SwarmCluster(workers=2, standalone=1, registry=shutil.which("docker-registry") is not None)
    try:
        built.start()
    except HarnessUnavailable as exc:
        _skip_or_fail(str(exc))
    try:
        built.load_image(BUSYBOX)
        yield built
    finally:
        built.close()


@pytest.fixture
def cluster_driver(cluster: SwarmCluster) -> Iterator[SwarmDriver]:
    driver = SwarmDriver("multinode", Connection(host=cluster.manager.host))
    yield driver
    driver.close()


@pytest.fixture
def cluster_app(cluster_driver: SwarmDriver) -> Iterator[str]:
    name = unique("mn")
    yield name
    cluster_driver.remove_app(name, NullProgress(), volumes=True)
