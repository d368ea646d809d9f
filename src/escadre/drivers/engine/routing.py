"""What Escadre's router listens on for a project, and the networks and names it takes — shared by every
driver that runs the HAProxy router (the Docker engine, Swarm).

Pure (no engine call): the router's *listeners* are each routed service's TCP ports (published ones on
the host too; ``x-escadre.route.port``, else the first ``expose``d port, when none is published), and the
router joins every network a routed service is on, under the service's name and aliases, so that
service-to-service calls go through it as well.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from escadre.core.errors import UsageError
from escadre.drivers.base import TrafficPlan
from escadre.drivers.engine.router_config import Listener, Server
from escadre.model.project import Port, Project

if TYPE_CHECKING:
    from escadre.drivers.engine.router import Router


def router_listeners(project: Project) -> list[Listener]:
    """Every routed service's ports, the first of each service with its preview port (blue-green)."""
    out: list[Listener] = []
    for name, svc in project.services.items():
        if not project.is_routed(name):
            continue
        spec = project.rollout_for(name)
        ports = {p.target: p for p in svc.ports if p.protocol == "tcp"}
        route = svc.settings.route if svc.settings is not None else None
        if route is not None and route.port:
            ports.setdefault(route.port, Port(route.port))
        if not ports and svc.expose:
            first = int(str(svc.expose[0]).split("/")[0].split("-")[0])
            ports[first] = Port(first)
        if not ports:
            raise UsageError(
                f"service {name!r} is routed but has no port to route",
                hint="publish a port (ports: ['8080:80']), expose one, or set x-escadre.route.port",
            )
        for index, (target, port) in enumerate(sorted(ports.items())):
            out.append(
                Listener(
                    service=name,
                    port=target,
                    published=port.published,
                    host_ip=port.host_ip,
                    preview_published=spec.preview_port if index == 0 else None,
                )
            )
    return out


def router_networks(project: Project) -> dict[str, list[str]]:
    """Platform network name → the routed services' names and aliases on it (empty: nothing routed)."""
    networks: dict[str, list[str]] = {}
    for name, svc in project.services.items():
        if not project.is_routed(name):
            continue
        for net in svc.networks:
            platform = project.networks[net.name].name if net.name in project.networks else net.name
            networks.setdefault(platform, []).extend([name, *net.aliases])
    return networks


def apply_plan(
    router: Router,
    project: Project,
    service: str,
    plan: TrafficPlan,
    servers: Callable[[str | None, int], list[Server]],
) -> None:
    """Point every listener of ``service`` as ``plan`` says; ``servers(revision, port)`` lists the ready
    instances of a revision as the router reaches them."""
    for listener in router_listeners(project):
        if listener.service != service:
            continue
        router.apply(
            service,
            listener.port,
            stable=servers(plan.stable, listener.port),
            canary=servers(plan.canary, listener.port),
            canary_weight=plan.canary_weight,
            preview=servers(plan.preview, listener.port) if plan.preview else None,
        )


__all__ = ["apply_plan", "router_listeners", "router_networks"]
