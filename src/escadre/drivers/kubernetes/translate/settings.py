"""``x-kubernetes``: what a Compose file may say about Kubernetes only.

Compose has no words for a Service type, an Ingress host, a Gateway or a volume size. Rather than guess,
the Kubernetes target reads an ``x-kubernetes`` extension (Compose allows ``x-*`` keys on services and
top-level volumes; other targets ignore it), in the tradition of Docker's own ``x-aws-*`` keys::

    services:
      web:
        x-kubernetes:
          workload: statefulset          # deployment (default) | statefulset | daemonset
          service_type: LoadBalancer     # ClusterIP (default) | NodePort | LoadBalancer
          expose:                        # reach the service from outside the cluster
            host: shop.example.com
            path: /
            tls_secret: shop-tls         # Ingress TLS (the Secret holds the certificate)
            ingress_class: nginx         # → Ingress
            gateway: infra/public        # → HTTPRoute attached to that Gateway
    volumes:
      data:
        x-kubernetes: {size: 10Gi, storage_class: fast, access_mode: ReadWriteOnce}

Like ``x-escadre``, unknown keys are errors: a typo must not silently mean "default".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from escadre.core.errors import SourceLocation, SpecError

KEY = "x-kubernetes"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Expose(_Model):
    host: str | None = None
    path: str = "/"
    tls_secret: str | None = None
    ingress_class: str | None = None
    """An Ingress of this class (the target's ``ingress_class`` when only ``host`` is given)."""
    gateway: str | None = None
    """``[namespace/]name`` of the Gateway an HTTPRoute attaches to."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """Container port to expose (default: ``x-escadre.route.port``, else the first port)."""

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("path must start with '/'")
        return value


class ServiceK8s(_Model):
    workload: Literal["deployment", "statefulset", "daemonset"] | None = None
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    expose: Expose | None = None
    service_account: str | None = None


class VolumeK8s(_Model):
    size: str = "1Gi"
    storage_class: str | None = None
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany", "ReadWriteOncePod"] = "ReadWriteOnce"


def _parse(model: type[_Model], raw: Any, where: str, location: SourceLocation | None) -> Any:
    try:
        return model.model_validate(raw or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        at = ".".join(str(p) for p in first["loc"])
        raise SpecError(
            f"{where}.{KEY}{'.' + at if at else ''}: {first['msg']}",
            location=location,
            hint="see docs/kubernetes.md for the x-kubernetes keys",
        ) from None


def service_settings(spec: Mapping[str, Any], name: str, location: SourceLocation | None = None) -> ServiceK8s:
    result: ServiceK8s = _parse(ServiceK8s, spec.get(KEY), f"services.{name}", location)
    return result


def volume_settings(spec: Mapping[str, Any] | None, name: str) -> VolumeK8s:
    result: VolumeK8s = _parse(VolumeK8s, (spec or {}).get(KEY), f"volumes.{name}", None)
    return result
