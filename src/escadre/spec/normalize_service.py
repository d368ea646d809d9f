"""One service's raw Compose mapping → its canonical form (what ``docker compose config`` prints).

Canonical means: long syntax everywhere (ports, volumes, secrets, configs, depends_on, networks are
mappings or lists of mappings), list-or-mapping fields as mappings of strings, ``command``/``entrypoint``
as argument lists, durations in seconds (float), sizes in bytes (int), host paths absolute, booleans and
numbers written as strings after interpolation cast to their type. Drivers and renderers can then read
one shape only. The rules, and where we chose something on purpose:

* ``environment`` takes ``env_file`` contents *under* it (``environment`` wins). A bare ``KEY`` takes the
  value from the variables (real environment, then ``.env``), or the ``env_file`` value, or stays ``None``.
* ``mem_limit``, ``mem_reservation``, ``cpus``, ``pids_limit`` and ``scale`` are kept as written (normalized)
  *and* copied to ``deploy.resources`` / ``deploy.replicas`` when ``deploy`` does not set them, so drivers
  read ``deploy`` only; both set to different values is an error, not a silent pick.
* ``ports`` ranges are expanded to one entry per port; ``published`` is a string, as Compose prints it.
* A short bind mount gets ``bind.create_host_path: true`` (Compose creates missing host directories for
  the short syntax only).
* A service without ``networks`` and ``network_mode`` joins ``default``.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from escadre.core.units import parse_bytes, parse_cpus, parse_duration
from escadre.spec.coerce import list_or_dict, str_list, to_bool, to_int, to_mode, to_str
from escadre.spec.context import Norm
from escadre.spec.deploy import apply_legacy_resources, normalize_deploy
from escadre.spec.environment import env_files, resolve_environment, resolve_label_files
from escadre.spec.locator import Path
from escadre.spec.paths import is_remote
from escadre.spec.shortsyntax import PROTOCOLS, parse_extra_host, parse_port, parse_volume

BOOL_KEYS = (
    "privileged",
    "read_only",
    "tty",
    "stdin_open",
    "init",
    "oom_kill_disable",
    "attach",
    "use_api_socket",
)
INT_KEYS = (
    "cpu_shares", "cpu_quota", "cpu_period", "cpu_rt_period", "cpu_rt_runtime",
    "cpu_count", "cpu_percent", "oom_score_adj", "mem_swappiness", "pids_limit", "scale",
)  # fmt: skip
SIZE_KEYS = ("shm_size", "mem_limit", "mem_reservation", "memswap_limit")
LIST_KEYS = (
    "dns", "dns_search", "dns_opt", "cap_add", "cap_drop", "security_opt", "tmpfs", "external_links",
    "links", "volumes_from", "profiles", "device_cgroup_rules", "group_add", "label_file",
)  # fmt: skip
_RESTART = re.compile(r"^(no|always|unless-stopped|on-failure(:\d+)?)$")


def normalize_service(norm: Norm, name: str, raw: dict[str, Any]) -> dict[str, Any]:
    base: Path = ("services", name)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        path = (*base, key)
        handler = _HANDLERS.get(key)
        if handler is not None:
            out[key] = handler(norm, path, value)
        elif key in BOOL_KEYS:
            out[key] = norm.convert(path, to_bool, value)
        elif key in INT_KEYS:
            out[key] = norm.convert(path, to_int, value)
        elif key in SIZE_KEYS:
            out[key] = _size(norm, path, value)
        elif key in LIST_KEYS:
            out[key] = norm.convert(path, str_list, value)
        elif key == "cpus":
            out[key] = norm.convert(path, parse_cpus, value)
        else:
            out[key] = value
    resolve_environment(norm, base, raw, out)
    resolve_label_files(norm, base, out)
    apply_legacy_resources(norm, base, out)
    if "networks" not in out and "network_mode" not in out:
        out["networks"] = {"default": None}
    elif "networks" in out and "network_mode" in out:
        raise norm.error(
            (*base, "network_mode"),
            "cannot be used together with 'networks'",
            hint="remove 'networks' or 'network_mode'",
        )
    return out


# ---------------------------------------------------------------------------------------------- helpers


def _size(norm: Norm, path: Path, value: Any) -> int:
    if value in (-1, "-1"):
        return -1  # memswap_limit: unlimited swap
    return norm.convert(path, parse_bytes, value)


def _duration(norm: Norm, path: Path, value: Any) -> float:
    return norm.convert(path, parse_duration, value)


def _args(norm: Norm, path: Path, value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise norm.error(
                path,
                f"cannot split {value!r} into arguments: {exc}",
                hint="check the quotes, or write the command as a list",
            ) from None
    return norm.convert(path, str_list, value)


def _mapping(norm: Norm, path: Path, value: Any, *, none_value: bool = True) -> dict[str, str | None]:
    node = norm.node(path)
    return norm.convert(path, lambda v: list_or_dict(v, node, none_value=none_value), value)


def _labels(norm: Norm, path: Path, value: Any) -> dict[str, str]:
    return {k: v or "" for k, v in _mapping(norm, path, value, none_value=False).items()}


def _sysctls(norm: Norm, path: Path, value: Any) -> dict[str, str]:
    out = _mapping(norm, path, value)
    for key, item in out.items():
        if item is None:
            raise norm.error((*path, key), "a sysctl needs a value (NAME=VALUE)")
    return {k: v or "" for k, v in out.items()}


def extra_hosts(norm: Norm, path: Path, value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        hosts: dict[str, str] = {}
        for host, address in value.items():
            addresses = address if isinstance(address, list) else [address]
            hosts[str(host)] = ",".join(norm.convert((*path, host), to_str, a) for a in addresses)
        return hosts
    hosts = {}
    for index, entry in enumerate(value or []):
        host, address = norm.convert((*path, index), parse_extra_host, to_str(entry))
        hosts[host] = f"{hosts[host]},{address}" if host in hosts else address
    return hosts


# --------------------------------------------------------------------------------------------- handlers


def _build(norm: Norm, path: Path, value: Any) -> dict[str, Any]:
    build = {"context": value} if isinstance(value, str) else dict(value)
    context = build.get("context") or "."
    build["context"] = context if is_remote(context) else norm.host_path(context)
    if "dockerfile" not in build and "dockerfile_inline" not in build:
        build["dockerfile"] = "Dockerfile"
    if "args" in build:
        args = _mapping(norm, (*path, "args"), build["args"])
        build["args"] = {k: v if v is not None else norm.variables.get(k) for k, v in args.items()}
    if "labels" in build:
        build["labels"] = _labels(norm, (*path, "labels"), build["labels"])
    if "extra_hosts" in build:
        build["extra_hosts"] = extra_hosts(norm, (*path, "extra_hosts"), build["extra_hosts"])
    if "additional_contexts" in build:
        contexts = _mapping(norm, (*path, "additional_contexts"), build["additional_contexts"])
        build["additional_contexts"] = {
            k: v if v is None or is_remote(v) or ":" in v.split("/")[0] else norm.host_path(v)
            for k, v in contexts.items()
        }
    if "shm_size" in build:
        build["shm_size"] = _size(norm, (*path, "shm_size"), build["shm_size"])
    for key in ("pull", "no_cache", "privileged"):
        if key in build:
            build[key] = norm.convert((*path, key), to_bool, build[key])
    return build


def _healthcheck(norm: Norm, path: Path, value: Any) -> dict[str, Any]:
    check = dict(value)
    if "disable" in check and norm.convert((*path, "disable"), to_bool, check["disable"]):
        return {"disable": True}
    check.pop("disable", None)
    test = check.get("test")
    if isinstance(test, str):
        check["test"] = ["CMD-SHELL", test]
    elif isinstance(test, list):
        if not test:
            raise norm.error((*path, "test"), 'an empty test list; use ["NONE"] or disable: true to turn it off')
        if test[0] == "NONE":
            return {"disable": True}
        if test[0] not in ("CMD", "CMD-SHELL"):
            raise norm.error(
                (*path, "test"),
                f"a test list must start with CMD, CMD-SHELL or NONE, not {test[0]!r}",
                hint=f'write ["CMD", {", ".join(repr(t) for t in test[:2])}, ...]',
            )
    for key in ("interval", "timeout", "start_period", "start_interval"):
        if key in check:
            check[key] = _duration(norm, (*path, key), check[key])
    if "retries" in check:
        check["retries"] = norm.convert((*path, "retries"), to_int, check["retries"])
    return check


def _ports(norm: Norm, path: Path, value: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        item_path = (*path, index)
        if isinstance(item, dict):
            entries = [_long_port(norm, item_path, item)]
        else:
            entries = norm.convert(item_path, parse_port, item)
        for entry in entries:
            if entry not in out:
                out.append(entry)
    return out


def _long_port(norm: Norm, path: Path, item: dict[str, Any]) -> dict[str, Any]:
    if "target" not in item:
        raise norm.error(path, "a port mapping needs a 'target' (the container port)")
    entry: dict[str, Any] = {"mode": to_str(item.get("mode", "ingress"))}
    if entry["mode"] not in ("ingress", "host"):
        raise norm.error((*path, "mode"), f"must be ingress or host, not {entry['mode']!r}")
    if item.get("host_ip"):
        entry["host_ip"] = item["host_ip"]
    entry["target"] = norm.convert((*path, "target"), to_int, item["target"])
    if not 1 <= entry["target"] <= 65535:
        raise norm.error((*path, "target"), f"invalid container port {entry['target']}: ports go from 1 to 65535")
    if item.get("published") not in (None, ""):
        published = to_str(item["published"])
        if "-" in published:
            raise norm.error(
                (*path, "published"),
                f"a published port range ({published}) needs the short syntax "
                "with a matching container range, e.g. '8080-8081:80-81'",
            )
        number = norm.convert((*path, "published"), to_int, published)
        if not 0 <= number <= 65535:
            raise norm.error((*path, "published"), f"invalid published port {number}: ports go from 1 to 65535")
        entry["published"] = str(number)
    protocol = to_str(item.get("protocol", "tcp")).lower()
    if protocol not in PROTOCOLS:
        raise norm.error((*path, "protocol"), f"must be tcp, udp or sctp, not {protocol!r}")
    entry["protocol"] = protocol
    for key in ("name", "app_protocol"):
        if key in item:
            entry[key] = item[key]
    return entry


def _volumes(norm: Norm, path: Path, value: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    targets: dict[str, int] = {}
    declared = norm.defined("volumes")
    for index, item in enumerate(value):
        item_path = (*path, index)
        entry = norm.convert(item_path, parse_volume, item) if isinstance(item, str) else dict(item)
        kind = entry.get("type")
        target = str(entry.get("target") or "")
        if not target and kind != "npipe":
            raise norm.error(item_path, "a mount needs a 'target' (the path in the container)")
        if kind == "bind":
            if not entry.get("source"):
                raise norm.error(item_path, "a bind mount needs a 'source' (the host path)")
            entry["source"] = norm.host_path(entry["source"])
            bind = dict(entry.get("bind") or {})
            if "create_host_path" in bind:
                bind["create_host_path"] = norm.convert((*item_path, "bind"), to_bool, bind["create_host_path"])
            if bind:
                entry["bind"] = bind
        elif kind == "volume":
            source = entry.get("source")
            if source and source not in declared:
                raise norm.error(
                    item_path,
                    f"volume {source!r} is not declared in the top-level 'volumes' section",
                    hint=f"add it:  volumes: {{{source}: {{}}}}  (or use ./{source} for a host directory)",
                )
            volume_opts = dict(entry.get("volume") or {})
            if "nocopy" in volume_opts:
                volume_opts["nocopy"] = norm.convert((*item_path, "volume"), to_bool, volume_opts["nocopy"])
            if volume_opts:
                entry["volume"] = volume_opts
        elif kind == "tmpfs":
            tmpfs = dict(entry.get("tmpfs") or {})
            if "size" in tmpfs:
                tmpfs["size"] = _size(norm, (*item_path, "tmpfs", "size"), tmpfs["size"])
            if "mode" in tmpfs:
                tmpfs["mode"] = norm.convert((*item_path, "tmpfs", "mode"), to_mode, tmpfs["mode"])
            if tmpfs:
                entry["tmpfs"] = tmpfs
        else:
            raise norm.error(item_path, f"mount type {kind!r} is not supported by Escadre (use bind, volume or tmpfs)")
        if "read_only" in entry:
            entry["read_only"] = norm.convert((*item_path, "read_only"), to_bool, entry["read_only"])
        if target in targets:
            raise norm.error(
                item_path,
                f"two mounts use the container path {target!r} (the other is entry {targets[target]})",
            )
        targets[target] = index
        out.append(entry)
    return out


def _file_mounts(kind: str) -> Any:
    default_dir = "/run/secrets" if kind == "secrets" else ""

    def handler(norm: Norm, path: Path, value: Any) -> list[dict[str, Any]]:
        declared = norm.defined(kind)
        out: list[dict[str, Any]] = []
        for index, item in enumerate(value):
            item_path = (*path, index)
            entry: dict[str, Any] = {"source": item} if isinstance(item, str) else dict(item)
            source = entry.get("source")
            if not source:
                raise norm.error(item_path, "needs a 'source'")
            if source not in declared:
                raise norm.error(
                    item_path,
                    f"{kind[:-1]} {source!r} is not declared in the top-level '{kind}' section",
                    hint=f"add it under '{kind}:' with a file, environment or external source",
                )
            target = entry.get("target") or source
            if not target.startswith("/"):
                target = f"{default_dir}/{target}"
            entry["target"] = target
            if "mode" in entry:
                entry["mode"] = norm.convert((*item_path, "mode"), to_mode, entry["mode"])
            for key in ("uid", "gid"):
                if key in entry:
                    entry[key] = to_str(entry[key])
            out.append(entry)
        return out

    return handler


def _depends_on(norm: Norm, path: Path, value: Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if isinstance(value, list):
        node = norm.node(path)
        if node is not None:
            node.rekey(dict(enumerate(value)))
        return {name: {"condition": "service_started", "required": True, "restart": False} for name in value}
    for name, given in value.items():
        spec = given or {}
        out[name] = {
            "condition": spec.get("condition", "service_started"),
            "required": norm.convert((*path, name, "required"), to_bool, spec.get("required", True)),
            "restart": norm.convert((*path, name, "restart"), to_bool, spec.get("restart", False)),
        }
    return out


def _networks(norm: Norm, path: Path, value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        node = norm.node(path)
        if node is not None:
            node.rekey(dict(enumerate(value)))
        value = dict.fromkeys(value)
    declared = norm.defined("networks")
    out: dict[str, Any] = {}
    for name, spec in value.items():
        if name not in declared and name != "default":
            raise norm.error(
                (*path, name),
                f"network {name!r} is not declared in the top-level 'networks' section",
                hint=f"add it:  networks: {{{name}: {{}}}}",
            )
        if spec is None:
            out[name] = None
            continue
        entry = dict(spec)
        if "aliases" in entry:
            entry["aliases"] = norm.convert((*path, name, "aliases"), str_list, entry["aliases"])
        if "priority" in entry:
            entry["priority"] = norm.convert((*path, name, "priority"), to_int, entry["priority"])
        out[name] = entry
    return out


def _ulimits(norm: Norm, path: Path, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, limit in value.items():
        if isinstance(limit, dict):
            soft = norm.convert((*path, name, "soft"), to_int, limit.get("soft"))
            hard = norm.convert((*path, name, "hard"), to_int, limit.get("hard"))
            if soft > hard:
                raise norm.error((*path, name), f"soft limit {soft} is above hard limit {hard}")
            out[name] = {"soft": soft, "hard": hard}
        else:
            number = norm.convert((*path, name), to_int, limit)
            out[name] = {"soft": number, "hard": number}
    return out


def _logging(norm: Norm, path: Path, value: Any) -> dict[str, Any]:
    out = dict(value)
    if isinstance(out.get("options"), dict):
        out["options"] = {k: None if v is None else to_str(v) for k, v in out["options"].items()}
    return out


def _restart(norm: Norm, path: Path, value: Any) -> str:
    text = to_str(value)
    if not _RESTART.match(text):
        raise norm.error(path, f"invalid restart policy {text!r}: use no, always, on-failure[:N] or unless-stopped")
    return text


def _deploy(norm: Norm, path: Path, value: Any) -> dict[str, Any]:
    return normalize_deploy(norm, path, value)


def _expose(norm: Norm, path: Path, value: Any) -> list[str]:
    return norm.convert(path, str_list, value)


_HANDLERS: dict[str, Any] = {
    "build": _build,
    "command": _args,
    "entrypoint": _args,
    "healthcheck": _healthcheck,
    "ports": _ports,
    "expose": _expose,
    "volumes": _volumes,
    "secrets": _file_mounts("secrets"),
    "configs": _file_mounts("configs"),
    "depends_on": _depends_on,
    "networks": _networks,
    "ulimits": _ulimits,
    "logging": _logging,
    "restart": _restart,
    "env_file": env_files,
    "labels": _labels,
    "annotations": _labels,
    "sysctls": _sysctls,
    "extra_hosts": extra_hosts,
    "stop_grace_period": _duration,
    "deploy": _deploy,
    "environment": lambda norm, path, value: value,  # rebuilt by resolve_environment once env_file is known
}
