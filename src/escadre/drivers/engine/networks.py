"""Compose network settings as Engine API objects, for every engine-based driver."""

from __future__ import annotations

from typing import Any

from escadre.model.project import Network


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


__all__ = ["ipam_config"]
