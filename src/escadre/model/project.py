"""The target-neutral application model: an immutable ``Project`` of ``Service`` values.

The spec layer builds these from Compose files; every layer above reads them and none mutates them.
Typed fields cover what drivers act on. ``Service.spec`` keeps the whole normalized Compose mapping of
the service (long syntax everywhere, durations in seconds, sizes in bytes, paths absolute) so that
support reports and renderers can account for every key, including the long tail no driver models.

Collections are tuples and read-only mappings so a model can be shared between threads (the Docker
driver starts independent services in parallel) without copies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from escadre.core.errors import SourceLocation

if TYPE_CHECKING:
    from escadre.model.settings import ProjectSettings, RolloutSpec, ServiceSettings

EMPTY: Mapping[str, Any] = MappingProxyType({})

DependencyCondition = Literal["service_started", "service_healthy", "service_completed_successfully"]
MountType = Literal["bind", "volume", "tmpfs"]


def _no_map() -> Any:
    return field(default_factory=lambda: EMPTY)


def frozen_map(data: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A read-only view of a copy of ``data`` (an empty shared mapping for ``None``)."""
    return MappingProxyType(dict(data)) if data else EMPTY


@dataclass(frozen=True, slots=True)
class Port:
    """One published or exposed port (ranges are expanded by the spec layer)."""

    target: int
    published: int | None = None
    host_ip: str | None = None
    protocol: Literal["tcp", "udp", "sctp"] = "tcp"
    mode: Literal["ingress", "host"] = "ingress"
    name: str | None = None
    app_protocol: str | None = None


@dataclass(frozen=True, slots=True)
class Mount:
    """A volume, bind mount or tmpfs. ``source`` is a project volume key for ``volume`` mounts
    (``None`` for anonymous volumes) and an absolute host path for ``bind`` mounts."""

    type: MountType
    target: str
    source: str | None = None
    read_only: bool = False
    create_host_path: bool = True
    propagation: str | None = None
    selinux: str | None = None
    nocopy: bool = False
    tmpfs_size: int | None = None
    tmpfs_mode: int | None = None


@dataclass(frozen=True, slots=True)
class FileMount:
    """A secret or config given to a service: mounted as a file at ``target``, never put in env."""

    source: str
    target: str
    uid: str | None = None
    gid: str | None = None
    mode: int | None = None


@dataclass(frozen=True, slots=True)
class Healthcheck:
    """Container health test. ``test`` is the exec form (``CMD``/``CMD-SHELL`` prefix kept)."""

    test: tuple[str, ...] = ()
    interval: float = 30.0
    timeout: float = 30.0
    retries: int = 3
    start_period: float = 0.0
    start_interval: float | None = None
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class Dependency:
    service: str
    condition: DependencyCondition = "service_started"
    required: bool = True
    restart: bool = False


@dataclass(frozen=True, slots=True)
class Resources:
    """Limits or reservations. ``memory`` in bytes, ``cpus`` in cores."""

    cpus: float | None = None
    memory: int | None = None
    pids: int | None = None


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    condition: Literal["none", "on-failure", "any"] = "any"
    delay: float | None = None
    max_attempts: int | None = None
    window: float | None = None


@dataclass(frozen=True, slots=True)
class UpdateConfig:
    """Compose ``deploy.update_config`` / ``rollback_config`` (durations in seconds)."""

    parallelism: int = 1
    delay: float = 0.0
    failure_action: Literal["pause", "continue", "rollback"] = "pause"
    monitor: float = 0.0
    max_failure_ratio: float = 0.0
    order: Literal["stop-first", "start-first"] = "stop-first"


@dataclass(frozen=True, slots=True)
class Placement:
    constraints: tuple[str, ...] = ()
    preferences: tuple[str, ...] = ()
    max_replicas_per_node: int | None = None


@dataclass(frozen=True, slots=True)
class Deploy:
    mode: Literal["replicated", "global"] = "replicated"
    replicas: int = 1
    limits: Resources = field(default_factory=Resources)
    reservations: Resources = field(default_factory=Resources)
    restart_policy: RestartPolicy | None = None
    update_config: UpdateConfig | None = None
    rollback_config: UpdateConfig | None = None
    placement: Placement = field(default_factory=Placement)
    labels: Mapping[str, str] = _no_map()
    endpoint_mode: Literal["vip", "dnsrr"] | None = None


@dataclass(frozen=True, slots=True)
class Build:
    """``build:`` with ``context`` absolute (or a URL) and ``dockerfile`` relative to it."""

    context: str
    dockerfile: str = "Dockerfile"
    dockerfile_inline: str | None = None
    args: Mapping[str, str | None] = _no_map()
    target: str | None = None
    labels: Mapping[str, str] = _no_map()
    network: str | None = None
    cache_from: tuple[str, ...] = ()
    extra_hosts: Mapping[str, str] = _no_map()
    shm_size: int | None = None
    pull: bool = False
    no_cache: bool = False


@dataclass(frozen=True, slots=True)
class ServiceNetwork:
    name: str
    aliases: tuple[str, ...] = ()
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    priority: int = 0


@dataclass(frozen=True, slots=True)
class Service:
    """One Compose service, normalized. ``spec`` holds the full normalized Compose mapping."""

    name: str
    image: str | None = None
    build: Build | None = None
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    environment: Mapping[str, str | None] = _no_map()
    ports: tuple[Port, ...] = ()
    expose: tuple[str, ...] = ()
    mounts: tuple[Mount, ...] = ()
    secrets: tuple[FileMount, ...] = ()
    configs: tuple[FileMount, ...] = ()
    networks: tuple[ServiceNetwork, ...] = ()
    network_mode: str | None = None
    depends_on: tuple[Dependency, ...] = ()
    healthcheck: Healthcheck | None = None
    deploy: Deploy = field(default_factory=Deploy)
    restart: str | None = None
    user: str | None = None
    read_only: bool = False
    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    labels: Mapping[str, str] = _no_map()
    working_dir: str | None = None
    hostname: str | None = None
    domainname: str | None = None
    container_name: str | None = None
    init: bool | None = None
    tty: bool = False
    stdin_open: bool = False
    stop_signal: str | None = None
    stop_grace_period: float | None = None
    extra_hosts: Mapping[str, str] = _no_map()
    dns: tuple[str, ...] = ()
    sysctls: Mapping[str, str] = _no_map()
    ulimits: Mapping[str, Any] = _no_map()
    shm_size: int | None = None
    pid: str | None = None
    ipc: str | None = None
    devices: tuple[str, ...] = ()
    logging: Mapping[str, Any] = _no_map()
    pull_policy: str | None = None
    profiles: tuple[str, ...] = ()
    settings: ServiceSettings | None = None
    """The service's ``x-escadre`` (``None`` when it has none)."""
    spec: Mapping[str, Any] = _no_map()
    location: SourceLocation | None = None

    @property
    def replicas(self) -> int:
        return self.deploy.replicas

    @property
    def published_ports(self) -> tuple[Port, ...]:
        return tuple(p for p in self.ports if p.published is not None)

    def dependency_names(self) -> tuple[str, ...]:
        return tuple(d.service for d in self.depends_on)


@dataclass(frozen=True, slots=True)
class Network:
    """A project network. ``key`` is the name used in the Compose file; ``name`` the platform name."""

    key: str
    name: str
    driver: str | None = None
    driver_opts: Mapping[str, str] = _no_map()
    external: bool = False
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool = False
    labels: Mapping[str, str] = _no_map()
    ipam: Mapping[str, Any] = _no_map()


@dataclass(frozen=True, slots=True)
class Volume:
    key: str
    name: str
    driver: str | None = None
    driver_opts: Mapping[str, str] = _no_map()
    external: bool = False
    labels: Mapping[str, str] = _no_map()


@dataclass(frozen=True, slots=True)
class FileSource:
    """A top-level secret or config: exactly one of ``file`` (absolute), ``environment`` (variable
    name) or ``content`` is set, unless ``external`` (the platform already holds it under ``name``)."""

    key: str
    name: str
    file: str | None = None
    environment: str | None = None
    content: str | None = None
    external: bool = False
    labels: Mapping[str, str] = _no_map()
    location: SourceLocation | None = None


@dataclass(frozen=True, slots=True)
class Project:
    name: str
    services: Mapping[str, Service]
    networks: Mapping[str, Network] = _no_map()
    volumes: Mapping[str, Volume] = _no_map()
    secrets: Mapping[str, FileSource] = _no_map()
    configs: Mapping[str, FileSource] = _no_map()
    settings: ProjectSettings | None = None
    """The top-level ``x-escadre`` (``None`` when the file has none)."""
    working_dir: str = "."
    files: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    spec: Mapping[str, Any] = _no_map()
    """The whole normalized Compose document, as ``escadre config`` prints it."""
    source_env: Mapping[str, str] = field(default_factory=lambda: EMPTY, repr=False)
    """Values of the variables that ``environment:``-sourced secrets and configs read, resolved at load
    time from the environment and ``.env``; only those variables, and never printed or stored."""
    locations: Mapping[tuple[str | int, ...], SourceLocation] = field(
        default_factory=lambda: MappingProxyType({}), repr=False, compare=False
    )
    """Where each key of ``spec`` was written: a path such as ``("services", "web", "privileged")`` or
    ``("services", "web", "ports", 0)`` → the ``file:line:column`` of that key (or list item), in the file
    that set it last. Filled by the loader (lazily, from its position tree); empty for projects built any
    other way. Lets the policy engine point a finding at the exact key, not just at the service."""

    def service(self, name: str) -> Service:
        return self.services[name]

    def is_routed(self, service: str) -> bool:
        """Whether Escadre's router fronts the service: ``x-escadre.route``, or implied by the canary and
        blue-green strategies (they need traffic weights and a preview)."""
        svc = self.services[service]
        if svc.settings is not None and svc.settings.route is not None:
            return svc.settings.route.enabled
        return self.rollout_for(service).strategy in ("canary", "blue-green")

    def rollout_for(self, service: str) -> RolloutSpec:
        """The rollout of ``service``: its own, else the project default, else plain rolling."""
        own = self.services[service].settings
        if own is not None and own.rollout is not None:
            return own.rollout
        if self.settings is not None and self.settings.rollout is not None:
            return self.settings.rollout
        from escadre.model.settings import RolloutSpec

        return RolloutSpec()

    def dependency_order(self) -> list[list[str]]:
        """Services grouped in waves: every service's dependencies are in an earlier wave.

        The spec layer rejects cycles, so this always terminates.
        """
        remaining = {name: set(svc.dependency_names()) & set(self.services) for name, svc in self.services.items()}
        waves: list[list[str]] = []
        done: set[str] = set()
        while remaining:
            wave = sorted(name for name, deps in remaining.items() if deps <= done)
            if not wave:
                raise ValueError(f"dependency cycle among services: {', '.join(sorted(remaining))}")
            waves.append(wave)
            done.update(wave)
            for name in wave:
                del remaining[name]
        return waves
