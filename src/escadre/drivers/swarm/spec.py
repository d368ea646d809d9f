"""Translating a service revision into a Swarm service spec (Engine API ``ServiceSpec`` JSON).

``service_spec`` is pure (no engine call): every Compose key's translation is unit-tested, and the same
spec serves ``apply_revision`` (create) and the native rolling update (update in place). A revision is one
swarm service named ``<app>_<service>_<revision[:6]>``, labelled ``escadre.app/service/revision`` on the
service *and* on its task template's containers — each task then says which revision it runs, which is
what lets ``observe`` follow a native update task by task.

Choices where Swarm and Compose differ:

* **restart policy** — Swarm's default is ``any``, which restarts a finished one-shot task forever.
  Escadre's default is ``on-failure`` (crashes are restarted, jobs complete); ``restart:`` and
  ``deploy.restart_policy`` are honoured when given.
* **image** — a locally built or imported image is referenced by its *id*: Swarm then never tries to
  pull it (a tag makes every task first try the registry, which fails or stalls without one); a reference
  with a digest (``repo@sha256:…``, e.g. pushed to the target's registry) is used as is.
* **names on networks** — each task joins its networks with the service's Compose name and aliases, so
  ``db`` resolves whatever revision runs; a routed service's name belongs to the router, its tasks get
  ``<service>-<revision[:6]>`` instead (as on the Docker target).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from escadre.core.errors import UsageError
from escadre.drivers.base import labels_for
from escadre.drivers.swarm.mesh import Endpoint, Mesh, endpoint
from escadre.drivers.swarm.objects import ObjectRef
from escadre.model.project import Healthcheck, Project, Service, UpdateConfig
from escadre.model.revision import Revision

NS = 1_000_000_000
LABEL_IMAGE = "escadre.image"
NAME_LIMIT = 63


@dataclass(frozen=True, slots=True)
class ServicePlan:
    """What ``POST /services/create`` (or ``/update``) receives, plus the fallbacks applied, in words."""

    name: str
    spec: Mapping[str, Any]
    notes: tuple[str, ...] = field(default_factory=tuple)
    endpoint: Endpoint | None = None


def service_name(app: str, service: str, revision: str) -> str:
    name = f"{app}_{service}_{revision[:6]}"
    if len(name) > NAME_LIMIT:
        name = f"{name[: NAME_LIMIT - 7].rstrip('_.-')}_{revision[:6]}"
    return name


def service_image(revision: Revision) -> str:
    """What tasks run: a digest reference as is, else the image id when known (never pulled), else the tag."""
    if "@sha256:" in revision.image:
        return revision.image
    return revision.image_id or revision.image


def restart_policy(svc: Service) -> dict[str, Any]:
    """Compose ``restart``/``deploy.restart_policy`` as Swarm's; default ``on-failure`` (module docstring)."""
    rp = svc.deploy.restart_policy
    if rp is not None:
        out: dict[str, Any] = {"Condition": rp.condition}
        if rp.delay is not None:
            out["Delay"] = int(rp.delay * NS)
        if rp.max_attempts is not None:
            out["MaxAttempts"] = rp.max_attempts
        if rp.window is not None:
            out["Window"] = int(rp.window * NS)
        return out
    if svc.restart:
        name, _, count = svc.restart.partition(":")
        if name == "no":
            return {"Condition": "none"}
        if name == "on-failure":
            return {"Condition": "on-failure", **({"MaxAttempts": int(count)} if count else {})}
        return {"Condition": "any"}
    return {"Condition": "on-failure"}


def healthcheck(hc: Healthcheck | None) -> dict[str, Any] | None:
    if hc is None:
        return None
    if hc.disabled:
        return {"Test": ["NONE"]}
    out: dict[str, Any] = {
        "Interval": int(hc.interval * NS),
        "Timeout": int(hc.timeout * NS),
        "Retries": hc.retries,
        "StartPeriod": int(hc.start_period * NS),
    }
    if hc.test:
        out["Test"] = list(hc.test)
    return out


def update_config(spec: Mapping[str, Any] | None, model: UpdateConfig | None) -> dict[str, Any] | None:
    """Compose ``update_config``/``rollback_config`` as Swarm's; keys left out keep Swarm's defaults."""
    if spec is None or model is None:
        return None
    out: dict[str, Any] = {}
    if "parallelism" in spec:
        out["Parallelism"] = model.parallelism
    if "delay" in spec:
        out["Delay"] = int(model.delay * NS)
    if "failure_action" in spec:
        out["FailureAction"] = model.failure_action
    if "monitor" in spec:
        out["Monitor"] = int(model.monitor * NS)
    if "max_failure_ratio" in spec:
        out["MaxFailureRatio"] = model.max_failure_ratio
    if "order" in spec:
        out["Order"] = model.order
    return out


def _mounts(project: Project, svc: Service) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in svc.mounts:
        mount: dict[str, Any] = {"Type": m.type, "Target": m.target, "ReadOnly": m.read_only}
        if m.type == "volume":
            volume = project.volumes.get(m.source or "")
            mount["Source"] = volume.name if volume is not None else m.source
            options: dict[str, Any] = {"NoCopy": m.nocopy}
            if volume is not None and not volume.external:
                # tasks on other nodes create the volume there: with the same driver, options and labels
                options["Labels"] = {**volume.labels, **labels_for(project.name)}
                if volume.driver or volume.driver_opts:
                    options["DriverConfig"] = {"Name": volume.driver or "local", "Options": dict(volume.driver_opts)}
            mount["VolumeOptions"] = options
        elif m.type == "bind":
            mount["Source"] = m.source
            if m.propagation:
                mount["BindOptions"] = {"Propagation": m.propagation}
        else:
            tmpfs: dict[str, Any] = {}
            if m.tmpfs_size is not None:
                tmpfs["SizeBytes"] = m.tmpfs_size
            if m.tmpfs_mode is not None:
                tmpfs["Mode"] = m.tmpfs_mode
            if tmpfs:
                mount["TmpfsOptions"] = tmpfs
        out.append(mount)
    return out


def _file_refs(svc: Service, kind: str, refs: Mapping[str, ObjectRef]) -> list[dict[str, Any]]:
    out = []
    for fm in svc.secrets if kind == "secret" else svc.configs:
        ref = refs[fm.source]
        out.append(
            {
                f"{kind.capitalize()}ID": ref.id,
                f"{kind.capitalize()}Name": ref.name,
                "File": {
                    "Name": fm.target,
                    "UID": str(fm.uid or "0"),
                    "GID": str(fm.gid or "0"),
                    "Mode": fm.mode if fm.mode is not None else 0o444,
                },
            }
        )
    return out


def _platform(value: Any) -> list[dict[str, str]] | None:
    if not isinstance(value, str) or "/" not in value:
        return None
    os_name, _, arch = value.partition("/")
    return [{"OS": os_name, "Architecture": arch.split("/")[0]}]


def _container_spec(
    project: Project,
    svc: Service,
    revision: Revision,
    secrets: Mapping[str, ObjectRef],
    configs: Mapping[str, ObjectRef],
) -> dict[str, Any]:
    spec = svc.spec
    container: dict[str, Any] = {
        "Image": service_image(revision),
        "Labels": {**svc.labels, **labels_for(project.name, svc.name, revision.id)},
        "Env": [f"{k}={v}" for k, v in svc.environment.items() if v is not None],
        "Mounts": _mounts(project, svc),
        "Secrets": _file_refs(svc, "secret", secrets),
        "Configs": _file_refs(svc, "config", configs),
        "TTY": svc.tty,
        "OpenStdin": svc.stdin_open,
        "ReadOnly": svc.read_only,
    }
    optional: dict[str, Any] = {
        "Command": list(svc.entrypoint) if svc.entrypoint is not None else None,
        "Args": list(svc.command) if svc.command is not None else None,
        "Hostname": svc.hostname,
        "Dir": svc.working_dir,
        "User": svc.user,
        "Groups": [str(g) for g in spec.get("group_add") or []] or None,
        "StopSignal": svc.stop_signal,
        "StopGracePeriod": int(svc.stop_grace_period * NS) if svc.stop_grace_period is not None else None,
        "Healthcheck": healthcheck(svc.healthcheck),
        "Hosts": [f"{ip} {host}" for host, ip in svc.extra_hosts.items()] or None,
        "Init": svc.init,
        "CapabilityAdd": list(svc.cap_add) or None,
        "CapabilityDrop": list(svc.cap_drop) or None,
        "Sysctls": dict(svc.sysctls) or None,
        "Isolation": spec.get("isolation"),
    }
    container.update({k: v for k, v in optional.items() if v is not None})
    if svc.dns or spec.get("dns_search") or spec.get("dns_opt"):
        container["DNSConfig"] = {
            k: v
            for k, v in (
                ("Nameservers", list(svc.dns)),
                ("Search", list(spec.get("dns_search") or [])),
                ("Options", list(spec.get("dns_opt") or [])),
            )
            if v
        }
    if svc.ulimits:
        container["Ulimits"] = [
            {"Name": k, "Soft": v, "Hard": v}
            if isinstance(v, int)
            else {"Name": k, "Soft": v["soft"], "Hard": v["hard"]}
            for k, v in sorted(svc.ulimits.items())
        ]
    return container


def _resources(svc: Service) -> dict[str, Any]:
    limits, reservations = svc.deploy.limits, svc.deploy.reservations
    out: dict[str, Any] = {"Limits": {}, "Reservations": {}}
    if limits.cpus:
        out["Limits"]["NanoCPUs"] = int(limits.cpus * NS)
    if limits.memory:
        out["Limits"]["MemoryBytes"] = limits.memory
    if limits.pids:
        out["Limits"]["Pids"] = limits.pids
    if reservations.cpus:
        out["Reservations"]["NanoCPUs"] = int(reservations.cpus * NS)
    if reservations.memory:
        out["Reservations"]["MemoryBytes"] = reservations.memory
    return out


def _placement(svc: Service) -> dict[str, Any]:
    placement = svc.deploy.placement
    out: dict[str, Any] = {}
    if placement.constraints:
        out["Constraints"] = list(placement.constraints)
    if placement.preferences:
        out["Preferences"] = [
            {"Spread": {"SpreadDescriptor": pref.removeprefix("spread=")}} for pref in placement.preferences
        ]
    if placement.max_replicas_per_node:
        out["MaxReplicas"] = placement.max_replicas_per_node
    platforms = _platform(svc.spec.get("platform"))
    if platforms:
        out["Platforms"] = platforms
    return out


def _networks(project: Project, svc: Service, revision: Revision, routed: bool) -> list[dict[str, Any]]:
    if svc.network_mode in ("host", "none"):
        return [{"Target": svc.network_mode}]  # swarm attaches tasks to the node's host / none network
    if svc.network_mode:
        raise UsageError(
            f"service {svc.name!r}: network_mode {svc.network_mode} has no equivalent on swarm",
            hint="swarm tasks share a network, not another task's stack: put both services on one network",
        )
    out = []
    for net in sorted(svc.networks, key=lambda n: -n.priority):
        platform = project.networks[net.name].name if net.name in project.networks else net.name
        aliases = [f"{svc.name}-{revision.id[:6]}"] if routed else [svc.name, *net.aliases]
        out.append({"Target": platform, "Aliases": aliases})
    return out


def service_spec(
    project: Project,
    revision: Revision,
    *,
    replicas: int,
    mesh: Mesh,
    secrets: Mapping[str, ObjectRef],
    configs: Mapping[str, ObjectRef],
    name: str | None = None,
) -> ServicePlan:
    """The ``ServiceSpec`` running ``replicas`` tasks of ``revision`` (``name``: keep an existing one's)."""
    svc = project.services[revision.service]
    routed = project.is_routed(svc.name)
    name = name or service_name(project.name, svc.name, revision.id)
    reach = endpoint(svc, mesh=mesh, routed=routed)
    task: dict[str, Any] = {
        "ContainerSpec": _container_spec(project, svc, revision, secrets, configs),
        "Resources": _resources(svc),
        "RestartPolicy": restart_policy(svc),
        "Placement": _placement(svc),
        "Networks": _networks(project, svc, revision, routed),
        "ForceUpdate": 0,
    }
    if svc.logging:
        task["LogDriver"] = {
            "Name": svc.logging.get("driver") or "json-file",
            "Options": dict(svc.logging.get("options") or {}),
        }
    mode: dict[str, Any] = {"Global": {}} if svc.deploy.mode == "global" else {"Replicated": {"Replicas": replicas}}
    deploy = svc.spec.get("deploy") or {}
    spec: dict[str, Any] = {
        "Name": name,
        "Labels": {
            **svc.deploy.labels,
            **labels_for(project.name, svc.name, revision.id),
            LABEL_IMAGE: revision.image,
        },
        "TaskTemplate": task,
        "Mode": mode,
        "EndpointSpec": {"Mode": reach.mode, "Ports": [dict(p) for p in reach.ports]},
    }
    for key, source, model in (
        ("UpdateConfig", deploy.get("update_config"), svc.deploy.update_config),
        ("RollbackConfig", deploy.get("rollback_config"), svc.deploy.rollback_config),
    ):
        config = update_config(source, model)
        if config is not None:
            spec[key] = config
    return ServicePlan(name, spec, reach.notes, reach)


__all__ = ["LABEL_IMAGE", "ServicePlan", "restart_policy", "service_image", "service_name", "service_spec"]
