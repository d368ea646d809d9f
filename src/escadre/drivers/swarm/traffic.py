"""Weighted traffic on a swarm: Escadre's HAProxy router as a plain container on the manager.

Swarm has no weighted routing (moby/swarmkit#1045), so canary and blue-green traffic goes through the
same router as on a single engine (``drivers/engine/router.py``): one HAProxy per app, driven through its
Runtime API. On a swarm it is a **container on the manager**, joined to the app's *attachable* overlay
networks under the routed services' names, publishing their ports on the manager's host — not a swarm
service, because:

* its weights change through a Runtime API socket and a state file that must survive reloads: with the
  engine local, both live in a host directory bind-mounted into the one container; a service task could
  be rescheduled to another node, where neither the directory nor ``exec`` through the manager reaches;
* its servers are the tasks' own overlay addresses (``NetworksAttachments``, read from the manager), so
  it reaches tasks on every node over the overlay, and needs neither VIPs nor the ingress mesh — which is
  what makes it work on kernels without IPVS;
* a single manager is already the swarm's single point of control; with several managers, the router
  stays on the one the target talks to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from escadre.core.errors import UsageError
from escadre.core.progress import Progress, ProgressEvent
from escadre.drivers.base import TrafficPlan
from escadre.drivers.engine.client import translate
from escadre.drivers.engine.router import RouterCache
from escadre.drivers.engine.router_config import Server
from escadre.drivers.engine.routing import apply_plan, router_listeners
from escadre.drivers.swarm.tasks import NodeInfo, addresses_by_network, current_tasks, revision_of
from escadre.model.project import Project


class Routers(RouterCache):
    """The routers of the apps one driver deploys (one per app and shape; thread-safe)."""

    def ensure(self, project: Project, progress: Progress) -> None:
        """Run the app's router with its listeners (after checking it can join every network)."""
        router = self.get(project)
        if router is None:
            return
        api = self._api()
        for net in router.networks:
            with translate(self.target, f"inspecting network {net}"):
                info = api.inspect_network(net)
            if info.get("Scope") == "swarm" and not info.get("Attachable"):
                raise UsageError(
                    f"network {net!r} is not attachable: Escadre's router (a container on the manager) cannot join it",
                    hint=f"recreate it with docker network create --driver overlay --attachable {net}",
                )
        router.ensure(router_listeners(project))
        progress.emit(ProgressEvent(f"router {router.name}", "ready", "done", detail=router.metrics_url or ""))

    def route(
        self,
        project: Project,
        service: str,
        plan: TrafficPlan,
        tasks: Sequence[Mapping[str, Any]],
        nodes: Mapping[str, NodeInfo],
    ) -> None:
        """Point the service's listeners at the tasks of the plan's revisions (running, on live nodes)."""
        router = self.get(project)
        assert router is not None
        serving = [
            c.task
            for c in current_tasks(tasks)
            if c.task.get("DesiredState") == "running"
            and (c.task.get("Status") or {}).get("State") in ("running", "starting")
            and nodes.get(str(c.task.get("NodeID")), NodeInfo("", "")).state != "down"
        ]

        def servers(revision: str | None, port: int) -> list[Server]:
            out = []
            for task in serving:
                if revision is None or revision_of(task) != revision:
                    continue
                found = addresses_by_network(task)
                address = next((found[n] for n in router.networks if n in found), None)
                if address is not None:
                    out.append(Server(address, port))
            return out

        apply_plan(router, project, service, plan, servers)


__all__ = ["Routers"]
