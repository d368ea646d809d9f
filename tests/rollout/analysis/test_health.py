"""The health provider reads restarts and failed instances through the engine's status callable."""

from __future__ import annotations

from escadre.drivers.base import Instance, RevisionStatus
from escadre.rollout.analysis import AnalysisRun, MeasureContext, Role
from escadre.rollout.analysis.providers import Health
from escadre.rollout.analysis.testing import FakeClock
from tests.rollout.analysis.helpers import metric, target


def instance(id: str, restarts: int = 0, **fields: object) -> Instance:
    values: dict[str, object] = {"state": "running", "health": "healthy", **fields}
    return Instance(id, f"api-{id}", "api", "v2", restarts=restarts, **values)  # type: ignore[arg-type]


class Statuses:
    def __init__(self, *instances: Instance) -> None:
        self.instances = instances

    def __call__(self, role: Role) -> RevisionStatus | None:
        if role != "canary":
            return None
        return RevisionStatus("api", "v2", desired=len(self.instances), instances=self.instances)


def test_counts_restarts_since_the_start_and_failed_instances() -> None:
    statuses = Statuses(instance("a", restarts=3), instance("b"))
    ctx = MeasureContext(target(status=statuses), "health", "canary")
    health, m = Health(), metric("health", provider={"health": {}})
    health.begin(m, ctx)
    assert health.measure(m, ctx).value == 0.0
    statuses.instances = (
        instance("a", restarts=4),
        instance("b", health="unhealthy"),
        instance("c", restarts=1),  # appeared after the start: all its restarts count
        instance("d", state="exited", exit_code=137),
    )
    reading = health.measure(m, ctx)
    assert reading.value == 2 + 2
    assert reading.variables == {"restarts": 2, "unhealthy": 2}
    assert "2 restart(s) since the analysis started, 2 of 4 instance(s) failed or unhealthy" in reading.detail
    assert "api-d (exited, exit code 137)" in reading.detail


def test_unknown_revision_is_no_data() -> None:
    ctx = MeasureContext(target(status=Statuses()), "health", "stable")
    reading = Health().measure(metric("health", provider={"health": {}}), ctx)
    assert reading.value is None
    assert "no status for the stable revision v1" in reading.detail


def test_health_metric_in_a_run_uses_max_restarts() -> None:
    statuses = Statuses(instance("a"))
    clock = FakeClock()
    seen: list[float] = []

    def restart(measurement: object) -> None:
        seen.append(clock())
        statuses.instances = (instance("a", restarts=len(seen)),)

    m = metric("health", provider={"health": {"max_restarts": 1}}, count=5, interval=10)
    run = AnalysisRun("h", [m], target(status=statuses), clock=clock, sleep=clock.sleep, on_measurement=restart)
    result = run.run()
    assert result.phase == "failed"
    assert [x.value for x in result.measurements] == [0.0, 1.0, 2.0]
    assert "result=2: success_condition 'result <= 1' is false" in result.message
