"""The pure service → container-create translation (no engine needed)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from escadre.core.errors import SpecError, UsageError
from escadre.drivers.docker.containers import archive, container_plan, restart_policy
from escadre.model.project import (
    Deploy,
    FileMount,
    FileSource,
    Healthcheck,
    Mount,
    Port,
    Resources,
    RestartPolicy,
    ServiceNetwork,
)
from escadre.model.revision import make_revision
from tests.support import project, service


def plan_for(proj, name="web", local=True, environ=None):  # type: ignore[no-untyped-def]
    svc = proj.services[name]
    rev = make_revision(svc, image=svc.image, image_id=None)
    return rev, container_plan(proj, rev, 1, image=svc.image, local=local, environ=environ or {})


def test_basic_container_fields_and_labels() -> None:
    proj = project(
        "shop",
        service(
            "web",
            environment={"A": "1"},
            user="1000",
            read_only=True,
            cap_add=("NET_BIND_SERVICE",),
            cap_drop=("ALL",),
            working_dir="/app",
        ),
    )
    rev, plan = plan_for(proj)
    assert plan.name == f"shop-web-{rev.id[:6]}-1"
    assert plan.create["environment"] == ["A=1"]
    assert plan.create["user"] == "1000"
    assert plan.create["labels"]["escadre.app"] == "shop"
    assert plan.create["labels"]["escadre.service"] == "web"
    assert plan.create["labels"]["escadre.revision"] == rev.id
    assert plan.create["labels"]["escadre.replica"] == "1"
    assert plan.host_config["read_only"] is True
    assert plan.host_config["cap_drop"] == ["ALL"]
    assert plan.first_network == ("shop_default", {"aliases": ["web"], "ipv4_address": None, "ipv6_address": None})


def test_ports_resources_restart_and_healthcheck() -> None:
    svc = service(
        "web",
        ports=(Port(80, 8080, "127.0.0.1"), Port(53, None, protocol="udp")),
        deploy=Deploy(
            limits=Resources(cpus=0.5, memory=256 * 1024**2, pids=100),
            reservations=Resources(memory=64 * 1024**2),
            restart_policy=RestartPolicy("on-failure", max_attempts=3),
        ),
    )
    object.__setattr__(
        svc, "healthcheck", Healthcheck(("CMD", "true"), interval=2, timeout=1, retries=5, start_period=3)
    )
    proj = project("shop", svc)
    _, plan = plan_for(proj)
    assert plan.host_config["port_bindings"] == {"80/tcp": [("127.0.0.1", 8080)], "53/udp": [("", "")]}
    assert plan.create["ports"] == [80, (53, "udp")]
    assert plan.host_config["nano_cpus"] == 500_000_000
    assert plan.host_config["mem_limit"] == 256 * 1024**2
    assert plan.host_config["mem_reservation"] == 64 * 1024**2
    assert plan.host_config["pids_limit"] == 100
    assert plan.host_config["restart_policy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert plan.create["healthcheck"] == {
        "test": ["CMD", "true"],
        "interval": 2_000_000_000,
        "timeout": 1_000_000_000,
        "retries": 5,
        "start_period": 3_000_000_000,
    }


@pytest.mark.parametrize(
    ("restart", "expected"),
    [
        ("no", None),
        ("always", {"Name": "always"}),
        ("unless-stopped", {"Name": "unless-stopped"}),
        ("on-failure:2", {"Name": "on-failure", "MaximumRetryCount": 2}),
    ],
)
def test_restart_strings(restart: str, expected: object) -> None:
    assert restart_policy(service("x", restart=restart)) == expected


def test_mounts_volume_bind_tmpfs() -> None:
    svc = service(
        "db",
        mounts=(
            Mount("volume", "/data", "data"),
            Mount("bind", "/cfg", "/etc/x", read_only=True),
            Mount("tmpfs", "/scratch", tmpfs_size=1024),
        ),
    )
    proj = project("shop", svc, volumes=["data"])
    _, plan = plan_for(proj, "db")
    mounts = plan.host_config["mounts"]
    assert mounts[0]["Source"] == "shop_data" and mounts[0]["Type"] == "volume"
    assert mounts[1]["Source"] == "/etc/x" and mounts[1]["ReadOnly"] is True
    assert mounts[2]["Type"] == "tmpfs" and mounts[2]["TmpfsOptions"]["SizeBytes"] == 1024


def test_secret_files_bind_mount_locally_and_never_touch_env(tmp_path: Path) -> None:
    pw = tmp_path / "pw.txt"
    pw.write_text("s3cret")
    secrets = {"pw": FileSource("pw", "shop_pw", file=str(pw))}
    svc = service("api", secrets=(FileMount("pw", "/run/secrets/pw"),))
    proj = project("shop", svc, secrets=secrets)
    _, plan = plan_for(proj, "api")
    mount = plan.host_config["mounts"][-1]
    assert (mount["Target"], mount["Source"], mount["ReadOnly"]) == ("/run/secrets/pw", str(pw), True)
    assert "s3cret" not in repr(plan.create)
    _, remote = plan_for(proj, "api", local=False)
    assert remote.copies[0].content == b"s3cret"
    assert remote.copies[0].mode == 0o444
    assert "s3cret" not in repr(remote.create) + repr(remote.host_config)


def test_secret_from_environment_is_copied_with_its_mode() -> None:
    secrets = {"tok": FileSource("tok", "shop_tok", environment="TOKEN")}
    svc = service("api", secrets=(FileMount("tok", "/run/secrets/tok", uid="1000", mode=0o400),))
    proj = project("shop", svc, secrets=secrets)
    _, plan = plan_for(proj, "api", environ={"TOKEN": "abc"})
    (copy,) = plan.copies
    assert (copy.path, copy.content, copy.mode, copy.uid) == ("/run/secrets/tok", b"abc", 0o400, 1000)
    with pytest.raises(SpecError, match="TOKEN"):
        plan_for(proj, "api", environ={})


def test_read_only_service_cannot_receive_copied_secrets() -> None:
    secrets = {"tok": FileSource("tok", "shop_tok", content="abc")}
    svc = service("api", secrets=(FileMount("tok", "/run/secrets/tok"),), read_only=True)
    with pytest.raises(UsageError, match="read_only"):
        plan_for(project("shop", svc, secrets=secrets), "api")


def test_archive_places_files_without_touching_parent_directories() -> None:
    from escadre.drivers.docker.containers import FileCopy

    data = archive([FileCopy("/run/secrets/pw", b"x", 0o400, 1, 2)])
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        (member,) = tar.getmembers()
    assert (member.name, member.mode, member.uid, member.gid, member.isfile()) == ("run/secrets/pw", 0o400, 1, 2, True)


def test_extra_networks_are_connected_after_create() -> None:
    svc = service("api")
    object.__setattr__(svc, "networks", (ServiceNetwork("front", priority=10), ServiceNetwork("back", aliases=("a",))))
    proj = project("shop", svc)
    from escadre.model.project import Network, frozen_map

    proj = type(proj)(
        name="shop",
        services=proj.services,
        networks=frozen_map({"front": Network("front", "shop_front"), "back": Network("back", "shop_back")}),
    )
    _, plan = plan_for(proj, "api")
    assert plan.first_network is not None and plan.first_network[0] == "shop_front"
    assert plan.extra_networks[0][0] == "shop_back"
    assert plan.extra_networks[0][1]["aliases"] == ["api", "a"]


def test_extra_keys_from_the_normalized_spec(tmp_path: Path) -> None:
    from escadre.spec import load_project

    (tmp_path / "compose.yaml").write_text("""
services:
  db:
    image: x
  web:
    image: x
    cpu_shares: 512
    cpuset: "0"
    dns_search: [example.internal]
    group_add: ["100"]
    oom_score_adj: -100
    mac_address: "02:42:ac:11:00:02"
    blkio_config:
      weight: 300
      device_read_bps: [{path: /dev/sda, rate: 1mb}]
    links: ["db:database"]
    volumes_from: ["db:ro"]
    gpus: all
    volumes:
      - type: bind
        source: /srv
        target: /srv
        bind: {selinux: z}
""")
    proj = load_project([str(tmp_path / "compose.yaml")], project_name="x")
    svc = proj.services["web"]
    rev = make_revision(svc, image="x", image_id=None)
    plan = container_plan(proj, rev, 1, image="x", local=True, resolve=lambda s: f"x-{s}-abc-1")
    hc = plan.host_config
    assert (hc["cpu_shares"], hc["cpuset_cpus"], hc["dns_search"], hc["group_add"], hc["oom_score_adj"]) == (
        512,
        "0",
        ["example.internal"],
        ["100"],
        -100,
    )
    assert hc["blkio_weight"] == 300
    assert hc["device_read_bps"] == [{"Path": "/dev/sda", "Rate": 1024 * 1024}]
    assert hc["links"] == {"x-db-abc-1": "database"}
    assert hc["volumes_from"] == ["x-db-abc-1:ro"]
    assert hc["device_requests"][0]["Count"] == -1
    assert hc["binds"] == ["/srv:/srv:rw,z"]
    assert plan.create["mac_address"] == "02:42:ac:11:00:02"
    with pytest.raises(UsageError, match="volumes_from"):
        container_plan(proj, rev, 1, image="x", local=True, resolve=lambda s: None)
