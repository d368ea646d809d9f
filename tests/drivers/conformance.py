"""The driver conformance suite: what every ``Driver`` must do, whatever the platform.

A driver's test module subclasses ``DriverConformance`` and provides two fixtures:

* ``driver`` — a ready driver (its one-shot services, named ``once``, exit 0 by themselves);
* ``app`` — a unique project name; the subclass removes the app afterwards.

The suite uses only the seam (``escadre.drivers.base.Driver``), never the platform, so passing it means
the operations layer can rely on the driver.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from escadre.core.progress import CollectingProgress
from escadre.drivers.base import LABEL_APP, AppStatus, Driver
from escadre.model.project import Project
from escadre.model.revision import Revision
from escadre.operations.plan import service_revision
from tests.support import project, service


def revision_of(driver: Driver, proj: Project, name: str) -> Revision:
    image = driver.prepare_image(proj, name, CollectingProgress())
    return service_revision(proj, proj.services[name], image)


def eventually(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


class DriverConformance:
    """Subclass with ``driver`` and ``app`` fixtures."""

    def test_info_names_the_target(self, driver: Driver) -> None:
        info = driver.info()
        assert info.kind == driver.kind
        assert info.name == driver.name
        assert info.endpoint

    def test_shared_resources_are_created_once_and_labelled(self, driver: Driver, app: str) -> None:
        proj = project(app, service("web"), volumes=["data"])
        progress = CollectingProgress()
        driver.ensure_shared(proj, progress)
        driver.ensure_shared(proj, progress)
        created = [e.subject for e in progress.events if e.action == "created"]
        assert sorted(created) == sorted([f"network {app}_default", f"volume {app}_data"])
        kinds = {(r.kind, r.name) for r in driver.observe(app).resources}
        assert ("network", f"{app}_default") in kinds
        assert ("volume", f"{app}_data") in kinds
        assert app in driver.list_apps()

    def test_apply_runs_exactly_n_instances_and_is_idempotent(self, driver: Driver, app: str) -> None:
        proj = project(app, service("web", replicas=3))
        driver.ensure_shared(proj, CollectingProgress())
        rev = revision_of(driver, proj, "web")
        driver.apply_revision(proj, rev, 3, CollectingProgress())
        first = driver.observe(app)
        (status,) = first.for_service("web")
        assert status.revision == rev.id
        assert status.desired == 3
        assert len(status.instances) == 3
        assert {i.service for i in status.instances} == {"web"}
        ids = {i.id for i in status.instances}
        driver.apply_revision(proj, rev, 3, CollectingProgress())
        assert {i.id for i in driver.observe(app).for_service("web")[0].instances} == ids

    def test_scaling_up_and_down_keeps_the_revision(self, driver: Driver, app: str) -> None:
        proj = project(app, service("web", replicas=1))
        driver.ensure_shared(proj, CollectingProgress())
        rev = revision_of(driver, proj, "web")
        driver.apply_revision(proj, rev, 1, CollectingProgress())
        driver.apply_revision(proj, rev, 3, CollectingProgress())
        assert len(driver.observe(app).for_service("web")[0].instances) == 3
        driver.apply_revision(proj, rev, 2, CollectingProgress())
        (status,) = driver.observe(app).for_service("web")
        assert len(status.instances) == 2
        assert status.revision == rev.id

    def test_two_revisions_coexist_and_are_removed_separately(self, driver: Driver, app: str) -> None:
        v1 = project(app, service("web", environment={"VERSION": "1"}))
        v2 = project(app, service("web", environment={"VERSION": "2"}))
        driver.ensure_shared(v1, CollectingProgress())
        r1, r2 = revision_of(driver, v1, "web"), revision_of(driver, v2, "web")
        assert r1.id != r2.id
        driver.apply_revision(v1, r1, 1, CollectingProgress())
        driver.apply_revision(v2, r2, 2, CollectingProgress())
        assert {r.revision: r.desired for r in driver.observe(app).for_service("web")} == {r1.id: 1, r2.id: 2}
        driver.remove_revision(app, "web", r1.id, CollectingProgress())
        assert [r.revision for r in driver.observe(app).for_service("web")] == [r2.id]

    def test_observe_filters_by_service(self, driver: Driver, app: str) -> None:
        proj = project(app, service("web"), service("api"))
        driver.ensure_shared(proj, CollectingProgress())
        for name in ("web", "api"):
            driver.apply_revision(proj, revision_of(driver, proj, name), 1, CollectingProgress())
        assert driver.observe(app, "api").services == ("api",)
        assert driver.observe(app).services == ("api", "web")

    def test_healthcheck_makes_instances_healthy(self, driver: Driver, app: str) -> None:
        proj = project(app, service("web", healthy_after=0.5))
        driver.ensure_shared(proj, CollectingProgress())
        rev = revision_of(driver, proj, "web")
        driver.apply_revision(proj, rev, 1, CollectingProgress())

        def healthy() -> bool:
            status = driver.observe(app, "web").revision("web", rev.id)
            return status is not None and status.ready == 1 and status.instances[0].health == "healthy"

        eventually(healthy)

    def test_one_shot_instances_complete(self, driver: Driver, app: str) -> None:
        proj = project(app, service("once", command=("sh", "-c", "echo done; exit 0")))
        driver.ensure_shared(proj, CollectingProgress())
        rev = revision_of(driver, proj, "once")
        driver.apply_revision(proj, rev, 1, CollectingProgress())

        def completed() -> bool:
            status = driver.observe(app, "once").revision("once", rev.id)
            return status is not None and all(i.completed for i in status.instances)

        eventually(completed)
        # applying again does not re-run a completed one-shot
        driver.apply_revision(proj, rev, 1, CollectingProgress())
        assert all(i.completed for i in driver.observe(app, "once").for_service("once")[0].instances)

    def test_logs_are_readable(self, driver: Driver, app: str) -> None:
        proj = project(app, service("once", command=("sh", "-c", "echo hello-from-once; exit 0")))
        driver.ensure_shared(proj, CollectingProgress())
        rev = revision_of(driver, proj, "once")
        driver.apply_revision(proj, rev, 1, CollectingProgress())
        eventually(lambda: any(line.text for line in driver.logs(app, ["once"])))
        lines = list(driver.logs(app, ["once"]))
        assert all(line.service == "once" for line in lines)

    def test_remove_app_removes_everything_but_volumes_unless_asked(self, driver: Driver, app: str) -> None:
        proj = project(app, service("web"), volumes=["data"])
        driver.ensure_shared(proj, CollectingProgress())
        driver.apply_revision(proj, revision_of(driver, proj, "web"), 2, CollectingProgress())
        driver.remove_app(app, CollectingProgress())
        status: AppStatus = driver.observe(app)
        assert status.revisions == ()
        assert [r.kind for r in status.resources] == ["volume"]
        driver.remove_app(app, CollectingProgress(), volumes=True)
        assert driver.observe(app).resources == ()
        assert app not in driver.list_apps()

    def test_removing_an_unknown_app_is_harmless(self, driver: Driver) -> None:
        driver.remove_app("escadre-nothing-here", CollectingProgress(), volumes=True)
        assert driver.observe("escadre-nothing-here").revisions == ()

    @pytest.mark.parametrize("label", [LABEL_APP])
    def test_labels_constant_is_stable(self, label: str) -> None:
        assert label == "escadre.app"
