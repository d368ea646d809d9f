from __future__ import annotations

import pytest

from escadre.drivers.memory import MemoryDriver
from tests.drivers.conformance import DriverConformance
from tests.support import unique


class TestMemoryDriver(DriverConformance):
    @pytest.fixture
    def driver(self) -> MemoryDriver:
        return MemoryDriver("memory", exit_codes={"once": 0})

    @pytest.fixture
    def app(self) -> str:
        return unique("mem")
