"""Running a container's own health test now, through the Engine API (``exec``), as the engine would.

Readiness waits use it so a healthy instance is seen at once instead of at the engine's next check
(Compose's default interval is 30 s). A test that cannot run counts as "not healthy yet", never as a
failure: only the engine's own ``unhealthy`` verdict is one.
"""

from __future__ import annotations

import threading

import docker

from escadre.core.errors import TargetError
from escadre.drivers.engine.client import translate


def run_health_test(api: docker.APIClient, target: str, container: str) -> bool:
    """Exec ``container``'s configured health test and report whether it passed (within its timeout)."""
    try:
        with translate(target, "probing health"):
            config = (api.inspect_container(container).get("Config") or {}).get("Healthcheck") or {}
            test = list(config.get("Test") or [])
            if not test or test[0] == "NONE":
                return False
            cmd = test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", " ".join(test[1:])]
            exec_id = api.exec_create(container, cmd, stdout=False, stderr=False)["Id"]
    except TargetError:
        return False
    timeout = (config.get("Timeout") or 30_000_000_000) / 1e9
    outcome: list[bool] = []

    def run() -> None:
        try:
            api.exec_start(exec_id)
            outcome.append(api.exec_inspect(exec_id).get("ExitCode") == 0)
        except Exception:  # an exec that fails to run is just "not healthy yet"
            outcome.append(False)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(outcome and outcome[0])


__all__ = ["run_health_test"]
