"""Reading a cluster back: workloads and pods → ``RevisionStatus`` and ``Instance`` (pure functions).

A revision exists while its workload does (pods of a deleted workload are already going away and are not
shown); ``minReadySeconds`` is honoured through the workload's ``availableReplicas``. Its ``desired``
count is the replica count Escadre asked for (the ``escadre.dev/replicas``
annotation: an HPA may have changed ``spec.replicas`` since). Each pod becomes an ``Instance``:

* ``Succeeded``/``Failed`` pods are ``exited`` with their container's exit code;
* a container waiting with ``CrashLoopBackOff``, ``ImagePullBackOff``, ``InvalidImageName``,
  ``CreateContainerConfigError``… is ``failed`` with the reason and the kubelet's message, so a rollout
  stops at once with something a human can act on (``ImagePullBackOff: Back-off pulling image "x"``);
  ``ErrImagePull`` is only a first failed attempt: ``starting`` with its message;
* an unschedulable pod is ``created`` with the scheduler's message (``0/3 nodes are available…``);
* a running container is ``healthy`` when the pod is Ready and has a readiness probe, ``none`` when it is
  Ready without one, ``starting`` while not Ready.

Pods the controller has not created yet (it needs a moment after an apply; ``observedGeneration`` says
whether it has seen the latest spec) are reported as ``created`` placeholders, or ``failed`` with the
controller's reason when it cannot create them (``ReplicaFailure``: quota, PodSecurity admission…).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from escadre.drivers.base import LABEL_REVISION, LABEL_SERVICE, Instance, InstanceState, RevisionStatus
from escadre.drivers.kubernetes.translate.common import REPLICAS

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
FAILED_REASONS = {
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "ErrImageNeverPull",
}


def parse_time(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def desired(workload: dict[str, Any]) -> int:
    annotations = workload["metadata"].get("annotations") or {}
    if REPLICAS in annotations:
        return int(annotations[REPLICAS])
    spec, status = workload.get("spec") or {}, workload.get("status") or {}
    kind = workload.get("kind")
    if kind == "Job":
        return int(spec.get("completions", 1))
    if kind == "DaemonSet":
        return int(status.get("desiredNumberScheduled", 0))
    return int(spec.get("replicas", 1))


def instance(pod: dict[str, Any]) -> Instance:
    """One pod as an ``Instance`` (see the module docstring for the state mapping)."""
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    labels = meta.get("labels") or {}
    containers = spec.get("containers") or [{}]
    main_name = containers[0].get("name")
    statuses = status.get("containerStatuses") or []
    cs = next((c for c in statuses if c.get("name") == main_name), statuses[0] if statuses else {})
    st = cs.get("state") or {}
    waiting, terminated = st.get("waiting"), st.get("terminated")
    last = (cs.get("lastState") or {}).get("terminated") or {}
    restarts = int(cs.get("restartCount") or 0)
    phase = status.get("phase", "Pending")
    ready_cond = _condition(pod, "Ready")
    ready = bool(ready_cond and ready_cond.get("status") == "True")
    probe = "readinessProbe" in containers[0]
    state: InstanceState = "starting"
    health = "none"
    exit_code: int | None = None
    message = ""
    if phase in ("Succeeded", "Failed"):
        state = "exited"
        exit_code = int((terminated or last or {}).get("exitCode", 0 if phase == "Succeeded" else 1))
        if phase == "Failed":
            message = str((terminated or {}).get("reason") or status.get("reason") or "failed")
            if status.get("message"):
                message += f": {status['message']}"
    elif waiting and waiting.get("reason") in FAILED_REASONS:
        state = "failed"
        reason = str(waiting["reason"])
        message = f"{reason}: {waiting.get('message') or ''}".rstrip(": ")
        if reason == "CrashLoopBackOff" and last:
            message += f" (last exit code {last.get('exitCode')}, {restarts} restarts)"
        if last.get("exitCode") is not None:
            exit_code = int(last["exitCode"])
    elif phase == "Pending":
        scheduled = _condition(pod, "PodScheduled")
        if scheduled is not None and scheduled.get("status") == "False":
            state = "created"
            message = f"not scheduled: {scheduled.get('message') or scheduled.get('reason') or ''}".strip()
        else:
            init = [
                c for c in status.get("initContainerStatuses") or [] if not (c.get("state") or {}).get("terminated")
            ]
            if init:
                message = f"waiting for init container {init[0].get('name')}"
            elif waiting:
                message = f"{waiting.get('reason')}: {waiting.get('message') or ''}".rstrip(": ")
            state = "starting" if statuses else "created"
    elif phase == "Running":
        if "running" in st:
            state = "running"
            health = ("healthy" if probe else "none") if ready else "starting"
        elif terminated or waiting:
            message = (
                f"restarting after exit code {(terminated or last).get('exitCode')}" if (terminated or last) else ""
            )
    else:
        state = "unknown"
    ip = status.get("podIP")
    ports = tuple(
        f"{ip}:{p.get('containerPort')}/{str(p.get('protocol', 'TCP')).lower()}"
        for p in containers[0].get("ports") or []
        if ip
    )
    return Instance(
        id=str(meta.get("uid") or meta["name"]),
        name=str(meta["name"]),
        service=labels.get(LABEL_SERVICE, ""),
        revision=labels.get(LABEL_REVISION, ""),
        state=state,
        health=health,  # type: ignore[arg-type]
        exit_code=exit_code,
        restarts=restarts,
        node=spec.get("nodeName"),
        ports=ports,
        started_at=parse_time(status.get("startTime")),
        message=message,
        addresses=(ip,) if ip else (),
    )


def _pending(workload: dict[str, Any], count: int, start: int) -> list[Instance]:
    """Placeholders for pods the controller has not created (or cannot create)."""
    meta = workload["metadata"]
    labels = ((workload.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
    failure = _condition(workload, "ReplicaFailure")
    progressing = _condition(workload, "Progressing")
    state: InstanceState = "created"
    message = "waiting for the controller to create the pod"
    generation, observed = meta.get("generation"), (workload.get("status") or {}).get("observedGeneration")
    if generation is not None and observed is not None and observed < generation:
        message = f"the {workload.get('kind')} controller has not seen generation {generation} yet"
    if failure is not None and failure.get("status") == "True":
        state, message = "failed", f"{failure.get('reason')}: {failure.get('message')}"
    elif progressing is not None and progressing.get("status") == "False":
        state, message = "failed", f"{progressing.get('reason')}: {progressing.get('message')}"
    return [
        Instance(
            id=f"{meta.get('uid')}/{n}",
            name=f"{meta['name']}-pending-{n}",
            service=labels.get(LABEL_SERVICE, ""),
            revision=labels.get(LABEL_REVISION, ""),
            state=state,
            message=message,
        )
        for n in range(start + 1, start + count + 1)
    ]


def _available(workload: dict[str, Any], instances: list[Instance]) -> list[Instance]:
    """With ``minReadySeconds``, a ready pod only counts once the controller calls it *available*: at
    most ``availableReplicas`` instances are healthy, the others still ``starting``."""
    spec, status = workload.get("spec") or {}, workload.get("status") or {}
    if not spec.get("minReadySeconds") or status.get("observedGeneration") != workload["metadata"].get("generation"):
        return instances
    budget = int(status.get("availableReplicas") or 0)
    out = []
    for inst in sorted(instances, key=lambda i: (i.started_at or 0.0, i.name)):
        if inst.ready and inst.state == "running" and budget <= 0:
            message = f"ready, not yet available (minReadySeconds {spec['minReadySeconds']})"
            out.append(replace(inst, health="starting", message=message))
            continue
        if inst.ready and inst.state == "running":
            budget -= 1
        out.append(inst)
    return out


def _image(workload: dict[str, Any]) -> str:
    containers = (((workload.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or [{}]
    return str(containers[0].get("image", ""))


def revisions(workloads: Iterable[dict[str, Any]], pods: Iterable[dict[str, Any]]) -> tuple[RevisionStatus, ...]:
    """Revisions of the observed workloads with their pods, sorted by (service, revision)."""
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    by_owner: dict[str, list[dict[str, Any]]] = {}
    for pod in live:
        for ref in pod["metadata"].get("ownerReferences") or []:
            by_owner.setdefault(str(ref.get("uid")), []).append(pod)
    out: dict[tuple[str, str], RevisionStatus] = {}
    for wl in workloads:
        meta = wl["metadata"]
        labels = meta.get("labels") or {}
        service, revision = labels.get(LABEL_SERVICE, ""), labels.get(LABEL_REVISION, "")
        owned = by_owner.get(str(meta.get("uid")), [])
        if wl.get("kind") == "StatefulSet":
            # updated in place: its pods may still belong to the previous revision for a while
            groups: dict[str, list[dict[str, Any]]] = {}
            for pod in owned:
                groups.setdefault((pod["metadata"].get("labels") or {}).get(LABEL_REVISION, ""), []).append(pod)
            for other, members in groups.items():
                if other != revision:
                    insts = tuple(sorted((instance(p) for p in members), key=lambda i: i.name))
                    out[(service, other)] = RevisionStatus(service, other, len(members), insts, _image(wl))
            owned = groups.get(revision, [])
        want = desired(wl)
        instances = _available(wl, [instance(p) for p in owned])
        complete = _condition(wl, "Complete")
        if wl.get("kind") != "Job" or not (complete and complete.get("status") == "True"):
            missing = want - len(instances) if wl.get("kind") != "Job" else (want if not instances else 0)
            instances += _pending(wl, max(missing, 0), len(instances))
        out[(service, revision)] = RevisionStatus(
            service, revision, want, tuple(sorted(instances, key=lambda i: i.name)), _image(wl)
        )
    return tuple(status for _, status in sorted(out.items()))
