"""Helpers for the Swarm driver's engine tests: projects from Compose text, revisions, polling."""

from __future__ import annotations

import contextlib
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker

from escadre.core.progress import CollectingProgress
from escadre.drivers.base import AppStatus
from escadre.drivers.swarm import SwarmDriver
from escadre.model.project import Project
from escadre.model.revision import Revision
from escadre.operations.plan import service_revision
from escadre.spec import load_project


def compose(
    tmp_path: Path, name: str, text: str, *, files: dict[str, str] | None = None, environ: dict[str, str] | None = None
) -> Project:
    """A project loaded from Compose ``text`` (written to ``tmp_path``), with extra ``files`` beside it."""
    for rel, content in (files or {}).items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(text).lstrip())
    return load_project([str(tmp_path / "compose.yaml")], project_name=name, environ=environ or {})


def revision(driver: SwarmDriver, project: Project, service: str) -> Revision:
    image = driver.prepare_image(project, service, CollectingProgress())
    return service_revision(project, project.services[service], image)


def deploy(driver: SwarmDriver, project: Project, service: str, replicas: int | None = None) -> Revision:
    """ensure_shared + apply_revision of the service as the Compose text says; returns the revision."""
    progress = CollectingProgress()
    driver.ensure_shared(project, progress)
    rev = revision(driver, project, service)
    driver.apply_revision(project, rev, project.services[service].replicas if replicas is None else replicas, progress)
    return rev


def until(check: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what} not met within {timeout}s (last: {last!r})")


def ready(driver: SwarmDriver, app: str, service: str, rev: str, n: int) -> Callable[[], bool]:
    def check() -> bool:
        status = driver.observe(app, service).revision(service, rev)
        return status is not None and status.ready >= n and len(status.instances) == n

    return check


def running_revisions(status: AppStatus, service: str) -> dict[str, int]:
    return {r.revision: sum(1 for i in r.instances if i.state == "running") for r in status.for_service(service)}


@contextlib.contextmanager
def engine(host: str | None = None) -> Iterator[docker.APIClient]:
    client = docker.APIClient(base_url=host or "unix:///var/run/docker.sock", version="auto", timeout=60)
    try:
        yield client
    finally:
        client.close()
