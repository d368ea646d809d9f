"""The canonical Compose document → the immutable :class:`~escadre.model.project.Project`.

By now every value has its final type, so building the model is mostly reading; the two things that can
still fail are the ``x-escadre`` sections, parsed by the pydantic models of :mod:`escadre.model.settings`.
A pydantic ``ValidationError`` is turned into a :class:`SpecError` at the offending key with a plain
message (``must be one of recreate, rolling, blue-green, canary``), and analysis templates named by a
rollout must exist in the top-level ``x-escadre.analysis_templates``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from escadre.core.errors import SourceLocation
from escadre.core.units import parse_bytes
from escadre.model.project import (
    Build,
    Dependency,
    Deploy,
    FileMount,
    FileSource,
    Healthcheck,
    Mount,
    Network,
    Placement,
    Port,
    Project,
    Resources,
    RestartPolicy,
    Service,
    ServiceNetwork,
    UpdateConfig,
    Volume,
    frozen_map,
)
from escadre.spec.context import Norm
from escadre.spec.locator import Key, LocNode

if TYPE_CHECKING:
    from escadre.model.settings import ProjectSettings, ServiceSettings

SETTINGS_KEY = "x-escadre"


def build_project(norm: Norm, doc: dict[str, Any], *, files: tuple[str, ...], profiles: tuple[str, ...]) -> Project:
    project_settings: ProjectSettings | None = None
    service_settings: dict[str, ServiceSettings] = {}
    if doc.get(SETTINGS_KEY) is not None or any(s.get(SETTINGS_KEY) is not None for s in doc["services"].values()):
        # pydantic (and the settings models) load only for files that use x-escadre
        from escadre.spec.extensions import parse_settings

        project_settings, service_settings = parse_settings(norm, doc)
    services: dict[str, Service] = {}
    for name, spec in doc["services"].items():
        services[name] = _service(norm, name, spec, service_settings.get(name))
    return Project(
        name=norm.project,
        services=frozen_map(services),
        networks=frozen_map({k: _network(k, v) for k, v in doc["networks"].items()}),
        volumes=frozen_map({k: _volume(k, v) for k, v in doc["volumes"].items()}),
        secrets=frozen_map({k: _file_source(norm, "secrets", k, v) for k, v in doc["secrets"].items()}),
        configs=frozen_map({k: _file_source(norm, "configs", k, v) for k, v in doc["configs"].items()}),
        settings=project_settings,
        working_dir=norm.project_dir,
        files=files,
        profiles=profiles,
        spec=frozen_map(doc),
        locations=KeyLocations(norm.loc),
        source_env=frozen_map(
            {
                entry["environment"]: norm.variables[entry["environment"]]
                for section in ("secrets", "configs")
                for entry in doc[section].values()
                if "environment" in entry and entry["environment"] in norm.variables
            }
        ),
    )


class KeyLocations(Mapping[tuple[Key, ...], SourceLocation]):
    """``Project.locations``: a read-only view of the loader's position tree, keyed by path.

    Nothing is copied or flattened at load time; a lookup walks the tree, so projects that are never
    checked pay nothing for it.
    """

    __slots__ = ("_root",)

    def __init__(self, root: LocNode) -> None:
        self._root = root

    def __getitem__(self, path: tuple[Key, ...]) -> SourceLocation:
        node = self._root.find(path)
        if node is None or not node.line:
            raise KeyError(path)
        return node.at

    def __iter__(self) -> Iterator[tuple[Key, ...]]:
        stack: list[tuple[tuple[Key, ...], LocNode]] = [((), self._root)]
        while stack:
            path, node = stack.pop()
            if path and node.line:
                yield path
            stack.extend(((*path, key), child) for key, child in node.children.items())

    def __len__(self) -> int:
        return sum(1 for _ in self)


# ------------------------------------------------------------------------------------------------ model


def _str_map(value: Any) -> Mapping[str, str]:
    return frozen_map({k: str(v) for k, v in (value or {}).items() if v is not None})


def _service(norm: Norm, name: str, spec: dict[str, Any], settings: ServiceSettings | None) -> Service:
    node = norm.node(("services", name))
    return service_from_spec(norm.project, name, spec, settings, location=node.at if node is not None else None)


def service_from_spec(
    project: str,
    name: str,
    spec: dict[str, Any],
    settings: ServiceSettings | None = None,
    *,
    location: SourceLocation | None = None,
) -> Service:
    """A ``Service`` from its normalized spec (as stored with a revision): rollbacks re-create old
    revisions from it without the Compose files that produced them."""
    image = spec.get("image")
    if image is None and "build" in spec:
        image = f"{project}-{name}".lower()
    command = spec.get("command")
    entrypoint = spec.get("entrypoint")
    return Service(
        name=name,
        image=image,
        build=_build(spec["build"]) if "build" in spec else None,
        command=tuple(command) if command is not None else None,
        entrypoint=tuple(entrypoint) if entrypoint is not None else None,
        environment=frozen_map(spec.get("environment")),
        ports=tuple(_port(p) for p in spec.get("ports", ())),
        expose=tuple(spec.get("expose", ())),
        mounts=tuple(_mounts(spec)),
        secrets=tuple(_file_mount(m) for m in spec.get("secrets", ())),
        configs=tuple(_file_mount(m) for m in spec.get("configs", ())),
        networks=tuple(_service_network(k, v) for k, v in (spec.get("networks") or {}).items()),
        network_mode=spec.get("network_mode"),
        depends_on=tuple(
            Dependency(service=k, condition=v["condition"], required=v["required"], restart=v["restart"])
            for k, v in (spec.get("depends_on") or {}).items()
        ),
        healthcheck=_healthcheck(spec["healthcheck"]) if "healthcheck" in spec else None,
        deploy=_deploy(spec.get("deploy") or {}),
        restart=spec.get("restart"),
        user=_opt_str(spec.get("user")),
        read_only=spec.get("read_only", False),
        privileged=spec.get("privileged", False),
        cap_add=tuple(spec.get("cap_add", ())),
        cap_drop=tuple(spec.get("cap_drop", ())),
        security_opt=tuple(spec.get("security_opt", ())),
        labels=_str_map(spec.get("labels")),
        working_dir=spec.get("working_dir"),
        hostname=spec.get("hostname"),
        domainname=spec.get("domainname"),
        container_name=spec.get("container_name"),
        init=spec.get("init"),
        tty=spec.get("tty", False),
        stdin_open=spec.get("stdin_open", False),
        stop_signal=spec.get("stop_signal"),
        stop_grace_period=spec.get("stop_grace_period"),
        extra_hosts=_str_map(spec.get("extra_hosts")),
        dns=tuple(spec.get("dns", ())),
        sysctls=_str_map(spec.get("sysctls")),
        ulimits=frozen_map(spec.get("ulimits")),
        shm_size=spec.get("shm_size"),
        pid=spec.get("pid"),
        ipc=spec.get("ipc"),
        devices=tuple(_device(d) for d in spec.get("devices", ())),
        logging=frozen_map(spec.get("logging")),
        pull_policy=spec.get("pull_policy"),
        profiles=tuple(spec.get("profiles", ())),
        settings=settings,
        spec=frozen_map(spec),
        location=location,
    )


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _device(value: Any) -> str:
    if isinstance(value, dict):
        parts = [value.get("source", ""), value.get("target") or value.get("source", "")]
        if value.get("permissions"):
            parts.append(value["permissions"])
        return ":".join(parts)
    return str(value)


def _build(spec: dict[str, Any]) -> Build:
    return Build(
        context=spec["context"],
        dockerfile=spec.get("dockerfile", "Dockerfile"),
        dockerfile_inline=spec.get("dockerfile_inline"),
        args=frozen_map(spec.get("args")),
        target=spec.get("target"),
        labels=_str_map(spec.get("labels")),
        network=spec.get("network"),
        cache_from=tuple(spec.get("cache_from", ())),
        extra_hosts=_str_map(spec.get("extra_hosts")),
        shm_size=spec.get("shm_size"),
        pull=spec.get("pull", False),
        no_cache=spec.get("no_cache", False),
    )


def _port(spec: dict[str, Any]) -> Port:
    published = spec.get("published")
    return Port(
        target=spec["target"],
        published=int(published) if published not in (None, "") else None,
        host_ip=spec.get("host_ip"),
        protocol=spec.get("protocol", "tcp"),
        mode=spec.get("mode", "ingress"),
        name=spec.get("name"),
        app_protocol=spec.get("app_protocol"),
    )


def _mounts(spec: dict[str, Any]) -> Iterator[Mount]:
    for volume in spec.get("volumes", ()):
        bind = volume.get("bind") or {}
        tmpfs = volume.get("tmpfs") or {}
        yield Mount(
            type=volume["type"],
            target=volume["target"],
            source=volume.get("source"),
            read_only=volume.get("read_only", False),
            create_host_path=bind.get("create_host_path", False),
            propagation=bind.get("propagation"),
            selinux=bind.get("selinux"),
            nocopy=(volume.get("volume") or {}).get("nocopy", False),
            tmpfs_size=tmpfs.get("size"),
            tmpfs_mode=tmpfs.get("mode"),
        )
    for entry in spec.get("tmpfs", ()):
        yield _tmpfs_mount(entry)


def _tmpfs_mount(entry: str) -> Mount:
    """``tmpfs: ["/run:size=64m,mode=1777"]`` → a tmpfs :class:`Mount` (options parsed when known)."""
    target, _, options = entry.partition(":")
    size: int | None = None
    mode: int | None = None
    for option in filter(None, options.split(",")):
        key, _, value = option.partition("=")
        try:
            if key == "size":
                size = parse_bytes(value)
            elif key == "mode":
                mode = int(value, 8)
        except ValueError:
            continue
    return Mount(type="tmpfs", target=target, tmpfs_size=size, tmpfs_mode=mode)


def _file_mount(spec: dict[str, Any]) -> FileMount:
    return FileMount(
        source=spec["source"],
        target=spec["target"],
        uid=spec.get("uid"),
        gid=spec.get("gid"),
        mode=spec.get("mode"),
    )


def _service_network(name: str, spec: dict[str, Any] | None) -> ServiceNetwork:
    spec = spec or {}
    return ServiceNetwork(
        name=name,
        aliases=tuple(spec.get("aliases", ())),
        ipv4_address=spec.get("ipv4_address"),
        ipv6_address=spec.get("ipv6_address"),
        priority=spec.get("priority", 0),
    )


def _healthcheck(spec: dict[str, Any]) -> Healthcheck:
    if spec.get("disable"):
        return Healthcheck(disabled=True)
    return Healthcheck(
        test=tuple(spec.get("test", ())),
        interval=spec.get("interval", 30.0),
        timeout=spec.get("timeout", 30.0),
        retries=spec.get("retries", 3),
        start_period=spec.get("start_period", 0.0),
        start_interval=spec.get("start_interval"),
    )


def _resources(spec: dict[str, Any] | None) -> Resources:
    spec = spec or {}
    return Resources(cpus=spec.get("cpus"), memory=spec.get("memory"), pids=spec.get("pids"))


def _update(spec: dict[str, Any] | None) -> UpdateConfig | None:
    if spec is None:
        return None
    return UpdateConfig(
        parallelism=spec.get("parallelism", 1),
        delay=spec.get("delay", 0.0),
        failure_action=spec.get("failure_action", "pause"),
        monitor=spec.get("monitor", 0.0),
        max_failure_ratio=spec.get("max_failure_ratio", 0.0),
        order=spec.get("order", "stop-first"),
    )


def _deploy(spec: dict[str, Any]) -> Deploy:
    resources = spec.get("resources") or {}
    policy = spec.get("restart_policy")
    placement = spec.get("placement") or {}
    return Deploy(
        mode=spec.get("mode", "replicated"),
        replicas=spec.get("replicas", 1),
        limits=_resources(resources.get("limits")),
        reservations=_resources(resources.get("reservations")),
        restart_policy=RestartPolicy(
            condition=policy.get("condition", "any"),
            delay=policy.get("delay"),
            max_attempts=policy.get("max_attempts"),
            window=policy.get("window"),
        )
        if policy is not None
        else None,
        update_config=_update(spec.get("update_config")),
        rollback_config=_update(spec.get("rollback_config")),
        placement=Placement(
            constraints=tuple(placement.get("constraints", ())),
            preferences=tuple(f"spread={p['spread']}" for p in placement.get("preferences", ()) if "spread" in p),
            max_replicas_per_node=placement.get("max_replicas_per_node"),
        ),
        labels=_str_map(spec.get("labels")),
        endpoint_mode=spec.get("endpoint_mode"),
    )


def _network(key: str, spec: dict[str, Any]) -> Network:
    return Network(
        key=key,
        name=spec["name"],
        driver=spec.get("driver"),
        driver_opts=_str_map(spec.get("driver_opts")),
        external=spec.get("external", False),
        internal=spec.get("internal", False),
        attachable=spec.get("attachable", False),
        enable_ipv6=spec.get("enable_ipv6", False),
        labels=_str_map(spec.get("labels")),
        ipam=frozen_map(spec.get("ipam")),
    )


def _volume(key: str, spec: dict[str, Any]) -> Volume:
    return Volume(
        key=key,
        name=spec["name"],
        driver=spec.get("driver"),
        driver_opts=_str_map(spec.get("driver_opts")),
        external=spec.get("external", False),
        labels=_str_map(spec.get("labels")),
    )


def _file_source(norm: Norm, section: str, key: str, spec: dict[str, Any]) -> FileSource:
    node = norm.node((section, key))
    location: SourceLocation | None = node.at if node is not None else None
    return FileSource(
        key=key,
        name=spec["name"],
        file=spec.get("file"),
        environment=spec.get("environment"),
        content=spec.get("content"),
        external=spec.get("external", False),
        labels=_str_map(spec.get("labels")),
        location=location,
    )
