from __future__ import annotations

from .conftest import Project, where


def test_extends_in_the_same_file(proj: Project) -> None:
    spec = proj.spec(
        """
        services:
          base:
            image: app:1
            environment: {ROLE: base, LOG: info}
            ports: ["80"]
          web:
            extends: base
            environment: {ROLE: web}
            ports: ["443"]
        """
    )
    web = spec["services"]["web"]
    assert web["image"] == "app:1"
    assert web["environment"] == {"ROLE": "web", "LOG": "info"}
    assert [p["target"] for p in web["ports"]] == [80, 443]
    assert "extends" not in web


def test_extends_another_file_resolves_its_paths_against_that_file(proj: Project) -> None:
    proj.write(
        "common/base.yaml",
        """
        services:
          app:
            build: ./src
            env_file: app.env
            volumes: ["./conf:/conf:ro", "/abs:/abs"]
            depends_on: [db]
            links: [db]
          db:
            image: postgres
        """,
    )
    proj.write("common/src/Dockerfile", "FROM scratch\n")
    proj.write("common/app.env", "FROM_FILE=1\n")
    web = proj.service(
        """
        services:
          web:
            extends: {file: common/base.yaml, service: app}
            command: web
        """
    )
    assert web["build"] == {"context": str(proj.root / "common/src"), "dockerfile": "Dockerfile"}
    assert web["environment"] == {"FROM_FILE": "1"}
    assert [v["source"] for v in web["volumes"]] == [str(proj.root / "common/conf"), "/abs"]
    assert "depends_on" not in web
    assert "links" not in web
    assert web["command"] == ["web"]


def test_extends_chains_across_files(proj: Project) -> None:
    proj.write("a.yaml", "services:\n  one:\n    image: one\n    labels: {a: '1'}\n")
    proj.write("b.yaml", "services:\n  two:\n    extends: {file: a.yaml, service: one}\n    labels: {b: '2'}\n")
    web = proj.service("services:\n  web:\n    extends: {file: b.yaml, service: two}\n    labels: {c: '3'}\n")
    assert web["image"] == "one"
    assert web["labels"] == {"a": "1", "b": "2", "c": "3"}


def test_extends_the_same_base_twice_gives_independent_services(proj: Project) -> None:
    spec = proj.spec(
        """
        services:
          base: {image: x, environment: [A=1]}
          a: {extends: base, environment: [B=2]}
          b: {extends: base, environment: [C=3]}
        """
    )
    assert spec["services"]["a"]["environment"] == {"A": "1", "B": "2"}
    assert spec["services"]["b"]["environment"] == {"A": "1", "C": "3"}
    assert spec["services"]["base"]["environment"] == {"A": "1"}


def test_extends_cycle_in_one_file(proj: Project) -> None:
    error = proj.error("services:\n  a:\n    extends: b\n  b:\n    extends: a\n")
    assert error.message == (
        f"extends cycle: a ({proj.root}/compose.yaml) → b ({proj.root}/compose.yaml) → a ({proj.root}/compose.yaml)"
    )
    assert where(error) == ("compose.yaml", 2, 3)


def test_extends_cycle_across_files(proj: Project) -> None:
    proj.write("other.yaml", "services:\n  b:\n    extends: {file: compose.yaml, service: a}\n")
    error = proj.error("services:\n  a:\n    extends: {file: other.yaml, service: b}\n")
    assert error.message.startswith("extends cycle: a (")
    assert error.message.count("→") == 2


def test_extends_unknown_service_and_missing_file(proj: Project) -> None:
    error = proj.error("services:\n  a:\n    image: x\n    extends: {service: nope}\n")
    assert where(error) == ("compose.yaml", 4, 15)
    assert error.message == "services.a.extends: service 'nope' not found in this file"
    error = proj.error("services:\n  a:\n    extends: {file: missing.yaml, service: b}\n")
    assert where(error) == ("compose.yaml", 3, 15)
    assert error.message == f"file {proj.root / 'missing.yaml'} not found"


def test_include_short_form_imports_resources_with_their_paths(proj: Project) -> None:
    proj.write(
        "db/compose.yaml",
        """
        services:
          db:
            image: postgres:${PG:-15}
            volumes: ["./init:/docker-entrypoint-initdb.d", "pgdata:/var/lib/postgresql/data"]
            secrets: [pw]
        volumes:
          pgdata:
        secrets:
          pw: {file: ./pw.txt}
        """,
    )
    proj.write("db/.env", "PG=16\n")
    proj.write("db/pw.txt", "secret\n")
    spec = proj.spec("include:\n  - db/compose.yaml\nservices:\n  web:\n    image: x\n    depends_on: [db]\n")
    db = spec["services"]["db"]
    assert db["image"] == "postgres:16"
    assert db["volumes"][0]["source"] == str(proj.root / "db/init")
    assert spec["volumes"]["pgdata"]["name"] == "test_pgdata"
    assert spec["secrets"]["pw"]["file"] == str(proj.root / "db/pw.txt")
    assert list(spec["services"]) == ["web", "db"]


def test_include_long_form_with_env_file_and_project_directory(proj: Project) -> None:
    proj.write("lib/svc.yaml", "services:\n  cache:\n    image: redis:$REDIS\n    build: .\n")
    proj.write("lib/ctx/Dockerfile", "FROM x\n")
    proj.write("vars.env", "REDIS=7\n")
    spec = proj.spec(
        """
        include:
          - path: [lib/svc.yaml]
            project_directory: lib/ctx
            env_file: vars.env
        services:
          web: {image: x}
        """
    )
    assert spec["services"]["cache"]["image"] == "redis:7"
    assert spec["services"]["cache"]["build"]["context"] == str(proj.root / "lib/ctx")


def test_include_conflict_is_an_error(proj: Project) -> None:
    proj.write("other.yaml", "services:\n  web:\n    image: other\n")
    error = proj.error("include: [other.yaml]\nservices:\n  web:\n    image: mine\n")
    assert where(error) == ("compose.yaml", 1, 11)
    other, mine = proj.root / "other.yaml", proj.root / "compose.yaml"
    assert error.message == f"included file {other} defines service 'web', which {mine} also defines (at {mine}:3:3)"


def test_include_cycle_and_missing_file(proj: Project) -> None:
    proj.write("a.yaml", "include: [b.yaml]\nservices: {}\n")
    proj.write("b.yaml", "include: [a.yaml]\nservices: {}\n")
    error = proj.error("include: [a.yaml]\nservices:\n  web: {image: x}\n")
    assert error.message.startswith("include cycle: ")
    assert error.message.endswith("a.yaml")
    error = proj.error("include:\n  - path: nope.yaml\nservices:\n  web: {image: x}\n")
    assert where(error) == ("compose.yaml", 2, 5)
    assert error.message == f"include[0]: included file {proj.root / 'nope.yaml'} not found"
