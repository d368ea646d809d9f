"""The ``deploy:`` section of a service, normalized: numbers typed, durations in seconds, sizes in bytes.

``deploy`` is where Swarm, Kubernetes and ECS drivers read replicas, resources, update and restart
policies, so values are checked here against what those platforms accept (``deploy.mode`` is
``replicated`` or ``global``; job modes are not supported by Escadre and are reported as such).
"""

from __future__ import annotations

from typing import Any

from escadre.core.units import parse_bytes, parse_cpus, parse_duration
from escadre.spec.coerce import list_or_dict, str_list, to_float, to_int, to_str
from escadre.spec.context import Norm
from escadre.spec.locator import Path

_MODES = ("replicated", "global")
_RESTART_CONDITIONS = ("none", "on-failure", "any")
_FAILURE_ACTIONS = ("pause", "continue", "rollback")


def _choice(norm: Norm, path: Path, value: Any, choices: tuple[str, ...]) -> str:
    text = to_str(value)
    if text not in choices:
        raise norm.error(path, f"must be one of {', '.join(choices)}, not {text!r}")
    return text


def _resources(norm: Norm, path: Path, value: dict[str, Any]) -> dict[str, Any]:
    out = dict(value)
    if "cpus" in out:
        out["cpus"] = norm.convert((*path, "cpus"), parse_cpus, out["cpus"])
    if "memory" in out:
        out["memory"] = norm.convert((*path, "memory"), parse_bytes, out["memory"])
    if "pids" in out:
        out["pids"] = norm.convert((*path, "pids"), to_int, out["pids"])
    return out


def _update(norm: Norm, path: Path, value: dict[str, Any]) -> dict[str, Any]:
    out = dict(value)
    if "parallelism" in out:
        out["parallelism"] = norm.convert((*path, "parallelism"), to_int, out["parallelism"])
    for key in ("delay", "monitor"):
        if key in out:
            out[key] = norm.convert((*path, key), parse_duration, out[key])
    if "failure_action" in out:
        out["failure_action"] = _choice(norm, (*path, "failure_action"), out["failure_action"], _FAILURE_ACTIONS)
    if "max_failure_ratio" in out:
        out["max_failure_ratio"] = norm.convert((*path, "max_failure_ratio"), to_float, out["max_failure_ratio"])
    return out


def normalize_deploy(norm: Norm, path: Path, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    out = dict(value)
    if "mode" in out:
        out["mode"] = _choice(norm, (*path, "mode"), out["mode"], _MODES)
    if "replicas" in out:
        replicas = norm.convert((*path, "replicas"), to_int, out["replicas"])
        if replicas < 0:
            raise norm.error((*path, "replicas"), f"cannot be negative ({replicas})")
        out["replicas"] = replicas
    if "endpoint_mode" in out:
        out["endpoint_mode"] = _choice(norm, (*path, "endpoint_mode"), out["endpoint_mode"], ("vip", "dnsrr"))
    if "labels" in out:
        node = norm.node((*path, "labels"))
        labels = norm.convert((*path, "labels"), lambda v: list_or_dict(v, node, none_value=False), out["labels"])
        out["labels"] = {k: v or "" for k, v in labels.items()}
    resources = out.get("resources")
    if isinstance(resources, dict):
        out["resources"] = {
            section: _resources(norm, (*path, "resources", section), spec) if isinstance(spec, dict) else spec
            for section, spec in resources.items()
        }
    policy = out.get("restart_policy")
    if isinstance(policy, dict):
        policy = dict(policy)
        if "condition" in policy:
            policy["condition"] = _choice(
                norm, (*path, "restart_policy", "condition"), policy["condition"], _RESTART_CONDITIONS
            )
        for key in ("delay", "window"):
            if key in policy:
                policy[key] = norm.convert((*path, "restart_policy", key), parse_duration, policy[key])
        if "max_attempts" in policy:
            policy["max_attempts"] = norm.convert(
                (*path, "restart_policy", "max_attempts"), to_int, policy["max_attempts"]
            )
        out["restart_policy"] = policy
    for key in ("update_config", "rollback_config"):
        if isinstance(out.get(key), dict):
            out[key] = _update(norm, (*path, key), out[key])
    placement = out.get("placement")
    if isinstance(placement, dict):
        placement = dict(placement)
        if "constraints" in placement:
            placement["constraints"] = str_list(placement["constraints"])
        if "max_replicas_per_node" in placement:
            placement["max_replicas_per_node"] = norm.convert(
                (*path, "placement", "max_replicas_per_node"), to_int, placement["max_replicas_per_node"]
            )
        out["placement"] = placement
    return out


def apply_legacy_resources(norm: Norm, base: Path, out: dict[str, Any]) -> None:
    """Copy ``mem_limit``/``cpus``/``pids_limit``/``mem_reservation``/``scale`` into ``deploy`` (see the
    :mod:`escadre.spec.normalize_service` docstring); a disagreement with ``deploy`` is an error."""
    legacy = (
        ("mem_limit", ("limits", "memory")),
        ("cpus", ("limits", "cpus")),
        ("pids_limit", ("limits", "pids")),
        ("mem_reservation", ("reservations", "memory")),
    )
    present = [item for item in legacy if item[0] in out]
    if not present and "scale" not in out:
        return
    deploy = out.setdefault("deploy", {})
    for key, (section, field) in present:
        resources = deploy.setdefault("resources", {}).setdefault(section, {})
        if field in resources and resources[field] != out[key]:
            raise norm.error(
                (*base, key),
                f"{out[key]} disagrees with deploy.resources.{section}.{field} ({resources[field]})",
                hint=f"keep only deploy.resources.{section}.{field}",
            )
        resources[field] = out[key]
    if "scale" in out:
        if "replicas" in deploy and deploy["replicas"] != out["scale"]:
            raise norm.error(
                (*base, "scale"),
                f"{out['scale']} disagrees with deploy.replicas ({deploy['replicas']})",
                hint="keep only deploy.replicas",
            )
        deploy["replicas"] = out["scale"]
