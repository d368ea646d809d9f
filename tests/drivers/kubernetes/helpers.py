"""Shared by the Kubernetes tests: the fixtures' locations and loading/rendering them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from escadre.drivers.kubernetes.render import render
from escadre.model.project import Project
from escadre.spec import load_project

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
GOLDEN = HERE / "golden"
ROOT = HERE.parents[2]
EXAMPLES = [
    ["examples/shop/compose.yaml"],
    ["examples/shop/compose.yaml", "examples/shop/compose.prod.yaml"],
    ["examples/shop/compose.yaml", "examples/shop/compose.override.yaml"],
]


def fixture_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.iterdir() if (p / "compose.yaml").is_file())


def load_fixture(name: str) -> Project:
    return load_project([str(FIXTURES / name / "compose.yaml")], project_name=name)


def load_example(files: list[str]) -> Project:
    return load_project([str(ROOT / f) for f in files], project_name="shop")


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def rendered(project: Project, **options: Any) -> list[dict[str, Any]]:
    return documents(render(project, options))
