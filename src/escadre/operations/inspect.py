"""Read-only operations: what runs (``ps``), what it prints (``logs``), what happened (``history``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from escadre.core.errors import UsageError
from escadre.drivers.base import AppStatus, LogLine
from escadre.operations.context import Context
from escadre.state.store import DeploymentRecord, EventRecord


def ps(ctx: Context, project: str, *, target: str | None = None, service: str | None = None) -> AppStatus:
    return ctx.driver(target).observe(project, service)


def logs(
    ctx: Context,
    project: str,
    services: Sequence[str] = (),
    *,
    target: str | None = None,
    follow: bool = False,
    tail: int | None = None,
) -> Iterator[LogLine]:
    driver = ctx.driver(target)
    if services:
        running = set(driver.observe(project).services)
        unknown = [s for s in services if s not in running]
        if unknown:
            raise UsageError(
                f"no instances of {', '.join(unknown)} in project {project!r}",
                hint=f"running services: {', '.join(sorted(running)) or 'none'} (see escadre ps)",
            )
    return driver.logs(project, services, follow=follow, tail=tail)


@dataclass(frozen=True, slots=True)
class History:
    deployments: tuple[DeploymentRecord, ...]
    events: tuple[EventRecord, ...]


def history(
    ctx: Context,
    project: str,
    *,
    target: str | None = None,
    service: str | None = None,
    limit: int = 50,
    with_events: bool = False,
) -> History:
    name = ctx.target_spec(target).name
    deployments = ctx.store.list_deployments(project, name, service=service, limit=limit)
    events: list[EventRecord] = []
    if with_events:
        events = ctx.store.events(project=project, target=name, service=service, limit=limit, newest_first=True)
    return History(tuple(deployments), tuple(events))
