"""Shared fixtures: the good and bad corpora, loaded once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from escadre.model.project import Project
from escadre.policy import CheckReport, evaluate
from escadre.policy.subjects import RuleOptions
from escadre.spec import load_project

CORPUS = Path(__file__).parent / "corpus"
MANIFESTS = CORPUS / "manifests"
OPTIONS = RuleOptions(allowed_registries=("registry.example.com",))
ENV = {"API_TOKEN": "abcd1234efgh", "INLINE_SECRET": "x", "DB_PASSWORD": "from-env"}


def load(path: Path, environ: dict[str, str] | None = None) -> Project:
    return load_project([str(path)], environ=environ or ENV, check_files=False)


@pytest.fixture(scope="session")
def bad_project() -> Project:
    return load(CORPUS / "bad" / "compose.yaml")


@pytest.fixture(scope="session")
def good_project() -> Project:
    return load(CORPUS / "good" / "compose.yaml")


@pytest.fixture(scope="session")
def bad_report(bad_project: Project) -> CheckReport:
    return evaluate(bad_project, packs=["restricted"], options=OPTIONS)


@pytest.fixture(scope="session")
def good_report(good_project: Project) -> CheckReport:
    return evaluate(good_project, packs=["restricted"], options=OPTIONS)


def write(tmp_path: Path, text: str, name: str = "compose.yaml") -> Project:
    (tmp_path / name).write_text(text)
    return load_project([str(tmp_path / name)], environ={}, check_files=False)
