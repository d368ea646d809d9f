"""The live Kubernetes driver: Escadre's verbs as server-side applies, deletes and label queries.

* **Where**: the target's namespace (``escadre target add … --namespace NS``), shared by every app;
  without one, each app gets its own namespace named after it, created (and labelled) by Escadre and
  deleted by ``down -v``.
* **What**: exactly the objects ``escadre render kubernetes`` shows (the same ``translate`` code), in live
  mode: one workload per revision (``web-3f2a9c01d4``, selected by ``escadre.revision``), Secrets created
  from the Compose secrets' files through the API (values never logged, stored or rendered).
* **How**: every write is a server-side apply with field manager ``escadre`` (``force``: Escadre owns these
  objects; another manager's edits of the same fields are overwritten, and the API server records who
  owns what). ``ensure_shared`` prunes what Escadre created for the app and the app no longer has (by
  label; claims are only removed by ``down -v``).
* **Reading back**: ``observe`` lists workloads and pods by label (``observe.py`` maps them); nothing is
  remembered between calls, so another process or a lost state file sees the same truth.
* **Traffic**: per target (``traffic: auto | gateway | ingress-nginx | replicas``), see ``traffic.py``.

The SDK is only touched through ``client.Kube``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from escadre.core.errors import ConflictError, SpecError, TargetError, UsageError
from escadre.core.progress import Progress, ProgressEvent
from escadre.drivers.base import (
    LABEL_APP,
    LABEL_MANAGED,
    LABEL_REVISION,
    LABEL_SERVICE,
    AppStatus,
    LogLine,
    ResolvedImage,
    ResourceRef,
    TargetInfo,
    TrafficPlan,
)
from escadre.drivers.kubernetes.client import Kube
from escadre.drivers.kubernetes.logs import follow_logs, read_logs
from escadre.drivers.kubernetes.observe import WORKLOAD_KINDS, revisions
from escadre.drivers.kubernetes.support import TABLE as SUPPORT_TABLE
from escadre.drivers.kubernetes.traffic import MODES, Mode, autoscaler_for, traffic_objects
from escadre.drivers.kubernetes.translate import (
    Ctx,
    Manifest,
    Options,
    service_objects,
    shared_objects,
    translate,
    workload_objects,
)
from escadre.drivers.kubernetes.translate.autoscale import autoscaler
from escadre.drivers.kubernetes.translate.common import COMPOSE_NAME, ROLE, dns_label, service_name, sort_key
from escadre.drivers.kubernetes.translate.config import secret_object
from escadre.drivers.kubernetes.translate.project import build_only, check_names, image_id, namespace_object
from escadre.drivers.kubernetes.translate.services import exposure, http_route, ingress
from escadre.drivers.kubernetes.translate.storage import claim_name
from escadre.drivers.support import KeySupport
from escadre.model.project import Project
from escadre.model.revision import Revision

PRUNABLE = (
    "HTTPRoute",
    "Ingress",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Service",
    "NetworkPolicy",
    "ConfigMap",
    "Secret",
)
RESOURCE_KINDS = {
    "NetworkPolicy": "network",
    "PersistentVolumeClaim": "volume",
    "Secret": "secret",
    "ConfigMap": "config",
}
TRAFFIC_ROLES = ("stable", "canary", "preview", "traffic")
GATEWAY_API = "gateway.networking.k8s.io/v1"
INSTALL_GATEWAY = (
    "install the Gateway API CRDs (kubectl apply -f https://github.com/kubernetes-sigs/gateway-api/releases/"
    "latest/download/standard-install.yaml) and a Gateway implementation, or fall back to traffic: replicas "
    "(split by replica ratio) or traffic: ingress-nginx in the target's config"
)


def _name(obj: Mapping[str, Any]) -> str:
    return str(obj["metadata"]["name"])


class KubernetesDriver:
    """``Driver`` for one Kubernetes cluster (a kubeconfig context), through the official client."""

    kind = "kubernetes"
    capabilities = frozenset({"traffic", "render", "logs-follow", "native-rolling", "placement"})

    def __init__(
        self,
        name: str = "kubernetes",
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        namespace: str | None = None,
        traffic: str = "auto",
        gateway: str | None = None,
        ingress_class: str | None = None,
        k8s_version: str | None = None,
        validate: bool = True,
        kube: Kube | None = None,
    ) -> None:
        if traffic not in MODES:
            raise UsageError(f"target {name!r}: unknown traffic mode {traffic!r}", hint=f"one of: {', '.join(MODES)}")
        self.name = name
        self.kube = kube or Kube(name, kubeconfig=kubeconfig, context=context)
        self.namespace = namespace
        self.traffic = traffic
        self.gateway = gateway
        self.ingress_class = ingress_class
        self.k8s_version = k8s_version
        self.validate = validate
        self._gateway_api: bool | None = None
        self._lock = threading.Lock()

    # --------------------------------------------------------------------------------------- helpers

    def namespace_for(self, app: str) -> str:
        return self.namespace or dns_label(app)

    def _version(self) -> str:
        """The Kubernetes version objects are built and validated for: the target's setting, else the
        server's own (within the range the schemas cover)."""
        with self._lock:
            if self.k8s_version is None:
                from escadre.drivers.kubernetes.validate import supported_versions

                server = self.kube.version()
                minor = int("".join(ch for ch in str(server.get("minor", "31")) if ch.isdigit()) or 31)
                newest, oldest = supported_versions()[-1], supported_versions()[0]
                chosen = max(min((int(server.get("major", 1) or 1), minor), newest), oldest)
                self.k8s_version = f"{chosen[0]}.{chosen[1]}"
            return self.k8s_version

    def _ctx(self, project: Project) -> Ctx:
        options = Options(
            namespace=self.namespace_for(project.name),
            k8s_version=self._version(),
            live=True,
            ingress_class=self.ingress_class,
            gateway=self.gateway,
        )
        return Ctx(project, options)

    def _check(self, objects: Sequence[Manifest]) -> None:
        if self.validate and objects:
            from escadre.drivers.kubernetes.validate import validate

            validate(objects, [self._version()])

    def _selector(self, app: str, service: str | None = None, revision: str | None = None) -> str:
        parts = [f"{LABEL_APP}={app}"]
        if service is not None:
            parts.append(f"{LABEL_SERVICE}={service}")
        if revision is not None:
            parts.append(f"{LABEL_REVISION}={revision}")
        return ",".join(parts)

    def _list_many(self, kinds: Sequence[str], namespace: str, selector: str) -> dict[str, list[dict[str, Any]]]:
        """Several list calls at once (each is a round trip to the API server)."""
        with ThreadPoolExecutor(max_workers=min(8, len(kinds))) as pool:
            futures = {kind: pool.submit(self.kube.list, kind, namespace, selector) for kind in kinds}
        return {kind: future.result() for kind, future in futures.items()}

    def gateway_api(self) -> bool:
        """Whether the cluster serves HTTPRoutes (the Gateway API CRDs are installed)."""
        with self._lock:
            if self._gateway_api is None:
                served = self.kube.served(GATEWAY_API)
                self._gateway_api = served is not None and "httproutes" in served
            return self._gateway_api

    def traffic_mode(self, project: Project, service: str) -> Mode:
        """How this service's traffic is split on this target (see ``traffic.py``)."""
        ctx = self._ctx(project)
        svc = project.services[service]
        expose, gateway, _ = exposure(ctx, svc)
        if self.traffic == "replicas":
            return "replicas"
        if self.traffic == "gateway":
            if not self.gateway_api():
                raise UsageError(
                    f"target {self.name!r} uses traffic: gateway, but the cluster has no HTTPRoute API",
                    hint=INSTALL_GATEWAY,
                )
            if gateway is None:
                raise UsageError(
                    f"service {service!r} has no Gateway to attach its HTTPRoute to",
                    hint="set x-kubernetes.expose.gateway on the service, or the target's gateway (NAMESPACE/NAME)",
                )
            return "gateway"
        if self.traffic == "ingress-nginx":
            if expose is None:
                raise UsageError(
                    f"service {service!r} has no Ingress for ingress-nginx to split",
                    hint="set x-kubernetes.expose (host, ingress_class: nginx) on the service",
                )
            return "ingress-nginx"
        return "gateway" if gateway is not None and self.gateway_api() else "replicas"

    # ---------------------------------------------------------------------------------- the verbs

    def info(self) -> TargetInfo:
        version = self.kube.version()
        details = {
            "namespace": self.namespace or "(one per app)",
            "traffic": self.traffic,
            "context": self.kube.context or "(current)",
        }
        if self.namespace:
            review = {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {
                    "resourceAttributes": {
                        "namespace": self.namespace,
                        "verb": "create",
                        "group": "apps",
                        "resource": "deployments",
                    }
                },
            }
            try:
                answer = self.kube.create(review)
            except TargetError:
                answer = {}
            if answer.get("status", {}).get("allowed") is False:
                raise TargetError(
                    f"forbidden: these credentials cannot create Deployments in namespace {self.namespace!r}",
                    target=self.name,
                    hint="ask for a Role/RoleBinding in that namespace (kubectl auth can-i create deployments "
                    f"-n {self.namespace}), or choose a namespace you own",
                )
        return TargetInfo(
            kind=self.kind,
            name=self.name,
            endpoint=self.kube.endpoint,
            version=str(version.get("gitVersion", "")),
            details=details,
        )

    def support(self) -> Mapping[str, KeySupport] | None:
        return SUPPORT_TABLE

    def close(self) -> None:
        self.kube.close()

    def prepare_image(
        self, project: Project, service: str, progress: Progress, *, build: bool = False, dry_run: bool = False
    ) -> ResolvedImage:
        """Nothing is built or pulled here: the nodes pull ``image:`` from its registry."""
        svc = project.services[service]
        if build_only(svc) or not svc.image:
            if dry_run:
                return ResolvedImage(ref=f"{project.name}-{service}", id=None)
            raise SpecError(
                f"service {service!r} has build: but no image:, and a cluster cannot use an image built here",
                location=svc.location,
                hint=f"build and push it to a registry the cluster can pull from, then set services.{service}.image",
            )
        if build and svc.build is not None:
            progress.emit(
                ProgressEvent(f"service {service}", "not built", "warning", detail=f"the cluster pulls {svc.image}")
            )
        return ResolvedImage(ref=svc.image, id=image_id(svc.image))

    def _apply_all(
        self, objects: Sequence[Manifest], existing: Mapping[tuple[str, str], Manifest], progress: Progress
    ) -> None:
        for obj in objects:
            key = (str(obj["kind"]), _name(obj))
            before = existing.get(key)
            after = self.kube.apply(obj)
            if before is not None and before["metadata"].get("resourceVersion") == after["metadata"].get(
                "resourceVersion"
            ):
                continue
            kind = RESOURCE_KINDS.get(key[0])
            compose = (obj["metadata"].get("annotations") or {}).get(COMPOSE_NAME)
            if kind is not None and compose is not None:
                progress.emit(ProgressEvent(f"{kind} {compose}", "created" if before is None else "updated", "done"))
            else:
                progress.emit(ProgressEvent(f"{key[0]} {key[1]}", "applied", "done"))

    def _ensure_namespace(self, ctx: Ctx, progress: Progress) -> None:
        if self.namespace:
            return
        name = ctx.options.namespace
        found = self.kube.get("Namespace", None, name)
        if found is not None:
            owner = (found["metadata"].get("labels") or {}).get(LABEL_APP)
            if owner not in (None, ctx.app):
                raise ConflictError(
                    f"namespace {name!r} belongs to Escadre app {owner!r}, not {ctx.app!r}",
                    target=self.name,
                    hint="give the target a namespace (--namespace) or rename the project (-p)",
                )
            if owner is None:
                return  # someone else's namespace: used, never labelled nor deleted by Escadre
        self.kube.apply(namespace_object(ctx))
        if found is None:
            progress.emit(ProgressEvent(f"namespace {name}", "prepared", "done"))

    def _require(self, kind: str, namespace: str, name: str, what: str, create: str) -> None:
        if self.kube.get(kind, namespace, name) is None:
            raise UsageError(
                f"{what} is external, but {kind} {name!r} does not exist in namespace {namespace!r}",
                hint=f"create it first: {create}",
            )

    def ensure_shared(self, project: Project, progress: Progress) -> None:
        ctx = self._ctx(project)
        check_names(ctx)
        ns = ctx.options.namespace
        self._ensure_namespace(ctx, progress)
        for key, src in sorted(project.secrets.items()):
            if src.external:
                self._require(
                    "Secret",
                    ns,
                    src.name,
                    f"secret {key!r}",
                    f"kubectl -n {ns} create secret generic {src.name} --from-file={key}=FILE",
                )
        for key, src in sorted(project.configs.items()):
            if src.external:
                self._require(
                    "ConfigMap",
                    ns,
                    src.name,
                    f"config {key!r}",
                    f"kubectl -n {ns} create configmap {src.name} --from-file={key}=FILE",
                )
        for key, vol in sorted(project.volumes.items()):
            if vol.external:
                self._require(
                    "PersistentVolumeClaim",
                    ns,
                    claim_name(vol),
                    f"volume {key!r}",
                    "kubectl apply -f a PersistentVolumeClaim of that name",
                )
        kinds = [k for k in PRUNABLE if k != "HTTPRoute" or self.gateway_api()]
        current = self._list_many((*kinds, "PersistentVolumeClaim"), ns, self._selector(project.name))
        existing = {(kind, _name(o)): o for kind, objs in current.items() for o in objs}
        desired: list[Manifest] = list(shared_objects(ctx))
        for name in sorted(project.services):
            svc = project.services[name]
            routed = project.is_routed(name)
            mode = self.traffic_mode(project, name) if routed else "replicas"
            for obj in service_objects(ctx, svc):
                previous = existing.get((str(obj["kind"]), _name(obj)))
                if routed and mode != "replicas" and obj["kind"] == "Service" and previous is not None:
                    selected = ((previous.get("spec") or {}).get("selector") or {}).get(LABEL_REVISION)
                    if selected and (obj["metadata"].get("annotations") or {}).get(ROLE) is None:
                        obj["spec"]["selector"][LABEL_REVISION] = selected  # the rollout's choice stands
                        obj["metadata"]["annotations"][ROLE] = "stable"
                desired.append(obj)
            if mode == "replicas":  # otherwise route() owns the service's Ingress / HTTPRoute
                route = http_route(ctx, svc)
                if route is not None:
                    if not self.gateway_api():
                        raise UsageError(
                            f"service {name!r} is exposed through a Gateway, but the cluster has no HTTPRoute API",
                            hint=INSTALL_GATEWAY.replace(
                                "or fall back to",
                                "or expose it with an Ingress (x-kubernetes.expose.ingress_class) instead of",
                            ),
                        )
                    desired.append(route)
                entry = ingress(ctx, svc)
                if entry is not None:
                    desired.append(entry)
            hpa = existing.get(("HorizontalPodAutoscaler", service_name(name)))
            if hpa is not None:  # keep aiming at the revision the last rollout chose; settings may have changed
                target = hpa["spec"]["scaleTargetRef"]
                fresh = autoscaler(ctx, svc, str(target["kind"]), str(target["name"]))
                if fresh is not None:
                    fresh["metadata"]["annotations"][ROLE] = "traffic"
                    desired.append(fresh)
        secrets = [secret_object(ctx, src) for _, src in sorted(project.secrets.items()) if not src.external]
        self._check(desired)
        # value-level approximations (the render header's list), said once per up
        whole = translate(project, replace(ctx.options, live=False))
        for note in whole.notes:
            progress.emit(ProgressEvent(note.path, "approximated", "warning", detail=note.message))
        self._apply_all(sorted(secrets + desired, key=sort_key), existing, progress)
        self._prune(project, current, {(str(o["kind"]), _name(o)) for o in secrets + desired}, progress)

    def _prune(
        self, project: Project, current: Mapping[str, list[Manifest]], desired: set[tuple[str, str]], progress: Progress
    ) -> None:
        """Delete what Escadre created for the app that the app no longer has (claims excepted)."""
        ns = self.namespace_for(project.name)
        running = {r.service for r in self.observe(project.name).revisions}
        for kind in [k for k in PRUNABLE if k in current]:  # never claims: data
            for obj in current.get(kind, []):
                name = _name(obj)
                if (kind, name) in desired:
                    continue
                labels = obj["metadata"].get("labels") or {}
                annotations = obj["metadata"].get("annotations") or {}
                service = labels.get(LABEL_SERVICE)
                if service is not None and service not in project.services and service in running:
                    continue  # an orphan service still runs: up --remove-orphans decides
                routed = service is not None and service in project.services and project.is_routed(service)
                if routed and kind != "HorizontalPodAutoscaler" and annotations.get(ROLE) in TRAFFIC_ROLES:
                    continue  # the rollout's traffic objects: route() owns them
                if self.kube.delete(kind, ns, name):
                    subject = RESOURCE_KINDS.get(kind)
                    compose = annotations.get(COMPOSE_NAME)
                    label = f"{subject} {compose}" if subject and compose else f"{kind} {name}"
                    progress.emit(ProgressEvent(label, "removed", "done", detail="no longer in the Compose files"))

    def apply_revision(self, project: Project, revision: Revision, replicas: int, progress: Progress) -> None:
        ctx = self._ctx(project)
        svc = project.services[revision.service]
        ns = ctx.options.namespace
        (obj,) = workload_objects(ctx, svc, revision, replicas)
        self._check([obj])
        kind, name = str(obj["kind"]), _name(obj)
        if kind == "Job":
            found = self.kube.get("Job", ns, name)
            if found is not None and (replicas == 0 or found["spec"].get("completions") != replicas):
                self.kube.delete("Job", ns, name)  # completions cannot change: run it anew
            if replicas == 0:
                return
        elif kind == "DaemonSet" and replicas == 0:
            self.kube.delete("DaemonSet", ns, name)
            return
        self.kube.apply(obj)
        progress.emit(
            ProgressEvent(
                f"service {svc.name}",
                "applied",
                "done",
                detail=f"{kind}/{name} × {replicas}",
                data={"revision": revision.id},
            )
        )

    def remove_revision(self, app: str, service: str, revision: str, progress: Progress) -> None:
        ns = self.namespace_for(app)
        found = self._list_many(WORKLOAD_KINDS, ns, self._selector(app, service, revision))
        for kind, objs in found.items():
            for obj in objs:
                if self.kube.delete(kind, ns, _name(obj)):
                    progress.emit(ProgressEvent(f"service {service}", "removed", "done", detail=f"{kind}/{_name(obj)}"))
        # a canary or preview Service left pointing at the removed revision (an aborted rollout) goes too
        for obj in self.kube.list("Service", ns, self._selector(app, service)):
            role = (obj["metadata"].get("annotations") or {}).get(ROLE)
            selected = ((obj.get("spec") or {}).get("selector") or {}).get(LABEL_REVISION)
            if role in ("canary", "preview") and selected == revision:
                self.kube.delete("Service", ns, _name(obj))

    def observe(self, app: str, service: str | None = None) -> AppStatus:
        ns = self.namespace_for(app)
        kinds: tuple[str, ...] = (*WORKLOAD_KINDS, "Pod")
        if service is None:
            kinds += tuple(RESOURCE_KINDS)
        found = self._list_many(kinds, ns, self._selector(app, service))
        workloads = [o for kind in WORKLOAD_KINDS for o in found[kind]]
        resources: list[ResourceRef] = []
        if service is None:
            for kind, what in RESOURCE_KINDS.items():
                for obj in found[kind]:
                    compose = (obj["metadata"].get("annotations") or {}).get(COMPOSE_NAME)
                    if compose is not None and LABEL_SERVICE not in (obj["metadata"].get("labels") or {}):
                        resources.append(ResourceRef(what, compose, str(obj["metadata"].get("uid", ""))))  # type: ignore[arg-type]
        return AppStatus(
            app=app,
            revisions=revisions(workloads, found["Pod"]),
            resources=tuple(sorted(resources, key=lambda r: (r.kind, r.name))),
        )

    def remove_app(self, app: str, progress: Progress, *, volumes: bool = False) -> None:
        ns = self.namespace_for(app)
        order = ["HTTPRoute"] if self.gateway_api() else []
        order += [
            "Ingress",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            *WORKLOAD_KINDS,
            "Service",
            "NetworkPolicy",
            "ConfigMap",
            "Secret",
        ]
        if volumes:
            order.append("PersistentVolumeClaim")
        found = self._list_many(order, ns, self._selector(app))
        for kind in order:
            for obj in found[kind]:
                if not self.kube.delete(kind, ns, _name(obj)):
                    continue
                subject = RESOURCE_KINDS.get(kind)
                compose = (obj["metadata"].get("annotations") or {}).get(COMPOSE_NAME)
                label = f"{subject} {compose}" if subject and compose else f"{kind} {_name(obj)}"
                progress.emit(ProgressEvent(label, "removed", "done"))
        if volumes and not self.namespace:
            found_ns = self.kube.get("Namespace", None, ns)
            if found_ns is not None and (found_ns["metadata"].get("labels") or {}).get(LABEL_APP) == app:
                self.kube.delete("Namespace", None, ns)
                progress.emit(ProgressEvent(f"namespace {ns}", "removed", "done"))

    def list_apps(self) -> list[str]:
        managed = f"{LABEL_MANAGED}=true"
        if not self.namespace:
            spaces = self.kube.list("Namespace", None, managed)
            return sorted(
                {
                    (n["metadata"].get("labels") or {}).get(LABEL_APP, "")
                    for n in spaces
                    if (n.get("status") or {}).get("phase") != "Terminating"
                }
                - {""}
            )
        kinds = (*WORKLOAD_KINDS, "Service", *RESOURCE_KINDS)
        found = self._list_many(kinds, self.namespace, managed)
        return sorted(
            {(o["metadata"].get("labels") or {}).get(LABEL_APP, "") for objs in found.values() for o in objs} - {""}
        )

    # ------------------------------------------------------------------------------------- traffic

    def route(self, project: Project, service: str, plan: TrafficPlan, progress: Progress) -> bool:
        ctx = self._ctx(project)
        svc = project.services[service]
        ns = ctx.options.namespace
        hpa = autoscaler_for(ctx, svc, plan)
        if hpa is not None:
            self._check([hpa])
            self.kube.apply(hpa)
        if not project.is_routed(service):
            return False
        mode = self.traffic_mode(project, service)
        if mode == "replicas":
            return False  # the rollout engine splits traffic by replica ratio behind <service>
        apply, delete = traffic_objects(ctx, svc, plan, mode)
        self._check(apply)
        for obj in apply:
            self.kube.apply(obj)
        for kind, name in delete:
            self.kube.delete(kind, ns, name)
        return True

    def probe(self, app: str, service: str, revision: str) -> bool | None:
        return None  # readiness probes already run the health test: observe reports their verdict

    # ---------------------------------------------------------------------------------------- logs

    def logs(
        self, app: str, services: Sequence[str] = (), *, follow: bool = False, tail: int | None = None
    ) -> Iterator[LogLine]:
        ns = self.namespace_for(app)
        pods = self.kube.list("Pod", ns, self._selector(app))
        pods = [p for p in pods if not services or (p["metadata"].get("labels") or {}).get(LABEL_SERVICE) in services]
        if follow:
            return follow_logs(self.kube, ns, self._selector(app), services, pods, tail)
        return iter(read_logs(self.kube, ns, pods, tail))


def from_target_config(name: str, config: Mapping[str, Any]) -> KubernetesDriver:
    """``escadre target add NAME --kind kubernetes --kubeconfig FILE --context CTX --namespace NS`` stores
    those keys; ``traffic``, ``gateway``, ``ingress_class`` and ``k8s_version`` may be set too."""
    known = {"kubeconfig", "context", "namespace", "traffic", "gateway", "ingress_class", "k8s_version", "validate"}
    unknown = sorted(set(config) - known - {"kind"})
    if unknown:
        raise UsageError(
            f"target {name!r}: unknown Kubernetes setting(s) {', '.join(unknown)}",
            hint=f"known: {', '.join(sorted(known))}",
        )
    return KubernetesDriver(
        name,
        kubeconfig=config.get("kubeconfig"),
        context=config.get("context"),
        namespace=config.get("namespace"),
        traffic=str(config.get("traffic") or "auto"),
        gateway=config.get("gateway"),
        ingress_class=config.get("ingress_class"),
        k8s_version=config.get("k8s_version"),
        validate=bool(config.get("validate", True)),
    )


__all__ = ["KubernetesDriver", "from_target_config"]
