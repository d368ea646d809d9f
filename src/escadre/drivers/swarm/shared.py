"""A project's overlay networks and named volumes on a swarm.

Networks are created as **overlay, attachable, swarm-scoped**: overlay because services span nodes (a
Compose ``driver: bridge`` — the single-engine default — becomes ``overlay``, with a note), attachable so
that Escadre's router container and ``docker run --network`` debugging can join them. ``driver_opts`` pass
through, so ``encrypted: "true"`` gives an IPsec-encrypted overlay.

Volumes are node-local on Swarm: a task creates its named volume on whatever node it lands, with the
driver, options and labels its mount carries (see ``spec``). The manager's copy is created here up front,
so that ``ps``/``down -v`` see it; ``down -v`` removes the volumes of the manager only (other nodes'
engines are not reachable through it).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Set
from typing import Any

import docker
import docker.errors

from escadre.core.errors import ConflictError, UsageError
from escadre.core.progress import Progress, ProgressEvent
from escadre.drivers.base import LABEL_APP, labels_for
from escadre.drivers.engine.networks import create_network
from escadre.model.project import Network, Project

LOCAL_DRIVERS = frozenset({"bridge", "", "default"})
REMOVE_TIMEOUT = 30.0


def network_driver(net: Network) -> str:
    return "overlay" if (net.driver or "") in LOCAL_DRIVERS else str(net.driver)


def check_networks(api: docker.APIClient, target: str, project: Project) -> dict[str, dict[str, Any]]:
    """Existing networks by name, after checking external ones exist and no other owner holds a name."""
    existing = {n["Name"]: n for n in api.networks()}
    for net in project.networks.values():
        found = existing.get(net.name)
        if net.external:
            if found is None:
                raise UsageError(
                    f"network {net.name!r} is declared external but does not exist on target {target!r}",
                    hint=f"create it first: docker network create --driver overlay --attachable {net.name}",
                )
            if found.get("Scope") not in ("swarm", None) and found.get("Driver") not in ("host", "null"):
                raise UsageError(
                    f"network {net.name!r} is a {found.get('Scope')} {found.get('Driver')} network: swarm services "
                    "can only join swarm-scoped (overlay) networks",
                    hint=f"use an overlay network: docker network create --driver overlay --attachable {net.name}",
                )
            continue
        if found is not None and (found.get("Labels") or {}).get(LABEL_APP) != project.name:
            raise ConflictError(
                f"network {net.name!r} already exists and was not created by Escadre for {project.name!r}",
                target=target,
                hint=f"mark it external: true, give networks.{net.key}.name another value, or remove it",
            )
    return existing


def ensure_networks(api: docker.APIClient, project: Project, existing: Mapping[str, Any], progress: Progress) -> None:
    """Create the project's networks missing from ``existing`` (what ``check_networks`` returned)."""
    for net in project.networks.values():
        if net.external or net.name in existing:
            continue
        driver = network_driver(net)
        create_network(
            api, project, net, driver=driver, attachable=True, scope="swarm" if driver == "overlay" else None
        )
        detail = "overlay, attachable" + (", encrypted" if "encrypted" in net.driver_opts else "")
        if net.driver and net.driver != driver:
            detail += f" (instead of {net.driver}: services span nodes)"
        progress.emit(ProgressEvent(f"network {net.name}", "created", "done", detail=detail))


def check_volumes(api: docker.APIClient, target: str, project: Project) -> set[str]:
    """Names of the manager's volumes, after checking external ones exist."""
    existing = {v["Name"] for v in (api.volumes().get("Volumes") or [])}
    for vol in project.volumes.values():
        if vol.external and vol.name not in existing:
            raise UsageError(
                f"volume {vol.name!r} is declared external but does not exist on target {target!r}",
                hint=f"create it on every node that may run its tasks: docker volume create {vol.name}",
            )
    return existing


def ensure_volumes(api: docker.APIClient, project: Project, existing: Set[str], progress: Progress) -> None:
    """Create the project's volumes missing from ``existing`` (what ``check_volumes`` returned)."""
    for vol in project.volumes.values():
        if vol.external or vol.name in existing:
            continue
        api.create_volume(
            vol.name,
            driver=vol.driver or "local",
            driver_opts=dict(vol.driver_opts) or None,
            labels={**vol.labels, **labels_for(project.name)},
        )
        progress.emit(ProgressEvent(f"volume {vol.name}", "created", "done"))


def remove_networks(api: docker.APIClient, app: str, progress: Progress) -> None:
    """Remove the app's networks; tasks detach asynchronously, so "in use" is retried for a while."""
    networks = api.networks(filters={"label": f"{LABEL_APP}={app}"})
    deadline = time.monotonic() + REMOVE_TIMEOUT
    for n in networks:
        while True:
            try:
                api.remove_network(n["Id"])
            except docker.errors.NotFound:
                break
            except docker.errors.APIError as exc:
                busy = "active endpoints" in str(exc) or "in use" in str(exc)
                if busy and time.monotonic() < deadline:
                    time.sleep(0.3)
                    continue
                raise
            progress.emit(ProgressEvent(f"network {n['Name']}", "removed", "done"))
            break
    # the engine lists a removed overlay for a moment longer: wait, so that an up right after creates it anew
    gone = {n["Id"] for n in networks}
    while gone and time.monotonic() < deadline:
        if not gone & {n["Id"] for n in api.networks(filters={"label": f"{LABEL_APP}={app}"})}:
            break
        time.sleep(0.1)


def remove_volumes(api: docker.APIClient, app: str, progress: Progress) -> None:
    """Remove the app's volumes on the manager; a volume is in use until its tasks' containers are gone."""
    deadline = time.monotonic() + REMOVE_TIMEOUT
    for v in api.volumes(filters={"label": f"{LABEL_APP}={app}"}).get("Volumes") or []:
        while True:
            try:
                api.remove_volume(v["Name"], force=True)
            except docker.errors.NotFound:
                break
            except docker.errors.APIError as exc:
                if "in use" in str(exc) and time.monotonic() < deadline:
                    time.sleep(0.3)
                    continue
                raise
            progress.emit(ProgressEvent(f"volume {v['Name']}", "removed", "done"))
            break


__all__ = [
    "check_networks",
    "check_volumes",
    "ensure_networks",
    "ensure_volumes",
    "network_driver",
    "remove_networks",
    "remove_volumes",
]
