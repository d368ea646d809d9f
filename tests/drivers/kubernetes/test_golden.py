"""Golden files: every fixture's rendered manifests, byte for byte.

Regenerate after an intended change with ``ESCADRE_UPDATE_GOLDEN=1 .venv/bin/pytest
tests/drivers/kubernetes/test_golden.py`` and review the diff like code.
"""

from __future__ import annotations

import os

import pytest

from escadre.drivers.kubernetes.render import render
from tests.drivers.kubernetes.helpers import GOLDEN, fixture_names, load_fixture

UPDATE = os.environ.get("ESCADRE_UPDATE_GOLDEN") == "1"
CASES = [(name, {}) for name in fixture_names()] + [("security", {"k8s_version": "1.29"})]


@pytest.mark.parametrize(("name", "options"), CASES, ids=[f"{n}-{o.get('k8s_version', 'default')}" for n, o in CASES])
def test_rendered_manifests_match_the_golden_file(name: str, options: dict[str, str]) -> None:
    text = render(load_fixture(name), options)
    suffix = f"-{options['k8s_version']}" if options else ""
    golden = GOLDEN / f"{name}{suffix}.yaml"
    if UPDATE or not golden.exists():
        golden.write_text(text)
        if not UPDATE:
            pytest.fail(f"{golden.name} did not exist: written, review it and commit it")
    assert text == golden.read_text(), f"{golden.name} differs: ESCADRE_UPDATE_GOLDEN=1 regenerates it"


def test_rendering_is_deterministic() -> None:
    for name in fixture_names():
        project = load_fixture(name)
        assert render(project, {}) == render(project, {})
