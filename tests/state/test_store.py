from __future__ import annotations

import threading
from pathlib import Path

import pytest

from escadre.core.errors import StateError, UsageError
from escadre.model.project import Service, frozen_map
from escadre.model.revision import make_revision
from escadre.state.store import HEAD, StateStore


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore.open(f"sqlite:///{tmp_path}/s/state.db")


def test_open_creates_the_file_and_migrates(tmp_path: Path) -> None:
    store = StateStore.open(f"sqlite:///{tmp_path}/deep/dir/state.db")
    assert (tmp_path / "deep/dir/state.db").exists()
    assert store.schema_version() == HEAD
    store.close()
    again = StateStore.open(f"sqlite:///{tmp_path}/deep/dir/state.db")
    assert again.schema_version() == HEAD


def test_targets_round_trip(store: StateStore) -> None:
    store.add_target("prod", "docker", {"host": "ssh://deploy@prod"})
    assert store.get_target("prod") is not None
    assert [t.name for t in store.list_targets()] == ["prod"]
    with pytest.raises(UsageError, match="already exists"):
        store.add_target("prod", "docker", {})
    store.add_target("prod", "docker", {"host": "tcp://x:2376"}, replace=True)
    assert store.get_target("prod").config == {"host": "tcp://x:2376"}  # type: ignore[union-attr]
    assert store.remove_target("prod") is True
    assert store.remove_target("prod") is False


def test_revisions_are_stored_redacted_and_found_by_prefix(store: StateStore) -> None:
    svc = Service(name="api", image="x", spec=frozen_map({"environment": {"DB_PASSWORD": "hunter2", "MODE": "a"}}))
    rev = make_revision(svc, image="x", image_id="sha256:1")
    store.record_revision("shop", "local", rev)
    store.record_revision("shop", "local", rev)  # idempotent
    (record,) = store.list_revisions("shop", "local", "api")
    assert "hunter2" not in repr(record.spec)
    assert record.spec["environment"]["MODE"] == "a"
    found = store.get_revision("shop", "local", "api", rev.id[:4])
    assert found is not None and found.revision == rev.id
    with store.engine.connect() as conn:
        raw = conn.exec_driver_sql("select spec from revisions").fetchall()
    assert "hunter2" not in repr(raw)


def test_new_deployment_supersedes_the_active_one(store: StateStore) -> None:
    a = store.start_deployment("shop", "local", "api", "r1", from_revision=None, strategy="rolling")
    b = store.start_deployment("shop", "local", "api", "r2", from_revision="r1", strategy="rolling")
    assert store.get_deployment(a.id).status == "superseded"  # type: ignore[union-attr]
    assert [d.id for d in store.active_deployments()] == [b.id]
    done = store.update_deployment(b.id, status="succeeded", step=3, checkpoint={"weight": 100})
    assert done.finished_at is not None and done.checkpoint == {"weight": 100} and not done.active
    assert [d.revision for d in store.list_deployments("shop", "local")] == ["r2", "r1"]
    with pytest.raises(StateError):
        store.update_deployment(999, status="failed")


def test_events_filter_and_order(store: StateStore) -> None:
    for i in range(5):
        store.add_event("k", f"m{i}", project="shop", target="local", service="api" if i % 2 else "web")
    store.add_event("global", "no project")
    assert [e.message for e in store.events(project="shop", service="api")] == ["m1", "m3"]
    newest = store.events(project="shop", limit=2, newest_first=True)
    assert [e.message for e in newest] == ["m4", "m3"]
    first = store.events(project="shop")[0]
    assert next(e.message for e in store.events(project="shop", after_id=first.id)) == "m1"
    assert store.count("events") == 6


def test_writes_are_transactional(store: StateStore) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.add_event("k", "inside", project="shop", target="local")
        raise RuntimeError("boom")
    assert store.events(project="shop") == []


def test_concurrent_writers(store: StateStore) -> None:
    def work(n: int) -> None:
        for i in range(20):
            store.add_event("k", f"{n}-{i}", project="shop", target="local")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count("events") == 80


def test_forget_project_keeps_events(store: StateStore) -> None:
    store.add_event("k", "m", project="shop", target="local")
    store.forget_project("shop", "local")
    assert store.get_project("shop", "local") is None
    assert store.count("events") == 1


def test_unreachable_postgres_is_a_clear_error() -> None:
    with pytest.raises(StateError, match="state store"):
        StateStore.open("postgresql+psycopg://u:pw@127.0.0.1:1/x")
