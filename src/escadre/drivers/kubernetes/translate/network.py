"""Compose networks → NetworkPolicies, so isolation survives the move to a flat pod network.

In Compose, two services talk only when they share a network; in Kubernetes every pod reaches every pod
unless a NetworkPolicy says otherwise. So each pod carries one label per Compose network it joins
(``net.escadre.dev/<network>: "true"``) and each network gets one policy:

* **ingress** to members only from members — a pod on ``frontend`` and ``backend`` accepts both, because
  policies add up;
* **egress**: a non-internal network allows everything; an ``internal: true`` network only allows its
  members and DNS (port 53). A pod on an internal and a non-internal network can still get out, because
  the non-internal network's "allow all" adds up with the internal one's list — exactly Compose's rule.

Services reachable from outside (published ports, ``x-kubernetes.expose``, a NodePort/LoadBalancer
Service) also get ``<service>-public``: ingress from anywhere on the exposed container ports, so the
ingress controller, the Gateway or the load balancer reach them.

These policies only bite when the cluster's network plugin enforces NetworkPolicy (Calico, Cilium…;
kindnet and flannel do not) — noted in docs/kubernetes.md.
"""

from __future__ import annotations

from escadre.drivers.kubernetes.translate.common import (
    COMPOSE_NAME,
    NETWORK_LABEL,
    Ctx,
    Manifest,
    dns_label,
    service_name,
)
from escadre.model.project import Network, Service

DNS_EGRESS: Manifest = {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}


def member_label(network: Network) -> str:
    return NETWORK_LABEL + dns_label(network.name)


def pod_network_labels(ctx: Ctx, svc: Service) -> dict[str, str]:
    if svc.network_mode is not None:
        return {}
    labels = {}
    for sn in svc.networks:
        if sn.aliases:
            ctx.note(
                f"services.{svc.name}.networks.{sn.name}",
                f"aliases {', '.join(sn.aliases)}: only the service name resolves (a Service per alias is not made)",
            )
        if sn.ipv4_address or sn.ipv6_address:
            ctx.note(f"services.{svc.name}.networks.{sn.name}", "fixed addresses: the cluster assigns pod IPs")
        network = ctx.project.networks.get(sn.name)
        if network is not None:
            labels[member_label(network)] = "true"
    return labels


def network_policies(ctx: Ctx) -> list[Manifest]:
    out = []
    for key, network in sorted(ctx.project.networks.items()):
        if network.external:
            continue
        path = f"networks.{key}"
        if network.driver not in (None, "bridge", "overlay") or network.driver_opts or network.ipam:
            ctx.note(path, "driver, driver_opts and ipam do not apply: pods use the cluster's pod network")
        members = {"matchLabels": {member_label(network): "true"}}
        egress: list[Manifest] = [{"to": [{"podSelector": members}]}, DNS_EGRESS] if network.internal else [{}]
        meta = ctx.meta(dns_label(network.name), path=path, component=key, annotations={COMPOSE_NAME: network.name})
        out.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": meta,
                "spec": {
                    "podSelector": members,
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": [{"from": [{"podSelector": members}]}],
                    "egress": egress,
                },
            }
        )
    return out


def public_policy(ctx: Ctx, svc: Service, ports: list[tuple[int, str]]) -> Manifest:
    """Ingress from anywhere to ``ports`` (container port, protocol) of the service's pods."""
    selector = {"matchLabels": {"escadre.app": ctx.app, "escadre.service": svc.name}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": ctx.meta(
            f"{service_name(svc.name, limit=56)}-public", path=f"services.{svc.name}.ports", service=svc.name
        ),
        "spec": {
            "podSelector": selector,
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"protocol": proto, "port": port} for port, proto in ports]}],
        },
    }
