"""One Compose service → one pod template (one container, plus init containers for ``depends_on``).

Choices worth knowing (docs/kubernetes.md has the full table):

* ``entrypoint`` is the container's ``command`` and ``command`` its ``args`` (Kubernetes' names are the
  other way round from Docker's).
* ``enableServiceLinks: false``: Kubernetes would otherwise inject ``API_PORT=tcp://10.0.0.7:8000`` for a
  Service named ``api`` into every pod, which Compose never does and which breaks apps reading ``API_PORT``.
* ``automountServiceAccountToken: false`` unless ``x-kubernetes.service_account`` is set: a Compose
  container has no credentials for its orchestrator, so neither does the pod.
* ``init: true`` → ``shareProcessNamespace``: the pod's pause process becomes PID 1 and reaps zombies,
  which is what Docker's tini does.
* ``depends_on`` → one init container per dependency that waits until the dependency's Service answers
  (``nc -z``) — through a ClusterIP only *ready* pods answer, so this covers ``service_started`` and
  ``service_healthy``. ``service_completed_successfully`` cannot be seen from inside a pod without API
  credentials: Escadre's ``up`` waits for the Job itself; with ``kubectl apply`` alone it is noted.
"""

from __future__ import annotations

import re
from typing import Any

from escadre.drivers.kubernetes.translate.common import (
    Ctx,
    Manifest,
    Workload,
    annotations_from,
    dns_label,
    quantity_bytes,
    quantity_cpu,
    seconds,
    service_name,
)
from escadre.drivers.kubernetes.translate.config import checksums, file_mounts
from escadre.drivers.kubernetes.translate.network import pod_network_labels
from escadre.drivers.kubernetes.translate.probes import probes
from escadre.drivers.kubernetes.translate.security import container_security, pod_security
from escadre.drivers.kubernetes.translate.services import container_ports, k8s_settings
from escadre.drivers.kubernetes.translate.storage import mount_volumes
from escadre.model.project import Service

WAIT_IMAGE = "busybox:1.36"
"""Image of the init containers that wait for dependencies (anything with ``sh`` and ``nc``)."""

PULL_POLICY = {"always": "Always", "never": "Never", "missing": "IfNotPresent", "if_not_present": "IfNotPresent"}
ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm", "arm": "arm"}


def container(ctx: Ctx, svc: Service, image: str, kind: Workload, annotations: dict[str, str]) -> Manifest:
    path = f"services.{svc.name}"
    c: dict[str, Any] = {"name": service_name(svc.name), "image": image}
    policy = svc.pull_policy
    if policy:
        if policy in PULL_POLICY:
            c["imagePullPolicy"] = PULL_POLICY[policy]
        elif policy == "build":
            c["imagePullPolicy"] = "IfNotPresent"
            ctx.note(f"{path}.pull_policy", "build: the image is pulled from its registry, not built")
        else:
            c["imagePullPolicy"] = "Always"
            ctx.note(f"{path}.pull_policy", f"{policy}: Kubernetes pulls on every start (Always)")
    if svc.entrypoint is not None:
        c["command"] = list(svc.entrypoint)
    if svc.command is not None:
        c["args"] = list(svc.command)
    if svc.working_dir:
        c["workingDir"] = svc.working_dir
    env = [{"name": k, "value": str(v)} for k, v in sorted(svc.environment.items()) if v is not None]
    if env:
        c["env"] = env
    ports = []
    for port, proto in container_ports(ctx, svc):
        entry: dict[str, Any] = {"containerPort": port, "protocol": proto}
        host = next(
            (p for p in svc.ports if p.mode == "host" and p.target == port and p.protocol.upper() == proto), None
        )
        if host is not None and host.published is not None:
            entry["hostPort"] = host.published
            if host.host_ip:
                entry["hostIP"] = host.host_ip
        ports.append(entry)
    if ports:
        c["ports"] = ports
    resources = _resources(ctx, svc)
    if resources:
        c["resources"] = resources
    security = container_security(ctx, svc, annotations)
    if security:
        c["securityContext"] = security
    if kind != "Job":
        c.update(probes(ctx, svc))
    lifecycle = _lifecycle(ctx, svc)
    if lifecycle:
        c["lifecycle"] = lifecycle
    if svc.tty:
        c["tty"] = True
    if svc.stdin_open:
        c["stdin"] = True
    if svc.stop_signal and svc.stop_signal not in ("SIGTERM", "TERM", "15"):
        ctx.note(
            f"{path}.stop_signal",
            f"{svc.stop_signal}: Kubernetes sends the image's STOPSIGNAL (set STOPSIGNAL {svc.stop_signal} in it)",
        )
    return c


def _resources(ctx: Ctx, svc: Service) -> Manifest:
    path = f"services.{svc.name}"
    limits: dict[str, str] = {}
    requests: dict[str, str] = {}
    lim, res = svc.deploy.limits, svc.deploy.reservations
    spec = svc.spec
    cpus = lim.cpus
    if cpus is None and spec.get("cpu_quota") and spec.get("cpu_period"):
        cpus = float(spec["cpu_quota"]) / float(spec["cpu_period"])
    if cpus:
        limits["cpu"] = quantity_cpu(cpus)
    if lim.memory:
        limits["memory"] = quantity_bytes(lim.memory)
    if res.cpus:
        requests["cpu"] = quantity_cpu(res.cpus)
    elif spec.get("cpu_shares"):
        requests["cpu"] = quantity_cpu(int(spec["cpu_shares"]) / 1024)
    if res.memory:
        requests["memory"] = quantity_bytes(res.memory)
    gpus = _gpus(ctx, svc)
    if gpus:
        limits["nvidia.com/gpu"] = str(gpus)
    if lim.pids:
        ctx.note(f"{path}.deploy.resources", "the pids limit is set per node by the kubelet (--pod-max-pids)")
    out: dict[str, Any] = {}
    if limits:
        out["limits"] = limits
    if requests:
        out["requests"] = requests
    return out


def _gpus(ctx: Ctx, svc: Service) -> int:
    wanted: list[Any] = []
    gpus = svc.spec.get("gpus")
    if gpus == "all":
        wanted.append({"count": "all"})
    elif isinstance(gpus, list):
        wanted.extend(gpus)
    reservations = ((svc.spec.get("deploy") or {}).get("resources") or {}).get("reservations") or {}
    wanted.extend(d for d in reservations.get("devices") or [] if "gpu" in (d.get("capabilities") or []))
    total = 0
    for device in wanted:
        count = device.get("count", 1 if not device.get("device_ids") else len(device["device_ids"]))
        if count in ("all", -1):
            ctx.note(f"services.{svc.name}", "count: all GPUs becomes 1 nvidia.com/gpu (Kubernetes needs a number)")
            count = 1
        total += int(count)
    return total


def _lifecycle(ctx: Ctx, svc: Service) -> Manifest:
    out: dict[str, Any] = {}
    for key, hook in (("post_start", "postStart"), ("pre_stop", "preStop")):
        hooks = svc.spec.get(key) or []
        if not hooks:
            continue
        if len(hooks) > 1:
            ctx.note(f"services.{svc.name}.{key}", "only the first hook runs: Kubernetes has one per container")
        first = hooks[0]
        if any(first.get(k) for k in ("user", "privileged", "working_dir", "environment")):
            ctx.note(
                f"services.{svc.name}.{key}", "user, privileged, working_dir and environment of hooks do not apply"
            )
        command = first.get("command")
        out[hook] = {"exec": {"command": list(command) if isinstance(command, list) else ["/bin/sh", "-c", command]}}
    return out


def _wait_for(ctx: Ctx, svc: Service) -> list[Manifest]:
    """Init containers for ``depends_on`` (see the module docstring)."""
    out = []
    path = f"services.{svc.name}.depends_on"
    for dep in svc.depends_on:
        other = ctx.project.services.get(dep.service)
        if other is None or dep.service == svc.name:
            continue
        if not dep.required:
            ctx.note(path, f"{dep.service} is optional (required: false): not waited for")
            continue
        if dep.restart:
            ctx.note(path, f"restart: true — Kubernetes does not restart {svc.name} when {dep.service} restarts")
        if dep.condition == "service_completed_successfully":
            ctx.note(
                path,
                f"service_completed_successfully on {dep.service}: escadre up waits for the Job; with kubectl "
                f"apply alone {svc.name} may start before it completes",
            )
            continue
        target = service_name(dep.service)
        tcp = [port for port, proto in container_ports(ctx, other) if proto == "TCP"]
        check = f"nc -z -w 2 {target} {tcp[0]}" if tcp else f"nslookup {target} >/dev/null 2>&1"
        script = f"until {check}; do echo waiting for {dep.service}; sleep 2; done"
        out.append(
            {
                "name": dns_label(f"wait-for-{dep.service}"),
                "image": WAIT_IMAGE,
                "command": ["sh", "-c", script],
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}},
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 65534,
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        )
    return out


_CONSTRAINT = re.compile(r"^\s*([\w.\-/]+)\s*(==|!=)\s*(\S+)\s*$")


def _node_key(ctx: Ctx, svc: Service, key: str) -> tuple[str, str | None]:
    """A Swarm node attribute → (Kubernetes node label, value override)."""
    if key.startswith("node.labels."):
        return key.removeprefix("node.labels."), None
    mapping = {
        "node.hostname": "kubernetes.io/hostname",
        "node.platform.os": "kubernetes.io/os",
        "node.platform.arch": "kubernetes.io/arch",
        "node.role": "node-role.kubernetes.io/control-plane",
    }
    if key in mapping:
        return mapping[key], None
    raise ctx.fail(
        svc,
        f"service {svc.name!r}: placement constraint on {key!r} has no Kubernetes node label",
        hint="use node.labels.KEY, node.hostname, node.platform.os/arch or node.role",
    )


def _scheduling(ctx: Ctx, svc: Service, spec: dict[str, Any]) -> None:
    placement = svc.deploy.placement
    expressions: list[Manifest] = []
    for text in placement.constraints:
        match = _CONSTRAINT.match(text)
        if match is None:
            raise ctx.fail(svc, f"service {svc.name!r}: placement constraint {text!r} is not KEY==VALUE or KEY!=VALUE")
        key, op, value = match.groups()
        label, _ = _node_key(ctx, svc, key)
        if key == "node.role":
            manager = (value == "manager") == (op == "==")
            expressions.append({"key": label, "operator": "Exists" if manager else "DoesNotExist"})
            continue
        if key == "node.platform.arch":
            value = ARCH.get(value, value)
        expressions.append({"key": label, "operator": "In" if op == "==" else "NotIn", "values": [value]})
    platform = svc.spec.get("platform")
    if platform:
        os_name, _, arch = str(platform).partition("/")
        expressions.append({"key": "kubernetes.io/os", "operator": "In", "values": [os_name]})
        if arch:
            expressions.append(
                {"key": "kubernetes.io/arch", "operator": "In", "values": [ARCH.get(arch.split("/")[0], arch)]}
            )
    if expressions:
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": expressions}]
                }
            }
        }
    selector = {"matchLabels": {"escadre.app": ctx.app, "escadre.service": svc.name}}
    spread: list[Manifest] = []
    for pref in placement.preferences:
        _, _, key = pref.partition("=")
        label, _ = _node_key(ctx, svc, key)
        spread.append(
            {"maxSkew": 1, "topologyKey": label, "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": selector}
        )
    per_node = placement.max_replicas_per_node
    if per_node == 1:
        spec.setdefault("affinity", {})["podAntiAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": selector, "topologyKey": "kubernetes.io/hostname"}
            ]
        }
    elif per_node:
        ctx.note(
            f"services.{svc.name}.deploy.placement",
            f"max_replicas_per_node {per_node} becomes a spread with maxSkew {per_node} across nodes",
        )
        spread.append(
            {
                "maxSkew": per_node,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": selector,
            }
        )
    if spread:
        spec["topologySpreadConstraints"] = spread


def _dns(ctx: Ctx, svc: Service, spec: dict[str, Any]) -> None:
    config: dict[str, Any] = {}
    if svc.dns:
        config["nameservers"] = list(svc.dns)
        ctx.note(f"services.{svc.name}.dns", "added after the cluster DNS, which stays first so service names resolve")
    if svc.spec.get("dns_search"):
        search = svc.spec["dns_search"]
        config["searches"] = [search] if isinstance(search, str) else list(search)
    if svc.spec.get("dns_opt"):
        config["options"] = [
            {"name": n, "value": v} if sep else {"name": n}
            for n, sep, v in (str(o).partition(":") for o in svc.spec["dns_opt"])
        ]
    if config:
        spec["dnsConfig"] = config
    hosts: dict[str, list[str]] = {}
    for host, ip in sorted(svc.extra_hosts.items()):
        if ip == "host-gateway":
            raise ctx.fail(
                svc,
                f"service {svc.name!r}: extra_hosts {host}=host-gateway has no meaning in a cluster",
                hint="give the address, or reach the host through a Service without selector",
            )
        for address in str(ip).split(","):
            hosts.setdefault(address.strip("[] "), []).append(host)
    if hosts:
        spec["hostAliases"] = [{"ip": ip, "hostnames": names} for ip, names in sorted(hosts.items())]


def pod_template(
    ctx: Ctx,
    svc: Service,
    *,
    kind: Workload,
    image: str,
    labels: dict[str, str],
) -> Manifest:
    """The pod template of the service's workload; ``labels`` are its workload's pod labels."""
    path = f"services.{svc.name}"
    annotations: dict[str, str] = {}
    annotations.update(annotations_from(ctx, f"{path}.annotations", svc.spec.get("annotations") or {}))
    annotations.update(annotations_from(ctx, f"{path}.labels", svc.labels))
    annotations.update(checksums(ctx, svc))
    main = container(ctx, svc, image, kind, annotations)
    settings = k8s_settings(svc)
    spec: dict[str, Any] = {}
    init = _wait_for(ctx, svc)
    if init:
        spec["initContainers"] = init
    spec["containers"] = [main]
    volumes, mounts = file_mounts(ctx, svc)
    more_volumes, more_mounts = mount_volumes(ctx, svc, stateful=kind == "StatefulSet")
    volumes += more_volumes
    mounts = more_mounts + mounts
    if svc.shm_size:
        volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": quantity_bytes(svc.shm_size)}})
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    if mounts:
        main["volumeMounts"] = mounts
    if volumes:
        spec["volumes"] = volumes
    spec["enableServiceLinks"] = False
    if settings.service_account:
        spec["serviceAccountName"] = settings.service_account
    else:
        spec["automountServiceAccountToken"] = False
    if kind == "Job":
        spec["restartPolicy"] = "OnFailure" if _on_failure(svc) else "Never"
    if svc.stop_grace_period is not None:
        spec["terminationGracePeriodSeconds"] = seconds(svc.stop_grace_period, 0)
    if svc.init:
        spec["shareProcessNamespace"] = True
    if svc.hostname:
        spec["hostname"] = dns_label(svc.hostname)
    if svc.domainname:
        ctx.note(f"{path}.domainname", "the pod's subdomain resolves only with a headless Service of that name")
        spec["subdomain"] = dns_label(svc.domainname.split(".")[0])
    mode = svc.network_mode
    if mode == "host":
        spec["hostNetwork"] = True
        spec["dnsPolicy"] = "ClusterFirstWithHostNet"
    elif mode not in (None, "bridge", "default") and not str(mode).startswith("bridge"):
        raise ctx.fail(
            svc,
            f"service {svc.name!r}: network_mode {mode!r} has no Kubernetes equivalent",
            hint="containers that must share a network namespace belong in one pod: merge the services",
        )
    if svc.pid == "host":
        spec["hostPID"] = True
    elif svc.pid:
        raise ctx.fail(svc, f"service {svc.name!r}: pid {svc.pid!r} has no Kubernetes equivalent (only 'host')")
    if svc.ipc == "host":
        spec["hostIPC"] = True
    elif svc.ipc not in (None, "private", "shareable"):
        raise ctx.fail(svc, f"service {svc.name!r}: ipc {svc.ipc!r} has no Kubernetes equivalent (only 'host')")
    runtime = svc.spec.get("runtime")
    if runtime:
        spec["runtimeClassName"] = dns_label(str(runtime))
    security = pod_security(ctx, svc)
    if security:
        spec["securityContext"] = security
    _dns(ctx, svc, spec)
    _scheduling(ctx, svc, spec)
    template_labels = {**labels, **pod_network_labels(ctx, svc)}
    meta: dict[str, Any] = {"labels": template_labels}
    if annotations:
        meta["annotations"] = dict(sorted(annotations.items()))
    return {"metadata": meta, "spec": spec}


def _on_failure(svc: Service) -> bool:
    policy = svc.deploy.restart_policy
    if policy is not None:
        return policy.condition == "on-failure"
    return (svc.restart or "").startswith("on-failure")
