"""Host isolation (``ESC-HST-*``): namespaces, host paths, sockets and how ports are published.

Each of these removes a wall between the container and the machine it runs on. Compose spells them
``network_mode: host``, ``pid: host``, bind mounts and ``ports:``; the Kubernetes renderer turns the same
keys into ``hostNetwork``, ``hostPID``, ``hostPath`` and ``hostPort``, which is why one rule here answers
for every target.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from escadre.policy.model import Hit, Refs, RuleSet
from escadre.policy.subjects import ServiceInput

rules = RuleSet("compose", "host")

SENSITIVE_PATHS = (
    "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/sys", "/usr", "/bin", "/sbin", "/root", "/home",
    "/var/lib/docker", "/var/lib/containerd", "/var/lib/kubelet", "/var/run", "/run", "/var/log",
)  # fmt: skip
"""Host directories whose exposure compromises the host (CIS Docker 5.6 lists /, /boot, /dev, /etc,
/lib, /proc, /sys and /usr; runtime state and home directories are added)."""
RUNTIME_SOCKETS = ("docker", "containerd", "crio", "cri-dockerd", "podman", "dockershim", "buildkitd")
SOCKET_DIRS = frozenset({"/var/run", "/run", "/var/run/docker", "/run/containerd", "/var/run/containerd", "/run/crio"})


def _binds(s: ServiceInput) -> Iterator[tuple[int, dict[str, Any]]]:
    for index, volume in enumerate(s.service.spec.get("volumes", ())):
        if volume.get("type") == "bind" and volume.get("source"):
            yield index, volume


def runtime_socket(source: str) -> bool:
    """A container runtime's API socket, or a directory that holds one."""
    path = os.path.normpath(source)
    name = os.path.basename(path)
    if path in SOCKET_DIRS:
        return True
    return name.endswith(".sock") and any(runtime in name for runtime in RUNTIME_SOCKETS)


def sensitive_path(source: str) -> bool:
    path = os.path.normpath(source)
    return path == "/" or any(path == p or path.startswith(p + "/") for p in SENSITIVE_PATHS)


def _namespace_rule(key: str, value: Any, what: str) -> Iterator[Hit]:
    if value == "host":
        yield Hit(f"shares the host's {what} namespace ({key}: host)", (key,))


@rules.add(
    "ESC-HST-001",
    "Host network namespace",
    "high",
    rationale="""With the host's network the container sees every interface of the machine, can bind any
    port and reach services listening on localhost only.""",
    remediation="Remove `network_mode: host`; publish the ports the service needs.",
    refs=Refs(
        cis=("5.10",),
        pss=("baseline/host-namespaces",),
        nsa=("1.5",),
        checkov=("CKV_K8S_19",),
        trivy=("KSV009",),
    ),
)
def host_network(s: ServiceInput) -> Iterator[Hit]:
    yield from _namespace_rule("network_mode", s.service.network_mode, "network")


@rules.add(
    "ESC-HST-002",
    "Host PID namespace",
    "high",
    rationale="""With the host's PID namespace the container sees every process of the machine and, as
    root, can signal or ptrace them.""",
    remediation="Remove `pid: host`.",
    refs=Refs(
        cis=("5.16",),
        pss=("baseline/host-namespaces",),
        nsa=("1.4",),
        checkov=("CKV_K8S_17",),
        trivy=("KSV010",),
    ),
)
def host_pid(s: ServiceInput) -> Iterator[Hit]:
    yield from _namespace_rule("pid", s.service.pid, "PID")


@rules.add(
    "ESC-HST-003",
    "Host IPC namespace",
    "high",
    rationale="""The host's IPC namespace exposes its shared memory segments and message queues to the
    container.""",
    remediation="Remove `ipc: host` (use `ipc: shareable` between containers that need it).",
    refs=Refs(
        cis=("5.17",),
        pss=("baseline/host-namespaces",),
        nsa=("1.4",),
        checkov=("CKV_K8S_18",),
        trivy=("KSV008",),
    ),
)
def host_ipc(s: ServiceInput) -> Iterator[Hit]:
    yield from _namespace_rule("ipc", s.service.ipc, "IPC")


@rules.add(
    "ESC-HST-004",
    "Host UTS namespace",
    "medium",
    rationale="The host's UTS namespace lets the container change the machine's hostname.",
    remediation="Remove `uts: host`.",
    refs=Refs(cis=("5.21",)),
)
def host_uts(s: ServiceInput) -> Iterator[Hit]:
    yield from _namespace_rule("uts", s.service.spec.get("uts"), "UTS")


@rules.add(
    "ESC-HST-005",
    "Host user namespace",
    "medium",
    rationale="""When the daemon remaps users, `userns_mode: host` opts the container out: its root is the
    host's root again.""",
    remediation="Remove `userns_mode: host`.",
    refs=Refs(cis=("5.31",)),
)
def host_userns(s: ServiceInput) -> Iterator[Hit]:
    yield from _namespace_rule("userns_mode", s.service.spec.get("userns_mode"), "user")


@rules.add(
    "ESC-HST-006",
    "Container runtime socket mounted",
    "critical",
    rationale="""Whoever can talk to the Docker (or containerd, CRI-O, Podman) socket can start a
    privileged container with the host's root file system: it is root on the host.""",
    remediation="""Remove the mount. A service that must drive containers should use a narrowly scoped API
    proxy or run outside the application.""",
    refs=Refs(cis=("5.32",), checkov=("CKV_K8S_27",), trivy=("KSV006",)),
)
def runtime_socket_mount(s: ServiceInput) -> Iterator[Hit]:
    for index, volume in _binds(s):
        if runtime_socket(volume["source"]):
            yield Hit(
                f"mounts the container runtime socket {volume['source']}",
                ("volumes", index),
                evidence=volume["source"],
            )


@rules.add(
    "ESC-HST-007",
    "Sensitive host path mounted",
    "high",
    rationale="""Mounting /, /etc, /proc, /sys, /dev, /boot, /usr, /root or the runtime's state gives the
    container the host's configuration, credentials or kernel interfaces, usually writable.""",
    remediation="Mount only the project's own files, read-only, or use a named volume.",
    refs=Refs(cis=("5.6",), pss=("baseline/hostpath-volumes",), trivy=("KSV023",)),
)
def sensitive_mount(s: ServiceInput) -> Iterator[Hit]:
    for index, volume in _binds(s):
        source = volume["source"]
        if sensitive_path(source) and not runtime_socket(source):
            mode = "read-only" if volume.get("read_only") else "writable"
            yield Hit(f"mounts the host path {source} ({mode})", ("volumes", index), evidence=source)


@rules.add(
    "ESC-HST-008",
    "Host path mounted",
    "low",
    rationale="""A bind mount ties the service to one machine's file system and is a hostPath volume on
    Kubernetes, which the baseline Pod Security Standard forbids; a writable one lets the container
    change files on the host.""",
    remediation="Use a named volume, a config or a secret; if a bind mount stays, make it `read_only`.",
    refs=Refs(pss=("baseline/hostpath-volumes",), trivy=("KSV023",)),
    packs=("restricted",),
)
def host_path(s: ServiceInput) -> Iterator[Hit]:
    for index, volume in _binds(s):
        source = volume["source"]
        if sensitive_path(source) or runtime_socket(source):
            continue  # reported by the rules above
        mode = "read-only" if volume.get("read_only") else "writable"
        yield Hit(f"mounts the host path {source} ({mode})", ("volumes", index), evidence=source)


@rules.add(
    "ESC-HST-009",
    "Port published on all interfaces",
    "low",
    rationale="""A published port without a host IP listens on every interface of the host, including
    public ones, and Docker's iptables rules bypass the host firewall.""",
    remediation='Bind to the interface that should receive traffic: `"127.0.0.1:8080:80"`.',
    refs=Refs(cis=("5.14",)),
)
def all_interfaces(s: ServiceInput) -> Iterator[Hit]:
    for index, port in enumerate(s.service.ports):
        if port.published is not None and port.host_ip in (None, "", "0.0.0.0", "::"):
            yield Hit(
                f"publishes port {port.published} on all host interfaces",
                ("ports", index),
                evidence=str(port.published),
            )


@rules.add(
    "ESC-HST-010",
    "Privileged host port",
    "low",
    rationale="Host ports below 1024 are reserved for system services; publishing one shadows them.",
    remediation="Publish a port above 1024 (and put a proxy in front if port 80/443 is needed).",
    refs=Refs(cis=("5.8",)),
    packs=("restricted",),
)
def privileged_port(s: ServiceInput) -> Iterator[Hit]:
    for index, port in enumerate(s.service.ports):
        if port.published is not None and 0 < port.published < 1024:
            yield Hit(f"publishes the privileged host port {port.published}", ("ports", index))


@rules.add(
    "ESC-HST-011",
    "Host-mode port",
    "medium",
    rationale="""`mode: host` binds the port on the node running each replica, bypassing the routing mesh
    (a hostPort on Kubernetes): it pins replicas to nodes and exposes them directly.""",
    remediation="Use the default `mode: ingress` and route traffic through Escadre's router or a Service.",
    refs=Refs(pss=("baseline/host-ports",), checkov=("CKV_K8S_26",), trivy=("KSV024",)),
)
def host_mode_port(s: ServiceInput) -> Iterator[Hit]:
    for index, port in enumerate(s.service.ports):
        if port.mode == "host" and port.published is not None:
            yield Hit(f"publishes port {port.published} in host mode", ("ports", index, "mode"))


@rules.add(
    "ESC-HST-012",
    "Host cgroup namespace",
    "medium",
    rationale="`cgroup: host` shows the container the host's whole cgroup tree (and its limits).",
    remediation="Remove `cgroup: host` (the default is a private cgroup namespace).",
)
def host_cgroup(s: ServiceInput) -> Iterator[Hit]:
    yield from _namespace_rule("cgroup", s.service.spec.get("cgroup"), "cgroup")


@rules.add(
    "ESC-HST-013",
    "Default bridge network",
    "low",
    rationale="""Containers on Docker's default bridge (docker0) can reach every other container on it, of
    any project, and get no name resolution.""",
    remediation="Remove `network_mode: bridge`; let the service join the project's networks.",
    refs=Refs(cis=("5.30",)),
    packs=("restricted",),
)
def default_bridge(s: ServiceInput) -> Iterator[Hit]:
    if s.service.network_mode == "bridge":
        yield Hit("joins Docker's default bridge network (network_mode: bridge)", ("network_mode",))


@rules.add(
    "ESC-HST-014",
    "Process namespace shared with another container",
    "low",
    rationale="""`pid: service:other` lets each container see and signal the other's processes and read
    their environment through /proc.""",
    remediation="Remove the `pid:` setting unless a debugging sidecar needs it.",
    refs=Refs(nsa=("1.3",)),
    packs=("restricted",),
)
def shared_pid(s: ServiceInput) -> Iterator[Hit]:
    pid = s.service.pid or ""
    if pid.startswith(("service:", "container:")):
        yield Hit(f"shares the process namespace of {pid.split(':', 1)[1]}", ("pid",), evidence=pid)


RULES = rules.rules
