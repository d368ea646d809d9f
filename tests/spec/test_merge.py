from __future__ import annotations

from typing import Any

from .conftest import Project, where

BASE = """
services:
  web:
    image: nginx:1
    command: ["echo", "base"]
    entrypoint: /bin/sh -c
    environment:
      A: "1"
      B: "2"
    labels:
      - team=core
    ports:
      - "8080:80"
      - "9000:9000"
    volumes:
      - ./data:/data
      - cache:/cache
    secrets: [s1]
    configs: [c1]
    dns: 8.8.8.8
    cap_add: [NET_ADMIN]
    expose: ["3000"]
    networks: [front]
    depends_on: [db]
    healthcheck:
      test: ["CMD", "curl", "-f", "http://x"]
      interval: 30s
    logging:
      driver: json-file
      options: {max-size: 10m}
    extra_hosts: ["a.local:10.0.0.1"]
    sysctls: {net.core.somaxconn: 1024}
    ulimits: {nofile: {soft: 1024, hard: 2048}}
    build: ./app
  db:
    image: postgres
volumes:
  cache:
    labels: [a=1]
networks:
  front:
secrets:
  s1: {file: ./s1}
  s2: {file: ./s2}
configs:
  c1: {file: ./c1}
"""

OVERRIDE = """
services:
  web:
    image: nginx:2
    command: ["echo", "over"]
    environment:
      - B=3
      - C=4
    labels:
      tier: web
    ports:
      - "8080:80"
      - "9443:443"
    volumes:
      - ./other:/data
    secrets:
      - source: s2
        target: s1
    configs:
      - source: c1
        target: /c1
        mode: 0400
    dns: [1.1.1.1, 8.8.8.8]
    cap_add: [NET_ADMIN, SYS_TIME]
    expose: ["3000", "4000"]
    networks:
      back:
        aliases: [w]
    depends_on:
      cache:
        condition: service_healthy
    healthcheck:
      test: ["CMD", "true"]
    logging:
      options: {max-file: "3"}
    extra_hosts: {b.local: 10.0.0.2, a.local: 10.9.9.9}
    ulimits: {nofile: {soft: 2000, hard: 4000}, nproc: 65535}
    build:
      args: [X=1]
  cache:
    image: redis
volumes:
  cache:
    labels: {b: "2"}
networks:
  back:
"""


def merged(proj: Project, base: str = BASE, override: str = OVERRIDE, **kwargs: Any) -> dict[str, Any]:
    proj.write("compose.yaml", base)
    proj.write("override.yaml", override)
    for name in ("s1", "s2", "c1", "app/Dockerfile"):
        proj.write(name, "x")
    return dict(proj.load(files=("compose.yaml", "override.yaml"), **kwargs).project.spec)


def test_scalars_are_replaced_and_mappings_merged(proj: Project) -> None:
    web = merged(proj)["services"]["web"]
    assert web["image"] == "nginx:2"
    assert web["environment"] == {"A": "1", "B": "3", "C": "4"}
    assert web["labels"] == {"team": "core", "tier": "web"}
    assert web["sysctls"] == {"net.core.somaxconn": "1024"}
    assert web["extra_hosts"] == {"a.local": "10.9.9.9", "b.local": "10.0.0.2"}


def test_commands_and_healthcheck_test_are_replaced_not_appended(proj: Project) -> None:
    web = merged(proj)["services"]["web"]
    assert web["command"] == ["echo", "over"]
    assert web["entrypoint"] == ["/bin/sh", "-c"]
    assert web["healthcheck"] == {"test": ["CMD", "true"], "interval": 30.0}


def test_ports_are_appended_without_duplicates(proj: Project) -> None:
    ports = merged(proj)["services"]["web"]["ports"]
    assert [(p["published"], p["target"]) for p in ports] == [("8080", 80), ("9000", 9000), ("9443", 443)]


def test_mounts_merge_by_container_path(proj: Project) -> None:
    web = merged(proj)["services"]["web"]
    assert [(v["source"], v["target"]) for v in web["volumes"]] == [
        (str(proj.root / "other"), "/data"),
        ("cache", "/cache"),
    ]
    assert web["secrets"] == [{"source": "s2", "target": "/run/secrets/s1"}]
    assert web["configs"] == [{"source": "c1", "target": "/c1", "mode": 0o400}]


def test_lists_are_appended_unique(proj: Project) -> None:
    web = merged(proj)["services"]["web"]
    assert web["dns"] == ["8.8.8.8", "1.1.1.1"]
    assert web["cap_add"] == ["NET_ADMIN", "SYS_TIME"]
    assert web["expose"] == ["3000", "4000"]


def test_networks_and_depends_on_merge_as_mappings(proj: Project) -> None:
    web = merged(proj)["services"]["web"]
    assert web["networks"] == {"front": None, "back": {"aliases": ["w"]}}
    assert web["depends_on"] == {
        "db": {"condition": "service_started", "required": True, "restart": False},
        "cache": {"condition": "service_healthy", "required": True, "restart": False},
    }


def test_logging_options_merge_with_the_same_driver(proj: Project) -> None:
    assert merged(proj)["services"]["web"]["logging"] == {
        "driver": "json-file",
        "options": {"max-size": "10m", "max-file": "3"},
    }


def test_logging_is_replaced_with_another_driver(proj: Project) -> None:
    web = merged(proj, override="services:\n  web:\n    logging: {driver: syslog}\n")["services"]["web"]
    assert web["logging"] == {"driver": "syslog"}


def test_ulimits_build_and_top_level_labels(proj: Project) -> None:
    spec = merged(proj)
    web = spec["services"]["web"]
    assert web["ulimits"] == {"nofile": {"soft": 2000, "hard": 4000}, "nproc": {"soft": 65535, "hard": 65535}}
    assert web["build"] == {"context": str(proj.root / "app"), "args": {"X": "1"}, "dockerfile": "Dockerfile"}
    assert spec["volumes"]["cache"]["labels"] == {"a": "1", "b": "2"}
    assert list(spec["services"]) == ["web", "db", "cache"]


def test_null_in_a_later_file_keeps_the_earlier_value(proj: Project) -> None:
    web = merged(proj, override="services:\n  web:\n    environment:\n      A:\n    networks:\n      front:\n")[
        "services"
    ]["web"]
    assert web["environment"] == {"A": "1", "B": "2"}
    assert web["networks"] == {"front": None}


def test_reset_removes_values(proj: Project) -> None:
    override = """
    services:
      web:
        ports: !reset []
        environment:
          B: !reset null
        command: !reset null
        healthcheck: !reset {}
    """
    web = merged(proj, override=override)["services"]["web"]
    assert "ports" not in web
    assert "command" not in web
    assert "healthcheck" not in web
    assert web["environment"] == {"A": "1"}


def test_override_replaces_without_merging(proj: Project) -> None:
    override = """
    services:
      web:
        ports: !override
          - "8443:443"
        environment: !override
          ONLY: "1"
    """
    web = merged(proj, override=override)["services"]["web"]
    assert [(p["published"], p["target"]) for p in web["ports"]] == [("8443", 443)]
    assert web["environment"] == {"ONLY": "1"}


def test_reset_in_a_single_file_just_removes_the_key(proj: Project) -> None:
    web = proj.service("services:\n  web:\n    image: x\n    ports: !reset ['80']\n")
    assert "ports" not in web


def test_a_merged_key_is_located_in_the_file_that_set_it_last(proj: Project) -> None:
    proj.write("compose.yaml", "services:\n  web:\n    image: x\n    healthcheck:\n      interval: 10s\n")
    proj.write("override.yaml", "services:\n  web:\n    healthcheck:\n\n      interval: ten seconds\n")
    error = proj.error(files=("compose.yaml", "override.yaml"))
    assert where(error) == ("override.yaml", 5, 7)
    assert error.message.startswith("services.web.healthcheck.interval: invalid duration 'ten seconds'")


def test_locations_of_appended_items_follow_their_file(proj: Project) -> None:
    proj.write("compose.yaml", "services:\n  web:\n    image: x\n    volumes: ['./a:/a']\n")
    proj.write("override.yaml", "services:\n  web:\n    volumes:\n      - 'named:/b'\n")
    error = proj.error(files=("compose.yaml", "override.yaml"))
    assert where(error) == ("override.yaml", 4, 9)
    assert error.message.startswith("services.web.volumes[1]: volume 'named' is not declared")
