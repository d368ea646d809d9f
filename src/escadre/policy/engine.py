"""Runs the selected rules on a project and turns their hits into located, fingerprinted findings.

Order of work for one check:

1. choose the packs and the threshold per service (command line, else the service's
   ``x-escadre.policy``, else the top level's, else ``baseline`` / ``high``);
2. run the Compose rules on every service, the Dockerfile rules on every Dockerfile a ``build:`` uses
   (each file and target once, however many services share it), and the target rules on the rendered
   objects when a target kind and its rendered text are given;
3. locate each hit: the exact Compose key through ``Project.locations``, the Dockerfile line, or the
   Compose key that produced a rendered object (its ``escadre.dev/compose-path`` annotation);
4. apply waivers (expired ones are reported, not applied), inline ``escadre:ignore`` comments and the
   baseline file; what remains open at or above its threshold is *blocking*.

Everything is in process and proportional to the size of the project: no subprocess, no network, no
platform SDK.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from escadre.core.errors import SourceLocation
from escadre.model.project import Project, Service
from escadre.policy.dockerfile import Dockerfile, parse_dockerfile, read_dockerfile
from escadre.policy.manifests import Manifests, parse_manifests
from escadre.policy.model import (
    DEFAULT_FAIL_ON,
    TARGET_KINDS,
    Finding,
    Hit,
    Key,
    Rule,
    RuleKind,
    Severity,
    at_least,
)
from escadre.policy.registry import DEFAULT_PACKS, Registry, default_registry
from escadre.policy.report import CheckReport, sort_key
from escadre.policy.subjects import DockerfileInput, RuleOptions, ServiceInput, TargetInput
from escadre.policy.suppress import ActiveWaiver, SourceLines, collect_waivers, load_baseline

if TYPE_CHECKING:
    from escadre.model.settings import PolicySettings


def format_path(path: Iterable[Key]) -> str:
    """``("services", "web", "ports", 0)`` → ``services.web.ports[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def locate(project: Project | None, path: Sequence[Key]) -> SourceLocation | None:
    """Where the key at ``path`` is written, or its nearest located ancestor."""
    if project is None:
        return None
    locations = project.locations
    for size in range(len(path), 0, -1):
        found = locations.get(tuple(path[:size]))
        if found is not None:
            return found
    if len(path) >= 2 and path[0] == "services" and path[1] in project.services:
        located = project.services[str(path[1])].location
        if located is not None:
            return located
    return SourceLocation(project.files[0]) if project.files else None


def canonical(project: Project | None, path: Sequence[Key]) -> tuple[Key, ...]:
    """A dotted Compose path split on every dot, regrouped so a name with dots stays one key
    (``services.api.v2.ports`` → ``("services", "api.v2", "ports")`` when the service is ``api.v2``)."""
    if project is None or len(path) < 2 or not isinstance(path[0], str):
        return tuple(path)
    section = project.spec.get(path[0])
    if not isinstance(section, Mapping):
        return tuple(path)
    for end in range(len(path), 1, -1):
        name = ".".join(str(p) for p in path[1:end])
        if name in section:
            return (path[0], name, *path[end:])
    return tuple(path)


def fingerprint(rule_id: str, path: str, evidence: str) -> str:
    return hashlib.sha256(f"{rule_id}\0{path}\0{evidence}".encode()).hexdigest()[:20]


def options_from_env(environ: Mapping[str, str] | None = None) -> RuleOptions:
    env = os.environ if environ is None else environ
    registries = tuple(r.strip() for r in env.get("ESCADRE_POLICY_REGISTRIES", "").split(",") if r.strip())
    return RuleOptions(allowed_registries=registries)


@dataclass(frozen=True, slots=True)
class _DockerfileJob:
    dockerfile: Dockerfile
    services: tuple[str, ...]
    target: str | None
    path: str
    """Relative to the project directory, for fingerprints that survive a checkout elsewhere."""


class _Run:
    def __init__(
        self,
        project: Project,
        registry: Registry,
        packs: Sequence[str],
        fail_on: Severity | None,
        options: RuleOptions,
        lines: SourceLines,
    ) -> None:
        self.project = project
        self.registry = registry
        self.options = options
        self.lines = lines
        self.notes: list[str] = []
        top = project.settings.policy if project.settings is not None else None
        self.top: PolicySettings | None = top
        self.cli_packs = registry.check_packs(packs) if packs else ()
        self.cli_fail_on = fail_on
        self.project_packs = self.cli_packs or registry.check_packs(top.packs if top and top.packs else DEFAULT_PACKS)
        self.project_fail_on: Severity = fail_on or (top.fail_on if top and top.fail_on else None) or DEFAULT_FAIL_ON
        self.ran: dict[str, Rule] = {}

    # ------------------------------------------------------------------------------ per-service settings

    def _policy(self, service: str | None) -> PolicySettings | None:
        if service is None or service not in self.project.services:
            return None
        settings = self.project.services[service].settings
        return settings.policy if settings is not None else None

    def packs_for(self, service: str | None) -> tuple[str, ...]:
        own = self._policy(service)
        if self.cli_packs or own is None or not own.packs:
            return self.project_packs
        return self.registry.check_packs(own.packs)

    def fail_on_for(self, services: Sequence[str]) -> Severity:
        if self.cli_fail_on is not None:
            return self.cli_fail_on
        for name in services:
            own = self._policy(name)
            if own is not None and own.fail_on is not None:
                return own.fail_on
        return self.project_fail_on

    def rules(self, kind: RuleKind, service: str | None) -> list[Rule]:
        chosen = self.registry.select(self.packs_for(service), (kind,))
        for rule in chosen:
            self.ran.setdefault(rule.id, rule)
        return chosen

    # -------------------------------------------------------------------------------------------- compose

    def source_line(self, path: tuple[Key, ...]) -> str | None:
        if not self.project.locations:
            return None
        exact = self.project.locations.get(path)
        if exact is None:
            return ""
        return self.lines.line(exact) or ""

    def compose(self, dockerfiles: Mapping[str, Dockerfile]) -> Iterable[Finding]:
        for name in sorted(self.project.services):
            service = self.project.services[name]
            subject = ServiceInput(self.project, service, dockerfiles.get(name), self.options, self.source_line)
            for rule in self.rules("compose", name):
                for hit in rule.run(subject):
                    path = hit.path if hit.absolute else ("services", name, *hit.path)
                    yield self.finding(rule, hit, path, locate(self.project, path), (name,), "compose")

    # ------------------------------------------------------------------------------------------ dockerfile

    def dockerfile_jobs(self) -> list[_DockerfileJob]:
        jobs: dict[tuple[str, str | None], _DockerfileJob] = {}
        for name in sorted(self.project.services):
            service = self.project.services[name]
            build = service.build
            if build is None:
                continue
            if build.dockerfile_inline is not None:
                key = (f"inline:{name}", build.target)
                where = locate(self.project, ("services", name, "build", "dockerfile_inline"))
                display = where.file if where is not None else f"services.{name}.build.dockerfile_inline"
                parsed = parse_dockerfile(build.dockerfile_inline, display)
                jobs[key] = _DockerfileJob(parsed, (name,), build.target, f"services.{name}.build.dockerfile_inline")
                continue
            if "://" in build.context or build.context.startswith(("git@", "github.com/")):
                self.notes.append(
                    f"service {name}: the build context {build.context} is remote; its Dockerfile was not checked"
                )
                continue
            path = (
                build.dockerfile if os.path.isabs(build.dockerfile) else os.path.join(build.context, build.dockerfile)
            )
            path = os.path.normpath(path)
            key = (path, build.target)
            if key in jobs:
                job = jobs[key]
                jobs[key] = replace(job, services=(*job.services, name))
                continue
            parsed_file = read_dockerfile(path, _display(path))
            if parsed_file is None:
                self.notes.append(f"service {name}: {_display(path)} cannot be read; its Dockerfile was not checked")
                continue
            relative = os.path.relpath(path, self.project.working_dir).replace(os.sep, "/")
            jobs[key] = _DockerfileJob(parsed_file, (name,), build.target, relative)
        return list(jobs.values())

    def dockerfile(self, job: _DockerfileJob) -> Iterable[Finding]:
        subject = DockerfileInput(job.dockerfile, job.services, job.target, self.options)
        inline = job.path.endswith("dockerfile_inline")
        for rule in self.rules("dockerfile", job.services[0]):
            for hit in rule.run(subject):
                if inline:
                    location = locate(self.project, ("services", job.services[0], "build", "dockerfile_inline"))
                else:
                    location = SourceLocation(job.dockerfile.path, hit.line, 1 if hit.line else 0)
                yield self.finding(rule, hit, (), location, job.services, "dockerfile", job.path)

    # ---------------------------------------------------------------------------------------------- target

    def target(self, manifests: Manifests) -> Iterable[Finding]:
        kind: RuleKind = manifests.kind  # type: ignore[assignment]
        subject = TargetInput(manifests, self.project, self.options)
        for rule in self.rules(kind, None):
            for hit in rule.run(subject):
                where = canonical(self.project, hit.path)
                service = where[1] if len(where) >= 2 and where[0] == "services" else None
                known = len(where) >= 2 and self.project.locations.get(tuple(where[:2])) is not None
                located = locate(self.project, where) if known else None
                if located is None:  # not traceable to this project's Compose file: point at the rendered text
                    located = SourceLocation(manifests.file, hit.line, 1 if hit.line else 0)
                path = format_path(where) if where else f"{manifests.file}#{hit.obj}"
                services = (str(service),) if service is not None else ()
                yield self.finding(rule, hit, (), located, services, kind, path)

    # --------------------------------------------------------------------------------------------- finding

    def finding(
        self,
        rule: Rule,
        hit: Hit,
        path: tuple[Key, ...],
        location: SourceLocation | None,
        services: tuple[str, ...],
        source: RuleKind,
        text: str | None = None,
    ) -> Finding:
        where = text or format_path(path)
        return Finding(
            rule=rule,
            message=hit.message,
            severity=hit.severity or rule.severity,
            path=where,
            location=location,
            services=services,
            source=source,
            fingerprint=fingerprint(rule.id, where, hit.evidence),
            obj=hit.obj,
        )


def _display(path: str) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:  # pragma: no cover - different drive on Windows
        return path
    return path if relative.startswith("..") else relative


def evaluate(
    project: Project,
    *,
    packs: Sequence[str] = (),
    fail_on: Severity | None = None,
    target_kind: str | None = None,
    rendered: str | None = None,
    rendered_file: str | None = None,
    baseline: str | None = None,
    options: RuleOptions | None = None,
    registry: Registry | None = None,
    today: dt.date | None = None,
    dockerfiles: bool = True,
) -> CheckReport:
    """Check ``project``; ``rendered`` is what the ``target_kind`` driver rendered (target rules run on it).

    ``packs``/``fail_on`` override the project's ``x-escadre.policy``; ``baseline`` names a baseline file
    (default: ``x-escadre.policy.baseline``, relative to the project directory).
    """
    started = time.perf_counter()
    registry = registry or default_registry()
    lines = SourceLines()
    run = _Run(project, registry, packs, fail_on, options or options_from_env(), lines)
    findings: list[Finding] = []

    jobs = run.dockerfile_jobs() if dockerfiles else []
    by_service = {name: job.dockerfile for job in jobs for name in job.services}
    findings.extend(run.compose(by_service))
    for job in jobs:
        findings.extend(run.dockerfile(job))
    if target_kind in TARGET_KINDS and rendered is not None:
        try:
            manifests = parse_manifests(target_kind, rendered, rendered_file or f"<rendered {target_kind}>")
        except ValueError as exc:
            run.notes.append(f"the {target_kind} rules did not run: {exc}")
        else:
            findings.extend(run.target(manifests))

    baseline_path = baseline or (run.top.baseline if run.top is not None else None)
    accepted: set[str] = set()
    if baseline_path:
        if not os.path.isabs(baseline_path) and baseline is None:
            baseline_path = os.path.join(project.working_dir, baseline_path)
        accepted = load_baseline(baseline_path)

    today = today or dt.date.today()
    waivers = collect_waivers(project)
    expired = [w for w in waivers if w.expired(today)]
    active = [w for w in waivers if not w.expired(today)]
    settled = [_settle(f, active, lines, accepted, run.fail_on_for(f.services)) for f in _unique(findings)]
    settled.sort(key=sort_key)
    return CheckReport(
        project=project.name,
        packs=run.project_packs,
        fail_on=run.project_fail_on,
        findings=tuple(settled),
        rules=tuple(sorted(run.ran.values(), key=lambda r: r.id)),
        target_kind=target_kind,
        expired_waivers=tuple(expired),
        notes=tuple(run.notes),
        duration=time.perf_counter() - started,
        files=project.files,
    )


def _unique(findings: Iterable[Finding]) -> Iterable[Finding]:
    seen: set[tuple[str, str, SourceLocation | None]] = set()
    for finding in findings:
        key = (finding.fingerprint, finding.message, finding.location)
        if key not in seen:
            seen.add(key)
            yield finding


def _settle(
    finding: Finding,
    waivers: Sequence[ActiveWaiver],
    lines: SourceLines,
    accepted: set[str],
    threshold: Severity,
) -> Finding:
    for waiver in waivers:
        if waiver.matches(finding):
            return replace(finding, status="waived", justification=waiver.describe())
    reason = lines.suppression(finding)
    if reason is not None:
        return replace(finding, status="suppressed", justification=reason)
    if finding.fingerprint in accepted:
        return replace(finding, status="baselined", justification="recorded in the baseline")
    return replace(finding, blocking=at_least(finding.severity, threshold))


def evaluate_service(project: Project, service: Service, rule: Rule, dockerfile: Dockerfile | None = None) -> list[Hit]:
    """Run one Compose rule on one service (for tests and plugin authors)."""
    return list(rule.run(ServiceInput(project, service, dockerfile, RuleOptions())))
