"""The one module that imports the ``kubernetes`` SDK: kubeconfig loading, REST calls, error translation.

The driver works on plain dicts (the objects ``translate`` builds), so it uses the official client for
what it is good at — kubeconfig and context handling, credentials (tokens, client certificates, exec
plugins), TLS, connection pooling — and sends requests through ``ApiClient.call_api`` itself: one code path
for every kind (Gateway API objects have no generated class), no model round-trips, and server-side apply
(``PATCH`` with ``application/apply-patch+yaml``, ``fieldManager=escadre``) for every write.

Every API answer that is not a success becomes one Escadre error naming the object and the namespace:

* 401 → ``TargetError`` (the credentials of the context were refused);
* 403 → ``TargetError`` naming the verb, resource and namespace (RBAC);
* 404 of a namespace → ``UsageError`` (create it); of an API group → ``UsageError`` (a CRD is missing);
* 409 → ``ConflictError`` (someone else owns the object or changed it);
* 422 → ``SpecError`` (the API server rejected what the Compose file became);
* 429, 5xx, timeouts → ``TemporaryTargetError``; no connection at all → ``TargetUnreachableError``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from escadre.core.errors import (
    ConflictError,
    SpecError,
    TargetError,
    TargetUnreachableError,
    TemporaryTargetError,
    UsageError,
)

FIELD_MANAGER = "escadre"
TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Kind:
    """Where the API serves a kind: ``/apis/apps/v1`` + ``deployments``."""

    api_version: str
    plural: str
    namespaced: bool = True

    @property
    def prefix(self) -> str:
        return f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"


KINDS: dict[str, Kind] = {
    "Namespace": Kind("v1", "namespaces", namespaced=False),
    "Pod": Kind("v1", "pods"),
    "Service": Kind("v1", "services"),
    "ConfigMap": Kind("v1", "configmaps"),
    "Secret": Kind("v1", "secrets"),
    "PersistentVolumeClaim": Kind("v1", "persistentvolumeclaims"),
    "Deployment": Kind("apps/v1", "deployments"),
    "StatefulSet": Kind("apps/v1", "statefulsets"),
    "DaemonSet": Kind("apps/v1", "daemonsets"),
    "Job": Kind("batch/v1", "jobs"),
    "NetworkPolicy": Kind("networking.k8s.io/v1", "networkpolicies"),
    "Ingress": Kind("networking.k8s.io/v1", "ingresses"),
    "PodDisruptionBudget": Kind("policy/v1", "poddisruptionbudgets"),
    "HorizontalPodAutoscaler": Kind("autoscaling/v2", "horizontalpodautoscalers"),
    "HTTPRoute": Kind("gateway.networking.k8s.io/v1", "httproutes"),
    "SelfSubjectAccessReview": Kind("authorization.k8s.io/v1", "selfsubjectaccessreviews", namespaced=False),
}


def path(kind: str, namespace: str | None, name: str | None = None, sub: str | None = None) -> str:
    k = KINDS[kind]
    out = k.prefix
    if k.namespaced:
        out += f"/namespaces/{quote(namespace or 'default', safe='')}"
    out += f"/{k.plural}"
    if name is not None:
        out += f"/{quote(name, safe='')}"
    if sub is not None:
        out += f"/{sub}"
    return out


def _status_message(body: bytes | str | None) -> tuple[str, str, dict[str, Any]]:
    """(message, reason, details) of a ``Status`` answer (or the raw text)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:300], "", {}
    if not isinstance(data, dict):
        return text.strip()[:300], "", {}
    return str(data.get("message") or text)[:500], str(data.get("reason") or ""), dict(data.get("details") or {})


class NotFound(TargetError):
    """The object does not exist (callers that expect that catch it)."""


class Kube:
    """A connection to one cluster (a kubeconfig context), loaded on first use."""

    def __init__(self, target: str, *, kubeconfig: str | None = None, context: str | None = None) -> None:
        self.target = target
        self.kubeconfig = os.path.expanduser(kubeconfig) if kubeconfig else None
        self.context = context
        self._api: Any = None
        self._lock = threading.Lock()
        self.endpoint = ""
        self.default_namespace: str | None = None

    # ---------------------------------------------------------------------------------- connection

    @property
    def api(self) -> Any:
        with self._lock:
            if self._api is None:
                self._api = self._connect()
            return self._api

    def _connect(self) -> Any:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        where = self.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        if self.kubeconfig and not os.path.isfile(self.kubeconfig):
            raise UsageError(
                f"target {self.target!r}: kubeconfig {self.kubeconfig} does not exist",
                hint="point the target at an existing file (kind get kubeconfig > FILE; "
                "escadre target add NAME --kind kubernetes --kubeconfig FILE)",
            )
        try:
            contexts, current = config.list_kube_config_contexts(config_file=self.kubeconfig)  # type: ignore[no-untyped-call]
        except ConfigException as exc:
            if self.kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
                return self._in_cluster()
            raise UsageError(f"target {self.target!r}: cannot read kubeconfig {where}: {exc}") from exc
        names = [c["name"] for c in contexts]
        if self.context is not None and self.context not in names:
            raise UsageError(
                f"target {self.target!r}: context {self.context!r} is not in kubeconfig {where}",
                hint=f"known contexts: {', '.join(names) or '(none)'} (kubectl config get-contexts)",
            )
        chosen = next((c for c in contexts if c["name"] == (self.context or current["name"])), current)
        self.default_namespace = (chosen.get("context") or {}).get("namespace")
        configuration = client.Configuration()
        try:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=self.kubeconfig, context=self.context, client_configuration=configuration
            )
        except (ConfigException, OSError, ValueError) as exc:
            raise UsageError(
                f"target {self.target!r}: cannot use context {chosen['name']!r} of {where}: {exc}",
                hint=f"check it with: kubectl --context {chosen['name']} get namespaces",
            ) from exc
        configuration.retries = 0
        self.endpoint = configuration.host
        return client.ApiClient(configuration)

    def _in_cluster(self) -> Any:
        from kubernetes import client, config

        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        self.endpoint = configuration.host
        return client.ApiClient(configuration)

    def close(self) -> None:
        with self._lock:
            if self._api is not None:
                self._api.close()
                self._api = None

    # ------------------------------------------------------------------------------------ requests

    def _call(
        self,
        method: str,
        url: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | tuple[float, float | None] | None = TIMEOUT,
        stream: bool = False,
        what: str,
        namespace: str | None = None,
    ) -> Any:
        import urllib3
        from kubernetes.client.exceptions import ApiException

        api = self.api
        full = url + ("?" + urlencode({k: v for k, v in (query or {}).items() if v is not None}) if query else "")
        headers = {"Accept": "application/json, */*", "Content-Type": content_type}
        try:
            request = api.param_serialize(method, full, header_params=headers, body=body, auth_settings=["BearerToken"])
            response = api.call_api(*request, _request_timeout=timeout)
        except ApiException as exc:  # TLS errors surface as status 0
            raise TargetUnreachableError(
                f"cannot reach the API server at {self.endpoint}: {exc.reason}", target=self.target, hint=self._hint()
            ) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if isinstance(exc, urllib3.exceptions.TimeoutError | TimeoutError):
                raise TemporaryTargetError(
                    f"the API server did not answer {what} in time", target=self.target, delay=2.0
                ) from exc
            raise TargetUnreachableError(
                f"cannot reach the API server at {self.endpoint}: {exc}", target=self.target, hint=self._hint()
            ) from exc
        status = response.status
        if stream and 200 <= status < 300:
            return response.response
        data = response.read()
        if not 200 <= status < 300:
            raise self.error(status, data, what=what, namespace=namespace)
        if not data:
            return {}
        if "json" in (response.getheader("Content-Type") or ""):
            return json.loads(data)
        return data.decode("utf-8", "replace")

    def _hint(self) -> str:
        ctx = f" --context {self.context}" if self.context else ""
        cfg = f" --kubeconfig {self.kubeconfig}" if self.kubeconfig else ""
        return f"is the cluster running? kubectl{cfg}{ctx} cluster-info"

    def error(self, status: int, body: Any, *, what: str, namespace: str | None) -> Exception:
        """The Escadre error for an API answer ``status`` to ``what``."""
        message, _reason, details = _status_message(body)
        where = f" in namespace {namespace!r}" if namespace else ""
        if status == 401:
            return TargetError(
                f"the API server refused the credentials{' of context ' + repr(self.context) if self.context else ''} "
                f"while {what}: {message}",
                target=self.target,
                hint="refresh them (kubectl get namespaces shows the same error) or fix the kubeconfig",
            )
        if status == 403:
            return TargetError(
                f"forbidden: {what}{where} is not allowed for these credentials ({message})",
                target=self.target,
                hint="ask for a Role/RoleBinding granting it in that namespace, or use a namespace you own "
                "(escadre target add … --namespace NS)",
            )
        if (
            status == 404
            and details.get("kind") == "namespaces"
            and not what.startswith(("reading Namespace", "deleting Namespace"))
        ):
            return UsageError(
                f"target {self.target!r}: namespace {details.get('name') or namespace!r} does not exist",
                hint=f"create it first: kubectl create namespace {details.get('name') or namespace}",
            )
        if status == 404 and "could not find the requested resource" in message:
            return UsageError(
                f"target {self.target!r}: the cluster does not serve the API for {what} ({message})",
                hint="a CustomResourceDefinition is probably not installed (see docs/kubernetes.md)",
            )
        if status == 404:
            return NotFound(f"{what}{where}: {message}", target=self.target)
        if status == 409:
            return ConflictError(
                f"{what}{where}: {message}",
                target=self.target,
                hint="another field manager owns these fields or the object changed meanwhile: retry, or see "
                "kubectl get -o yaml --show-managed-fields",
            )
        if status in (400, 422):
            return SpecError(
                f"target {self.target!r}: the API server rejected {what}{where}: {message}",
                hint="this is what the Compose file became (escadre render kubernetes shows it)",
            )
        if status == 429 or status >= 500:
            return TemporaryTargetError(f"{what}{where}: {status} {message}", target=self.target, delay=2.0)
        return TargetError(f"{what}{where}: {status} {message}", target=self.target)

    # --------------------------------------------------------------------------------------- verbs

    def version(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/version", what="asking for the server version")
        return result

    def get(self, kind: str, namespace: str | None, name: str, *, missing_ok: bool = True) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self._call(
                "GET", path(kind, namespace, name), what=f"reading {kind}/{name}", namespace=namespace
            )
        except NotFound:
            if missing_ok:
                return None
            raise
        return result

    def list(self, kind: str, namespace: str | None, selector: str | None = None) -> list[dict[str, Any]]:
        """Objects of ``kind`` (in ``namespace``, or everywhere for cluster-wide kinds) matching ``selector``."""
        result = self._call(
            "GET",
            path(kind, namespace),
            query={"labelSelector": selector},
            what=f"listing {KINDS[kind].plural}",
            namespace=namespace,
        )
        items: list[dict[str, Any]] = result.get("items") or []
        for item in items:
            item.setdefault("kind", kind)
        return items

    def apply(
        self, obj: Mapping[str, Any], *, force: bool = True, manager: str = FIELD_MANAGER, dry_run: bool = False
    ) -> dict[str, Any]:
        """Server-side apply ``obj`` (creates or merges) as field manager ``manager``; with ``dry_run`` the
        API server validates and admits it without storing anything."""
        kind = str(obj["kind"])
        meta = obj["metadata"]
        namespace = meta.get("namespace")
        result: dict[str, Any] = self._call(
            "PATCH",
            path(kind, namespace, meta["name"]),
            query={"fieldManager": manager, "force": "true" if force else None, "dryRun": "All" if dry_run else None},
            body=json.dumps(obj),
            content_type="application/apply-patch+yaml",
            what=f"applying {kind}/{meta['name']}",
            namespace=namespace,
        )
        return result

    def delete(
        self, kind: str, namespace: str | None, name: str, *, propagation: str = "Background", missing_ok: bool = True
    ) -> bool:
        """Delete one object; ``False`` when it was already gone."""
        try:
            self._call(
                "DELETE",
                path(kind, namespace, name),
                query={"propagationPolicy": propagation},
                what=f"deleting {kind}/{name}",
                namespace=namespace,
            )
        except NotFound:
            if missing_ok:
                return False
            raise
        return True

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        kind = str(obj["kind"])
        namespace = (obj.get("metadata") or {}).get("namespace") if KINDS[kind].namespaced else None
        result: dict[str, Any] = self._call(
            "POST", path(kind, namespace), body=dict(obj), what=f"creating a {kind}", namespace=namespace
        )
        return result

    def served(self, group_version: str) -> set[str] | None:
        """The resource names the API serves under ``group/version``; ``None`` when it serves none."""
        try:
            found = self._call("GET", f"/apis/{group_version}", what=f"discovering {group_version}")
        except (UsageError, NotFound):
            return None
        return {str(r.get("name")) for r in found.get("resources") or []}

    def stream_lines(
        self, url: str, query: Mapping[str, Any], *, what: str, namespace: str | None
    ) -> tuple[Any, Iterator[str]]:
        """A streaming GET (watch, log follow): the response (close it to stop) and its lines."""
        response = self._call(
            "GET",
            url,
            query=query,
            timeout=(10.0, None),
            stream=True,
            what=what,
            namespace=namespace,
        )

        def lines() -> Iterator[str]:
            buffer = b""
            try:
                for chunk in response.stream(4096, decode_content=True):
                    buffer += chunk
                    *complete, buffer = buffer.split(b"\n")
                    for line in complete:
                        yield line.decode("utf-8", "replace")
            except Exception:  # the stream was closed (by us, or the server ended it)
                pass
            if buffer:
                yield buffer.decode("utf-8", "replace")

        return response, lines()

    def text(self, url: str, query: Mapping[str, Any], *, what: str, namespace: str | None) -> str:
        result = self._call("GET", url, query=query, what=what, namespace=namespace)
        return result if isinstance(result, str) else json.dumps(result)


__all__ = ["FIELD_MANAGER", "KINDS", "Kube", "NotFound", "path"]
