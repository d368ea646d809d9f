"""Compose ``user``, ``read_only``, ``cap_add``/``cap_drop``, ``privileged``, ``security_opt``, ``group_add``
and ``sysctls`` → container and pod ``securityContext``.

Kubernetes only knows numeric ids: ``user: "1000:1000"`` becomes ``runAsUser``/``runAsGroup``, but a user
*name* (``postgres``) cannot be resolved without the image, so it is refused with the fix (``id -u`` in the
image) rather than dropped. ``security_opt`` entries map one by one; one without an equivalent is an error.
AppArmor uses the ``appArmorProfile`` field from Kubernetes 1.30 and the beta annotation before.
"""

from __future__ import annotations

from typing import Any

from escadre.drivers.kubernetes.translate.common import Ctx, Manifest
from escadre.model.project import Service

SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
"""Sysctls every kubelet allows (others need ``--allowed-unsafe-sysctls`` on the nodes)."""


def _numeric(ctx: Ctx, svc: Service, what: str, value: str) -> int:
    if value == "root":
        return 0
    if not value.isdigit():
        raise ctx.fail(
            svc,
            f"service {svc.name!r}: {what} {value!r} is a name, and Kubernetes only takes numeric ids",
            hint=f"use the number instead (docker run --rm --entrypoint id IMAGE -u {value})",
        )
    return int(value)


def _capability(name: str) -> str:
    return name.upper().removeprefix("CAP_")


def _split_option(opt: str) -> tuple[str, str]:
    """``seccomp=x``, ``seccomp:x`` (legacy), ``label=user:u``, ``no-new-privileges`` → (key, value)."""
    eq, colon = opt.find("="), opt.find(":")
    if eq != -1 and (colon == -1 or eq < colon):
        return opt[:eq].strip(), opt[eq + 1 :].strip()
    if colon != -1:
        return opt[:colon].strip(), opt[colon + 1 :].strip()
    return opt.strip(), ""


def container_security(ctx: Ctx, svc: Service, annotations: dict[str, str]) -> Manifest:
    """The container's ``securityContext``; AppArmor annotations (Kubernetes < 1.30) go to ``annotations``."""
    path = f"services.{svc.name}"
    sc: dict[str, Any] = {}
    if svc.user:
        user, _, group = svc.user.partition(":")
        sc["runAsUser"] = _numeric(ctx, svc, "user", user)
        if group:
            sc["runAsGroup"] = _numeric(ctx, svc, "group", group)
    if svc.read_only:
        sc["readOnlyRootFilesystem"] = True
    if svc.privileged:
        sc["privileged"] = True
    caps: dict[str, list[str]] = {}
    if svc.cap_add:
        caps["add"] = sorted({_capability(c) for c in svc.cap_add})
    if svc.cap_drop:
        caps["drop"] = sorted({_capability(c) for c in svc.cap_drop})
    if caps:
        sc["capabilities"] = caps
    selinux: dict[str, str] = {}
    for opt in svc.security_opt:
        key, value = _split_option(opt)
        if key == "no-new-privileges":
            sc["allowPrivilegeEscalation"] = value.lower() not in ("", "true")  # no new privileges: no escalation
        elif key == "seccomp":
            if value in ("unconfined",):
                sc["seccompProfile"] = {"type": "Unconfined"}
            elif value in ("default", "runtime/default", "docker/default"):
                sc["seccompProfile"] = {"type": "RuntimeDefault"}
            else:
                sc["seccompProfile"] = {"type": "Localhost", "localhostProfile": value.lstrip("/")}
                ctx.note(
                    f"{path}.security_opt",
                    f"seccomp profile {value!r} must exist under the kubelet's seccomp directory on every node",
                )
        elif key == "apparmor":
            profile: dict[str, str] = (
                {"type": "Unconfined"}
                if value == "unconfined"
                else {"type": "RuntimeDefault"}
                if value in ("runtime/default", "docker-default")
                else {"type": "Localhost", "localhostProfile": value}
            )
            if ctx.options.version >= (1, 30):
                sc["appArmorProfile"] = profile
            else:
                annotation = {"Unconfined": "unconfined", "RuntimeDefault": "runtime/default"}.get(
                    profile["type"], f"localhost/{value}"
                )
                annotations[f"container.apparmor.security.beta.kubernetes.io/{svc.name.lower()}"] = annotation
        elif key == "label" and value in ("disable", "disable:true"):
            selinux["type"] = "spc_t"
            ctx.note(f"{path}.security_opt", "label=disable runs the container as the unconfined SELinux type spc_t")
        elif key == "label" and ":" in value:
            part, _, setting = value.partition(":")
            if part not in ("user", "role", "type", "level"):
                raise ctx.fail(svc, f"service {svc.name!r}: unknown SELinux option {opt!r}")
            selinux[part] = setting
        else:
            raise ctx.fail(
                svc,
                f"service {svc.name!r}: security_opt {opt!r} has no Kubernetes equivalent",
                hint="supported: no-new-privileges, seccomp=…, apparmor=…, label=user|role|type|level:…",
            )
    if selinux:
        sc["seLinuxOptions"] = selinux
    return sc


def pod_security(ctx: Ctx, svc: Service) -> Manifest:
    """Pod-level ``securityContext``: supplemental groups and sysctls."""
    path = f"services.{svc.name}"
    sc: dict[str, Any] = {}
    groups = svc.spec.get("group_add") or []
    if groups:
        sc["supplementalGroups"] = sorted({_numeric(ctx, svc, "group_add entry", str(g)) for g in groups})
    if svc.sysctls:
        unsafe = sorted(k for k in svc.sysctls if k not in SAFE_SYSCTLS)
        if unsafe:
            ctx.note(
                f"{path}.sysctls",
                f"{', '.join(unsafe)} are unsafe sysctls: pods start only on nodes whose kubelet allows them "
                "(--allowed-unsafe-sysctls)",
            )
        sc["sysctls"] = [{"name": k, "value": str(v)} for k, v in sorted(svc.sysctls.items())]
    return sc
