"""Rules that only make sense on a target (``ESC-K8S-*``, ``ESC-SWM-*``, ``ESC-ECS-*``).

Network policies, Ingress TLS, service-account tokens, overlay encryption and ECS task roles do not
exist in a Compose file: they are decided by the driver when it renders the project. These rules read
what ``escadre.drivers.registry.render`` produced (parsed by :mod:`escadre.policy.manifests`) and report
at the Compose key that produced each object, so the fix is made where the user works.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from escadre.policy.manifests import ManifestObject
from escadre.policy.model import Hit, Refs, RuleSet
from escadre.policy.rules.images import parse_image
from escadre.policy.subjects import TargetInput

k8s = RuleSet("kubernetes", "kubernetes")

CLUSTER_SCOPED = frozenset(
    {
        "Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass", "GatewayClass",
        "CustomResourceDefinition", "PriorityClass", "IngressClass", "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration", "APIService", "RuntimeClass",
    }
)  # fmt: skip


def _where(obj: ManifestObject, *sub: str) -> tuple[str, ...]:
    return (*obj.compose_path, *sub) if obj.compose_path else ()


def _selects(selector: Mapping[str, Any] | None, labels: Mapping[str, Any]) -> bool:
    """Whether a label selector (``matchLabels`` and ``matchExpressions``) selects ``labels``."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and present and labels.get(key) in values)
            or (op == "Exists" and not present)
            or (op == "DoesNotExist" and present)
        ):
            return False
    return True


@k8s.add(
    "ESC-K8S-001",
    "No NetworkPolicy selects the workload",
    "medium",
    rationale="""Kubernetes pods accept traffic from every pod of the cluster unless a NetworkPolicy selects
    them; Compose networks (which isolate services) only hold on Kubernetes through rendered policies.""",
    remediation="""Keep the service on its Compose networks (the renderer derives NetworkPolicies from them)
    and make sure the cluster's CNI enforces NetworkPolicy.""",
    refs=Refs(nsa=("2.0",), checkov=("CKV2_K8S_6",), trivy=("KSV038",)),
)
def network_policy(t: TargetInput) -> Iterator[Hit]:
    policies = list(t.manifests.of_kind("NetworkPolicy"))
    for obj in t.manifests.workloads():
        labels = obj.pod_labels()
        covered = any(
            (p.namespace or None) == (obj.namespace or None)
            and _selects((p.doc.get("spec") or {}).get("podSelector"), labels)
            for p in policies
        )
        if not covered:
            yield Hit(
                f"{obj.ref}: no NetworkPolicy selects its pods", _where(obj, "networks"), obj.ref, obj.line, obj.ref
            )


@k8s.add(
    "ESC-K8S-002",
    "Ingress without TLS",
    "medium",
    rationale="An Ingress (or Gateway listener) without TLS serves the application in clear text.",
    remediation="Give the route a TLS certificate (the Ingress `tls:` section or an HTTPS Gateway listener).",
)
def ingress_tls(t: TargetInput) -> Iterator[Hit]:
    for obj in t.manifests.of_kind("Ingress"):
        spec = obj.doc.get("spec") or {}
        covered = {h for entry in spec.get("tls") or () for h in entry.get("hosts") or ()}
        hosts = [r.get("host") for r in spec.get("rules") or () if isinstance(r, Mapping)]
        if not spec.get("tls") or any(h and h not in covered for h in hosts):
            yield Hit(f"{obj.ref} serves HTTP without TLS", _where(obj, "ports"), obj.ref, obj.line, obj.ref)
    for obj in t.manifests.of_kind("Gateway"):
        listeners = (obj.doc.get("spec") or {}).get("listeners") or ()
        for listener in listeners:
            if listener.get("protocol") == "HTTP":
                name = listener.get("name", "")
                yield Hit(
                    f"{obj.ref} listener {name} is plain HTTP",
                    _where(obj, "ports"),
                    f"{obj.ref}/{name}",
                    obj.line,
                    obj.ref,
                )


@k8s.add(
    "ESC-K8S-003",
    "Service account token mounted",
    "low",
    rationale="""Every pod gets a token for the Kubernetes API by default; a compromised application can
    use it against the cluster. Compose applications never need it.""",
    remediation="The renderer should set `automountServiceAccountToken: false` on every pod.",
    refs=Refs(nsa=("1.11",), checkov=("CKV_K8S_38",), trivy=("KSV036",)),
)
def sa_token(t: TargetInput) -> Iterator[Hit]:
    for obj in t.manifests.workloads():
        spec = obj.pod_spec() or {}
        if spec.get("automountServiceAccountToken") is not False:
            yield Hit(f"{obj.ref} mounts a service account token", _where(obj), obj.ref, obj.line, obj.ref)


@k8s.add(
    "ESC-K8S-004",
    "Object in the default namespace",
    "low",
    rationale="""The default namespace is shared by everything that does not choose one: policies and
    quotas cannot be scoped to the application.""",
    remediation="Deploy to a namespace of the application's own (a Kubernetes target's `--namespace`).",
    refs=Refs(checkov=("CKV_K8S_21",), trivy=("KSV110",)),
    packs=("restricted",),
)
def default_namespace(t: TargetInput) -> Iterator[Hit]:
    for obj in t.manifests.objects:
        if obj.kind in CLUSTER_SCOPED or not obj.kind:
            continue
        if obj.namespace in (None, "", "default"):
            yield Hit(f"{obj.ref} is in the default namespace", _where(obj), obj.ref, obj.line, obj.ref)


@k8s.add(
    "ESC-K8S-005",
    "Secret exposed as an environment variable",
    "medium",
    rationale="Secrets in environment variables leak through /proc, child processes and crash dumps; volumes do not.",
    remediation="Use Compose `secrets:` (rendered as mounted files), not variables that reference a Secret.",
    refs=Refs(nsa=("Secrets",), checkov=("CKV_K8S_35",)),
)
def secret_env(t: TargetInput) -> Iterator[Hit]:
    for obj in t.manifests.workloads():
        for container in obj.containers():
            name = container.get("name", "")
            for env in container.get("env") or ():
                if "secretKeyRef" in ((env or {}).get("valueFrom") or {}):
                    yield Hit(
                        f"{obj.ref} container {name} reads the Secret key as variable {env.get('name')}",
                        _where(obj, "environment"),
                        f"{obj.ref}/{name}/{env.get('name')}",
                        obj.line,
                        obj.ref,
                    )
            for source in container.get("envFrom") or ():
                if "secretRef" in (source or {}):
                    yield Hit(
                        f"{obj.ref} container {name} imports a Secret as variables",
                        _where(obj, "environment"),
                        f"{obj.ref}/{name}/envFrom",
                        obj.line,
                        obj.ref,
                    )


@k8s.add(
    "ESC-K8S-006",
    "Mutable image without imagePullPolicy Always",
    "low",
    rationale="""With a tag (not a digest) and the default IfNotPresent policy, nodes keep running whatever
    they pulled first under that tag.""",
    remediation="Pin images by digest (Escadre resolves them at deploy), or set `imagePullPolicy: Always`.",
    refs=Refs(checkov=("CKV_K8S_15",)),
    packs=("restricted",),
)
def pull_policy(t: TargetInput) -> Iterator[Hit]:
    for obj in t.manifests.workloads():
        for container in obj.containers():
            image = str(container.get("image", ""))
            if not image or "@" in image:
                continue
            policy = container.get("imagePullPolicy")
            tag = parse_image(image).tag
            implicit_always = policy is None and tag in (None, "latest")
            if policy != "Always" and not implicit_always:
                yield Hit(
                    f"{obj.ref} pulls the mutable image {image} only if not present",
                    _where(obj, "image"),
                    f"{obj.ref}/{container.get('name', '')}",
                    obj.line,
                    obj.ref,
                )


def _container_context(container: Mapping[str, Any]) -> Mapping[str, Any]:
    context = container.get("securityContext")
    return context if isinstance(context, Mapping) else {}


@k8s.add(
    "ESC-K8S-007",
    "Rendered pod without the RuntimeDefault seccomp profile",
    "medium",
    rationale="""Docker applies its default seccomp profile to every container; Kubernetes runs pods
    Unconfined unless the pod or container asks for RuntimeDefault. A Compose file that is safe on Docker
    loses that filter on a cluster if the renderer does not set it.""",
    remediation="""The renderer sets `seccompProfile: {type: RuntimeDefault}` unless the Compose file says
    `seccomp:unconfined`; report a renderer that does not.""",
    refs=Refs(pss=("restricted/seccomp",), nsa=("1.10",), checkov=("CKV_K8S_31",), trivy=("KSV030",)),
)
def rendered_seccomp(t: TargetInput) -> Iterator[Hit]:
    confined = ("RuntimeDefault", "Localhost")
    for obj in t.manifests.workloads():
        spec = obj.pod_spec() or {}
        pod = ((spec.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
        for container in obj.containers():
            own = (_container_context(container).get("seccompProfile") or {}).get("type")
            if (own or pod) not in confined:
                yield Hit(
                    f"{obj.ref} container {container.get('name', '')} runs without a seccomp profile",
                    _where(obj),
                    f"{obj.ref}/{container.get('name', '')}",
                    obj.line,
                    obj.ref,
                )


@k8s.add(
    "ESC-K8S-008",
    "Rendered container allows privilege escalation",
    "medium",
    rationale="""`allowPrivilegeEscalation` defaults to true on Kubernetes: setuid binaries in the image can
    gain privileges. The restricted Pod Security Standard requires it false.""",
    remediation="""Add `security_opt: ["no-new-privileges:true"]` to the service; the renderer turns it into
    `allowPrivilegeEscalation: false`.""",
    refs=Refs(pss=("restricted/privilege-escalation",), nsa=("1.7",), checkov=("CKV_K8S_20",), trivy=("KSV001",)),
    packs=("restricted",),
)
def rendered_escalation(t: TargetInput) -> Iterator[Hit]:
    for obj in t.manifests.workloads():
        for container in obj.containers():
            if _container_context(container).get("allowPrivilegeEscalation") is not False:
                yield Hit(
                    f"{obj.ref} container {container.get('name', '')} may escalate privileges",
                    _where(obj, "security_opt"),
                    f"{obj.ref}/{container.get('name', '')}",
                    obj.line,
                    obj.ref,
                )


@k8s.add(
    "ESC-K8S-009",
    "Rendered image not pinned by digest",
    "low",
    rationale="""A tag in a manifest can point at other bytes tomorrow, on every node that pulls it again.
    `escadre up` resolves digests when it deploys; manifests applied by other tools do not.""",
    remediation="Deploy with `escadre up` (digests resolved), or pin `image:` by digest in the Compose file.",
    refs=Refs(checkov=("CKV_K8S_43",)),
    packs=("restricted",),
)
def rendered_digest(t: TargetInput) -> Iterator[Hit]:
    for obj in t.manifests.workloads():
        for container in obj.containers():
            image = str(container.get("image", ""))
            if image and "@" not in image:
                yield Hit(
                    f"{obj.ref} runs {image}, not pinned by digest",
                    _where(obj, "image"),
                    f"{obj.ref}/{container.get('name', '')}",
                    obj.line,
                    obj.ref,
                )


swarm = RuleSet("swarm", "swarm")


@swarm.add(
    "ESC-SWM-001",
    "Overlay network not encrypted",
    "low",
    rationale="""Swarm overlay traffic between nodes is not encrypted by default: anyone on the network
    between the nodes reads it.""",
    remediation='Set `driver_opts: {encrypted: "true"}` on the network.',
    refs=Refs(cis=("7.3",)),
)
def overlay_encrypted(t: TargetInput) -> Iterator[Hit]:
    for obj in t.manifests.of_kind("Network"):
        doc = obj.doc
        if doc.get("external") or (doc.get("driver") or "overlay") != "overlay":
            continue
        if "encrypted" not in (doc.get("driver_opts") or {}):
            yield Hit(f"overlay network {obj.name} is not encrypted", _where(obj), obj.name, obj.line, obj.ref)


ecs = RuleSet("ecs", "ecs")


@ecs.add(
    "ESC-ECS-001",
    "Task definition without a task role",
    "medium",
    rationale="""Without its own task role a task on EC2 capacity reaches the instance role through the
    metadata endpoint: every task on the instance shares the instance's permissions.""",
    remediation="Give each service a task role with only the permissions it needs.",
)
def task_role(t: TargetInput) -> Iterator[Hit]:
    for obj in t.manifests.of_kind("TaskDefinition"):
        if not obj.doc.get("taskRoleArn"):
            yield Hit(f"task definition {obj.name} has no task role", _where(obj), obj.name, obj.line, obj.ref)


@ecs.add(
    "ESC-ECS-002",
    "Task role is the execution role",
    "medium",
    rationale="""The execution role pulls images and reads secrets for the agent; giving the application the
    same role hands it every secret of the task definition and the registry credentials.""",
    remediation="Use separate roles for execution and for the task.",
    refs=Refs(checkov=("CKV_AWS_249",)),
)
def same_roles(t: TargetInput) -> Iterator[Hit]:
    for obj in t.manifests.of_kind("TaskDefinition"):
        role = obj.doc.get("taskRoleArn")
        if role and role == obj.doc.get("executionRoleArn"):
            yield Hit(
                f"task definition {obj.name} uses its execution role as task role",
                _where(obj),
                obj.name,
                obj.line,
                obj.ref,
            )


RULES = [*k8s.rules, *swarm.rules, *ecs.rules]
