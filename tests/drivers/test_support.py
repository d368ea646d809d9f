"""Per-target Compose support: complete tables, honest reports, generated docs in sync."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from escadre.core.errors import SpecError, UsageError
from escadre.core.progress import CollectingProgress
from escadre.drivers.docker.support import SERVICE, TABLE
from escadre.drivers.memory import MemoryDriver
from escadre.drivers.support import report
from escadre.drivers.support_docs import render
from escadre.operations.context import Context
from escadre.operations.deploy import up
from escadre.spec import load_project

ROOT = Path(__file__).parents[2]


def test_every_compose_service_key_is_classified_for_docker() -> None:
    schema = json.loads((ROOT / "src/escadre/spec/compose-spec.json").read_text())
    keys = set(schema["definitions"]["service"]["properties"])
    assert keys - set(SERVICE) == set()


def test_generated_docs_are_in_sync() -> None:
    committed = (ROOT / "docs/compose-support.md").read_text()
    assert committed == render(), "regenerate: python -m escadre.drivers.support_docs > docs/compose-support.md"


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    (tmp_path / "compose.yaml").write_text(text)
    return load_project([str(tmp_path / "compose.yaml")], project_name="sup")


def test_report_lists_exactly_the_keys_not_fully_honoured(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        """
services:
  web:
    image: x
    cpu_shares: 512
    deploy:
      replicas: 2
      placement:
        constraints: [node.role == manager]
      restart_policy:
        condition: on-failure
        delay: 5s
      resources:
        limits: {memory: 64m}
    develop:
      watch: [{path: ., action: rebuild}]
""",
    )
    findings = {(f.path, f.level) for f in report(project, TABLE)}
    assert findings == {
        ("services.web.deploy.placement", "ignored"),
        ("services.web.deploy.restart_policy", "approximated"),
        ("services.web.develop", "ignored"),
    }


def test_rejected_keys_stop_up_and_strict_refuses_approximations(tmp_path: Path, ctx: Context) -> None:
    class Strictish(MemoryDriver):
        def support(self):  # type: ignore[no-untyped-def]
            return TABLE

    ctx.attach(Strictish("mem"))
    rejected = load(tmp_path, "services:\n  a:\n    image: x\nsecrets:\n  s:\n    external: true\n")
    with pytest.raises(SpecError, match=r"secrets\.s\.external: not supported"):
        up(ctx, rejected, target="mem")
    approx = load(
        tmp_path, "services:\n  a:\n    image: x\n    develop: {watch: [{path: ., action: sync, target: /x}]}\n"
    )
    with pytest.raises(UsageError, match="--strict"):
        up(ctx, approx, target="mem", strict=True)
    assert up(ctx, approx, target="mem").ok
    assert isinstance(ctx.progress, CollectingProgress)
    assert ctx.progress.find(subject="services.a.develop", status="warning")


def test_memory_target_honours_everything(tmp_path: Path) -> None:
    assert MemoryDriver().support() is None
