"""Pod logs: read once (sorted by the API server's timestamps) or followed as pods come and go.

Following watches the app's pods (a ``watch`` on the pods collection with the app's label selector) and
starts streaming each one's log as soon as it runs, so ``escadre logs -f`` keeps showing a service through
a rollout: the new revision's pods join the stream as they start.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from escadre.core.errors import EscadreError
from escadre.drivers.base import LABEL_SERVICE, LogLine
from escadre.drivers.kubernetes.client import Kube, path


def _container(pod: Mapping[str, Any]) -> str:
    return str(((pod.get("spec") or {}).get("containers") or [{}])[0].get("name", ""))


def _service(pod: Mapping[str, Any]) -> str:
    return str((pod["metadata"].get("labels") or {}).get(LABEL_SERVICE, ""))


def read_logs(kube: Kube, ns: str, pods: Sequence[Mapping[str, Any]], tail: int | None) -> list[LogLine]:
    lines: list[tuple[str, LogLine]] = []
    for pod in pods:
        name = str(pod["metadata"]["name"])
        query = {"container": _container(pod), "timestamps": "true", "tailLines": tail}
        try:
            text = kube.text(path("Pod", ns, name, "log"), query, what=f"reading the logs of {name}", namespace=ns)
        except EscadreError:
            continue  # not started yet (ContainerCreating) or already gone
        for raw in text.splitlines():
            ts, _, body = raw.partition(" ")
            lines.append((ts, LogLine(_service(pod), name, body, "stdout", ts)))
    lines.sort(key=lambda pair: pair[0])
    return [line for _, line in lines]


def follow_logs(
    kube: Kube,
    ns: str,
    selector: str,
    services: Sequence[str],
    pods: Sequence[Mapping[str, Any]],
    tail: int | None,
) -> Iterator[LogLine]:
    """Every pod's log as it is written, and the logs of pods that start later; stops when closed."""
    out: queue.Queue[LogLine] = queue.Queue(maxsize=10_000)
    responses: list[Any] = []
    followed: set[str] = set()
    stop = threading.Event()
    lock = threading.Lock()

    def pump(pod: Mapping[str, Any]) -> None:
        name = str(pod["metadata"]["name"])
        query = {"container": _container(pod), "follow": "true", "tailLines": tail}
        try:
            response, lines = kube.stream_lines(
                path("Pod", ns, name, "log"), query, what=f"following the logs of {name}", namespace=ns
            )
        except EscadreError:
            with lock:
                followed.discard(name)  # not started yet: the watch offers it again
            return
        with lock:
            responses.append(response)
        for text in lines:
            if stop.is_set():
                return
            out.put(LogLine(_service(pod), name, text))

    def start(pod: Mapping[str, Any]) -> None:
        phase = (pod.get("status") or {}).get("phase")
        name = str(pod["metadata"]["name"])
        with lock:
            if name in followed or phase not in ("Running", "Succeeded", "Failed"):
                return
            followed.add(name)
        threading.Thread(target=pump, args=(pod,), daemon=True).start()

    def watch() -> None:
        while not stop.is_set():
            try:
                response, events = kube.stream_lines(
                    path("Pod", ns),
                    {"watch": "true", "labelSelector": selector, "timeoutSeconds": 60},
                    what="watching pods",
                    namespace=ns,
                )
            except EscadreError:
                stop.wait(2.0)
                continue
            with lock:
                responses.append(response)
            for line in events:
                if stop.is_set():
                    return
                event = json.loads(line) if line.strip() else {}
                pod = event.get("object") or {}
                wanted = pod.get("metadata") and (not services or _service(pod) in services)
                if event.get("type") in ("ADDED", "MODIFIED") and wanted:
                    start(pod)

    for pod in pods:
        start(pod)
    threading.Thread(target=watch, daemon=True).start()
    try:
        while True:
            yield out.get()
    finally:
        stop.set()
        with lock:
            for response in responses:
                with contextlib.suppress(Exception):  # a stream that already ended
                    response.close()
