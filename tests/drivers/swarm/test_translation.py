"""Compose → Swarm service spec, without an engine: every translated key, the IPVS fallbacks, versioned
secret names, log lines and the support table."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from escadre.core.errors import SpecError, UsageError
from escadre.drivers.support import report
from escadre.drivers.swarm.logs import parse_line, split_lines
from escadre.drivers.swarm.mesh import Mesh, detect, endpoint
from escadre.drivers.swarm.objects import ObjectRef, versioned_name, wanted
from escadre.drivers.swarm.spec import service_name, service_spec
from escadre.drivers.swarm.support import SERVICE, TABLE, TOP_LEVEL
from escadre.model.project import Project
from escadre.model.revision import Revision, make_revision
from tests.drivers.swarm.helpers import compose

ROOT = Path(__file__).parents[3]
IPVS = Mesh(True, "test")
NO_IPVS = Mesh(False, "no IPVS here")

FULL = """
services:
  web:
    image: shop/web:1.4
    entrypoint: [/init]
    command: [serve, --port, "8000"]
    environment: {MODE: prod, EMPTY: null}
    labels: {team: shop}
    user: "1000:1000"
    working_dir: /srv
    hostname: web-host
    read_only: true
    init: true
    stop_signal: SIGINT
    stop_grace_period: 20s
    cap_add: [NET_BIND_SERVICE]
    cap_drop: [ALL]
    group_add: [audio]
    dns: [1.1.1.1]
    dns_search: [svc.local]
    extra_hosts: {metrics: 10.1.2.3}
    sysctls: {net.core.somaxconn: "1024"}
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 512}
    healthcheck: {test: ["CMD", "true"], interval: 5s, timeout: 2s, retries: 4, start_period: 1s}
    logging: {driver: json-file, options: {max-size: 1m}}
    ports: ["8080:8000", "9090:9000/udp"]
    volumes: ["data:/data", "/srv/static:/static:ro", {type: tmpfs, target: /tmp, tmpfs: {size: 1048576}}]
    secrets: [{source: token, target: /etc/token, mode: 0400, uid: "1000"}]
    configs: [settings]
    networks: {default: {}, back: {aliases: [shop]}}
    deploy:
      replicas: 3
      labels: {tier: front}
      resources: {limits: {cpus: "0.5", memory: 128M, pids: 100}, reservations: {cpus: "0.1", memory: 64M}}
      restart_policy: {condition: on-failure, delay: 2s, max_attempts: 5, window: 30s}
      placement:
        constraints: [node.role == worker]
        preferences: [{spread: node.labels.zone}]
        max_replicas_per_node: 2
      update_config: {parallelism: 2, delay: 1s, order: start-first, failure_action: rollback, monitor: 3s}
      rollback_config: {parallelism: 0}
networks:
  back: {}
volumes:
  data: {driver_opts: {type: tmpfs, device: tmpfs}}
secrets:
  token: {file: ./token.txt}
configs:
  settings: {content: "a=1"}
"""


@pytest.fixture
def full(tmp_path: Path) -> Project:
    return compose(tmp_path, "shop", FULL, files={"token.txt": "t0ken"})


def rev(project: Project, service: str = "web", image_id: str | None = "sha256:" + "ab" * 32) -> Revision:
    return make_revision(project.services[service], image=project.services[service].image or "x", image_id=image_id)


def refs() -> tuple[dict[str, ObjectRef], dict[str, ObjectRef]]:
    return {"token": ObjectRef("sec1", "shop_token_1234abcd")}, {"settings": ObjectRef("cfg1", "shop_settings_5678")}


def plan(project: Project, mesh: Mesh = IPVS, replicas: int = 3, service: str = "web"):  # type: ignore[no-untyped-def]
    secrets, configs = refs()
    return service_spec(project, rev(project, service), replicas=replicas, mesh=mesh, secrets=secrets, configs=configs)


def test_every_key_of_a_full_service_is_translated(full: Project) -> None:
    result = plan(full)
    spec = result.spec
    revision = rev(full)
    assert result.name == spec["Name"] == f"shop_web_{revision.id[:6]}"
    assert spec["Labels"] == {
        "tier": "front",
        "escadre.managed": "true",
        "escadre.app": "shop",
        "escadre.service": "web",
        "escadre.revision": revision.id,
        "escadre.image": "shop/web:1.4",
    }
    assert spec["Mode"] == {"Replicated": {"Replicas": 3}}
    task = spec["TaskTemplate"]
    c = task["ContainerSpec"]
    assert c["Image"] == "sha256:" + "ab" * 32  # by id: never pulled
    assert c["Command"] == ["/init"] and c["Args"] == ["serve", "--port", "8000"]
    assert c["Env"] == ["MODE=prod"]
    assert c["Labels"]["team"] == "shop" and c["Labels"]["escadre.revision"] == revision.id
    assert (c["User"], c["Dir"], c["Hostname"]) == ("1000:1000", "/srv", "web-host")
    assert c["ReadOnly"] and c["Init"] and c["StopSignal"] == "SIGINT" and c["StopGracePeriod"] == 20 * 10**9
    assert c["CapabilityAdd"] == ["NET_BIND_SERVICE"] and c["CapabilityDrop"] == ["ALL"]
    assert c["Groups"] == ["audio"] and c["Hosts"] == ["10.1.2.3 metrics"]
    assert c["DNSConfig"] == {"Nameservers": ["1.1.1.1"], "Search": ["svc.local"]}
    assert c["Sysctls"] == {"net.core.somaxconn": "1024"}
    assert c["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}, {"Name": "nproc", "Soft": 512, "Hard": 512}]
    assert c["Healthcheck"] == {
        "Test": ["CMD", "true"],
        "Interval": 5 * 10**9,
        "Timeout": 2 * 10**9,
        "Retries": 4,
        "StartPeriod": 10**9,
    }
    volume, bind, tmpfs = c["Mounts"]
    assert volume["Source"] == "shop_data" and volume["VolumeOptions"]["DriverConfig"]["Options"]["type"] == "tmpfs"
    assert volume["VolumeOptions"]["Labels"]["escadre.app"] == "shop"
    assert bind == {"Type": "bind", "Target": "/static", "ReadOnly": True, "Source": "/srv/static"}
    assert tmpfs["TmpfsOptions"] == {"SizeBytes": 1048576}
    (secret,) = c["Secrets"]
    assert secret == {
        "SecretID": "sec1",
        "SecretName": "shop_token_1234abcd",
        "File": {"Name": "/etc/token", "UID": "1000", "GID": "0", "Mode": 0o400},
    }
    assert c["Configs"][0]["ConfigName"] == "shop_settings_5678" and c["Configs"][0]["File"]["Name"] == "/settings"
    assert task["Resources"] == {
        "Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 128 << 20, "Pids": 100},
        "Reservations": {"NanoCPUs": 100_000_000, "MemoryBytes": 64 << 20},
    }
    assert task["RestartPolicy"] == {
        "Condition": "on-failure",
        "Delay": 2 * 10**9,
        "MaxAttempts": 5,
        "Window": 30 * 10**9,
    }
    assert task["Placement"] == {
        "Constraints": ["node.role == worker"],
        "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}],
        "MaxReplicas": 2,
    }
    assert task["LogDriver"] == {"Name": "json-file", "Options": {"max-size": "1m"}}
    assert sorted((n["Target"], tuple(n["Aliases"])) for n in task["Networks"]) == [
        ("shop_back", ("web", "shop")),
        ("shop_default", ("web",)),
    ]
    assert spec["UpdateConfig"] == {
        "Parallelism": 2,
        "Delay": 10**9,
        "Order": "start-first",
        "FailureAction": "rollback",
        "Monitor": 3 * 10**9,
    }
    assert spec["RollbackConfig"] == {"Parallelism": 0}
    assert spec["EndpointSpec"] == {
        "Mode": "vip",
        "Ports": [
            {"Protocol": "tcp", "TargetPort": 8000, "PublishMode": "ingress", "PublishedPort": 8080},
            {"Protocol": "udp", "TargetPort": 9000, "PublishMode": "ingress", "PublishedPort": 9090},
        ],
    }
    assert result.notes == ()


def test_without_ipvs_vips_become_dnsrr_and_ingress_ports_host_mode(full: Project) -> None:
    result = plan(full, NO_IPVS)
    endpoint_spec = result.spec["EndpointSpec"]
    assert endpoint_spec["Mode"] == "dnsrr"
    assert {p["PublishMode"] for p in endpoint_spec["Ports"]} == {"host"}
    assert len(result.notes) == 2 and "dnsrr" in result.notes[0] and "mode host" in result.notes[1]


def test_dnsrr_cannot_use_the_ingress_mesh_even_with_ipvs(tmp_path: Path) -> None:
    project = compose(tmp_path, "a", "services: {web: {image: x, ports: ['80:80'], deploy: {endpoint_mode: dnsrr}}}")
    reach = endpoint(project.services["web"], mesh=IPVS, routed=False)
    assert reach.mode == "dnsrr" and reach.ports[0]["PublishMode"] == "host"
    assert "cannot publish through the ingress mesh" in reach.notes[0]


def test_a_routed_service_leaves_its_tcp_ports_and_name_to_the_router(tmp_path: Path) -> None:
    project = compose(
        tmp_path,
        "a",
        """
        services:
          web:
            image: x
            ports: ["8080:80", "53:53/udp"]
            x-escadre: {rollout: {strategy: canary, steps: [{set_weight: 10}]}}
        """,
    )
    result = plan(project, NO_IPVS, 1)
    assert [p["TargetPort"] for p in result.spec["EndpointSpec"]["Ports"]] == [53]
    (net,) = result.spec["TaskTemplate"]["Networks"]
    assert net["Aliases"] == [f"web-{rev(project).id[:6]}"]


def test_defaults_restart_on_failure_and_tags_without_an_id(tmp_path: Path) -> None:
    project = compose(
        tmp_path,
        "a",
        """
        services:
          job: {image: x}
          always: {image: x, restart: always}
          never: {image: x, restart: "no"}
          limited: {image: x, restart: "on-failure:2"}
          everywhere: {image: x, deploy: {mode: global}}
          host: {image: x, network_mode: host}
        """,
    )

    def task(name: str) -> dict[str, object]:
        secrets, configs = refs()
        r = rev(project, name, image_id=None)
        return service_spec(project, r, replicas=1, mesh=IPVS, secrets=secrets, configs=configs).spec  # type: ignore[return-value]

    assert task("job")["TaskTemplate"]["RestartPolicy"] == {"Condition": "on-failure"}  # type: ignore[index]
    assert task("job")["TaskTemplate"]["ContainerSpec"]["Image"] == "x"  # type: ignore[index]
    assert task("always")["TaskTemplate"]["RestartPolicy"] == {"Condition": "any"}  # type: ignore[index]
    assert task("never")["TaskTemplate"]["RestartPolicy"] == {"Condition": "none"}  # type: ignore[index]
    assert task("limited")["TaskTemplate"]["RestartPolicy"] == {"Condition": "on-failure", "MaxAttempts": 2}  # type: ignore[index]
    assert task("everywhere")["Mode"] == {"Global": {}}
    assert task("host")["TaskTemplate"]["Networks"] == [{"Target": "host"}]  # type: ignore[index]


def test_network_mode_of_another_service_is_refused(tmp_path: Path) -> None:
    project = compose(tmp_path, "a", "services: {a: {image: x}, b: {image: x, network_mode: 'service:a'}}")
    with pytest.raises(UsageError, match="network_mode service:a has no equivalent on swarm"):
        plan(project, service="b", replicas=1)


def test_long_names_keep_the_revision() -> None:
    name = service_name("a" * 40, "b" * 40, "0123456789")
    assert len(name) <= 63 and name.endswith("_012345")


def test_secret_versions_are_named_by_content(tmp_path: Path) -> None:
    assert versioned_name("shop", "token", b"x") == "shop_token_2d711642"
    assert versioned_name("shop", "token", b"y") != versioned_name("shop", "token", b"x")
    assert len(versioned_name("s" * 40, "k" * 40, b"x")) == 64
    project = compose(
        tmp_path,
        "shop",
        """
        services: {web: {image: x, secrets: [token, from_env]}}
        secrets:
          token: {file: ./token.txt}
          from_env: {environment: TOKEN}
        """,
        files={"token.txt": "t0ken"},
        environ={"TOKEN": "from-env"},
    )
    assert [w.data for w in wanted(project, "secret")] == [b"t0ken", b"from-env"]
    with pytest.raises(SpecError, match="environment variable TOKEN, which is not set"):
        wanted(replace(project, source_env={}), "secret")
    (tmp_path / "token.txt").unlink()
    with pytest.raises(SpecError, match=r"token\.txt\) does not exist"):
        wanted(project, "secret")


def test_mesh_detection(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "net").mkdir(parents=True)
    assert not detect(local=True, proc=proc, modules_dir=tmp_path).ipvs  # no /proc/modules: monolithic kernel
    (proc / "modules").write_text("")
    assert not detect(local=True, proc=proc, modules_dir=tmp_path).ipvs  # modules, but no ip_vs.ko
    (proc / "net" / "ip_vs").write_text("")
    assert detect(local=True, proc=proc, modules_dir=tmp_path).ipvs
    assert detect(local=False).ipvs and not detect(local=False, setting="off").ipvs


def test_log_lines_name_their_task() -> None:
    details = b"com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s1,com.docker.swarm.task.id=t1"
    raw = b"2024-01-01T00:00:00.1Z " + details + b" hello world\n"
    line = parse_line(raw, "web", {"t1": "shop_web_abc.2"}, "stderr")
    assert (line.service, line.instance, line.text, line.stream) == ("web", "shop_web_abc.2", "hello world", "stderr")
    assert line.ts == "2024-01-01T00:00:00.1Z"
    assert list(split_lines([b"a\nb", b"c\n", b"d"])) == [b"a", b"bc", b"d"]


def test_every_compose_key_is_classified_for_swarm() -> None:
    schema = json.loads((ROOT / "src/escadre/spec/compose-spec.json").read_text())
    assert set(schema["definitions"]["service"]["properties"]) - set(SERVICE) == set()
    for section in ("network", "volume", "secret", "config"):
        keys = set(schema["definitions"][section]["properties"])
        assert {f"{section}s.*.{k}" for k in keys} - set(TOP_LEVEL) == set(), section
    assert TABLE["services.*.ports"].level == "approximated"
    assert TABLE["services.*.deploy.endpoint_mode"].level == "approximated"


def test_the_report_names_what_swarm_cannot_honour(full: Project, tmp_path: Path) -> None:
    findings = {(f.path, f.level) for f in report(full, TABLE)}
    assert ("services.web.ports", "approximated") in findings
    project = compose(
        tmp_path, "a", "services: {a: {image: x, privileged: true, devices: ['/dev/fuse'], cpu_shares: 2}}"
    )
    assert {(f.path, f.level) for f in report(project, TABLE)} == {
        ("services.a.privileged", "ignored"),
        ("services.a.devices", "ignored"),
        ("services.a.cpu_shares", "ignored"),
    }
