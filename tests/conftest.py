from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from escadre.core.progress import CollectingProgress
from escadre.core.settings import Settings
from escadre.operations.context import Context
from tests.support import docker_ready, ensure_busybox_image

REQUIRE_DOCKER = os.environ.get("ESCADRE_REQUIRE_DOCKER") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if any("docker" in item.keywords for item in items) and not docker_ready():
        if REQUIRE_DOCKER:
            raise pytest.UsageError("ESCADRE_REQUIRE_DOCKER=1 but no Docker engine answers (start dockerd)")
        skip = pytest.mark.skip(reason="no Docker engine reachable (set ESCADRE_REQUIRE_DOCKER=1 to fail instead)")
        for item in items:
            if "docker" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the user's state file."""
    monkeypatch.setenv("ESCADRE_STATE", str(tmp_path / "state" / "state.db"))
    monkeypatch.delenv("ESCADRE_TARGET", raising=False)


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Context]:
    progress = CollectingProgress()
    context = Context(settings=Settings.from_env({"ESCADRE_STATE": str(tmp_path / "ctx-state.db")}), progress=progress)
    yield context
    context.close()


@pytest.fixture(scope="session")
def busybox() -> str:
    if not docker_ready():
        pytest.skip("no Docker engine")
    return ensure_busybox_image()
