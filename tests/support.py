"""Helpers shared by the test suites: hand-built projects (independent of the spec loader) and a
locally built busybox image (no registry is reachable in CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from escadre.model.project import (
    Dependency,
    Deploy,
    FileMount,
    FileSource,
    Healthcheck,
    Mount,
    Network,
    Port,
    Project,
    Service,
    ServiceNetwork,
    Volume,
    frozen_map,
)

BUSYBOX = "escadre-test/busybox:1"


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def service(
    name: str,
    *,
    image: str = BUSYBOX,
    command: Sequence[str] | None = ("sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"),
    replicas: int = 1,
    healthy_after: float | None = None,
    depends_on: Mapping[str, str] | None = None,
    ports: Sequence[Port] = (),
    mounts: Sequence[Mount] = (),
    secrets: Sequence[FileMount] = (),
    environment: Mapping[str, str] | None = None,
    extra_spec: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Service:
    hc = None
    if healthy_after is not None:
        hc = Healthcheck(test=("CMD-SHELL", "test -f /tmp/healthy"), interval=0.3, timeout=2, retries=3)
        command = (
            "sh",
            "-c",
            f"trap 'exit 0' TERM; sleep {healthy_after}; touch /tmp/healthy; while :; do sleep 0.2; done",
        )
    spec: dict[str, Any] = {
        "image": image,
        "command": list(command) if command else None,
        "environment": dict(environment or {}),
        "deploy": {"replicas": replicas},
    }
    spec.update(extra_spec or {})
    return Service(
        name=name,
        image=image,
        command=tuple(command) if command else None,
        deploy=fields.pop("deploy", None) or Deploy(replicas=replicas),
        healthcheck=fields.pop("healthcheck", None) or hc,
        networks=(ServiceNetwork("default"),),
        depends_on=tuple(Dependency(k, v) for k, v in (depends_on or {}).items()),  # type: ignore[arg-type]
        ports=tuple(ports),
        mounts=tuple(mounts),
        secrets=tuple(secrets),
        environment=frozen_map(environment or {}),
        stop_grace_period=2.0,
        spec=frozen_map(spec),
        **fields,
    )


def project(
    name: str,
    *services: Service,
    volumes: Sequence[str] = (),
    secrets: Mapping[str, FileSource] | None = None,
) -> Project:
    return Project(
        name=name,
        services=frozen_map({s.name: s for s in services}),
        networks=frozen_map({"default": Network("default", f"{name}_default")}),
        volumes=frozen_map({v: Volume(v, f"{name}_{v}") for v in volumes}),
        secrets=frozen_map(secrets or {}),
    )


def docker_ready() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=5)
        client.ping()
        client.close()
        return True
    except Exception:
        return False


def ensure_busybox_image() -> str:
    """Import the host's busybox-static as a tiny image (instant; no registry needed)."""
    import docker

    client = docker.from_env()
    try:
        client.images.get(BUSYBOX)
        return BUSYBOX
    except docker.errors.ImageNotFound:
        pass
    busybox = shutil.which("busybox")
    if busybox is None:
        raise RuntimeError("busybox is not installed: apt-get install -y busybox-static")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        (root / "bin").mkdir(parents=True)
        shutil.copy(busybox, root / "bin" / "busybox")
        applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
        for applet in applets:
            if applet != "busybox":
                os.symlink("busybox", root / "bin" / applet)
        for d in ("etc", "tmp", "var/www", "run", "proc", "sys", "dev", "root"):
            (root / d).mkdir(parents=True, exist_ok=True)
        os.chmod(root / "tmp", 0o1777)
        (root / "etc" / "passwd").write_text(
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
        )
        (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
        tar = subprocess.run(["tar", "-C", str(root), "-c", "."], capture_output=True, check=True).stdout
        subprocess.run(
            ["docker", "import", "--change", "ENV PATH=/bin:/usr/bin", "-", BUSYBOX],
            input=tar,
            capture_output=True,
            check=True,
        )
    client.close()
    return BUSYBOX


PROMETHEUS_BIN = shutil.which("prometheus") or (
    "/usr/bin/prometheus" if os.path.exists("/usr/bin/prometheus") else None
)


class PrometheusServer:
    """Debian's Prometheus on loopback scraping ``targets`` every second, in a throw-away directory.

    ``query`` runs an instant query; ``wait_for`` polls until a query's answer satisfies a predicate
    (the first non-empty answer comes ~5-6 s after start, per MACHINE-NOTES: poll, never sleep).
    """

    def __init__(self, targets: Sequence[str], *, job: str = "app") -> None:
        import pytest

        if PROMETHEUS_BIN is None:
            if os.environ.get("ESCADRE_REQUIRE_DOCKER") == "1":
                pytest.fail("prometheus is not installed (apt-get install -y prometheus)")
            pytest.skip("prometheus is not installed (apt-get install -y prometheus)")
        from tests.e2e.conftest import free_port

        self.root = Path(tempfile.mkdtemp(prefix="escadre-prom-"))
        listed = ", ".join(f"'{t}'" for t in targets)
        (self.root / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
            f"scrape_configs:\n  - job_name: {job}\n    static_configs: [{{targets: [{listed}]}}]\n"
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = (self.root / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                PROMETHEUS_BIN,
                f"--config.file={self.root / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.root / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return (self.root / "prometheus.log").read_text()[-2000:]

    def query(self, promql: str) -> Any:
        import json
        import urllib.parse
        import urllib.request

        with urllib.request.urlopen(
            f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}", timeout=5
        ) as r:
            return json.loads(r.read())["data"]["result"]

    def wait_for(self, promql: str, predicate: Any = bool, timeout: float = 30.0) -> Any:
        import time

        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"prometheus exited: {self.log()}")
            try:
                result = self.query(promql)
                if predicate(result):
                    return result
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"Prometheus never answered {promql!r} as expected: {self.log()}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self._log.close()
        shutil.rmtree(self.root, ignore_errors=True)
