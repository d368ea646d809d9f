from __future__ import annotations

import subprocess
import sys

import escadre.rollout.analysis


def test_public_names_are_pinned() -> None:
    assert escadre.rollout.analysis.__all__ == [
        "AnalysisResult",
        "AnalysisRun",
        "MeasureContext",
        "Measurement",
        "MeasurementError",
        "MeasurementPhase",
        "MetricSummary",
        "Phase",
        "Provider",
        "Reading",
        "Role",
        "Target",
        "metrics_for",
        "validate_metrics",
    ]


def test_importing_analysis_stays_light() -> None:
    """The engine imports analysis for every rollout; it must not drag in SDKs or the settings parser."""
    code = (
        "import sys, escadre.rollout.analysis; "
        "heavy = sorted(m for m in ('docker', 'sqlalchemy', 'rich', 'click', 'pydantic', 'yaml') if m in sys.modules); "
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == ""
