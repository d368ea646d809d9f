"""``escadre check`` against checkov (PyPI) on the same project, same run: wall time and findings.

checkov cannot read Compose files, so it is given what it can read of the same application
(``bench/policy/compose.yaml``): its Dockerfiles and the Kubernetes manifests Escadre's renderer makes of
it (``escadre render kubernetes``; the hand-written fixtures of ``tests/policy/corpus/manifests`` are used
when no renderer is installed). ``escadre check`` reads the Compose file, the same Dockerfiles, and runs
its Kubernetes rules on the same manifests (``--target kubernetes --manifests``).

* **wall time**: each tool as a fresh process, alternately, ``BENCH_ROUNDS`` rounds (default 3), median;
  the in-process time of Escadre's check is printed too;
* **findings on the checks both have**: a checkov check id is matched by the Escadre rules whose
  references name it (``Rule.refs.checkov``, the same table ``docs/policy.md`` shows), and a checkov
  failure counts as found when such a rule reports the same service (the Deployment's, or the services
  built from the Dockerfile).

checkov is installed in its own virtualenv under ``.cache/checkov-venv`` (it pins many packages; it must
not go into ``.venv``): ``python3 -m venv .cache/checkov-venv && .cache/checkov-venv/bin/pip install checkov``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent
CORPUS = HERE / "policy"
COMPOSE = CORPUS / "compose.yaml"
CHECKOV = Path(os.environ.get("CHECKOV", ROOT / ".cache" / "checkov-venv" / "bin" / "checkov"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
sys.path.insert(0, str(ROOT / "src"))
LAUNCH = "import sys; from escadre.cli.main import main; main(sys.argv[1:])"


def ensure_checkov() -> Path:
    if CHECKOV.exists():
        return CHECKOV
    venv = CHECKOV.parents[1]
    print(f"installing checkov into {venv} (once) …", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "checkov"], check=True)
    return CHECKOV


def render_manifests() -> tuple[str, str]:
    """The Kubernetes manifests of the corpus, and where they came from."""
    from escadre.core.errors import EscadreError
    from escadre.drivers.registry import render
    from escadre.spec import load_project

    try:
        return render("kubernetes", load_project([str(COMPOSE)]), {}), "escadre render kubernetes"
    except (EscadreError, ImportError) as exc:
        print(f"(no Kubernetes renderer: {exc}; using the hand-written fixture)", file=sys.stderr)
        fixture = ROOT / "tests" / "policy" / "corpus" / "manifests" / "bad-kubernetes.yaml"
        return fixture.read_text(), str(fixture.relative_to(ROOT))


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    took = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return took, done.stdout


def checkov_failures(output: str, dockerfile_services: dict[str, set[str]]) -> list[tuple[str, str, str]]:
    """(check id, service, what) for every failed checkov check."""
    reports = json.loads(output)
    out: list[tuple[str, str, str]] = []
    for report in reports if isinstance(reports, list) else [reports]:
        for failed in report["results"]["failed_checks"]:
            check, resource, path = failed["check_id"], failed["resource"], failed["file_path"]
            if report["check_type"] == "kubernetes":
                parts = resource.split(".")  # Kind.namespace.name[.labels of a graph check's Pod]
                kind, name = parts[0], parts[2] if len(parts) > 2 else parts[-1]
                out.append((check, name, f"{kind}/{name}"))
            else:
                for service in sorted(dockerfile_services.get(path.lstrip("/"), {"?"})):
                    out.append((check, service, path.lstrip("/")))
    return out


def main() -> None:
    checkov = ensure_checkov()
    from escadre.policy import builtin_registry, evaluate
    from escadre.spec import load_project

    manifests, origin = render_manifests()
    registry = builtin_registry()
    by_checkov: dict[str, set[str]] = defaultdict(set)
    for rule in registry.rules.values():
        for check in rule.refs.checkov:
            by_checkov[check].add(rule.id)

    with tempfile.TemporaryDirectory(prefix="escadre-bench-policy-") as tmp:
        work = Path(tmp)
        (work / "k8s").mkdir()
        (work / "k8s" / "manifests.yaml").write_text(manifests)
        project = load_project([str(COMPOSE)])
        dockerfile_services: dict[str, set[str]] = defaultdict(set)
        for name, service in project.services.items():
            if service.build is not None:
                source = Path(service.build.context) / service.build.dockerfile
                relative = source.relative_to(CORPUS)
                (work / relative.parent).mkdir(parents=True, exist_ok=True)
                shutil.copy(source, work / relative)
                dockerfile_services[str(relative)].add(name)

        env = {**os.environ, "PYTHONWARNINGS": "ignore", "NO_COLOR": "1", "LOG_LEVEL": "ERROR"}
        checkov_cmd = [str(checkov), "-d", str(work), "--framework", "dockerfile", "kubernetes", "-o", "json",
                       "--quiet", "--compact", "--skip-download"]  # fmt: skip
        escadre_cmd = [sys.executable, "-c", LAUNCH, "check", "-f", str(COMPOSE), "--pack", "restricted",
                       "--target", "kubernetes", "--manifests", str(work / "k8s" / "manifests.yaml"),
                       "--format", "json"]  # fmt: skip
        escadre_env = {**env, "PYTHONPATH": str(ROOT / "src")}
        checkov_times, escadre_times = [], []
        checkov_out = escadre_out = ""
        for _ in range(ROUNDS):
            took, checkov_out = timed(checkov_cmd, env)
            checkov_times.append(took)
            took, escadre_out = timed(escadre_cmd, escadre_env)
            escadre_times.append(took)
        started = time.perf_counter()
        evaluate(project, packs=["restricted"], target_kind="kubernetes", rendered=manifests, rendered_file="k8s.yaml")
        in_process_s = time.perf_counter() - started

    failures = checkov_failures(checkov_out, dockerfile_services)
    escadre_doc = json.loads(escadre_out)
    found: dict[str, set[str]] = defaultdict(set)  # rule → services
    for finding in escadre_doc["findings"]:
        for service in finding["services"]:
            found[finding["rule"]].add(service)

    shared = [(c, s, what) for c, s, what in failures if c in by_checkov]
    unmatched = [(c, s, what) for c, s, what in shared if not any(s in found[r] for r in by_checkov[c])]
    checkov_only = sorted({c for c, _, _ in failures if c not in by_checkov})
    per_check: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for c, s, _ in shared:
        per_check[c][0] += 1
        per_check[c][1] += any(s in found[r] for r in by_checkov[c])
    extra = sorted({(r, s) for r, services in found.items() for s in services if not registry.rules[r].refs.checkov})

    ck, es = statistics.median(checkov_times), statistics.median(escadre_times)
    print(
        f"corpus: {COMPOSE.relative_to(ROOT)} ({len(project.services)} services), its Dockerfiles, "
        f"manifests from {origin}"
    )
    print(f"rounds: {ROUNDS} (median)\n")
    print(f"{'':<38}{'checkov':>12}{'escadre check':>16}")
    print(f"{'wall time, fresh process':<38}{ck:>11.2f}s{es:>15.2f}s")
    print(f"{'escadre check in process':<38}{'':>12}{in_process_s:>15.3f}s")
    print(f"{'ratio (checkov / escadre), process':<38}{ck / es:>12.1f}×")
    print(f"{'ratio (checkov / escadre), in process':<38}{ck / in_process_s:>12.0f}×")
    print(f"{'failed checks / findings':<38}{len(failures):>12}{len(escadre_doc['findings']):>16}\n")
    print("checks both have (checkov id → Escadre rules): checkov failures, of them found by Escadre")
    for check in sorted(per_check, key=lambda c: (c.split("_")[0], int(c.rsplit("_", 1)[1]))):
        total, hits = per_check[check]
        mark = "" if hits == total else "   <-- missed"
        print(f"  {check:<16} {', '.join(sorted(by_checkov[check])):<40} {hits:>3}/{total:<3}{mark}")
    matched = len(shared) - len(unmatched)
    print(f"\non the shared checks Escadre finds {matched}/{len(shared)} of checkov's failures")
    for c, s, what in unmatched:
        print(f"  missed: {c} on {what} (service {s})")
    print(f"checkov checks without an Escadre equivalent: {', '.join(checkov_only) or 'none'}")
    print(f"Escadre findings on rules checkov has no check for: {len(extra)} (e.g. "
          f"{', '.join(f'{r} on {s}' for r, s in extra[:6])})")  # fmt: skip
    if ck / es < 20:
        print(f"\nnote: the fresh-process ratio {ck / es:.1f}× is below the 20× goal (process start-up dominates "
              "escadre check; see the in-process figure)")  # fmt: skip


if __name__ == "__main__":
    main()
