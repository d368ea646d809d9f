"""The resource types the fake API server serves, and the discovery documents that describe them.

One version per group (the one Escadre renders), namespaced or not, with or without a ``status``
subresource. The Gateway API group is optional: a cluster without its CRDs answers 404 under
``/apis/gateway.networking.k8s.io``, as a real one does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    status: bool = False

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


CORE = [
    Resource("", "v1", "Namespace", "namespaces", namespaced=False, status=True),
    Resource("", "v1", "Pod", "pods", status=True),
    Resource("", "v1", "Service", "services", status=True),
    Resource("", "v1", "ConfigMap", "configmaps"),
    Resource("", "v1", "Secret", "secrets"),
    Resource("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", status=True),
    Resource("", "v1", "Event", "events"),
    Resource("apps", "v1", "Deployment", "deployments", status=True),
    Resource("apps", "v1", "StatefulSet", "statefulsets", status=True),
    Resource("apps", "v1", "DaemonSet", "daemonsets", status=True),
    Resource("apps", "v1", "ReplicaSet", "replicasets", status=True),
    Resource("batch", "v1", "Job", "jobs", status=True),
    Resource("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies"),
    Resource("networking.k8s.io", "v1", "Ingress", "ingresses", status=True),
    Resource("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", status=True),
    Resource("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", status=True),
    Resource("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", namespaced=False),
]
GATEWAY = [
    Resource("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes", status=True),
    Resource("gateway.networking.k8s.io", "v1", "Gateway", "gateways", status=True),
    Resource("gateway.networking.k8s.io", "v1", "GatewayClass", "gatewayclasses", namespaced=False, status=True),
]


class Catalog:
    """The resources one fake cluster serves (with or without the Gateway API CRDs)."""

    def __init__(self, gateway_api: bool) -> None:
        self.resources = CORE + (GATEWAY if gateway_api else [])
        self.by_path = {(r.group, r.version, r.plural): r for r in self.resources}
        self.by_kind = {r.kind: r for r in self.resources}

    def find(self, group: str, version: str, plural: str) -> Resource | None:
        return self.by_path.get((group, version, plural))

    def groups(self) -> dict[str, list[Resource]]:
        out: dict[str, list[Resource]] = {}
        for r in self.resources:
            out.setdefault(r.group, []).append(r)
        return out

    # ------------------------------------------------------------------------------------ discovery

    def api_versions(self) -> dict[str, Any]:
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}

    def resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        found = [r for r in self.resources if r.group == group and r.version == version]
        if not found:
            return None
        items = []
        for r in found:
            verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
            items.append(
                {
                    "name": r.plural,
                    "singularName": r.kind.lower(),
                    "namespaced": r.namespaced,
                    "kind": r.kind,
                    "verbs": verbs,
                }
            )
            if r.status:
                items.append(
                    {
                        "name": f"{r.plural}/status",
                        "singularName": "",
                        "namespaced": r.namespaced,
                        "kind": r.kind,
                        "verbs": ["get", "patch", "update"],
                    }
                )
        gv = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": items}

    def group(self, name: str) -> dict[str, Any] | None:
        found = self.groups().get(name)
        if not name or not found:
            return None
        version = found[0].version
        gv = {"groupVersion": f"{name}/{version}", "version": version}
        return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": [gv], "preferredVersion": gv}

    def group_list(self) -> dict[str, Any]:
        groups = [g for name in sorted(self.groups()) if (g := self.group(name)) is not None]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
