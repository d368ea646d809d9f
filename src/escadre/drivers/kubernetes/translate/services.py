"""How a service is reached: Services, Ingress and Gateway API HTTPRoutes.

* In Compose, other services reach ``api`` on its **container** port (``api:8000``) whatever it publishes
  on the host. So the ``api`` Service is ClusterIP with one port per container port (``ports`` targets and
  ``expose``), and code that worked in Compose works unchanged.
* ``published`` ports mean "reachable from outside". Kubernetes has no host to publish on: a
  ``NodePort``/``LoadBalancer`` Service (``x-kubernetes.service_type``) adds the published number as the
  external port; ``mode: host`` becomes a container ``hostPort`` (what it is in Swarm too);
  ``x-kubernetes.expose`` adds an Ingress and/or an HTTPRoute. Without any of those a published port stays
  in-cluster, which the support report says.
* A service with no port at all gets a headless Service without ports, so its name still resolves.

In the live driver's rollouts the ``<service>`` Service selects the stable revision and
``<service>-canary``/``<service>-preview`` the new one (``traffic.py`` sets the selectors and weights).
"""

from __future__ import annotations

from typing import Any

from escadre.drivers.kubernetes.translate.common import ROLE, Ctx, Manifest, service_name
from escadre.drivers.kubernetes.translate.settings import Expose, ServiceK8s, service_settings
from escadre.model.project import Service

MAX_EXPOSE_RANGE = 100


def k8s_settings(svc: Service) -> ServiceK8s:
    return service_settings(svc.spec, svc.name, svc.location)


def container_ports(ctx: Ctx, svc: Service) -> list[tuple[int, str]]:
    """(container port, protocol) of every port and expose entry, in order, without duplicates."""
    out: list[tuple[int, str]] = []
    for p in svc.ports:
        item = (p.target, p.protocol.upper())
        if item not in out:
            out.append(item)
    for entry in svc.expose:
        text, _, proto = str(entry).partition("/")
        first, _, last = text.partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            raise ctx.fail(svc, f"service {svc.name!r}: expose entry {entry!r} is not a port") from None
        if high - low >= MAX_EXPOSE_RANGE:
            raise ctx.fail(svc, f"service {svc.name!r}: expose range {entry!r} is too wide for a Service")
        for port in range(low, high + 1):
            item = (port, (proto or "tcp").upper())
            if item not in out:
                out.append(item)
    return out


def exposed_port(ctx: Ctx, svc: Service, expose: Expose | None = None) -> int:
    """The container port external traffic (Ingress, HTTPRoute, rollouts' weights) goes to."""
    if expose is not None and expose.port:
        return expose.port
    route = svc.settings.route if svc.settings is not None else None
    if route is not None and route.port:
        return route.port
    tcp = [port for port, proto in container_ports(ctx, svc) if proto == "TCP"]
    if not tcp:
        raise ctx.fail(
            svc,
            f"service {svc.name!r} is exposed or routed but has no TCP port",
            hint="publish or expose a port, or set x-kubernetes.expose.port / x-escadre.route.port",
        )
    return tcp[0]


def is_public(ctx: Ctx, svc: Service) -> bool:
    settings = k8s_settings(svc)
    return bool(svc.published_ports) or settings.expose is not None or settings.service_type != "ClusterIP"


def service(
    ctx: Ctx,
    svc: Service,
    *,
    name: str | None = None,
    role: str | None = None,
    revision: str | None = None,
    external: bool = True,
) -> Manifest:
    """The Service for ``svc`` (``name``/``role``/``revision`` for the live driver's canary and preview
    Services, which select one revision and are never NodePort/LoadBalancer)."""
    settings = k8s_settings(svc)
    path = f"services.{svc.name}"
    ports: list[Manifest] = []
    for port, proto in container_ports(ctx, svc):
        entry: dict[str, Any] = {"name": f"{proto.lower()}-{port}", "port": port, "targetPort": port, "protocol": proto}
        named = next((p for p in svc.ports if p.target == port and p.protocol.upper() == proto), None)
        if named is not None and named.app_protocol:
            entry["appProtocol"] = named.app_protocol
        ports.append(entry)
    spec: dict[str, Any] = {"selector": {"escadre.app": ctx.app, "escadre.service": svc.name}}
    if revision is not None:
        spec["selector"]["escadre.revision"] = revision
    kind = settings.service_type if external else "ClusterIP"
    if kind != "ClusterIP":
        spec["type"] = kind
        for p in svc.published_ports:
            assert p.published is not None
            proto = p.protocol.upper()
            if p.host_ip:
                ctx.note(f"{path}.ports", f"host_ip {p.host_ip} does not apply to a {kind} Service")
            existing = next((e for e in ports if e["port"] == p.published and e["protocol"] == proto), None)
            if existing is None:
                existing = {
                    "name": f"pub-{p.published}",
                    "port": p.published,
                    "targetPort": p.target,
                    "protocol": proto,
                }
                ports.append(existing)
            if kind == "NodePort":
                if 30000 <= p.published <= 32767:
                    existing["nodePort"] = p.published
                else:
                    ctx.note(
                        f"{path}.ports",
                        f"{p.published} is outside the NodePort range 30000-32767: the cluster allocates a node port",
                    )
    elif external and svc.published_ports and settings.expose is None:
        ctx.note(
            f"{path}.ports",
            "published ports are only reachable inside the cluster (a ClusterIP Service): set "
            "x-kubernetes.service_type or x-kubernetes.expose to reach them from outside",
        )
    if ports:
        spec["ports"] = ports
    else:
        spec["clusterIP"] = "None"  # headless, so the name still resolves to the pods
    annotations = {ROLE: role} if role else None
    meta = ctx.meta(name or service_name(svc.name), path=path, service=svc.name, annotations=annotations)
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def headless(ctx: Ctx, svc: Service) -> Manifest:
    """The governing Service of a StatefulSet: stable per-pod DNS names (``db-0.db-headless``)."""
    spec: Manifest = {
        "clusterIP": "None",
        "selector": {"escadre.app": ctx.app, "escadre.service": svc.name},
        "publishNotReadyAddresses": True,
    }
    ports = [
        {"name": f"{proto.lower()}-{port}", "port": port, "protocol": proto}
        for port, proto in container_ports(ctx, svc)
    ]
    if ports:
        spec["ports"] = ports
    meta = ctx.meta(headless_name(svc), path=f"services.{svc.name}", service=svc.name, annotations={ROLE: "headless"})
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def headless_name(svc: Service) -> str:
    return f"{service_name(svc.name, limit=54)}-headless"


def parse_gateway(text: str, namespace: str) -> dict[str, str]:
    """``[namespace/]name`` → an HTTPRoute ``parentRef``."""
    ns, _, name = text.rpartition("/")
    ref = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": name}
    if ns and ns != namespace:
        ref["namespace"] = ns
    return ref


def exposure(ctx: Ctx, svc: Service) -> tuple[Expose | None, str | None, bool]:
    """(expose settings, parent Gateway, whether an Ingress is wanted)."""
    expose = k8s_settings(svc).expose
    if expose is None:
        return None, None, False
    gateway = expose.gateway or ctx.options.gateway
    ingress = (
        expose.ingress_class is not None
        or gateway is None
        or (ctx.options.ingress_class is not None and expose.gateway is None and ctx.options.gateway is None)
    )
    return expose, gateway, ingress


def ingress(
    ctx: Ctx,
    svc: Service,
    *,
    name: str | None = None,
    backend: str | None = None,
    annotations: dict[str, str] | None = None,
) -> Manifest | None:
    expose, _, wanted = exposure(ctx, svc)
    if expose is None or not wanted:
        return None
    port = exposed_port(ctx, svc, expose)
    http_path = {
        "path": expose.path,
        "pathType": "Prefix",
        "backend": {"service": {"name": backend or service_name(svc.name), "port": {"number": port}}},
    }
    rule: dict[str, Any] = {"http": {"paths": [http_path]}}
    if expose.host:
        rule["host"] = expose.host
    spec: dict[str, Any] = {}
    ingress_class = expose.ingress_class or ctx.options.ingress_class
    if ingress_class:
        spec["ingressClassName"] = ingress_class
    if expose.tls_secret:
        tls: dict[str, Any] = {"secretName": expose.tls_secret}
        if expose.host:
            tls["hosts"] = [expose.host]
        spec["tls"] = [tls]
    spec["rules"] = [rule]
    meta = ctx.meta(name or service_name(svc.name), path=f"services.{svc.name}.x-kubernetes.expose", service=svc.name)
    meta["annotations"].update(annotations or {})
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


def http_route(ctx: Ctx, svc: Service, backends: list[tuple[str, int]] | None = None) -> Manifest | None:
    """An HTTPRoute to the service; ``backends`` (Service name, weight) for the live driver's split."""
    expose, gateway, _ = exposure(ctx, svc)
    if expose is None or gateway is None:
        return None
    port = exposed_port(ctx, svc, expose)
    refs: list[Manifest] = []
    for backend, weight in backends or [(service_name(svc.name), 1)]:
        ref: dict[str, Any] = {"name": backend, "port": port}
        if backends is not None:
            ref["weight"] = weight
        refs.append(ref)
    spec: dict[str, Any] = {"parentRefs": [parse_gateway(gateway, ctx.options.namespace)]}
    if expose.host:
        spec["hostnames"] = [expose.host]
    spec["rules"] = [{"matches": [{"path": {"type": "PathPrefix", "value": expose.path}}], "backendRefs": refs}]
    meta = ctx.meta(service_name(svc.name), path=f"services.{svc.name}.x-kubernetes.expose", service=svc.name)
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": meta, "spec": spec}
