from __future__ import annotations

import pytest

from escadre.core.errors import OperationFailed
from escadre.core.progress import NullProgress
from escadre.drivers.base import Instance, RevisionStatus
from escadre.drivers.memory import MemoryDriver
from escadre.rollout.readiness import judge, wait_for
from tests.support import project, service


def inst(state: str = "running", health: str = "none", code: int | None = None, restarts: int = 0) -> Instance:
    return Instance("i", "web-1", "web", "r1", state, health, code, restarts)  # type: ignore[arg-type]


def rs(*instances: Instance) -> RevisionStatus:
    return RevisionStatus("web", "r1", len(instances), instances)


def test_ready_when_all_running_and_healthy() -> None:
    assert judge(rs(inst(health="healthy"), inst()), 2, "ready").done
    assert not judge(rs(inst(health="starting"), inst()), 2, "ready").done
    assert not judge(rs(inst()), 2, "ready").done


def test_failures_are_reported_at_once() -> None:
    assert "code 3" in (judge(rs(inst("exited", code=3)), 1, "ready").failure or "")
    assert "unhealthy" in (judge(rs(inst(health="unhealthy")), 1, "ready").failure or "")
    assert "restarting" in (judge(rs(inst(restarts=5)), 1, "ready", baseline_restarts=1).failure or "")
    assert judge(rs(inst(restarts=5)), 1, "ready", baseline_restarts=5).failure is None


def test_completed_one_shots() -> None:
    verdict = judge(rs(inst("exited", code=0)), 1, "completed")
    assert verdict.done and verdict.completed
    assert judge(rs(inst("exited", code=0)), 1, "ready").done  # a finished one-shot satisfies up's wait
    assert not judge(rs(inst()), 1, "completed").done


def test_started_counts_running_and_exited() -> None:
    assert judge(rs(inst("exited", code=0), inst()), 2, "started").done
    assert not judge(None, 1, "started").done
    assert judge(None, 0, "ready").done


def test_wait_for_times_out_with_a_clear_message() -> None:
    driver = MemoryDriver(health_delay=1000)
    proj = project("w", service("web", healthy_after=1))
    from tests.drivers.conformance import revision_of

    rev = revision_of(driver, proj, "web")
    driver.apply_revision(proj, rev, 1, NullProgress())
    now = [0.0]

    def clock() -> float:
        return now[0]

    def sleep(s: float) -> None:
        now[0] += s

    with pytest.raises(OperationFailed, match="not ready within 5s"):
        wait_for(driver, "w", "web", rev.id, 1, "ready", timeout=5, clock=clock, sleep=sleep)
