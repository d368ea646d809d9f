"""A simulated controller manager and kubelet for the fake API server.

What it does, enough for Escadre's driver to observe something true to life:

* **Deployments** own pods directly (no ReplicaSets are shown): it keeps ``spec.replicas`` pods whose
  ``pod-template-hash`` matches the template (a changed template replaces them all at once), and writes
  ``status`` — ``observedGeneration``, ``replicas``, ``updatedReplicas``, ``readyReplicas``,
  ``availableReplicas`` and the ``Available``/``Progressing`` conditions (``ProgressDeadlineExceeded``
  once its pods have been failing for a second).
* **StatefulSets** (ordinal pod names, one claim per ``volumeClaimTemplate``), **DaemonSets** (one pod per
  fake node), **Jobs** (pods run to completion; ``backoffLimit`` failures make the Job ``Failed``), and
  **PVCs** (``Bound`` at once).
* **Pods** go ``Pending`` → ``Running`` (IP, start time, container statuses) → ready after ``ready_delay``
  when they have a readiness probe, at once otherwise; Job pods terminate with code 0 after
  ``job_runtime``. A pod writes a few log lines (its start, and what its command ``echo``es).

Scripts make chosen pods misbehave, matched by label when the pod is created::

    cluster.controller.script("crashloop", service="web")                # CrashLoopBackOff, restarts grow
    cluster.controller.script("imagepull", revision=rev.id)             # ErrImagePull → ImagePullBackOff
    cluster.controller.script("never-ready", service="api")             # Running, never Ready
    cluster.controller.script("exit:3", service="migrate")              # the container exits with 3
    cluster.controller.script("unschedulable", service="big")           # Pending: 0/1 nodes available

The controller runs on a thread (time-based transitions) *and* right after every write, so the pods of
an applied Deployment exist when the apply returns — a real controller needs a moment, which the driver
copes with (``observe`` reports missing pods as ``created``).

Not simulated: probes are never executed (readiness is a delay), resource requests, scheduling and
nodes beyond one, ReplicaSets, HPAs, Services' endpoints, Ingress and Gateway controllers (routes have no
status), graceful termination.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import re
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from tests.drivers.kubernetes.fakeapi.store import ApiError, Obj, matches, now, parse_selector

if TYPE_CHECKING:
    from tests.drivers.kubernetes.fakeapi.server import FakeCluster

NODES = ["fake-node-1"]
MANAGER = "kube-controller-manager"
LABEL_KEYS = {"service": "escadre.service", "revision": "escadre.revision"}


def _hash(template: Any) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


class Controller:
    tick = 0.05
    start_delay = 0.05
    ready_delay = 0.15
    job_runtime = 0.1
    restart_every = 0.25
    deadline = 1.0

    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.scripts: list[tuple[dict[str, str], str]] = []
        self.pods: dict[str, dict[str, Any]] = {}  # pod uid → {"born": t, "mode": m, "restarts": n, ...}
        self._busy = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._stop = threading.Event()
        self.store.on_write.append(self.reconcile)
        self._ips = 0

    # ------------------------------------------------------------------------------------- control

    def script(self, mode: str, **labels: str) -> None:
        """Make pods matching ``labels`` (``service=``/``revision=`` for Escadre's labels, else label keys)
        misbehave from now on (the first matching script wins)."""
        self.scripts.insert(0, ({LABEL_KEYS.get(k, k): v for k, v in labels.items()}, mode))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def _loop(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self.reconcile()
            except Exception:  # keep simulating: a test will see the wrong state, not a dead thread
                import traceback

                traceback.print_exc()

    def reconcile(self) -> None:
        with self.store.lock:
            if self._busy:
                return
            self._busy = True
            try:
                for kind, fn in (
                    ("Deployment", self._deployment),
                    ("StatefulSet", self._statefulset),
                    ("DaemonSet", self._daemonset),
                    ("Job", self._job),
                ):
                    for obj in self.cluster.list(kind):
                        fn(obj)
                for pod in self.cluster.list("Pod"):
                    self._kubelet(pod)
                for claim in self.cluster.list("PersistentVolumeClaim"):
                    if (claim.get("status") or {}).get("phase") != "Bound":
                        self._status(
                            "PersistentVolumeClaim",
                            claim,
                            {"phase": "Bound", "accessModes": claim["spec"].get("accessModes", [])},
                        )
                live = {p["metadata"]["uid"] for p in self.cluster.list("Pod")}
                for uid in [u for u in self.pods if u not in live]:
                    del self.pods[uid]
            finally:
                self._busy = False

    # ------------------------------------------------------------------------------------- helpers

    def _status(self, kind: str, obj: Obj, status: Obj) -> None:
        if obj.get("status") == status:
            return
        new = copy.deepcopy(obj)
        new["status"] = status
        new["metadata"].pop("resourceVersion", None)
        with contextlib.suppress(ApiError):  # deleted meanwhile
            self.store.replace(
                self.cluster.catalog.by_kind[kind],
                obj["metadata"].get("namespace"),
                obj["metadata"]["name"],
                new,
                MANAGER,
                "status",
            )

    def _owned(self, owner: Obj) -> list[Obj]:
        uid = owner["metadata"]["uid"]
        ns = owner["metadata"]["namespace"]
        return [
            p
            for p in self.cluster.list("Pod", ns)
            if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or [])
        ]

    def _mode(self, labels: dict[str, str]) -> str:
        for wanted, mode in self.scripts:
            if all(labels.get(k) == v for k, v in wanted.items()):
                return mode
        return "ok"

    def _create_pod(self, owner: Obj, name: str, extra_labels: dict[str, str] | None = None) -> None:
        template = owner["spec"].get("template") or {}
        meta = template.get("metadata") or {}
        labels = {**(meta.get("labels") or {}), **(extra_labels or {})}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "labels": labels,
                "annotations": dict(meta.get("annotations") or {}),
                "ownerReferences": [
                    {
                        "apiVersion": owner["apiVersion"],
                        "kind": owner["kind"],
                        "name": owner["metadata"]["name"],
                        "uid": owner["metadata"]["uid"],
                        "controller": True,
                    }
                ],
            },
            "spec": {**copy.deepcopy(template.get("spec") or {}), "nodeName": NODES[0]},
            "status": {
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "True"}],
                "qosClass": "BestEffort",
            },
        }
        created = self.store.create(self.cluster.catalog.by_kind["Pod"], owner["metadata"]["namespace"], pod, MANAGER)
        self.pods[created["metadata"]["uid"]] = {
            "born": time.monotonic(),
            "mode": self._mode(labels),
            "restarts": 0,
            "logged": False,
        }

    def _delete(self, kind: str, obj: Obj) -> None:
        with contextlib.suppress(ApiError):
            self.store.delete(
                self.cluster.catalog.by_kind[kind], obj["metadata"].get("namespace"), obj["metadata"]["name"]
            )

    @staticmethod
    def _ready(pod: Obj) -> bool:
        return any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (pod.get("status") or {}).get("conditions") or []
        )

    def _failing(self, pods: list[Obj]) -> bool:
        return any(
            self.pods.get(p["metadata"]["uid"], {}).get("mode", "ok") not in ("ok", "never-ready")
            and time.monotonic() - self.pods[p["metadata"]["uid"]]["born"] > self.deadline
            for p in pods
        )

    # ----------------------------------------------------------------------------------- workloads

    def _deployment(self, dep: Obj) -> None:
        want = int(dep["spec"].get("replicas", 1))
        template_hash = _hash(dep["spec"].get("template"))
        pods = self._owned(dep)
        for pod in pods:
            if pod["metadata"]["labels"].get("pod-template-hash") != template_hash:
                self._delete("Pod", pod)
        pods = [p for p in pods if p["metadata"]["labels"].get("pod-template-hash") == template_hash]
        for pod in sorted(pods, key=lambda p: p["metadata"]["creationTimestamp"] + p["metadata"]["name"])[want:]:
            self._delete("Pod", pod)
        for _ in range(want - len(pods)):
            self._create_pod(
                dep,
                f"{dep['metadata']['name']}-{template_hash}-{uuid.uuid4().hex[:5]}",
                {"pod-template-hash": template_hash},
            )
        pods = self._owned(dep)
        ready = sum(1 for p in pods if self._ready(p))
        failing = self._failing(pods)
        name = dep["metadata"]["name"]
        progressing = (
            {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": f'ReplicaSet "{name}-{template_hash}" has timed out progressing.',
            }
            if failing
            else {
                "type": "Progressing",
                "status": "True",
                "reason": "NewReplicaSetAvailable" if ready >= want else "ReplicaSetUpdated",
                "message": f'ReplicaSet "{name}-{template_hash}" is progressing.',
            }
        )
        available = {
            "type": "Available",
            "status": "True" if ready >= want else "False",
            "reason": "MinimumReplicasAvailable" if ready >= want else "MinimumReplicasUnavailable",
            "message": "Deployment has minimum availability."
            if ready >= want
            else "Deployment does not have minimum availability.",
        }
        status = {
            "observedGeneration": dep["metadata"]["generation"],
            "replicas": len(pods),
            "updatedReplicas": len(pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(len(pods) - ready, 0),
            "conditions": [available, progressing],
        }
        self._status(
            "Deployment",
            dep,
            {k: v for k, v in status.items() if v or k in ("observedGeneration", "replicas", "conditions")},
        )

    def _statefulset(self, sts: Obj) -> None:
        want = int(sts["spec"].get("replicas", 1))
        name, ns = sts["metadata"]["name"], sts["metadata"]["namespace"]
        revision = f"{name}-{_hash(sts['spec'].get('template'))}"
        pods = {p["metadata"]["name"]: p for p in self._owned(sts)}
        for pod_name, pod in pods.items():
            index = int(pod_name.rsplit("-", 1)[1])
            if index >= want or pod["metadata"]["labels"].get("controller-revision-hash") != revision:
                self._delete("Pod", pod)
        for index in range(want):
            pod_name = f"{name}-{index}"
            for tmpl in sts["spec"].get("volumeClaimTemplates") or []:
                claim = f"{tmpl['metadata']['name']}-{pod_name}"
                try:
                    self.cluster.get("PersistentVolumeClaim", ns, claim)
                except ApiError:
                    body = {
                        "metadata": {"name": claim, "labels": dict(tmpl["metadata"].get("labels") or {})},
                        "spec": copy.deepcopy(tmpl["spec"]),
                    }
                    self.store.create(self.cluster.catalog.by_kind["PersistentVolumeClaim"], ns, body, MANAGER)
            current = {p["metadata"]["name"] for p in self._owned(sts)}
            if pod_name not in current:
                self._create_pod(
                    sts,
                    pod_name,
                    {"controller-revision-hash": revision, "statefulset.kubernetes.io/pod-name": pod_name},
                )
        pods_now = self._owned(sts)
        ready = sum(1 for p in pods_now if self._ready(p))
        status = {
            "observedGeneration": sts["metadata"]["generation"],
            "replicas": len(pods_now),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "currentReplicas": len(pods_now),
            "updatedReplicas": len(pods_now),
            "currentRevision": revision,
            "updateRevision": revision,
        }
        self._status("StatefulSet", sts, status)

    def _daemonset(self, ds: Obj) -> None:
        template_hash = _hash(ds["spec"].get("template"))
        pods = self._owned(ds)
        for pod in pods:
            if pod["metadata"]["labels"].get("pod-template-hash") != template_hash:
                self._delete("Pod", pod)
        if not list(self._owned(ds)):
            for _ in NODES:
                self._create_pod(
                    ds, f"{ds['metadata']['name']}-{uuid.uuid4().hex[:5]}", {"pod-template-hash": template_hash}
                )
        pods = self._owned(ds)
        ready = sum(1 for p in pods if self._ready(p))
        status = {
            "observedGeneration": ds["metadata"]["generation"],
            "desiredNumberScheduled": len(NODES),
            "currentNumberScheduled": len(pods),
            "updatedNumberScheduled": len(pods),
            "numberReady": ready,
            "numberAvailable": ready,
            "numberMisscheduled": 0,
        }
        self._status("DaemonSet", ds, status)

    def _job(self, job: Obj) -> None:
        spec = job["spec"]
        completions = int(spec.get("completions", 1))
        parallelism = int(spec.get("parallelism", 1))
        backoff = int(spec.get("backoffLimit", 6))
        pods = self._owned(job)
        succeeded = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
        failed = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Failed")
        failed += sum(self.pods.get(p["metadata"]["uid"], {}).get("restarts", 0) for p in pods)
        active = [p for p in pods if (p.get("status") or {}).get("phase") in ("Pending", "Running")]
        conditions = []
        if succeeded >= completions:
            conditions.append({"type": "Complete", "status": "True", "lastTransitionTime": now()})
        elif failed > backoff:
            conditions.append(
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                }
            )
        else:
            for _ in range(min(parallelism - len(active), completions - succeeded - len(active))):
                self._create_pod(job, f"{job['metadata']['name']}-{uuid.uuid4().hex[:5]}")
        status: Obj = {"active": len(active), "succeeded": succeeded, "failed": failed}
        if conditions:
            status["conditions"] = conditions
            status["active"] = 0
        self._status("Job", job, {k: v for k, v in status.items() if v or k == "conditions"})

    # -------------------------------------------------------------------------------------- kubelet

    def _log(self, pod: Obj, text: str) -> None:
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1e6) % 1_000_000:06d}Z"
        self.cluster.logs.setdefault(key, []).append((stamp, text))

    def _kubelet(self, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        state = self.pods.setdefault(
            uid,
            {
                "born": time.monotonic(),
                "mode": self._mode(pod["metadata"].get("labels") or {}),
                "restarts": 0,
                "logged": False,
            },
        )
        age = time.monotonic() - state["born"]
        mode: str = state["mode"]
        container = (pod["spec"].get("containers") or [{}])[0]
        cname, image = container.get("name", "main"), container.get("image", "")
        job = any(r.get("kind") == "Job" for r in pod["metadata"].get("ownerReferences") or [])
        base = {
            "name": cname,
            "image": image,
            "imageID": "",
            "restartCount": state["restarts"],
            "started": False,
            "ready": False,
        }
        status: Obj = {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True"}],
            "qosClass": "BestEffort",
        }
        if age < self.start_delay:
            base["state"] = {"waiting": {"reason": "ContainerCreating"}}
        elif mode == "unschedulable":
            status["conditions"] = [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/1 nodes are available: 1 Insufficient memory.",
                }
            ]
            base = {}
        elif mode == "imagepull":
            reason = "ErrImagePull" if age < 0.2 else "ImagePullBackOff"
            message = (
                f"rpc error: pull access denied for {image}"
                if reason == "ErrImagePull"
                else f'Back-off pulling image "{image}"'
            )
            base["state"] = {"waiting": {"reason": reason, "message": message}}
        else:
            if not self._ips:
                self._ips = 1
            if "ip" not in state:
                self._ips += 1
                state["ip"] = f"10.244.0.{self._ips % 250 + 2}"
            status.update(
                phase="Running",
                podIP=state["ip"],
                podIPs=[{"ip": state["ip"]}],
                hostIP="172.18.0.2",
                startTime=pod["metadata"]["creationTimestamp"],
            )
            if not state["logged"]:
                state["logged"] = True
                self._log(pod, f"{cname} started ({image})")
                command = " ".join(str(c) for c in (container.get("command") or []) + (container.get("args") or []))
                for said in re.findall(r"echo\s+([^;&|]+)", command):
                    self._log(pod, said.strip().strip("'\""))
            exit_code = int(mode.split(":", 1)[1]) if mode.startswith("exit:") else 1
            if mode == "crashloop" or (mode.startswith("exit:") and not job):
                restarts = int((age - self.start_delay) / self.restart_every) + 1
                if restarts > state["restarts"]:
                    state["restarts"] = restarts
                    self._log(pod, f"{cname} exited with code {exit_code}")
                base.update(
                    restartCount=state["restarts"],
                    lastState={"terminated": {"exitCode": exit_code, "reason": "Error", "finishedAt": now()}},
                )
                base["state"] = {
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": f"back-off 10s restarting failed container={cname} pod={pod['metadata']['name']}",
                    }
                }
            elif job and age >= self.start_delay + self.job_runtime:
                code = exit_code if mode.startswith("exit:") else 0
                base["state"] = {
                    "terminated": {
                        "exitCode": code,
                        "reason": "Completed" if code == 0 else "Error",
                        "finishedAt": now(),
                    }
                }
                status["phase"] = "Succeeded" if code == 0 else "Failed"
            else:
                base.update(started=True, state={"running": {"startedAt": pod["metadata"]["creationTimestamp"]}})
                probe = "readinessProbe" in container
                ready = mode != "never-ready" and not job and (not probe or age >= self.ready_delay)
                base["ready"] = ready
                status["conditions"] = [
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Initialized", "status": "True"},
                    {"type": "ContainersReady", "status": str(ready)},
                    {"type": "Ready", "status": str(ready)},
                ]
        if base:
            status["containerStatuses"] = [base]
        if pod["spec"].get("initContainers") and status["phase"] != "Pending":
            status["initContainerStatuses"] = [
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "ready": True,
                    "restartCount": 0,
                    "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
                }
                for c in pod["spec"]["initContainers"]
            ]
        self._status("Pod", pod, status)


__all__ = ["Controller", "matches", "parse_selector"]
