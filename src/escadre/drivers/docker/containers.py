"""Translating a service revision into the Engine API's container-create request.

``container_plan`` is pure (no engine calls), so every Compose key's translation is unit-tested; the
driver feeds its result to ``APIClient.create_container``. Secrets and configs become read-only bind
mounts of their files when the engine is local, and otherwise files copied into the created container
before it starts (``put_archive``) — never environment variables or labels.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from docker.types import DeviceRequest, LogConfig, Mount, Ulimit

from escadre.core.errors import SpecError, UsageError
from escadre.core.units import parse_bytes
from escadre.drivers.base import LABEL_REPLICA, labels_for
from escadre.model.project import FileMount, FileSource, Project, Service
from escadre.model.revision import Revision

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class FileCopy:
    """A file put into the container before it starts."""

    path: str
    content: bytes
    mode: int
    uid: int = 0
    gid: int = 0


@dataclass(slots=True)
class ContainerPlan:
    name: str
    create: dict[str, Any]
    host_config: dict[str, Any]
    first_network: tuple[str, dict[str, Any]] | None
    extra_networks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    copies: list[FileCopy] = field(default_factory=list)


def container_name(project: Project, service: Service, revision: Revision, replica: int) -> str:
    if service.container_name:
        return service.container_name
    return f"{project.name}-{service.name}-{revision.id[:6]}-{replica}"


def restart_policy(service: Service) -> dict[str, Any] | None:
    if service.restart:
        name, _, count = service.restart.partition(":")
        if name == "no":
            return None
        policy: dict[str, Any] = {"Name": name}
        if name == "on-failure" and count:
            policy["MaximumRetryCount"] = int(count)
        return policy
    rp = service.deploy.restart_policy
    if rp is None:
        return None
    if rp.condition == "none":
        return None
    if rp.condition == "on-failure":
        return {"Name": "on-failure", "MaximumRetryCount": rp.max_attempts or 0}
    return {"Name": "always"}


def healthcheck(service: Service) -> dict[str, Any] | None:
    hc = service.healthcheck
    if hc is None:
        return None
    if hc.disabled:
        return {"test": ["NONE"]}
    out: dict[str, Any] = {
        "interval": int(hc.interval * NS),
        "timeout": int(hc.timeout * NS),
        "retries": hc.retries,
        "start_period": int(hc.start_period * NS),
    }
    if hc.test:
        out["test"] = list(hc.test)
    return out


def _file_bytes(src: FileSource, environ: Mapping[str, str]) -> bytes:
    if src.content is not None:
        return src.content.encode()
    if src.environment is not None:
        if src.environment not in environ:
            raise SpecError(
                f"{src.key!r} takes its value from the environment variable {src.environment}, which is not set",
                location=src.location,
                hint=f"export {src.environment}=... before running escadre",
            )
        return environ[src.environment].encode()
    assert src.file is not None
    try:
        with open(src.file, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise SpecError(f"cannot read the file of {src.key!r}: {exc}", location=src.location) from exc


def _file_mount(
    fm: FileMount,
    src: FileSource,
    kind: str,
    *,
    local: bool,
    read_only_rootfs: bool,
    environ: Mapping[str, str],
    mounts: list[Mount],
    copies: list[FileCopy],
    service: Service,
) -> None:
    default_mode = 0o444
    if src.external:
        raise UsageError(
            f"service {service.name!r}: {kind} {src.key!r} is external, which a plain Docker engine cannot hold",
            hint="external secrets and configs need a swarm or kubernetes target; use file: on docker",
        )
    if src.file is not None and local and fm.uid is None and fm.gid is None and fm.mode is None:
        mounts.append(Mount(target=fm.target, source=src.file, type="bind", read_only=True))
        return
    if read_only_rootfs:
        if src.file is not None and local:
            mounts.append(Mount(target=fm.target, source=src.file, type="bind", read_only=True))
            return
        raise UsageError(
            f"service {service.name!r} has read_only: true and {kind} {src.key!r} must be copied into it, "
            "which a read-only root filesystem forbids",
            hint=f"give {kind} {src.key!r} a file: source on a local engine, or drop read_only for this service",
        )
    copies.append(
        FileCopy(
            path=fm.target,
            content=_file_bytes(src, environ),
            mode=fm.mode if fm.mode is not None else default_mode,
            uid=int(fm.uid or 0),
            gid=int(fm.gid or 0),
        )
    )


def _blkio(spec: Mapping[str, Any]) -> dict[str, Any]:
    blkio = spec.get("blkio_config") or {}
    out: dict[str, Any] = {}
    if "weight" in blkio:
        out["blkio_weight"] = int(blkio["weight"])
    if blkio.get("weight_device"):
        out["blkio_weight_device"] = [{"Path": d["path"], "Weight": int(d["weight"])} for d in blkio["weight_device"]]
    for key in ("device_read_bps", "device_write_bps", "device_read_iops", "device_write_iops"):
        if blkio.get(key):
            convert = parse_bytes if key.endswith("bps") else int
            out[key] = [{"Path": d["path"], "Rate": convert(d["rate"])} for d in blkio[key]]
    return out


def _device_requests(svc: Service) -> list[DeviceRequest]:
    """``gpus:`` and ``deploy.resources.reservations.devices`` as Engine device requests."""
    requests: list[DeviceRequest] = []
    gpus = svc.spec.get("gpus")
    if gpus == "all":
        requests.append(DeviceRequest(count=-1, capabilities=[["gpu"]]))
    elif isinstance(gpus, list):
        for g in gpus:
            requests.append(_device_request(g))
    reservations = ((svc.spec.get("deploy") or {}).get("resources") or {}).get("reservations") or {}
    for d in reservations.get("devices") or []:
        requests.append(_device_request(d))
    return requests


def _device_request(d: Mapping[str, Any]) -> DeviceRequest:
    count = d.get("count")
    return DeviceRequest(
        driver=d.get("driver") or "",
        count=-1 if count == "all" else int(count) if count is not None and not d.get("device_ids") else 0,
        device_ids=list(d.get("device_ids") or []),
        capabilities=[list(d.get("capabilities") or ["gpu"])],
        options=dict(d.get("options") or {}),
    )


def _extra_host_config(svc: Service, resolve: Callable[[str], str | None]) -> dict[str, Any]:
    """Compose keys the typed model does not carry, read from the normalized spec."""
    spec = svc.spec
    direct = {
        "cpu_count": "cpu_count",
        "cpu_percent": "cpu_percent",
        "cpu_period": "cpu_period",
        "cpu_quota": "cpu_quota",
        "cpu_rt_period": "cpu_rt_period",
        "cpu_rt_runtime": "cpu_rt_runtime",
        "cpu_shares": "cpu_shares",
        "cpuset": "cpuset_cpus",
        "cgroup_parent": "cgroup_parent",
        "cgroup": "cgroupns",
        "device_cgroup_rules": "device_cgroup_rules",
        "dns_opt": "dns_opt",
        "dns_search": "dns_search",
        "group_add": "group_add",
        "oom_kill_disable": "oom_kill_disable",
        "oom_score_adj": "oom_score_adj",
        "mem_swappiness": "mem_swappiness",
        "memswap_limit": "memswap_limit",
        "userns_mode": "userns_mode",
        "uts": "uts_mode",
        "runtime": "runtime",
        "storage_opt": "storage_opt",
        "isolation": "isolation",
    }
    out: dict[str, Any] = {target: spec[key] for key, target in direct.items() if spec.get(key) is not None}
    out.update(_blkio(spec))
    requests = _device_requests(svc)
    if requests:
        out["device_requests"] = requests
    links: dict[str, str] = {}
    for entry in spec.get("links") or []:
        service, _, alias = str(entry).partition(":")
        links[resolve(service) or service] = alias or service
    for entry in spec.get("external_links") or []:
        container, _, alias = str(entry).partition(":")
        links[container] = alias or container
    if links:
        out["links"] = links
    volumes_from = []
    for entry in spec.get("volumes_from") or []:
        text = str(entry)
        if text.startswith("container:"):
            name, _, mode = text.removeprefix("container:").partition(":")
        else:
            source, _, mode = text.partition(":")
            found = resolve(source)
            if found is None:
                raise UsageError(
                    f"service {svc.name!r}: volumes_from {source!r} needs that service running first",
                    hint=f"add depends_on: [{source}] so it starts before {svc.name}",
                )
            name = found
        volumes_from.append(f"{name}:{mode}" if mode else name)
    if volumes_from:
        out["volumes_from"] = volumes_from
    return out


def container_plan(
    project: Project,
    revision: Revision,
    replica: int,
    *,
    image: str,
    local: bool,
    environ: Mapping[str, str] | None = None,
    network_mode_container: str | None = None,
    resolve: Callable[[str], str | None] | None = None,
    routed: bool = False,
) -> ContainerPlan:
    """The create request for instance ``replica`` of ``revision``.

    ``resolve`` maps another service's name to the name of its running container (for ``links``,
    ``volumes_from``); the driver supplies it.
    """
    env = project.source_env if environ is None else environ
    svc = project.services[revision.service]
    name = container_name(project, svc, revision, replica)
    labels = {**svc.labels, **labels_for(project.name, svc.name, revision.id), LABEL_REPLICA: str(replica)}

    mounts: list[Mount] = []
    binds: list[str] = []
    for m in svc.mounts:
        if m.type == "volume":
            source = project.volumes[m.source].name if m.source and m.source in project.volumes else m.source
            mounts.append(Mount(target=m.target, source=source, type="volume", read_only=m.read_only, no_copy=m.nocopy))
        elif m.type == "bind" and m.selinux:
            binds.append(f"{m.source}:{m.target}:{'ro' if m.read_only else 'rw'},{m.selinux}")
        elif m.type == "bind":
            if not m.create_host_path and m.source and local and not os.path.exists(m.source):
                raise SpecError(
                    f"service {svc.name!r}: bind mount source {m.source} does not exist (create_host_path: false)",
                    location=svc.location,
                )
            mounts.append(
                Mount(
                    target=m.target,
                    source=m.source,
                    type="bind",
                    read_only=m.read_only,
                    propagation=m.propagation,
                )
            )
        else:
            mounts.append(
                Mount(target=m.target, source=None, type="tmpfs", tmpfs_size=m.tmpfs_size, tmpfs_mode=m.tmpfs_mode)
            )
    copies: list[FileCopy] = []
    for kind, refs, pool in (("secret", svc.secrets, project.secrets), ("config", svc.configs, project.configs)):
        for fm in refs:
            _file_mount(
                fm,
                pool[fm.source],
                kind,
                local=local,
                read_only_rootfs=svc.read_only,
                environ=env,
                mounts=mounts,
                copies=copies,
                service=svc,
            )

    port_bindings: dict[str, list[tuple[str, int | str]]] = {}
    exposed: list[Any] = []
    for p in svc.ports:
        key = f"{p.target}/{p.protocol}"
        exposed.append((p.target, p.protocol) if p.protocol != "tcp" else p.target)
        if not routed or p.protocol != "tcp":  # a routed service's published TCP ports belong to the router
            port_bindings.setdefault(key, []).append((p.host_ip or "", p.published if p.published is not None else ""))
    for e in svc.expose:
        port, _, proto = str(e).partition("/")
        exposed.append((int(port), proto) if proto and proto != "tcp" else int(port))

    limits, reservations = svc.deploy.limits, svc.deploy.reservations
    host_config: dict[str, Any] = {
        "mounts": mounts,
        "binds": binds or None,
        "port_bindings": port_bindings or None,
        "restart_policy": restart_policy(svc),
        "cap_add": list(svc.cap_add) or None,
        "cap_drop": list(svc.cap_drop) or None,
        "privileged": svc.privileged,
        "read_only": svc.read_only,
        "security_opt": list(svc.security_opt) or None,
        "sysctls": dict(svc.sysctls) or None,
        "extra_hosts": dict(svc.extra_hosts) or None,
        "dns": list(svc.dns) or None,
        "init": svc.init,
        "shm_size": svc.shm_size,
        "pid_mode": svc.pid,
        "ipc_mode": svc.ipc,
        "devices": list(svc.devices) or None,
        "mem_limit": limits.memory,
        "mem_reservation": reservations.memory,
        "nano_cpus": int(limits.cpus * NS) if limits.cpus else None,
        "pids_limit": limits.pids,
        **_extra_host_config(svc, resolve or (lambda _name: None)),
    }
    if svc.ulimits:
        host_config["ulimits"] = [
            Ulimit(name=k, soft=v, hard=v) if isinstance(v, int) else Ulimit(name=k, soft=v["soft"], hard=v["hard"])
            for k, v in svc.ulimits.items()
        ]
    if svc.logging:
        host_config["log_config"] = LogConfig(
            type=svc.logging.get("driver") or "json-file", config=dict(svc.logging.get("options") or {})
        )
    first_network: tuple[str, dict[str, Any]] | None = None
    extra: list[tuple[str, dict[str, Any]]] = []
    if svc.network_mode:
        mode = svc.network_mode
        if mode.startswith("service:"):
            if not network_mode_container:
                raise UsageError(f"service {svc.name!r}: network_mode {mode} needs that service running first")
            mode = f"container:{network_mode_container}"
        host_config["network_mode"] = mode
    else:
        ordered = sorted(svc.networks, key=lambda n: -n.priority)
        for i, net in enumerate(ordered):
            endpoint = {
                # a routed service's name (and aliases) belong to the router, which splits the traffic
                "aliases": [f"{svc.name}-{revision.id[:6]}"] if routed else [svc.name, *net.aliases],
                "ipv4_address": net.ipv4_address,
                "ipv6_address": net.ipv6_address,
            }
            platform = project.networks[net.name].name if net.name in project.networks else net.name
            if i == 0:
                first_network = (platform, endpoint)
                host_config["network_mode"] = platform
            else:
                extra.append((platform, endpoint))

    create: dict[str, Any] = {
        "image": image,
        "name": name,
        "command": list(svc.command) if svc.command is not None else None,
        "entrypoint": list(svc.entrypoint) if svc.entrypoint is not None else None,
        "environment": [f"{k}={v}" for k, v in svc.environment.items() if v is not None],
        "labels": labels,
        "ports": exposed or None,
        "user": svc.user,
        "working_dir": svc.working_dir,
        "hostname": svc.hostname,
        "domainname": svc.domainname,
        "tty": svc.tty,
        "stdin_open": svc.stdin_open,
        "stop_signal": svc.stop_signal,
        "stop_timeout": int(svc.stop_grace_period) if svc.stop_grace_period is not None else None,
        "healthcheck": healthcheck(svc),
        "mac_address": svc.spec.get("mac_address"),
        "platform": svc.spec.get("platform"),
    }
    return ContainerPlan(
        name=name,
        create={k: v for k, v in create.items() if v is not None},
        host_config={k: v for k, v in host_config.items() if v is not None},
        first_network=first_network,
        extra_networks=extra,
        copies=copies,
    )


def archive(copies: list[FileCopy]) -> bytes:
    """A tar stream placing each file at its absolute path.

    No directory entries: the engine creates missing parents, and an entry for an existing directory
    would reset its mode (``/tmp`` losing its sticky bit).
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for copy in copies:
            info = tarfile.TarInfo(copy.path.strip("/"))
            info.size = len(copy.content)
            info.mode = copy.mode
            info.uid, info.gid = copy.uid, copy.gid
            tar.addfile(info, io.BytesIO(copy.content))
    return buf.getvalue()
