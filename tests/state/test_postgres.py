"""The state store on a real PostgreSQL server (Debian's packages), started on loopback for the test."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator

import pytest

from escadre.model.project import Service, frozen_map
from escadre.model.revision import make_revision
from escadre.state.store import HEAD, StateStore
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.postgres


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not initdb or not pg_ctl:
        if os.environ.get("ESCADRE_REQUIRE_DOCKER") == "1":
            pytest.fail("PostgreSQL server binaries missing: apt-get install -y postgresql")
        pytest.skip("PostgreSQL server binaries not installed")
    root = tempfile.mkdtemp(prefix="escadre-pg-")
    os.chmod(root, 0o777)
    data = os.path.join(root, "data")
    port = free_port()
    user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*user, initdb, "-D", data, "-A", "trust", "-U", "escadre"], check=True, capture_output=True)
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    subprocess.run(
        [*user, pg_ctl, "-D", data, "-o", opts, "-w", "-l", os.path.join(root, "log"), "start"],
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            [_bin("createdb") or "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "escadre", "state"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql+psycopg://escadre@127.0.0.1:{port}/state"
    finally:
        subprocess.run([*user, pg_ctl, "-D", data, "-m", "immediate", "stop"], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def test_migrates_and_round_trips(postgres_url: str) -> None:
    store = StateStore.open(postgres_url)
    assert store.schema_version() == HEAD
    store.add_target("prod", "docker", {"host": "ssh://x"}, replace=True)
    svc = Service(name="api", image="x", spec=frozen_map({"environment": {"API_TOKEN": "t0k3n"}}))
    rev = make_revision(svc, image="x", image_id="sha256:1")
    store.record_revision("shop", "prod", rev)
    dep = store.start_deployment("shop", "prod", "api", rev.id, from_revision=None, strategy="canary")
    store.update_deployment(dep.id, status="paused", step=2, checkpoint={"weight": 20})
    again = StateStore.open(postgres_url)  # a second process sees it all; no migration runs twice
    record = again.get_deployment(dep.id)
    assert record is not None and (record.status, record.step, record.checkpoint) == ("paused", 2, {"weight": 20})
    assert "t0k3n" not in repr(again.list_revisions("shop", "prod"))
    store.close()
    again.close()


def test_concurrent_first_writes_create_one_project(postgres_url: str) -> None:
    store = StateStore.open(postgres_url)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(10):
                store.add_event("k", f"{n}-{i}", project="race", target="local")
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.events(project="race")) == 40
    assert len([p for p in store.list_projects() if p.name == "race"]) == 1
    assert time.monotonic() - started < 30
    store.close()
