"""Swarm's routing mesh needs IPVS; when the kernel has none, publish and resolve without it.

A service's *virtual IP* (``endpoint_mode: vip``, the default) and the *ingress routing mesh* (ports
published in ``mode: ingress``, the default) are both implemented by the kernel's IP Virtual Server. On a
kernel without IPVS, Swarm still accepts such services and their tasks run, but nothing answers on the VIP
nor on the published port: a silently unreachable app. Escadre detects that and falls back, loudly:

* ``endpoint_mode: vip`` → ``dnsrr``: the service name (and its aliases) resolve to the tasks' own IPs,
  round-robin, which needs no IPVS;
* ports in ``mode: ingress`` → ``mode: host``: each task publishes the port on the node it runs on (one
  task per node and port — the scheduler places them accordingly); a routed service's ports belong to
  Escadre's router anyway, which splits the traffic itself.

Each fallback is a ``note``: the driver turns it into a warning event, and the support table calls those
keys *approximated*. ``endpoint_mode: dnsrr`` cannot be combined with ingress ports either (Swarm refuses
it), so the same conversion applies there, with or without IPVS.

Detection (``detect``): on a local engine, ``/proc/net/ip_vs`` exists once the module is loaded, and a
kernel without module support (no ``/proc/modules``) cannot load it later; when modules are supported the
module file is looked for. A remote engine cannot be inspected from here: a target can say
``routing_mesh: "on"`` or ``"off"`` in its configuration, and otherwise the mesh is assumed to work (the
normal case on a real Linux host).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from escadre.model.project import Port, Service

Setting = Literal["auto", "on", "off"]


@dataclass(frozen=True, slots=True)
class Mesh:
    """Whether VIPs and the ingress mesh route on the target, and how that was found."""

    ipvs: bool
    how: str


def _module_available(proc: Path, modules_dir: Path) -> bool:
    if (proc / "net" / "ip_vs").exists():
        return True
    if not (proc / "modules").exists():
        return False  # a kernel without loadable modules: what is not built in never will be
    release = platform.release()
    base = modules_dir / release
    builtin = base / "modules.builtin"
    if builtin.exists() and "/ip_vs.ko" in builtin.read_text(errors="replace"):
        return True
    return any(base.glob("kernel/net/netfilter/ipvs/ip_vs.ko*"))


def detect(
    *, local: bool, setting: Setting = "auto", proc: Path = Path("/proc"), modules_dir: Path = Path("/lib/modules")
) -> Mesh:
    """Decide whether the target's kernel has IPVS (see the module docstring)."""
    if setting == "on":
        return Mesh(True, "the target's routing_mesh setting")
    if setting == "off":
        return Mesh(False, "the target's routing_mesh setting")
    if os.environ.get("ESCADRE_SWARM_ROUTING_MESH") in ("on", "off"):
        return Mesh(os.environ["ESCADRE_SWARM_ROUTING_MESH"] == "on", "ESCADRE_SWARM_ROUTING_MESH")
    if not local:
        return Mesh(True, "assumed for a remote engine (set routing_mesh: off on the target if its kernel lacks IPVS)")
    if _module_available(proc, modules_dir):
        return Mesh(True, "IPVS is available in this kernel")
    return Mesh(False, "this kernel has no IPVS (/proc/net/ip_vs absent, no ip_vs module)")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """How a service is reached: its endpoint mode, its published ports (Engine API ``PortConfig``s), and
    the fallbacks applied, in words."""

    mode: Literal["vip", "dnsrr"]
    ports: tuple[Mapping[str, Any], ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


def _port_config(port: Port, mode: str) -> dict[str, Any]:
    config: dict[str, Any] = {"Protocol": port.protocol, "TargetPort": port.target, "PublishMode": mode}
    if port.published is not None:
        config["PublishedPort"] = port.published
    return config


def endpoint(service: Service, *, mesh: Mesh, routed: bool) -> Endpoint:
    """The endpoint of ``service`` on a swarm whose mesh is ``mesh``; ``routed`` services leave their TCP
    ports to Escadre's router."""
    declared = service.deploy.endpoint_mode
    mode: Literal["vip", "dnsrr"] = declared or "vip"
    notes: list[str] = []
    if mode == "vip" and not mesh.ipvs:
        mode = "dnsrr"
        notes.append(
            f"endpoint_mode {'vip' if declared else 'vip (the default)'} → dnsrr: {mesh.how}, so virtual IPs do "
            "not route; service names resolve to their tasks' own addresses instead"
        )
    ports: list[Mapping[str, Any]] = []
    moved: list[str] = []
    for port in service.ports:
        if routed and port.protocol == "tcp":
            continue  # the router publishes it and splits the traffic
        publish = port.mode
        if publish == "ingress" and (mode == "dnsrr" or not mesh.ipvs):
            publish = "host"
            moved.append(f"{port.published or ''}:{port.target}/{port.protocol}".lstrip(":"))
        ports.append(_port_config(port, publish))
    if moved:
        why = mesh.how if not mesh.ipvs else "endpoint_mode dnsrr cannot publish through the ingress mesh"
        notes.append(
            f"ports {', '.join(moved)} published in mode host instead of ingress ({why}): each task publishes "
            "on the node it runs on, one per node and port"
            + ("" if routed else "; put Escadre's router in front (x-escadre.route) to spread one port over all tasks")
        )
    return Endpoint(mode, tuple(ports), tuple(notes))


def host_ports(ports: Sequence[Mapping[str, Any]]) -> list[int]:
    """Fixed host ports published in host mode (each takes one task per node)."""
    return [int(p["PublishedPort"]) for p in ports if p.get("PublishMode") == "host" and p.get("PublishedPort")]


__all__ = ["Endpoint", "Mesh", "detect", "endpoint", "host_ports"]
