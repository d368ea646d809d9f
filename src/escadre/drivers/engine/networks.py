"""Compose network settings as Engine API objects, for every engine-based driver."""

from __future__ import annotations

from typing import Any, Literal

import docker

from escadre.drivers.base import labels_for
from escadre.model.project import Network, Project


def ipam_config(net: Network) -> Any:
    """The network's ``ipam`` block as the SDK's ``IPAMConfig`` (``None``: the engine's default)."""
    if not net.ipam:
        return None
    from docker.types import IPAMConfig, IPAMPool

    pools = [
        IPAMPool(
            subnet=c.get("subnet"),
            iprange=c.get("ip_range"),
            gateway=c.get("gateway"),
            aux_addresses=c.get("aux_addresses"),
        )
        for c in net.ipam.get("config") or []
    ]
    return IPAMConfig(driver=net.ipam.get("driver") or "default", pool_configs=pools)


def create_network(
    api: docker.APIClient,
    project: Project,
    net: Network,
    *,
    driver: str,
    attachable: bool | None,
    scope: Literal["swarm"] | None = None,
) -> None:
    """Create the Compose network ``net`` of ``project`` with Escadre's labels (the caller translates errors)."""
    api.create_network(
        net.name,
        driver=driver,
        options=dict(net.driver_opts) or None,
        ipam=ipam_config(net),
        internal=net.internal,
        labels={**net.labels, **labels_for(project.name)},
        enable_ipv6=net.enable_ipv6,
        attachable=attachable,
        scope=scope,
        check_duplicate=True,
    )


__all__ = ["create_network", "ipam_config"]
