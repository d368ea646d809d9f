from __future__ import annotations

import re
from typing import Any

import pytest

from escadre.spec.shortsyntax import parse_port, parse_volume

from .conftest import Project, where


@pytest.mark.parametrize(
    ("short", "expected"),
    [
        ("8080:80", [{"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"}]),
        (80, [{"mode": "ingress", "target": 80, "protocol": "tcp"}]),
        ("80", [{"mode": "ingress", "target": 80, "protocol": "tcp"}]),
        (
            "127.0.0.1:8080:80/udp",
            [{"mode": "ingress", "host_ip": "127.0.0.1", "target": 80, "published": "8080", "protocol": "udp"}],
        ),
        (
            "127.0.0.1::80",
            [{"mode": "ingress", "host_ip": "127.0.0.1", "target": 80, "protocol": "tcp"}],
        ),
        (
            "[::1]:80:80",
            [{"mode": "ingress", "host_ip": "::1", "target": 80, "published": "80", "protocol": "tcp"}],
        ),
        (
            "3000-3002",
            [{"mode": "ingress", "target": t, "protocol": "tcp"} for t in (3000, 3001, 3002)],
        ),
        (
            "9090-9091:8080-8081",
            [
                {"mode": "ingress", "target": 8080, "published": "9090", "protocol": "tcp"},
                {"mode": "ingress", "target": 8081, "published": "9091", "protocol": "tcp"},
            ],
        ),
        ("53:53/SCTP", [{"mode": "ingress", "target": 53, "published": "53", "protocol": "sctp"}]),
    ],
)
def test_port_short_syntax(short: Any, expected: list[dict[str, Any]]) -> None:
    assert parse_port(short) == expected


@pytest.mark.parametrize(
    ("short", "message"),
    [
        ("80:99999", "invalid container port 99999: ports go from 1 to 65535"),
        ("80/icmp", "invalid protocol 'icmp' in port '80/icmp': use tcp, udp or sctp"),
        ("8080-8081:80-82", "invalid port '8080-8081:80-82': the published and container ranges differ in size"),
        (
            "8000-8010:80",
            "port '8000-8010:80' publishes a host port range on one container port; Escadre needs one "
            "host port per container port (for example '8080:80')",
        ),
        ("x:80", "invalid published port 'x': expected a number between 1 and 65535"),
        ("81-80", "invalid container port range '81-80': the end is lower than the start"),
    ],
)
def test_port_errors(short: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_port(short)


@pytest.mark.parametrize(
    ("short", "expected"),
    [
        ("/anon", {"type": "volume", "target": "/anon"}),
        ("named:/x", {"type": "volume", "source": "named", "target": "/x"}),
        (
            "named:/x:ro,nocopy",
            {"type": "volume", "source": "named", "target": "/x", "read_only": True, "volume": {"nocopy": True}},
        ),
        (
            "./data:/data:ro",
            {
                "type": "bind",
                "source": "./data",
                "target": "/data",
                "read_only": True,
                "bind": {"create_host_path": True},
            },
        ),
        (
            "/abs:/y:rw,z",
            {
                "type": "bind",
                "source": "/abs",
                "target": "/y",
                "read_only": False,
                "bind": {"create_host_path": True, "selinux": "z"},
            },
        ),
        (
            "~/c:/c:rshared",
            {
                "type": "bind",
                "source": "~/c",
                "target": "/c",
                "bind": {"create_host_path": True, "propagation": "rshared"},
            },
        ),
    ],
)
def test_volume_short_syntax(short: str, expected: dict[str, Any]) -> None:
    assert parse_volume(short) == expected


@pytest.mark.parametrize(
    ("short", "message"),
    [
        ("relative", "invalid volume 'relative': the container path must be absolute"),
        ("a:b", "invalid volume 'a:b': the container path 'b' must be absolute"),
        ("a:/b:c:d", "invalid volume 'a:/b:c:d': expected [SOURCE:]TARGET[:OPTIONS]"),
        ("named:/x:z", "invalid option 'z' for a named volume in 'named:/x:z'"),
    ],
)
def test_volume_errors(short: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_volume(short)


def test_service_volumes_are_absolute_and_checked(proj: Project) -> None:
    web = proj.service(
        """
        services:
          web:
            image: x
            volumes:
              - ./data:/data:ro
              - ~/cfg:/cfg
              - cache:/cache
              - type: bind
                source: ../up
                target: /up
              - type: tmpfs
                target: /tmp
                tmpfs: {size: 64m, mode: "1777"}
            tmpfs: /run
        volumes:
          cache:
        """,
        environ={"HOME": "/home/u"},
    )
    assert web["volumes"] == [
        {
            "type": "bind",
            "source": str(proj.root / "data"),
            "target": "/data",
            "read_only": True,
            "bind": {"create_host_path": True},
        },
        {"type": "bind", "source": "/home/u/cfg", "target": "/cfg", "bind": {"create_host_path": True}},
        {"type": "volume", "source": "cache", "target": "/cache"},
        {"type": "bind", "source": str(proj.root.parent / "up"), "target": "/up"},
        {"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": 64 * 1024**2, "mode": 0o1777}},
    ]
    assert web["tmpfs"] == ["/run"]


def test_undeclared_named_volume_is_located(proj: Project) -> None:
    error = proj.error("services:\n  web:\n    image: x\n    volumes:\n      - ./ok:/ok\n      - data:/data\n")
    assert where(error) == ("compose.yaml", 6, 9)
    assert error.message == "services.web.volumes[1]: volume 'data' is not declared in the top-level 'volumes' section"


def test_duplicate_mount_target(proj: Project) -> None:
    error = proj.error("services:\n  web:\n    image: x\n    volumes: ['./a:/d', './b:/d']\n")
    assert error.message == "services.web.volumes[1]: two mounts use the container path '/d' (the other is entry 0)"


def test_depends_on_secrets_configs(proj: Project) -> None:
    proj.write("s.txt", "s")
    proj.write("c.txt", "c")
    web = proj.service(
        """
        services:
          web:
            image: x
            depends_on: [db]
            secrets:
              - s
              - source: s
                target: custom
              - {source: s, target: /abs/path, mode: "0440", uid: "1000"}
            configs:
              - c
              - {source: c, target: /etc/c.conf}
          db:
            image: y
            depends_on:
              cache: {condition: service_healthy, restart: "true"}
          cache: {image: z}
        secrets:
          s: {file: ./s.txt}
        configs:
          c: {file: ./c.txt}
        """
    )
    assert web["depends_on"] == {"db": {"condition": "service_started", "required": True, "restart": False}}
    assert web["secrets"] == [
        {"source": "s", "target": "/run/secrets/s"},
        {"source": "s", "target": "/run/secrets/custom"},
        {"source": "s", "target": "/abs/path", "mode": 0o440, "uid": "1000"},
    ]
    assert web["configs"] == [{"source": "c", "target": "/c"}, {"source": "c", "target": "/etc/c.conf"}]


def test_environment_labels_hosts_sysctls(proj: Project) -> None:
    web = proj.service(
        """
        services:
          web:
            image: x
            environment:
              - A=1
              - B=has=equals
              - FROM_ENV
              - NOT_SET
            labels: [com.example=1, flag]
            extra_hosts: ["db:10.0.0.2", "v6=::1", "db:10.0.0.3"]
            sysctls: [net.core.somaxconn=1024]
            annotations: {a: 1}
        """,
        environ={"FROM_ENV": "env-value"},
    )
    assert web["environment"] == {"A": "1", "B": "has=equals", "FROM_ENV": "env-value", "NOT_SET": None}
    assert web["labels"] == {"com.example": "1", "flag": ""}
    assert web["extra_hosts"] == {"db": "10.0.0.2,10.0.0.3", "v6": "::1"}
    assert web["sysctls"] == {"net.core.somaxconn": "1024"}
    assert web["annotations"] == {"a": "1"}


def test_environment_mapping_values_are_strings(proj: Project) -> None:
    web = proj.service("services:\n  web:\n    image: x\n    environment: {A: 1, B: true, C: 1.5, D: null}\n")
    assert web["environment"] == {"A": "1", "B": "true", "C": "1.5", "D": None}


def test_commands_healthcheck_and_durations(proj: Project) -> None:
    spec = proj.spec(
        """
        services:
          web:
            image: x
            command: gunicorn -b '0.0.0.0:80' "app:create()"
            entrypoint: ["/entry", "--flag"]
            stop_grace_period: 1m30s
            healthcheck:
              test: curl -f http://localhost
              interval: 10s
              timeout: 500ms
              start_period: 1m
              retries: "5"
          off:
            image: x
            healthcheck: {disable: true, test: ["CMD", "true"]}
          none:
            image: x
            healthcheck: {test: ["NONE"]}
        """
    )
    web = spec["services"]["web"]
    assert web["command"] == ["gunicorn", "-b", "0.0.0.0:80", "app:create()"]
    assert web["entrypoint"] == ["/entry", "--flag"]
    assert web["stop_grace_period"] == 90.0
    assert web["healthcheck"] == {
        "test": ["CMD-SHELL", "curl -f http://localhost"],
        "interval": 10.0,
        "timeout": 0.5,
        "start_period": 60.0,
        "retries": 5,
    }
    assert spec["services"]["off"]["healthcheck"] == {"disable": True}
    assert spec["services"]["none"]["healthcheck"] == {"disable": True}


def test_bad_healthcheck_test_and_unbalanced_quotes(proj: Project) -> None:
    error = proj.error("services:\n  web:\n    image: x\n    healthcheck:\n      test: [curl, x]\n")
    assert where(error) == ("compose.yaml", 5, 7)
    assert (
        error.message == "services.web.healthcheck.test: a test list must start with CMD, CMD-SHELL or NONE, not 'curl'"
    )
    error = proj.error("services:\n  web:\n    image: x\n    command: echo 'oops\n")
    assert where(error) == ("compose.yaml", 4, 5)
    assert error.message == 'services.web.command: cannot split "echo \'oops" into arguments: No closing quotation'


def test_sizes_cpus_and_deploy(proj: Project) -> None:
    web = proj.service(
        """
        services:
          web:
            image: x
            shm_size: 1gb
            memswap_limit: -1
            deploy:
              mode: replicated
              replicas: "3"
              labels: [a=b]
              resources:
                limits: {cpus: "1.5", memory: 512M, pids: 100}
                reservations: {cpus: 0.25, memory: 128m}
              restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3, window: 2m}
              update_config: {parallelism: 2, delay: 10s, monitor: 1m, failure_action: rollback,
                              max_failure_ratio: "0.1", order: start-first}
              rollback_config: {delay: 1s}
              placement:
                constraints: [node.role==worker]
                preferences: [{spread: node.labels.zone}]
                max_replicas_per_node: 2
        """
    )
    assert web["shm_size"] == 1024**3
    assert web["memswap_limit"] == -1
    assert web["deploy"] == {
        "mode": "replicated",
        "replicas": 3,
        "labels": {"a": "b"},
        "resources": {
            "limits": {"cpus": 1.5, "memory": 512 * 1024**2, "pids": 100},
            "reservations": {"cpus": 0.25, "memory": 128 * 1024**2},
        },
        "restart_policy": {"condition": "on-failure", "delay": 5.0, "max_attempts": 3, "window": 120.0},
        "update_config": {
            "parallelism": 2,
            "delay": 10.0,
            "monitor": 60.0,
            "failure_action": "rollback",
            "max_failure_ratio": 0.1,
            "order": "start-first",
        },
        "rollback_config": {"delay": 1.0},
        "placement": {
            "constraints": ["node.role==worker"],
            "preferences": [{"spread": "node.labels.zone"}],
            "max_replicas_per_node": 2,
        },
    }


def test_legacy_resource_keys_fill_deploy(proj: Project) -> None:
    web = proj.service(
        "services:\n  web:\n    image: x\n    mem_limit: 1g\n    cpus: 0.5\n    mem_reservation: 256m\n"
        "    pids_limit: 50\n    scale: 2\n"
    )
    assert web["mem_limit"] == 1024**3
    assert web["deploy"] == {
        "resources": {
            "limits": {"memory": 1024**3, "cpus": 0.5, "pids": 50},
            "reservations": {"memory": 256 * 1024**2},
        },
        "replicas": 2,
    }


def test_legacy_key_disagreeing_with_deploy_is_an_error(proj: Project) -> None:
    error = proj.error(
        "services:\n  web:\n    image: x\n    mem_limit: 1g\n    deploy:\n      resources:\n"
        "        limits: {memory: 2g}\n"
    )
    assert where(error) == ("compose.yaml", 4, 5)
    assert error.message == (
        "services.web.mem_limit: 1073741824 disagrees with deploy.resources.limits.memory (2147483648)"
    )


def test_networks_and_top_level_names(proj: Project) -> None:
    spec = proj.spec(
        """
        services:
          web:
            image: x
            networks:
              front:
                aliases: [www]
                priority: 10
              back:
          worker:
            image: x
          host:
            image: x
            network_mode: host
        networks:
          front:
          back: {name: shared-back, internal: "true"}
          outside: {external: true}
          legacy: {external: {name: real-name}}
        volumes:
          data:
          ext: {external: true, name: ext-real}
        """
    )
    assert spec["services"]["web"]["networks"] == {"front": {"aliases": ["www"], "priority": 10}, "back": None}
    assert spec["services"]["worker"]["networks"] == {"default": None}
    assert "networks" not in spec["services"]["host"]
    assert spec["networks"] == {
        "front": {"name": "test_front"},
        "back": {"name": "shared-back", "internal": True},
        "outside": {"external": True, "name": "outside"},
        "legacy": {"name": "real-name", "external": True},
        "default": {"name": "test_default"},
    }
    assert spec["volumes"] == {"data": {"name": "test_data"}, "ext": {"external": True, "name": "ext-real"}}


def test_no_default_network_when_unused(proj: Project) -> None:
    spec = proj.spec("services:\n  web:\n    image: x\n    network_mode: none\n")
    assert spec["networks"] == {}


def test_network_errors(proj: Project) -> None:
    error = proj.error("services:\n  web:\n    image: x\n    networks: [front, bak]\nnetworks:\n  front:\n  back:\n")
    assert where(error) == ("compose.yaml", 4, 23)
    assert (
        error.message == "services.web.networks.bak: network 'bak' is not declared in the top-level 'networks' section"
    )
    error = proj.error("services:\n  web:\n    image: x\n    networks: [default]\n    network_mode: host\n")
    assert where(error) == ("compose.yaml", 5, 5)


def test_build_forms(proj: Project) -> None:
    proj.write("app/Dockerfile", "FROM x\n")
    proj.write("app/Dockerfile.dev", "FROM x\n")
    spec = proj.spec(
        """
        services:
          a:
            build: ./app
          b:
            build:
              context: app
              dockerfile: Dockerfile.dev
              args: [VERSION=1, FROM_ENV]
              labels: {l: 1}
              shm_size: 64m
              no_cache: "true"
          c:
            build: https://github.com/example/repo.git#main
          d:
            build: {dockerfile_inline: "FROM x"}
        """,
        environ={"FROM_ENV": "e"},
    )
    services = spec["services"]
    assert services["a"]["build"] == {"context": str(proj.root / "app"), "dockerfile": "Dockerfile"}
    assert services["b"]["build"] == {
        "context": str(proj.root / "app"),
        "dockerfile": "Dockerfile.dev",
        "args": {"VERSION": "1", "FROM_ENV": "e"},
        "labels": {"l": "1"},
        "shm_size": 64 * 1024**2,
        "no_cache": True,
    }
    assert services["c"]["build"]["context"] == "https://github.com/example/repo.git#main"
    assert services["d"]["build"] == {"context": str(proj.root), "dockerfile_inline": "FROM x"}


def test_booleans_and_numbers_given_as_strings_are_cast(proj: Project) -> None:
    web = proj.service(
        "services:\n  web:\n    image: x\n    privileged: 'true'\n    tty: 'no'\n    cpu_shares: '512'\n"
        "    ulimits: {nofile: '1024', nproc: {soft: '1', hard: 2}}\n    restart: on-failure:3\n"
    )
    assert (web["privileged"], web["tty"], web["cpu_shares"]) == (True, False, 512)
    assert web["ulimits"] == {"nofile": {"soft": 1024, "hard": 1024}, "nproc": {"soft": 1, "hard": 2}}
    assert web["restart"] == "on-failure:3"


def test_secret_and_config_sources(proj: Project) -> None:
    proj.write("s.txt", "x")
    spec = proj.spec(
        """
        services:
          web: {image: x}
        secrets:
          f: {file: ./s.txt}
          e: {environment: TOKEN}
          x: {external: true}
        configs:
          inline: {content: "hello"}
          named: {file: s.txt, name: fixed}
        """,
        environ={"TOKEN": "t"},
    )
    assert spec["secrets"] == {
        "f": {"file": str(proj.root / "s.txt"), "name": "test_f"},
        "e": {"environment": "TOKEN", "name": "test_e"},
        "x": {"external": True, "name": "x"},
    }
    assert spec["configs"] == {
        "inline": {"content": "hello", "name": "test_inline"},
        "named": {"file": str(proj.root / "s.txt"), "name": "fixed"},
    }
    error = proj.error("services:\n  web: {image: x}\nsecrets:\n  s: {name: only-a-name}\n")
    assert where(error) == ("compose.yaml", 4, 3)
    assert error.message == "secrets.s: secret 's' needs a source: one of file, environment, or external: true"
