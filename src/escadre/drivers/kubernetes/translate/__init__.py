"""Compose → Kubernetes objects, as pure functions (see ``escadre.drivers.kubernetes`` for the layout).

``translate(project, options)`` turns a whole project into the ordered objects ``render`` prints; the live
driver calls the same pieces one at a time (``shared_objects``, ``service_objects``, ``workload_objects``)
so a revision applied by ``escadre up`` is the object ``escadre render`` shows.
"""

from escadre.drivers.kubernetes.translate.common import Ctx, Manifest, Note, Options, SecretSource
from escadre.drivers.kubernetes.translate.project import (
    Translation,
    service_objects,
    shared_objects,
    translate,
    workload_objects,
)

__all__ = [
    "Ctx",
    "Manifest",
    "Note",
    "Options",
    "SecretSource",
    "Translation",
    "service_objects",
    "shared_objects",
    "translate",
    "workload_objects",
]
