"""``escadre render swarm``: the project as a version 3.9 stack file that ``docker stack deploy`` accepts.

``docker stack deploy`` validates against the *legacy* Compose file format 3.x, not the Compose
Specification Escadre reads: it refuses ``profiles``, the long form of ``depends_on``, ``name:`` at the
top level, ``pids_limit``/``mem_limit`` outside ``deploy``, ports with a ``host_ip``… So the stack is
written from the normalized model, key by key, into what 3.9 allows (long syntax wherever 3.9 has one),
and every conversion is said in a comment at the top of the file:

* converted — ``depends_on`` conditions become a plain list (Swarm has no start order), ``restart`` and
  legacy resource keys move into ``deploy``, durations become Go durations, bridge networks overlays;
* dropped — keys Swarm ignores or 3.9 cannot express (``build``: the image must be in a registry the nodes
  pull from; ``x-escadre``: progressive rollouts need ``escadre up``), each named;
* Escadre's choices, so that the stack behaves like ``escadre up --target swarm``: secrets and configs
  get the same content-versioned names (``<app>_<key>_<hash>``: a changed file is a new secret, which is
  how immutable swarm secrets can be updated), the restart policy defaults to ``on-failure``, and with
  ``routing_mesh: off`` (a swarm whose kernel lacks IPVS) services use ``dnsrr`` and host-mode ports.

Secrets and configs appear as file references only — never values: one that comes from an environment
variable or inline content becomes ``external`` with the name to create it under.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from escadre.drivers.swarm.mesh import Mesh
from escadre.drivers.swarm.objects import KINDS, Kind, read_source, versioned_name
from escadre.model.project import Project

VERSION = "3.9"
# keys 3.9 accepts that Swarm ignores: dropped, so the file says only what happens
SWARM_IGNORES = (
    "cgroup_parent",
    "container_name",
    "devices",
    "domainname",
    "external_links",
    "ipc",
    "links",
    "mac_address",
    "pid",
    "privileged",
    "security_opt",
    "shm_size",
    "userns_mode",
)
COPIED = (
    "cap_add",
    "cap_drop",
    "command",
    "dns",
    "dns_search",
    "entrypoint",
    "environment",
    "expose",
    "extra_hosts",
    "hostname",
    "image",
    "init",
    "isolation",
    "labels",
    "logging",
    "read_only",
    "stdin_open",
    "stop_signal",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "user",
    "working_dir",
)
HANDLED = frozenset(
    (
        *COPIED,
        *SWARM_IGNORES,
        "build",
        "configs",
        "depends_on",
        "deploy",
        "healthcheck",
        "network_mode",
        "networks",
        "ports",
        "profiles",
        "restart",
        "secrets",
        "stop_grace_period",
        "volumes",
        "x-escadre",
        "env_file",
        "label_file",
        "extends",
        "scale",
        "cpus",
        "mem_limit",
        "mem_reservation",
        "pids_limit",
    )
)


def duration(seconds: float) -> str:
    """Seconds as a Go duration (``1m30s`` style is not needed: ``90s`` and ``500ms`` are valid)."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def size(value: int) -> str:
    for unit, factor in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if value and value % factor == 0:
            return f"{value // factor}{unit}"
    return str(value)


def _cpus(value: Any) -> str:
    text = f"{float(value):.3f}".rstrip("0").rstrip(".")
    return text or "0"


class _Notes:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, text: str) -> None:
        if text not in self.lines:
            self.lines.append(text)


def _durations(section: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: duration(v) if k in keys and isinstance(v, int | float) else v for k, v in section.items()}


def _deploy(name: str, spec: Mapping[str, Any], notes: _Notes, mesh: Mesh) -> dict[str, Any]:
    deploy = dict(spec.get("deploy") or {})
    out: dict[str, Any] = {}
    for key in ("mode", "replicas", "labels", "endpoint_mode"):
        if key in deploy:
            out[key] = deploy[key]
    if "scale" in spec and "replicas" not in out:
        out["replicas"] = spec["scale"]
    resources = deploy.get("resources") or {}
    if resources:
        res: dict[str, Any] = {}
        for section, allowed in (("limits", ("cpus", "memory", "pids")), ("reservations", ("cpus", "memory"))):
            values = resources.get(section) or {}
            converted: dict[str, Any] = {}
            for key, value in values.items():
                if key == "cpus":
                    converted[key] = _cpus(value)
                elif key == "memory":
                    converted[key] = size(int(value))
                elif key in allowed or (key == "generic_resources" and section == "reservations"):
                    converted[key] = value
                else:
                    notes.add(f"services.{name}.deploy.resources.{section}.{key}: dropped (not in the 3.9 format)")
            if converted:
                res[section] = converted
        if res:
            out["resources"] = res
    policy = deploy.get("restart_policy")
    if policy is None:
        policy = _restart(name, spec, notes)
    out["restart_policy"] = _durations(policy, ("delay", "window"))
    placement = deploy.get("placement")
    if placement:
        out["placement"] = {
            k: v for k, v in placement.items() if k in ("constraints", "preferences", "max_replicas_per_node")
        }
    for key in ("update_config", "rollback_config"):
        if deploy.get(key):
            out[key] = _durations(deploy[key], ("delay", "monitor"))
    if not mesh.ipvs and out.get("endpoint_mode", "vip") == "vip":
        out["endpoint_mode"] = "dnsrr"
        notes.add("routing mesh off: every service uses endpoint_mode dnsrr (virtual IPs need IPVS)")
    return out


def _restart(name: str, spec: Mapping[str, Any], notes: _Notes) -> dict[str, Any]:
    restart = spec.get("restart")
    if restart is None:
        notes.add("deploy.restart_policy defaults to condition on-failure, as with escadre up (Swarm's own: any)")
        return {"condition": "on-failure"}
    kind, _, count = str(restart).partition(":")
    notes.add(f"services.{name}.restart: {restart} → deploy.restart_policy (stack deploy ignores restart)")
    if kind == "no":
        return {"condition": "none"}
    if kind == "on-failure":
        return {"condition": "on-failure", **({"max_attempts": int(count)} if count else {})}
    return {"condition": "any"}


def _ports(name: str, spec: Mapping[str, Any], notes: _Notes, *, dnsrr: bool) -> list[dict[str, Any]]:
    out = []
    for port in spec.get("ports") or []:
        entry: dict[str, Any] = {"target": int(port["target"]), "protocol": port.get("protocol", "tcp")}
        if port.get("published") not in (None, ""):
            entry["published"] = int(str(port["published"]).split("-")[0])
        mode = port.get("mode", "ingress")
        if mode == "ingress" and dnsrr:
            mode = "host"
            notes.add(f"services.{name}.ports: published in mode host (dnsrr services cannot use the ingress mesh)")
        entry["mode"] = mode
        if port.get("host_ip"):
            notes.add(f"services.{name}.ports: host_ip {port['host_ip']} dropped (Swarm publishes on every address)")
        out.append(entry)
    return out


def _volumes(name: str, spec: Mapping[str, Any], notes: _Notes) -> list[dict[str, Any]]:
    out = []
    for volume in spec.get("volumes") or []:
        entry = {k: volume[k] for k in ("type", "source", "target", "read_only", "consistency") if k in volume}
        if volume.get("bind", {}).get("propagation"):
            entry["bind"] = {"propagation": volume["bind"]["propagation"]}
        if volume.get("volume", {}).get("nocopy"):
            entry["volume"] = {"nocopy": True}
        if volume.get("tmpfs", {}).get("size") is not None:
            entry["tmpfs"] = {"size": int(volume["tmpfs"]["size"])}
        if volume.get("type") == "bind":
            notes.add(f"services.{name}.volumes: bind mounts refer to paths on the node each task runs on")
        out.append(entry)
    return out


def _networks(name: str, spec: Mapping[str, Any], notes: _Notes) -> dict[str, Any] | None:
    nets = spec.get("networks")
    if not nets:
        return None
    out: dict[str, Any] = {}
    for key, raw in nets.items():
        value = raw or {}
        entry = {k: value[k] for k in ("aliases", "ipv4_address", "ipv6_address") if value.get(k)}
        dropped = sorted(set(value) - {"aliases", "ipv4_address", "ipv6_address"})
        if dropped:
            notes.add(f"services.{name}.networks.{key}: {', '.join(dropped)} dropped (not in the 3.9 format)")
        out[key] = entry or None
    return out


def _files(spec: Mapping[str, Any], kind: Kind) -> list[dict[str, Any]]:
    out = []
    for ref in spec.get(f"{kind}s") or []:
        entry = {k: ref[k] for k in ("source", "target", "uid", "gid", "mode") if ref.get(k) is not None}
        for key in ("uid", "gid"):
            if key in entry:
                entry[key] = str(entry[key])
        out.append(entry)
    return out


def _service(project: Project, name: str, notes: _Notes, mesh: Mesh) -> dict[str, Any]:
    spec = project.spec["services"][name]
    svc = project.services[name]
    out: dict[str, Any] = {}
    image = spec.get("image")
    if "build" in spec:
        image = image or f"{project.name}-{name}"
        notes.add(
            f"services.{name}.build: dropped — Swarm does not build; build and push {image} to a registry the "
            "nodes can pull from (escadre up --target swarm builds it on the manager)"
        )
    if image:
        out["image"] = image
    for key in COPIED:
        if key in spec and key != "image":
            out[key] = spec[key]
    if spec.get("stop_grace_period") is not None:
        out["stop_grace_period"] = duration(spec["stop_grace_period"])
    if spec.get("healthcheck"):
        hc = dict(spec["healthcheck"])
        if "start_interval" in hc:
            notes.add(f"services.{name}.healthcheck.start_interval: dropped (not in the 3.9 format)")
            hc.pop("start_interval")
        if hc.pop("disable", False) or hc.get("test") == ["NONE"]:
            hc = {"disable": True}
        out["healthcheck"] = _durations(hc, ("interval", "timeout", "start_period"))
    if spec.get("network_mode"):
        out["network_mode"] = spec["network_mode"]
    networks = _networks(name, spec, notes)
    if networks and not spec.get("network_mode"):
        out["networks"] = networks
    dnsrr = not mesh.ipvs or (spec.get("deploy") or {}).get("endpoint_mode") == "dnsrr"
    if spec.get("ports"):
        out["ports"] = _ports(name, spec, notes, dnsrr=dnsrr)
    if spec.get("volumes"):
        out["volumes"] = _volumes(name, spec, notes)
    for kind in KINDS:
        if spec.get(f"{kind}s"):
            out[f"{kind}s"] = _files(spec, kind)
    depends = spec.get("depends_on") or {}
    if depends:
        out["depends_on"] = sorted(depends)
        if any((d or {}).get("condition", "service_started") != "service_started" for d in depends.values()):
            notes.add(
                f"services.{name}.depends_on: conditions dropped — a list (Swarm starts services in no order; "
                "escadre up honours the conditions)"
            )
    if spec.get("profiles"):
        notes.add(f"services.{name}.profiles: dropped (profiles were applied when the project was loaded)")
    if "x-escadre" in spec or project.is_routed(name):
        notes.add(
            f"services.{name}.x-escadre: dropped — canary/blue-green rollouts, analysis and the router need "
            "escadre up; the stack uses Swarm's own rolling update"
        )
    for key in ("cpus", "mem_limit", "mem_reservation", "pids_limit"):
        if key in spec:
            notes.add(f"services.{name}.{key}: moved into deploy.resources")
    ignored = [k for k in SWARM_IGNORES if k in spec]
    if ignored:
        notes.add(f"services.{name}: {', '.join(ignored)} dropped (Swarm ignores them)")
    unknown = sorted(k for k in spec if k not in HANDLED and not k.startswith("x-"))
    if unknown:
        notes.add(f"services.{name}: {', '.join(unknown)} dropped (not in the 3.9 format; see escadre check)")
    deploy = _deploy(name, spec, notes, mesh)
    if deploy:
        out["deploy"] = deploy
    del svc
    return out


def _top_networks(project: Project, notes: _Notes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, raw in (project.spec.get("networks") or {}).items():
        spec = raw or {}
        entry: dict[str, Any] = {}
        if spec.get("external"):
            out[key] = {"external": True, "name": spec.get("name", key)}
            continue
        if spec.get("name") and spec["name"] != f"{project.name}_{key}":
            entry["name"] = spec["name"]
        driver = spec.get("driver") or "overlay"
        if driver == "bridge":
            notes.add(f"networks.{key}: bridge → overlay (services span nodes)")
            driver = "overlay"
        entry["driver"] = driver
        entry["attachable"] = True
        for k in ("driver_opts", "internal", "labels"):
            if spec.get(k):
                entry[k] = spec[k]
        ipam = spec.get("ipam") or {}
        if ipam:
            config = [{"subnet": c["subnet"]} for c in ipam.get("config") or [] if c.get("subnet")]
            entry["ipam"] = {k: v for k, v in (("driver", ipam.get("driver")), ("config", config)) if v}
        for k in ("enable_ipv6", "enable_ipv4"):
            if k in spec:
                notes.add(f"networks.{key}.{k}: dropped (not in the 3.9 format)")
        out[key] = entry
    return out


def _top_volumes(project: Project) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, raw in (project.spec.get("volumes") or {}).items():
        spec = raw or {}
        if spec.get("external"):
            out[key] = {"external": True, "name": spec.get("name", key)}
            continue
        entry = {k: spec[k] for k in ("driver", "driver_opts", "labels") if spec.get(k)}
        if spec.get("name") and spec["name"] != f"{project.name}_{key}":
            entry["name"] = spec["name"]
        out[key] = entry or None
    return out


def _top_files(project: Project, kind: Kind, notes: _Notes) -> dict[str, Any]:
    pool = project.secrets if kind == "secret" else project.configs
    used = {m.source for svc in project.services.values() for m in (svc.secrets if kind == "secret" else svc.configs)}
    out: dict[str, Any] = {}
    for key in sorted(used):
        source = pool[key]
        spec = (project.spec.get(f"{kind}s") or {}).get(key) or {}
        if source.external:
            out[key] = {"external": True, "name": source.name}
            continue
        name = versioned_name(project.name, key, read_source(source, project.source_env, kind))
        entry: dict[str, Any] = {"name": name}
        if source.file is not None:
            entry["file"] = source.file
        else:
            entry = {"external": True, "name": name}
            origin = f"${source.environment}" if source.environment else "its inline content"
            notes.add(
                f"{kind}s.{key}: external {name} — the 3.9 format only reads files; create it from {origin} "
                f"first: docker {kind} create {name} -"
            )
        if source.labels:
            entry["labels"] = dict(source.labels)
        if kind == "config" and spec.get("template_driver"):
            entry["template_driver"] = spec["template_driver"]
        out[key] = entry
    return out


def stack_file(project: Project, *, routing_mesh: bool = True) -> tuple[dict[str, Any], list[str]]:
    """The stack file as a mapping, and the conversions made (see the module docstring)."""
    notes = _Notes()
    mesh = Mesh(routing_mesh, "routing mesh off" if not routing_mesh else "")
    doc: dict[str, Any] = {"version": VERSION}
    doc["services"] = {name: _service(project, name, notes, mesh) for name in project.services}
    for section, value in (
        ("networks", _top_networks(project, notes)),
        ("volumes", _top_volumes(project)),
        ("secrets", _top_files(project, "secret", notes)),
        ("configs", _top_files(project, "config", notes)),
    ):
        if value:
            doc[section] = value
    return doc, notes.lines


def render(project: Project, options: Mapping[str, Any]) -> str:
    """The stack file as text, its conversions listed in comments at the top.

    ``options["routing_mesh"]``: ``"off"`` for a swarm whose kernel has no IPVS (dnsrr, host-mode ports).
    """
    mesh = str(options.get("routing_mesh") or "on") != "off"
    doc, notes = stack_file(project, routing_mesh=mesh)
    header = [
        f"# Stack file rendered by `escadre render swarm` from project {project.name!r}.",
        f"# Deploy it with: docker stack deploy -c <this file> {project.name}",
    ]
    if notes:
        header.append("# Converted for the 3.9 format docker stack deploy reads:")
        header.extend(f"#  - {line}" for line in notes)
    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000)
    return "\n".join(header) + "\n" + body


__all__ = ["VERSION", "duration", "render", "stack_file"]
