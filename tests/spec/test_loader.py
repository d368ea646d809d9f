from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from escadre.core.errors import SpecError
from escadre.spec import discover_files, load, load_project, normalize_project_name

from .conftest import Project, where

SIMPLE = "services:\n  web:\n    image: nginx\n"


def test_discover_prefers_compose_yaml_and_adds_its_override(tmp_path: Path) -> None:
    for name in ("compose.yaml", "compose.yml", "docker-compose.yml", "compose.override.yaml", "compose.override.yml"):
        (tmp_path / name).write_text(SIMPLE)
    assert discover_files(str(tmp_path), {}) == [
        str(tmp_path / "compose.yaml"),
        str(tmp_path / "compose.override.yaml"),
    ]


def test_discover_legacy_names(tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text(SIMPLE)
    assert discover_files(str(tmp_path), {}) == [str(tmp_path / "docker-compose.yml")]
    (tmp_path / "docker-compose.override.yml").write_text(SIMPLE)
    assert discover_files(str(tmp_path), {}) == [
        str(tmp_path / "docker-compose.yml"),
        str(tmp_path / "docker-compose.override.yml"),
    ]


def test_discover_honours_compose_file(tmp_path: Path) -> None:
    env = {"COMPOSE_FILE": "a.yaml;b.yaml", "COMPOSE_PATH_SEPARATOR": ";"}
    assert discover_files(str(tmp_path), env) == [str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")]
    assert discover_files(str(tmp_path), {"COMPOSE_FILE": "x.yaml:y.yaml"}) == [
        str(tmp_path / "x.yaml"),
        str(tmp_path / "y.yaml"),
    ]


def test_no_compose_file_says_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        discover_files(str(tmp_path), {})
    assert info.value.message == (
        f"no Compose file found in {tmp_path} (looked for compose.yaml, compose.yml, docker-compose.yaml, "
        "docker-compose.yml)"
    )
    assert info.value.hint == "run from the project directory, or name the file with -f"


def test_load_without_files_discovers_in_project_dir(proj: Project) -> None:
    proj.write("compose.yaml", SIMPLE)
    proj.write("compose.override.yaml", "services:\n  web:\n    image: nginx:2\n")
    project = load(project_dir=str(proj.root), environ={}, project_name="p").project
    assert project.services["web"].image == "nginx:2"
    assert project.files == (str(proj.root / "compose.yaml"), str(proj.root / "compose.override.yaml"))


def test_compose_file_from_dotenv(proj: Project) -> None:
    proj.write("main.yaml", SIMPLE)
    proj.write(".env", "COMPOSE_FILE=main.yaml\n")
    project = load(project_dir=str(proj.root), environ={}).project
    assert project.files == (str(proj.root / "main.yaml"),)


def test_missing_file_given_with_f(proj: Project) -> None:
    with pytest.raises(SpecError, match=r"^file .*nope\.yaml not found$"):
        load([str(proj.root / "nope.yaml")], environ={})


@pytest.mark.parametrize(
    ("directory", "expected"),
    [("My_App", "my_app"), ("my.app 2", "myapp2"), ("_-x", "x"), ("Über", "ber")],
)
def test_project_name_from_directory(directory: str, expected: str) -> None:
    assert normalize_project_name(directory) == expected


def test_project_name_precedence(tmp_path: Path) -> None:
    root = tmp_path / "Dir_Name"
    root.mkdir()
    (root / "compose.yaml").write_text("name: from-file\n" + SIMPLE)
    files = [str(root / "compose.yaml")]
    assert load(files, environ={}, project_name="cli").project.name == "cli"
    assert load(files, environ={"COMPOSE_PROJECT_NAME": "env"}).project.name == "env"
    assert load(files, environ={}).project.name == "from-file"
    (root / "compose.yaml").write_text(SIMPLE)
    assert load(files, environ={}).project.name == "dir_name"
    (root / ".env").write_text("COMPOSE_PROJECT_NAME=dotenv\n")
    assert load(files, environ={}).project.name == "dotenv"


def test_name_from_the_last_file_that_sets_it_and_interpolated(proj: Project) -> None:
    proj.write("compose.yaml", "name: first\n" + SIMPLE)
    proj.write("override.yaml", "name: ${STAGE}-shop\nservices: {}\n")
    result = load([str(proj.root / f) for f in ("compose.yaml", "override.yaml")], environ={"STAGE": "prod"})
    assert result.project.name == "prod-shop"
    assert result.project.spec["name"] == "prod-shop"


def test_invalid_explicit_project_name(proj: Project) -> None:
    proj.write("compose.yaml", "name: Bad Name\n" + SIMPLE)
    with pytest.raises(SpecError) as info:
        load([str(proj.root / "compose.yaml")], environ={})
    assert where(info.value) == ("compose.yaml", 1, 7)
    assert info.value.message.startswith("invalid project name 'Bad Name' (from 'name:' in ")
    with pytest.raises(SpecError, match=r"invalid project name 'UPPER' \(from -p\)"):
        load([str(proj.root / "compose.yaml")], environ={}, project_name="UPPER")


def test_missing_env_file_option(proj: Project) -> None:
    with pytest.raises(SpecError, match=r"^env file missing\.env not found\n"):
        proj.load(SIMPLE, env_files=["missing.env"])


def test_load_project_logs_warnings(proj: Project, caplog: pytest.LogCaptureFixture) -> None:
    proj.write("compose.yaml", "services:\n  web:\n    image: nginx:$TAG\n")
    with caplog.at_level(logging.WARNING, logger="escadre.spec"):
        project = load_project([str(proj.root / "compose.yaml")], environ={}, project_name="p")
    assert project.services["web"].image == "nginx:"
    assert [r.getMessage() for r in caplog.records] == ['The "TAG" variable is not set. Defaulting to a blank string.']


def test_defaults_to_os_environ(proj: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESCADRE_TEST_TAG", "from-os")
    proj.write("compose.yaml", "services:\n  web:\n    image: nginx:$ESCADRE_TEST_TAG\n")
    assert load_project([str(proj.root / "compose.yaml")], project_name="p").services["web"].image == "nginx:from-os"


def test_check_files(proj: Project) -> None:
    text = """
    services:
      web:
        build: ./app
        secrets: [s, e]
    secrets:
      s: {file: ./missing.txt}
      e: {environment: TOKEN}
    """
    error = proj.error(text)
    assert where(error) == ("compose.yaml", 6, 7)
    assert error.message == "secrets.s.file: secret 's': file ./missing.txt not found"
    proj.write("missing.txt", "x")
    error = proj.error()
    assert where(error) == ("compose.yaml", 7, 7)
    assert error.message == "secrets.e.environment: secret 'e': variable TOKEN is not set"
    error = proj.error(environ={"TOKEN": "t"})
    assert where(error) == ("compose.yaml", 3, 5)
    assert error.message == f"services.web.build: build context {proj.root / 'app'} is not a directory"
    (proj.root / "app").mkdir()
    error = proj.error(environ={"TOKEN": "t"})
    assert error.message == f"services.web.build: Dockerfile {proj.root / 'app' / 'Dockerfile'} not found"
    project = proj.load(check_files=False).project
    assert project.services["web"].image == "test-web"


def test_service_without_image_or_build(proj: Project) -> None:
    error = proj.error("services:\n  web:\n    ports: ['80']\n")
    assert where(error) == ("compose.yaml", 2, 3)
    assert error.message == "services.web: service 'web' has neither 'image' nor 'build'"


def test_container_name_with_replicas(proj: Project) -> None:
    error = proj.error("services:\n  web:\n    image: x\n    container_name: web\n    deploy: {replicas: 2}\n")
    assert where(error) == ("compose.yaml", 4, 5)


def test_unknown_dependency_and_cycle(proj: Project) -> None:
    error = proj.error("services:\n  web:\n    image: x\n    depends_on: [dbb]\n  db:\n    image: y\n")
    assert where(error) == ("compose.yaml", 4, 18)
    assert error.message == "services.web.depends_on.dbb: service 'web' depends on undefined service 'dbb'"
    assert error.hint == "did you mean 'db'?"
    error = proj.error(
        "services:\n"
        "  a: {image: x, depends_on: [b]}\n"
        "  b: {image: x, depends_on: [c]}\n"
        "  c: {image: x, depends_on: [a]}\n"
    )
    assert error.message == "services.a.depends_on.b: dependency cycle: a → b → c → a"
    assert where(error) == ("compose.yaml", 2, 30)
    error = proj.error("services:\n  a: {image: x, depends_on: [a]}\n")
    assert error.message == "services.a.depends_on.a: dependency cycle: a → a"


def test_other_service_references(proj: Project) -> None:
    error = proj.error("services:\n  a: {image: x, network_mode: 'service:b'}\n")
    assert error.message == "services.a.network_mode: refers to service 'b', which is not defined"
    error = proj.error("services:\n  a: {image: x, volumes_from: [c]}\n  b: {image: x}\n")
    assert error.message == "services.a.volumes_from[0]: refers to service 'c', which is not defined"


def test_relative_file_names_are_shown_relative(proj: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    proj.write("compose.yaml", "services:\n  web:\n    imgae: x\n")
    monkeypatch.chdir(proj.root)
    with pytest.raises(SpecError) as info:
        load(["compose.yaml"], environ={})
    assert str(info.value) == "compose.yaml:3:5: services.web: unknown key 'imgae' (did you mean 'image'?)"


def _big_compose(count: int) -> str:
    lines = ["name: perf", "x-env: &env", "  LOG_LEVEL: info", "services:"]
    for i in range(count):
        lines += [
            f"  svc{i}:",
            f"    image: registry.example.com/team/svc{i}:1.{i}",
            '    command: ["serve", "--port", "8000"]',
            f'    ports: ["{10000 + i}:8000", "127.0.0.1:{20000 + i}:9000/udp"]',
            "    environment:",
            "      <<: *env",
            f"      SERVICE_NAME: svc{i}",
            "      REPLICA: ${REPLICA:-1}",
            '    volumes: ["./data:/data:ro", "cache:/cache"]',
            '    labels: ["team=core", "tier=backend"]',
            "    networks: [front, back]",
            "    depends_on: {db: {condition: service_healthy}}",
            '    healthcheck: {test: ["CMD", "curl", "-f", "http://localhost"], interval: 10s, retries: 3}',
            "    deploy: {replicas: 2, resources: {limits: {cpus: '0.5', memory: 256M}}, update_config: {delay: 5s}}",
            "    x-escadre: {rollout: {strategy: rolling}}",
        ]
    lines += ["  db:", "    image: postgres:16", "    healthcheck: {test: pg_isready}", "    networks: [back]"]
    lines += ["volumes: {cache: {}}", "networks: {front: {}, back: {}}"]
    return "\n".join(lines) + "\n"


def test_a_hundred_services_load_fast(proj: Project) -> None:
    proj.write("compose.yaml", _big_compose(100))
    load([str(proj.root / "compose.yaml")], environ={})  # warm up: schema compilation, imports
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        project = load([str(proj.root / "compose.yaml")], environ={}).project
        timings.append(time.perf_counter() - started)
    assert len(project.services) == 101
    budget = float(os.environ.get("ESCADRE_SPEC_BUDGET", "0.5"))  # 0.2 s target; slack for loaded CI hosts
    assert min(timings) < budget, timings
