"""What a Docker engine's classic builder (``drivers/engine/images``) does with each ``build`` sub-key —
one table for every engine-based target (the Docker engine, Swarm's manager)."""

from __future__ import annotations

from escadre.drivers.support import KeySupport, honoured, ignored, rejected

_H = honoured()

BUILD: dict[str, KeySupport] = {
    "build.context": _H,
    "build.dockerfile": _H,
    "build.dockerfile_inline": rejected("needs BuildKit; write the Dockerfile to a file"),
    "build.args": _H,
    "build.target": _H,
    "build.labels": _H,
    "build.network": _H,
    "build.shm_size": _H,
    "build.extra_hosts": _H,
    "build.cache_from": _H,
    "build.pull": _H,
    "build.no_cache": _H,
    "build.ssh": ignored("needs BuildKit"),
    "build.secrets": ignored("needs BuildKit"),
    "build.platforms": ignored("single-platform classic builder"),
    "build.tags": ignored("the image is tagged with the service's image name only"),
    "build.additional_contexts": ignored("needs BuildKit"),
    "build.cache_to": ignored("needs BuildKit"),
    "build.isolation": ignored("Windows only"),
    "build.privileged": ignored("needs BuildKit"),
    "build.ulimits": ignored("not supported by the classic builder"),
}

__all__ = ["BUILD"]
