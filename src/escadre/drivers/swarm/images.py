"""Getting a service's image onto every node that may run its tasks.

The image is built (or found, or pulled) on the manager with the shared ``engine.images`` code. A swarm
has other nodes, though, and without a registry they cannot fetch an image that exists only on the
manager. Two ways, both supported:

* the target names a ``registry`` (``host:port``): the image is tagged ``<registry>/<app>-<service>:<id>``
  and pushed, and tasks run ``repo@sha256:digest`` — pulled by the nodes that lack it, skipped by those
  that have it;
* no registry: tasks run the image by id (see ``spec.service_image``) and the image must be loaded on
  the nodes (``docker save | docker load``); ``prepare_image`` warns when the swarm has several nodes.
"""

from __future__ import annotations

import docker

from escadre.core.errors import OperationFailed
from escadre.core.progress import Progress, ProgressEvent
from escadre.drivers.base import ResolvedImage
from escadre.drivers.engine.client import translate
from escadre.model.project import Project, Service


def push(
    api: docker.APIClient,
    target: str,
    registry: str,
    project: Project,
    svc: Service,
    image: ResolvedImage,
    progress: Progress,
) -> ResolvedImage:
    """Tag and push ``image`` to ``registry``; the result's ``ref`` is the pushed ``repo@digest``."""
    assert image.id is not None
    repository = f"{registry}/{project.name}-{svc.name}"
    tag = image.id.removeprefix("sha256:")[:12]
    subject = f"service {svc.name}"
    with translate(target, f"tagging {image.ref} as {repository}:{tag}"):
        api.tag(image.id, repository, tag)
    progress.emit(ProgressEvent(subject, "pushing", "running", detail=f"{repository}:{tag}"))
    with translate(target, f"pushing {repository}:{tag}"):
        for chunk in api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in chunk or "errorDetail" in chunk:
                error = chunk.get("error") or (chunk.get("errorDetail") or {}).get("message")
                raise OperationFailed(
                    f"pushing the image of service {svc.name!r} to {registry} failed: {error}",
                    hint="check that the registry is reachable from the manager and accepts pushes",
                )
        digests = api.inspect_image(image.id).get("RepoDigests") or []  # type: ignore[no-untyped-call]
    digest = next((d.split("@", 1)[1] for d in digests if d.startswith(f"{repository}@")), None)
    if digest is None:
        raise OperationFailed(f"the registry did not return a digest for {repository}:{tag}")
    progress.emit(ProgressEvent(subject, "pushed", "done", detail=f"{repository}@{digest[:19]}"))
    return ResolvedImage(ref=f"{repository}@{digest}", id=image.id, built=image.built)


__all__ = ["push"]
