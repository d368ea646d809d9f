from __future__ import annotations

import subprocess
import sys

import escadre.spec


def test_public_names_are_pinned() -> None:
    assert escadre.spec.__all__ == ["LoadResult", "discover_files", "load", "load_project", "normalize_project_name"]


def test_importing_the_loader_stays_light() -> None:
    code = (
        "import sys, escadre.spec; "
        "heavy = sorted(m for m in ('docker', 'sqlalchemy', 'rich', 'alembic', 'click') if m in sys.modules); "
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == ""
