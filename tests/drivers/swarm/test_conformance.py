"""The driver conformance suite against a real swarm (the host engine as a single-node swarm)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from escadre.core.progress import NullProgress
from escadre.drivers.swarm import SwarmDriver
from tests.drivers.conformance import DriverConformance
from tests.support import unique

pytestmark = pytest.mark.docker


class TestSwarmDriver(DriverConformance):
    @pytest.fixture
    def driver(self, swarm: SwarmDriver) -> SwarmDriver:
        return swarm

    @pytest.fixture
    def app(self, driver: SwarmDriver) -> Iterator[str]:
        name = unique("conf")
        yield name
        driver.remove_app(name, NullProgress(), volumes=True)
