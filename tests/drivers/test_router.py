"""The Docker target's router: a real HAProxy in a real container in front of busybox httpd backends.

Every backend answers its own name on ``/`` and on ``/cgi-bin/s`` (which answers 500 when the container
holds ``/tmp/fail``). Requests go through the router's published port on loopback.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import socket
import tarfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest

from escadre.core.errors import ConflictError
from escadre.drivers.base import LABEL_APP
from escadre.drivers.engine.router import Listener, Router, Server, server_of
from escadre.drivers.engine.router_image import ensure_router_image
from tests.e2e.conftest import free_port
from tests.support import unique

pytestmark = pytest.mark.docker

CGI = """#!/bin/sh
if [ -f /tmp/fail ]; then code="500 Boom"; else code="200 OK"; fi
printf 'HTTP/1.1 %s\\r\\nContent-Type: text/plain\\r\\n\\r\\n%s\\n' "$code" "$(cat /w/index.html)"
"""


@dataclass
class Backends:
    api: docker.APIClient
    network: str
    prefix: str
    servers: dict[str, Server] = field(default_factory=dict)

    def start(self, name: str, *, fail: bool = False) -> Server:
        files = {"w/index.html": (name + "\n", 0o644), "w/cgi-bin/s": (CGI, 0o755)}
        if fail:
            files["tmp/fail"] = ("", 0o644)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for path, (text, mode) in files.items():
                data = text.encode()
                info = tarfile.TarInfo(path)
                info.size, info.mode = len(data), mode
                tar.addfile(info, io.BytesIO(data))
        cid = self.api.create_container(
            "escadre-test/busybox:1",
            name=f"{self.prefix}-{name}",
            command=["httpd", "-f", "-p", "8000", "-h", "/w"],
            labels={LABEL_APP: self.prefix},
            networking_config=self.api.create_networking_config(
                {self.network: self.api.create_endpoint_config()}  # type: ignore[dict-item]
            ),
        )["Id"]
        self.api.put_archive(cid, "/", buf.getvalue())
        self.api.start(cid)
        server = server_of(self.api.inspect_container(cid), [self.network], 8000)
        assert server is not None
        self.servers[name] = server
        return server

    def __getitem__(self, name: str) -> Server:
        return self.servers[name]


@pytest.fixture(scope="module")
def api() -> Iterator[docker.APIClient]:
    client = docker.APIClient(version="auto", timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="module")
def backends(api: docker.APIClient, busybox: str) -> Iterator[Backends]:
    prefix = unique("rtb")
    network = f"{prefix}_default"
    api.create_network(network, labels={LABEL_APP: prefix})
    pool = Backends(api, network, prefix)
    try:
        for name in ("s1", "s2", "s3", "c1"):
            pool.start(name)
        pool.start("f1", fail=True)
        yield pool
    finally:
        for c in api.containers(all=True, filters={"label": f"{LABEL_APP}={prefix}"}):
            api.remove_container(c["Id"], force=True)
        api.remove_network(network)


@pytest.fixture
def make_router(api: docker.APIClient, backends: Backends, tmp_path: Path) -> Iterator[Callable[..., Router]]:
    made: list[Router] = []

    def make(*, local: bool = True, metrics_port: int | None = None, slots: int = 16) -> Router:
        router = Router(
            api,
            "local",
            unique("rt"),
            networks=[backends.network],
            local=local,
            data_dir=tmp_path / "data" if local else None,
            metrics_port=metrics_port,
            slots=slots,
        )
        made.append(router)
        return router

    yield make
    for router in made:
        router.remove()
        assert not api.containers(all=True, filters={"label": f"{LABEL_APP}={router.app}"})


def get(port: int, path: str = "/", host: str = "127.0.0.1") -> tuple[int, str]:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode().strip()
    finally:
        conn.close()


def tally(port: int, n: int = 200, path: str = "/", host: str = "127.0.0.1") -> Counter[str]:
    return Counter(get(port, path, host)[1] for _ in range(n))


class Hammer:
    """Requests in a loop from a thread, counting answers by body and every failure."""

    def __init__(self, port: int, *, keepalive: bool, host: str = "127.0.0.1") -> None:
        self.port, self.keepalive, self.host = port, keepalive, host
        self.answers: Counter[str] = Counter()
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Hammer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    @property
    def total(self) -> int:
        return sum(self.answers.values()) + len(self.errors)

    def _run(self) -> None:
        conn: http.client.HTTPConnection | None = None
        while not self._stop.is_set():
            try:
                if conn is None or not self.keepalive:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                conn.request("GET", "/")
                response = conn.getresponse()
                body = response.read().decode().strip()
                if response.status != 200:
                    self.errors.append(f"HTTP {response.status}")
                else:
                    self.answers[body] += 1
                if not self.keepalive or response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                self.errors.append(repr(exc))
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()


def listener(port: int, **kwargs: object) -> Listener:
    return Listener("web", 80, published=port, host_ip="127.0.0.1", **kwargs)  # type: ignore[arg-type]


def router_ip(api: docker.APIClient, router: Router, network: str) -> str:
    return str(api.inspect_container(router.name)["NetworkSettings"]["Networks"][network]["IPAddress"])


def wait_answering(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, http.client.HTTPException):
            if get(port)[0] == 200:
                return
        assert time.monotonic() < deadline, "router did not answer"
        time.sleep(0.1)


# ------------------------------------------------------------------------------------------- tests


def test_image_is_imported_once_and_found_fast(api: docker.APIClient) -> None:
    ref = ensure_router_image(api, "local")
    assert ref.startswith("escadre/router:2.")
    started = time.monotonic()
    assert ensure_router_image(api, "local") == ref
    assert time.monotonic() - started < 0.5
    config = api.inspect_image(ref)["Config"]
    assert any(env.startswith("PATH=") for env in config["Env"])
    assert config["Cmd"][:2] == ["haproxy", "-W"]


def test_weights_are_exact(make_router: Callable[..., Router], backends: Backends) -> None:
    router = make_router()
    port = free_port()
    router.ensure([listener(port)])
    worker = router._pid()
    router.ensure([listener(port)])  # idempotent: no reload, same worker
    assert router._pid() == worker

    router.apply("web", 80, stable=[backends["s1"]], canary=[backends["c1"]], canary_weight=10)
    seen = tally(port)
    print(f"90/10 over 200 requests: {dict(seen)}")
    assert 170 <= seen["s1"] <= 190, seen
    assert 10 <= seen["c1"] <= 30, seen
    assert router.weights("web", 80) == {"stable": 90, "canary": 10}

    router.apply("web", 80, stable=[backends["s1"]], canary=[backends["c1"]], canary_weight=0)
    assert tally(port, 40) == {"s1": 40}
    router.apply("web", 80, stable=[backends["s1"]], canary=[backends["c1"]], canary_weight=100)
    assert tally(port, 40) == {"c1": 40}
    assert router.weights("web", 80) == {"stable": 0, "canary": 100}

    three = [backends["s1"], backends["s2"], backends["s3"]]
    router.apply("web", 80, stable=three, canary=[backends["c1"]], canary_weight=10)
    seen = tally(port)
    print(f"90/10 over 3 stable + 1 canary: {dict(seen)}")
    for name in ("s1", "s2", "s3"):
        assert 50 <= seen[name] <= 70, seen
    assert 10 <= seen["c1"] <= 30, seen
    assert router.weights("web", 80) == {"stable": 90, "canary": 10}


def test_no_connection_errors_while_weights_change_and_servers_swap(
    make_router: Callable[..., Router], backends: Backends
) -> None:
    router = make_router()
    port = free_port()
    router.ensure([listener(port)])
    s1, s2, c1 = backends["s1"], backends["s2"], backends["c1"]
    router.apply("web", 80, stable=[s1, s2], canary=[c1], canary_weight=0)
    with Hammer(port, keepalive=False) as fresh, Hammer(port, keepalive=True) as kept:
        for weight in (5, 10, 20, 35, 50, 65, 80, 95, 100, 75, 50, 25, 10, 0, 30, 60, 90, 100, 50, 100):
            router.apply("web", 80, stable=[s1, s2], canary=[c1], canary_weight=weight)
            time.sleep(0.1)
        # promotion: the canary becomes the only stable server, the old ones leave their slots
        router.apply("web", 80, stable=[c1], canary=[], canary_weight=0)
        time.sleep(0.5)
        after = fresh.answers.copy()
        time.sleep(0.5)
    print(f"hammer: fresh={fresh.total} ({fresh.answers}) keepalive={kept.total} ({kept.answers})")
    assert fresh.errors == []
    assert kept.errors == []
    assert fresh.total > 100
    assert kept.total > 100
    assert set(fresh.answers) == {"s1", "s2", "c1"}
    assert fresh.answers["s1"] == after["s1"]  # nothing reached the old stable servers after promotion
    assert fresh.answers["c1"] > after["c1"]
    assert router.weights("web", 80) == {"stable": 100, "canary": 0}


def test_killed_backend_is_ejected_by_health_checks(
    make_router: Callable[..., Router], backends: Backends, api: docker.APIClient
) -> None:
    router = make_router()
    port = free_port()
    router.ensure([listener(port)])
    doomed = backends.start(unique("doomed"))
    router.apply("web", 80, stable=[backends["s1"], doomed], canary=[], canary_weight=0)
    assert len(tally(port, 20)) == 2
    api.kill(f"{backends.prefix}-{next(k for k, v in backends.servers.items() if v == doomed)}")
    killed = time.monotonic()
    with Hammer(port, keepalive=False) as during:
        time.sleep(2.5)
    errors_after: list[str] = []
    for _ in range(50):
        try:
            status, body = get(port)
            if status != 200 or body != "s1":
                errors_after.append(f"{status} {body}")
        except OSError as exc:
            errors_after.append(repr(exc))
    print(f"while ejecting ({time.monotonic() - killed:.1f}s): {during.total} requests, {len(during.errors)} errors")
    assert errors_after == []
    assert router.weights("web", 80) == {"stable": 100, "canary": 0}


def test_new_listener_reloads_seamlessly_and_state_survives_reload_and_restart(
    make_router: Callable[..., Router], backends: Backends, api: docker.APIClient
) -> None:
    router = make_router()
    port = free_port()
    router.ensure([listener(port)])
    router.apply("web", 80, stable=[backends["s1"]], canary=[backends["c1"]], canary_weight=50)
    cid = api.inspect_container(router.name)["Id"]
    api_listener = Listener("api", 81)  # not published: reachable on the app's network only
    with Hammer(port, keepalive=False) as fresh, Hammer(port, keepalive=True) as kept:
        time.sleep(0.3)
        router.ensure([listener(port), api_listener])
        router.apply("api", 81, stable=[backends["s3"]], canary=[], canary_weight=0)
        time.sleep(0.5)
    print(f"reload hammer: fresh={fresh.total} keepalive={kept.total}")
    assert fresh.errors == []
    assert kept.errors == []
    assert fresh.total > 20
    assert api.inspect_container(router.name)["Id"] == cid  # reloaded, not recreated
    assert router.weights("web", 80) == {"stable": 50, "canary": 50}
    assert tally(port, 20) == {"s1": 10, "c1": 10}
    ip = router_ip(api, router, backends.network)
    assert tally(81, 5, host=ip) == {"s3": 5}

    api.restart(router.name, timeout=2)
    wait_answering(port)
    assert router.weights("web", 80) == {"stable": 50, "canary": 50}
    assert tally(port, 20) == {"s1": 10, "c1": 10}
    assert tally(81, 5, host=ip) == {"s3": 5}


def test_published_port_change_recreates_and_keeps_assignment(
    make_router: Callable[..., Router], backends: Backends, api: docker.APIClient
) -> None:
    router = make_router()
    port, other = free_port(), free_port()
    router.ensure([listener(port)])
    router.apply("web", 80, stable=[backends["s2"]], canary=[], canary_weight=0)
    cid = api.inspect_container(router.name)["Id"]
    router.ensure([listener(other)])
    assert api.inspect_container(router.name)["Id"] != cid
    assert tally(other, 5) == {"s2": 5}


def test_counters_count_5xx_per_role(make_router: Callable[..., Router], backends: Backends) -> None:
    router = make_router()
    port = free_port()
    router.ensure([listener(port)])
    router.apply("web", 80, stable=[backends["s1"]], canary=[backends["f1"]], canary_weight=50)
    statuses = Counter(get(port, "/cgi-bin/s")[0] for _ in range(40))
    assert statuses == {200: 20, 500: 20}
    counters = router.counters("web", 80)
    assert counters["stable"].requests == 20
    assert counters["stable"].responses_2xx == 20
    assert counters["stable"].responses_5xx == 0
    assert counters["canary"].requests == 20
    assert counters["canary"].responses_5xx == 20
    assert counters["canary"].connection_errors == 0


def test_prometheus_exporter_reports_per_server_responses(
    make_router: Callable[..., Router], backends: Backends
) -> None:
    metrics_port = free_port()
    router = make_router(metrics_port=metrics_port)
    port = free_port()
    router.ensure([listener(port)])
    router.apply("web", 80, stable=[backends["s1"]], canary=[backends["c1"]], canary_weight=50)
    tally(port, 10)
    assert router.metrics_url == f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(router.metrics_url, timeout=10) as response:
        text = response.read().decode()
    for server in ("stable1", "canary1"):
        line = f'haproxy_server_http_responses_total{{proxy="be_web_80",server="{server}",code="2xx"}} 5'
        assert line in text


def test_preview_backend(make_router: Callable[..., Router], backends: Backends) -> None:
    router = make_router()
    port, preview = free_port(), free_port()
    router.ensure([listener(port, preview_published=preview)])
    router.apply("web", 80, stable=[backends["s1"]], canary=[], canary_weight=0, preview=[backends["s2"]])
    assert tally(port, 5) == {"s1": 5}
    assert tally(preview, 5) == {"s2": 5}
    assert router.weights("web", 80) == {"stable": 100, "canary": 0, "preview": 100}


def test_remote_engine_path_goes_through_exec(
    make_router: Callable[..., Router], backends: Backends, api: docker.APIClient
) -> None:
    router = make_router(local=False)
    assert router.host_dir is None
    port = free_port()
    router.ensure([listener(port)])
    router.apply("web", 80, stable=[backends["s1"]], canary=[backends["c1"]], canary_weight=25)
    seen = tally(port, 40)
    assert seen == {"s1": 30, "c1": 10}
    assert router.weights("web", 80) == {"stable": 75, "canary": 25}
    assert router.counters("web", 80)["canary"].requests == 10
    api.restart(router.name, timeout=2)
    wait_answering(port)
    assert router.weights("web", 80) == {"stable": 75, "canary": 25}


def test_taken_port_is_a_conflict_naming_it(make_router: Callable[..., Router], api: docker.APIClient) -> None:
    router = make_router()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConflictError, match=str(port)):
            router.ensure([listener(port)])
    assert not api.containers(all=True, filters={"name": router.name})


def test_remove_leaves_nothing_behind(make_router: Callable[..., Router], api: docker.APIClient) -> None:
    router = make_router()
    router.ensure([listener(free_port())])
    assert router.host_dir is not None
    assert router.host_dir.exists()
    router.remove()
    assert not api.containers(all=True, filters={"label": f"{LABEL_APP}={router.app}"})
    assert not router.host_dir.exists()
    router.remove()  # idempotent


def test_foreign_container_with_the_router_name_is_a_conflict(
    make_router: Callable[..., Router], api: docker.APIClient, busybox: str
) -> None:
    router = make_router()
    api.create_container(busybox, name=router.name, command=["true"])
    try:
        with pytest.raises(ConflictError, match="not the router Escadre made"):
            router.ensure([listener(free_port())])
    finally:
        api.remove_container(router.name, force=True)


def test_escadre_down_removes_the_router_by_its_app_label(
    make_router: Callable[..., Router], api: docker.APIClient
) -> None:
    from escadre.core.progress import NullProgress
    from escadre.drivers.docker import DockerDriver

    router = make_router()
    router.ensure([listener(free_port())])
    driver = DockerDriver("local")
    try:
        driver.remove_app(router.app, NullProgress())
    finally:
        driver.close()
    assert not api.containers(all=True, filters={"label": f"{LABEL_APP}={router.app}"})
