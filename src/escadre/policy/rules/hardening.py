"""Container hardening (``ESC-CNT-*``): privileges, users, capabilities and the kernel's guard rails.

These read the normalized Compose service, so one rule covers every target: ``privileged: true`` is the
same escape on Docker, Swarm and a Kubernetes node. Where the Compose file says nothing, the rule states
what Docker does by default (root, all default capabilities, a writable root file system) and asks for
the explicit safer setting, as the CIS Docker Benchmark and the restricted Pod Security Standard do.
"""

from __future__ import annotations

from collections.abc import Iterator

from escadre.policy.model import Hit, Refs, RuleSet
from escadre.policy.subjects import ServiceInput, security_options, uid_of

rules = RuleSet("compose", "container")

DANGEROUS_CAPS = frozenset(
    {
        "ALL", "SYS_ADMIN", "SYS_PTRACE", "SYS_MODULE", "SYS_RAWIO", "SYS_BOOT", "SYS_TIME", "NET_ADMIN",
        "DAC_READ_SEARCH", "BPF", "PERFMON", "MAC_ADMIN", "MAC_OVERRIDE", "SYSLOG", "SYS_RESOURCE",
    }
)  # fmt: skip
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)  # fmt: skip
"""The sysctls the baseline Pod Security Standard allows (namespaced and isolated)."""
SELINUX_TYPES = frozenset({"container_t", "container_init_t", "container_kvm_t", "container_engine_t"})


def _cap(name: str) -> str:
    return name.upper().removeprefix("CAP_")


def _dropped(s: ServiceInput) -> set[str]:
    return {_cap(c) for c in s.service.cap_drop}


@rules.add(
    "ESC-CNT-001",
    "Privileged container",
    "critical",
    rationale="""A privileged container gets every capability, every host device and no seccomp, AppArmor or
    SELinux confinement: a process in it is root on the host in all but name.""",
    remediation="Remove `privileged: true`; add only the capabilities or devices the service needs.",
    refs=Refs(
        cis=("5.5",),
        pss=("baseline/privileged-containers",),
        nsa=("1.2",),
        checkov=("CKV_K8S_16",),
        trivy=("KSV017",),
    ),
)
def privileged(s: ServiceInput) -> Iterator[Hit]:
    if s.service.privileged:
        yield Hit("runs privileged (all capabilities and host devices, no confinement)", ("privileged",))


@rules.add(
    "ESC-CNT-002",
    "Privilege escalation allowed (no-new-privileges)",
    "medium",
    rationale="""Without `no-new-privileges` a process can gain privileges through setuid or setgid
    binaries, or file capabilities, inside the image.""",
    remediation='Add `security_opt: ["no-new-privileges:true"]`.',
    refs=Refs(
        cis=("5.26",),
        pss=("restricted/privilege-escalation",),
        nsa=("1.7",),
        checkov=("CKV_K8S_20",),
        trivy=("KSV001",),
    ),
)
def no_new_privileges(s: ServiceInput) -> Iterator[Hit]:
    for index, key, value in security_options(s.service):
        if key == "no-new-privileges":
            if value.lower() == "false":
                yield Hit("no-new-privileges is turned off", ("security_opt", index), evidence="false")
            return
    yield Hit("processes may gain privileges (security_opt no-new-privileges is not set)", ())


@rules.add(
    "ESC-CNT-003",
    "Runs as root",
    "medium",
    rationale="""A process running as UID 0 is root on the host's kernel: any escape from the container
    (a kernel bug, a writable host mount, a missed capability) is a root compromise.""",
    remediation="""Set `user: \"10001:10001\"` (or a `USER` in the Dockerfile) and make the files the
    service writes owned by that user.""",
    refs=Refs(
        cis=("4.1",),
        pss=("restricted/running-as-non-root", "restricted/running-as-non-root-user"),
        nsa=("1.0", "1.6"),
        checkov=("CKV_K8S_23",),
        trivy=("KSV012", "KSV105"),
    ),
)
def runs_as_root(s: ServiceInput) -> Iterator[Hit]:
    user = s.service.user
    if user is not None:
        if uid_of(user) == 0:
            yield Hit(f"runs as root (user: {user})", ("user",), evidence=user)
        return
    if s.dockerfile is not None:
        if s.dockerfile.runs_as_root(s.target()):
            yield Hit(f"runs as root: no `user:` here and no non-root USER in {s.dockerfile.path}", ())
        return
    yield Hit("runs as the image's user (root unless the image says otherwise): set `user:`", ())


@rules.add(
    "ESC-CNT-004",
    "Runs with a low UID",
    "low",
    rationale="""UIDs below 10000 collide with real users of the host (UID 1000 is usually the first
    human account): an escaped process then owns that user's files.""",
    remediation='Use a UID above 10000, e.g. `user: "10001:10001"`.',
    refs=Refs(checkov=("CKV_K8S_40",), trivy=("KSV020",)),
    packs=("restricted",),
)
def low_uid(s: ServiceInput) -> Iterator[Hit]:
    if s.service.user is not None:
        uid = uid_of(s.service.user)
        where: tuple[str, ...] = ("user",)
    else:
        uid = uid_of(s.dockerfile.user(s.target())) if s.dockerfile is not None else None
        where = ()
    if uid is None:
        yield Hit("runs with no numeric UID set: nothing guarantees one above 10000", where, evidence="unset")
    elif uid < 10000:
        yield Hit(f"runs as UID {uid} (below 10000, shared with host users)", where, evidence=str(uid))


@rules.add(
    "ESC-CNT-005",
    "Writable root file system",
    "low",
    rationale="""An immutable root file system stops an intruder from replacing binaries or dropping tools,
    and makes every write location explicit.""",
    remediation="Set `read_only: true` and mount a `tmpfs` (or a volume) where the service must write.",
    refs=Refs(cis=("5.13",), nsa=("1.1",), checkov=("CKV_K8S_22",), trivy=("KSV014",)),
)
def writable_root(s: ServiceInput) -> Iterator[Hit]:
    if not s.service.read_only:
        yield Hit("the root file system is writable (read_only is not set)", ())


@rules.add(
    "ESC-CNT-006",
    "Capabilities not dropped",
    "low",
    rationale="""Docker gives every container 14 capabilities (CHOWN, NET_RAW, SETUID…); most services need
    none of them. Dropping ALL and adding back the few needed is the least-privilege default.""",
    remediation="Add `cap_drop: [ALL]` and `cap_add` only what is needed (often nothing, or NET_BIND_SERVICE).",
    refs=Refs(
        cis=("5.4",),
        pss=("restricted/capabilities",),
        checkov=("CKV_K8S_37",),
        trivy=("KSV003", "KSV106"),
    ),
)
def caps_not_dropped(s: ServiceInput) -> Iterator[Hit]:
    if "ALL" not in _dropped(s):
        yield Hit("keeps Docker's default capabilities (cap_drop: [ALL] is missing)", ())


@rules.add(
    "ESC-CNT-007",
    "Dangerous capability added",
    "high",
    rationale="""SYS_ADMIN, SYS_PTRACE, SYS_MODULE, NET_ADMIN, DAC_READ_SEARCH and similar capabilities are
    each enough to escape a container or to take over the host's network.""",
    remediation="Remove the capability; find the narrower one the service needs, or move the task out of it.",
    refs=Refs(
        cis=("5.4",),
        pss=("baseline/capabilities",),
        checkov=("CKV_K8S_39",),
        trivy=("KSV005", "KSV022"),
    ),
)
def dangerous_caps(s: ServiceInput) -> Iterator[Hit]:
    for index, cap in enumerate(s.service.cap_add):
        if _cap(cap) in DANGEROUS_CAPS:
            yield Hit(f"adds the {_cap(cap)} capability", ("cap_add", index), evidence=_cap(cap))


@rules.add(
    "ESC-CNT-008",
    "NET_RAW not dropped",
    "low",
    rationale="""NET_RAW lets a process craft any packet: ARP and DNS spoofing of the other containers on
    the same network. Docker grants it by default.""",
    remediation="Add `cap_drop: [ALL]` (or at least `NET_RAW`).",
    refs=Refs(checkov=("CKV_K8S_28",)),
    packs=("restricted",),
)
def net_raw(s: ServiceInput) -> Iterator[Hit]:
    added = {_cap(c) for c in s.service.cap_add}
    if "NET_RAW" in added or "ALL" in added:
        yield Hit("adds NET_RAW", ("cap_add",), evidence="add")
    elif not _dropped(s) & {"ALL", "NET_RAW"}:
        yield Hit("keeps NET_RAW (packet spoofing on the container network)", ())


@rules.add(
    "ESC-CNT-009",
    "Capability added beyond NET_BIND_SERVICE",
    "medium",
    rationale="""The restricted Pod Security Standard allows adding back only NET_BIND_SERVICE; every other
    added capability widens what a compromised process can do to the kernel.""",
    remediation="Remove the `cap_add` entries other than NET_BIND_SERVICE.",
    refs=Refs(pss=("restricted/capabilities",), checkov=("CKV_K8S_25",), trivy=("KSV022", "KSV106")),
    packs=("restricted",),
)
def extra_caps(s: ServiceInput) -> Iterator[Hit]:
    for index, cap in enumerate(s.service.cap_add):
        if _cap(cap) != "NET_BIND_SERVICE":
            yield Hit(f"adds the {_cap(cap)} capability", ("cap_add", index), evidence=_cap(cap))


@rules.add(
    "ESC-CNT-010",
    "Seccomp disabled",
    "high",
    rationale="""Docker's default seccomp profile blocks about 50 system calls used in kernel exploits
    (keyctl, unshare, bpf…). `seccomp:unconfined` removes that filter.""",
    remediation="Remove `seccomp:unconfined`; if a call is really needed, give a custom profile that allows it.",
    refs=Refs(
        cis=("5.22",),
        pss=("baseline/seccomp", "restricted/seccomp"),
        nsa=("1.10",),
        checkov=("CKV_K8S_31",),
        trivy=("KSV030", "KSV104"),
    ),
)
def seccomp(s: ServiceInput) -> Iterator[Hit]:
    for index, key, value in security_options(s.service):
        if key == "seccomp" and value.lower() == "unconfined":
            yield Hit("runs without a seccomp filter (seccomp:unconfined)", ("security_opt", index))


@rules.add(
    "ESC-CNT-011",
    "AppArmor disabled",
    "high",
    rationale="""On hosts with AppArmor, Docker confines every container with the docker-default profile
    (no mount, no writes to /proc and /sys). `apparmor:unconfined` removes it.""",
    remediation="Remove `apparmor:unconfined`, or name a custom profile.",
    refs=Refs(cis=("5.2",), pss=("baseline/apparmor",), nsa=("1.9",), trivy=("KSV002",)),
)
def apparmor(s: ServiceInput) -> Iterator[Hit]:
    for index, key, value in security_options(s.service):
        if key == "apparmor" and value.lower() == "unconfined":
            yield Hit("runs without AppArmor confinement (apparmor:unconfined)", ("security_opt", index))


@rules.add(
    "ESC-CNT-012",
    "SELinux separation disabled or customised",
    "medium",
    rationale="""`label:disable` turns off SELinux separation between containers; a custom SELinux user,
    role or type can grant access the container type denies.""",
    remediation="Remove the `label:` option, or use one of the container types (container_t…).",
    refs=Refs(cis=("5.3",), pss=("baseline/selinux",), nsa=("1.8",), trivy=("KSV025",)),
)
def selinux(s: ServiceInput) -> Iterator[Hit]:
    for index, key, value in security_options(s.service):
        if key != "label":
            continue
        kind, _, rest = value.partition(":") if ":" in value else value.partition("=")
        kind = kind.lower()
        if kind == "disable":
            yield Hit("SELinux separation is disabled (label:disable)", ("security_opt", index), evidence=value)
        elif kind in ("user", "role") or (kind == "type" and rest not in SELINUX_TYPES):
            yield Hit(f"sets a custom SELinux {kind} ({rest})", ("security_opt", index), evidence=value)


@rules.add(
    "ESC-CNT-013",
    "Unsafe sysctl",
    "medium",
    rationale="""Sysctls outside the small namespaced set can change kernel behaviour for the whole host or
    disable protections (e.g. kernel.*, net.core.*).""",
    remediation="Remove the sysctl, or set it on the host if it is truly needed.",
    refs=Refs(pss=("baseline/sysctls",), trivy=("KSV026",)),
)
def sysctls(s: ServiceInput) -> Iterator[Hit]:
    for name in s.service.sysctls:
        if name not in SAFE_SYSCTLS:
            yield Hit(f"sets the sysctl {name}, outside the safe set", ("sysctls", name), evidence=name)


@rules.add(
    "ESC-CNT-014",
    "Host device exposed",
    "medium",
    rationale="A device node gives the container direct access to hardware or kernel interfaces of the host.",
    remediation="Remove the `devices` entry unless the service drives that hardware; never expose disks.",
    refs=Refs(cis=("5.18",)),
)
def devices(s: ServiceInput) -> Iterator[Hit]:
    for index, device in enumerate(s.service.devices):
        yield Hit(f"has the host device {device.split(':')[0]}", ("devices", index), evidence=device)


@rules.add(
    "ESC-CNT-015",
    "Shared mount propagation",
    "medium",
    rationale="""With `shared` (or `rshared`) propagation, mounts the container makes appear on the host
    and the other way round: a container can mount over host paths.""",
    remediation="Remove `bind.propagation: shared`; the default (rprivate) is right for nearly everything.",
    refs=Refs(cis=("5.20",)),
)
def propagation(s: ServiceInput) -> Iterator[Hit]:
    for index, volume in enumerate(s.service.spec.get("volumes", ())):
        mode = (volume.get("bind") or {}).get("propagation")
        if mode in ("shared", "rshared"):
            target = volume.get("target", "")
            yield Hit(f"mounts {target} with {mode} propagation", ("volumes", index, "bind"), evidence=target)


@rules.add(
    "ESC-CNT-016",
    "Unmasked /proc and /sys paths",
    "high",
    rationale="""Docker masks sensitive paths of /proc and /sys (kcore, keys, timer_list…);
    `systempaths=unconfined` exposes them, as an Unmasked procMount does on Kubernetes.""",
    remediation="Remove `systempaths=unconfined`.",
    refs=Refs(pss=("baseline/proc-mount-type",), trivy=("KSV027",)),
)
def systempaths(s: ServiceInput) -> Iterator[Hit]:
    for index, key, value in security_options(s.service):
        if key == "systempaths" and value.lower() == "unconfined":
            yield Hit("unmasks /proc and /sys paths (systempaths=unconfined)", ("security_opt", index))


@rules.add(
    "ESC-CNT-017",
    "SSH port exposed",
    "low",
    rationale="""An SSH daemon in a container is a second way in, with its own keys to manage; use
    `escadre logs` / `docker exec` for access instead.""",
    remediation="Remove port 22 and the SSH server from the image.",
    refs=Refs(cis=("5.7",), checkov=("CKV_DOCKER_1",), trivy=("DS004",)),
)
def ssh_port(s: ServiceInput) -> Iterator[Hit]:
    for index, port in enumerate(s.service.ports):
        if port.target == 22:
            yield Hit("publishes port 22 (SSH)", ("ports", index), evidence="22")
    for index, exposed in enumerate(s.service.expose):
        if str(exposed).split("/")[0] == "22":
            yield Hit("exposes port 22 (SSH)", ("expose", index), evidence="22")


RULES = rules.rules
