"""The conformance suite against the real Docker engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from escadre.core.progress import NullProgress
from escadre.drivers.docker import DockerDriver
from tests.drivers.conformance import DriverConformance
from tests.support import unique

pytestmark = pytest.mark.docker


class TestDockerDriver(DriverConformance):
    @pytest.fixture
    def driver(self, busybox: str) -> Iterator[DockerDriver]:
        driver = DockerDriver("local")
        yield driver
        driver.close()

    @pytest.fixture
    def app(self, driver: DockerDriver) -> Iterator[str]:
        name = unique("conf")
        yield name
        driver.remove_app(name, NullProgress(), volumes=True)
