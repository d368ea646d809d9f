"""Resources (``ESC-RES-*``) and reliability (``ESC-REL-*``): limits, reservations, health and redundancy.

A service without a memory limit can take the host (or node) down with it; one without reservations is
scheduled blind; one without a healthcheck cannot be rolled out safely, because Escadre's rollouts wait
for health before shifting traffic. Compose has two spellings for limits (``deploy.resources`` and the
service-level ``mem_limit``/``cpus``/``pids_limit``); both count.
"""

from __future__ import annotations

from collections.abc import Iterator

from escadre.policy.model import Hit, Refs, RuleSet
from escadre.policy.subjects import ServiceInput

rules = RuleSet("compose", "resources")


def _one_shot(s: ServiceInput) -> bool:
    """A job that runs to completion (``restart: "no"`` or ``on-failure``), not a long-running service."""
    restart = s.service.restart
    policy = s.service.deploy.restart_policy
    return restart in ("no", "on-failure") or (policy is not None and policy.condition in ("none", "on-failure"))


@rules.add(
    "ESC-RES-001",
    "No memory limit",
    "medium",
    rationale="""Without a memory limit a leak or a burst grows until the kernel's OOM killer picks a
    victim on the host, possibly another service or the engine itself.""",
    remediation="Set `deploy.resources.limits.memory` (e.g. `512M`).",
    refs=Refs(cis=("5.11",), nsa=("3.1",), checkov=("CKV_K8S_13",), trivy=("KSV018",)),
)
def memory_limit(s: ServiceInput) -> Iterator[Hit]:
    if s.service.deploy.limits.memory is None and s.service.spec.get("mem_limit") is None:
        yield Hit("has no memory limit", ())


@rules.add(
    "ESC-RES-002",
    "No CPU limit",
    "low",
    rationale="A service without a CPU limit can starve the others on the same host or node.",
    remediation='Set `deploy.resources.limits.cpus` (e.g. `"1.0"`).',
    refs=Refs(cis=("5.12",), nsa=("3.1",), checkov=("CKV_K8S_11",), trivy=("KSV011",)),
)
def cpu_limit(s: ServiceInput) -> Iterator[Hit]:
    if s.service.deploy.limits.cpus is None and s.service.spec.get("cpus") is None:
        yield Hit("has no CPU limit", ())


@rules.add(
    "ESC-RES-003",
    "No memory reservation",
    "low",
    rationale="""Schedulers (Swarm, Kubernetes) place replicas by their reservations; without one a node
    can be overcommitted until its services are killed.""",
    remediation="Set `deploy.resources.reservations.memory`.",
    refs=Refs(checkov=("CKV_K8S_12",), trivy=("KSV016",)),
    packs=("restricted",),
)
def memory_reservation(s: ServiceInput) -> Iterator[Hit]:
    if s.service.deploy.reservations.memory is None and s.service.spec.get("mem_reservation") is None:
        yield Hit("has no memory reservation", ())


@rules.add(
    "ESC-RES-004",
    "No CPU reservation",
    "low",
    rationale="Without a CPU reservation a replica may be placed on a node with no CPU to spare.",
    remediation="Set `deploy.resources.reservations.cpus`.",
    refs=Refs(checkov=("CKV_K8S_10",), trivy=("KSV015",)),
    packs=("restricted",),
)
def cpu_reservation(s: ServiceInput) -> Iterator[Hit]:
    if s.service.deploy.reservations.cpus is None:
        yield Hit("has no CPU reservation", ())


@rules.add(
    "ESC-RES-005",
    "No PIDs limit",
    "low",
    rationale="A fork bomb in a container without a PIDs limit exhausts the host's process table.",
    remediation="Set `deploy.resources.limits.pids` (or `pids_limit`), e.g. 256.",
    refs=Refs(cis=("5.29",)),
    packs=("restricted",),
)
def pids_limit(s: ServiceInput) -> Iterator[Hit]:
    limit = s.service.deploy.limits.pids or s.service.spec.get("pids_limit")
    if limit is None or (isinstance(limit, int) and limit <= 0):
        yield Hit("has no PIDs limit", ())


@rules.add(
    "ESC-RES-006",
    "Reservation above limit",
    "medium",
    rationale="""A reservation larger than the limit cannot be honoured: Kubernetes rejects the pod and
    Swarm never schedules the task.""",
    remediation="Make each reservation at most the matching limit.",
)
def reservation_above_limit(s: ServiceInput) -> Iterator[Hit]:
    limits, reservations = s.service.deploy.limits, s.service.deploy.reservations
    for what in ("memory", "cpus"):
        limit, reserved = getattr(limits, what), getattr(reservations, what)
        if limit is not None and reserved is not None and reserved > limit:
            yield Hit(
                f"reserves more {what} ({reserved}) than its limit ({limit})",
                ("deploy", "resources", "reservations", what),
                evidence=what,
            )


rel = RuleSet("compose", "reliability")


@rel.add(
    "ESC-REL-001",
    "No healthcheck",
    "low",
    rationale="""Escadre's rollouts, `depends_on: service_healthy` and the router only trust an instance
    once it reports healthy; without a healthcheck a broken revision looks ready as soon as it starts.""",
    remediation="Add a `healthcheck:` (or a `HEALTHCHECK` in the Dockerfile) that exercises the service.",
    refs=Refs(cis=("5.27",), checkov=("CKV_K8S_8", "CKV_K8S_9")),
)
def healthcheck(s: ServiceInput) -> Iterator[Hit]:
    if s.service.healthcheck is not None or _one_shot(s):
        return  # set here (a deliberate `disable: true` included), or a job that runs to completion
    if s.dockerfile is not None:
        if not s.dockerfile.has_healthcheck(s.target()):
            yield Hit(f"has no healthcheck (none here and no HEALTHCHECK in {s.dockerfile.path})", ())
        return
    yield Hit("has no healthcheck in the Compose file (the image may define one)", ())


@rel.add(
    "ESC-REL-002",
    "No restart policy",
    "low",
    rationale="""Without a restart policy a crashed container stays down on a plain Docker engine until
    someone notices.""",
    remediation="Set `restart: unless-stopped` (or `deploy.restart_policy`).",
    packs=("restricted",),
)
def restart_policy(s: ServiceInput) -> Iterator[Hit]:
    if s.service.restart is None and s.service.deploy.restart_policy is None:
        yield Hit("has no restart policy", ())


@rel.add(
    "ESC-REL-003",
    "Unbounded restarts",
    "info",
    rationale="""CIS recommends `on-failure` with at most 5 attempts: a container that restarts forever
    hides a crash loop and can be used to hammer a dependency.""",
    remediation='Use `restart: "on-failure:5"` or `deploy.restart_policy.max_attempts: 5`.',
    refs=Refs(cis=("5.15",)),
    packs=("restricted",),
)
def unbounded_restarts(s: ServiceInput) -> Iterator[Hit]:
    if s.service.restart in ("always", "unless-stopped"):
        yield Hit(f"restarts forever (restart: {s.service.restart})", ("restart",), evidence=s.service.restart)
    policy = s.service.deploy.restart_policy
    if policy is not None and policy.condition == "any" and not policy.max_attempts:
        yield Hit("restarts forever (no max_attempts)", ("deploy", "restart_policy"), evidence="any")


def _routed(s: ServiceInput) -> bool:
    # without any x-escadre the rollout is the default (rolling) and nothing is routed; checking that first
    # keeps pydantic (which Project.rollout_for imports) out of a check of a plain Compose file
    if s.service.settings is None and s.project.settings is None:
        return False
    return s.project.is_routed(s.name)


@rel.add(
    "ESC-REL-004",
    "Routed service with a single replica",
    "medium",
    rationale="""A routed service (canary, blue-green or `x-escadre.route`) with one replica has no
    redundancy: a node failure or an eviction is an outage, and a canary step cannot keep stable capacity.""",
    remediation="Set `deploy.replicas: 2` or more.",
)
def replicas(s: ServiceInput) -> Iterator[Hit]:
    if s.service.deploy.mode == "replicated" and s.service.replicas < 2 and _routed(s):
        yield Hit(
            f"is routed but runs {s.service.replicas} replica",
            ("deploy", "replicas") if "replicas" in (s.service.spec.get("deploy") or {}) else (),
            evidence=str(s.service.replicas),
        )


@rel.add(
    "ESC-REL-005",
    "Logging disabled",
    "low",
    rationale="With the `none` logging driver nothing the service prints is kept: no audit trail, no debugging.",
    remediation="Remove `logging.driver: none` (or pick a driver that ships logs).",
)
def logging_disabled(s: ServiceInput) -> Iterator[Hit]:
    if s.service.logging.get("driver") == "none":
        yield Hit("discards its logs (logging.driver: none)", ("logging", "driver"))


RULES = [*rules.rules, *rel.rules]
