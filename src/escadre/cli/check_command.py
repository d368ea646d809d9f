"""``escadre check``: the policy report for a Compose project, for people and for CI.

    escadre check -f compose.yaml                         text report; exit 1 on findings ≥ --fail-on
    escadre check --format sarif > escadre.sarif          for code-scanning UIs (also json, junit)
    escadre check --pack cis-docker --target kubernetes   a benchmark pack; target rules + support report
    escadre check --write-baseline .escadre-baseline.json accept today's findings; only new ones block
    escadre check --list-rules                            every rule, its severity, packs and references

Exit codes: 0 nothing blocks, 1 findings at or above the threshold (or, with ``--strict``, Compose keys
the target does not fully honour), 2 usage or spec error. The command is thin: it parses, calls
``escadre.operations.check`` and prints.
"""

from __future__ import annotations

import os
import sys

import click

SEVERITY_CHOICES = ["info", "low", "medium", "high", "critical"]
KINDS = ("docker", "swarm", "kubernetes", "ecs", "memory")


def _kind(value: str | None) -> str | None:
    """A target kind as given, or the kind of the registered target of that name (needs the store)."""
    if value is None or value in KINDS:
        return value
    from escadre.cli.main import make_context

    ctx = make_context()
    try:
        return str(ctx.target_spec(value).kind)
    finally:
        ctx.close()


def _list_rules(as_json: bool) -> None:
    from escadre.policy import default_registry

    registry = default_registry()
    rules = sorted(registry.rules.values(), key=lambda r: r.id)
    if as_json:
        import json

        click.echo(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "title": r.title,
                        "severity": r.severity,
                        "family": r.family,
                        "kind": r.kind,
                        "packs": sorted(p.name for p in registry.packs.values() if p.includes(r)),
                        "refs": {name: list(ids) for name, ids in r.refs.items()},
                        "rationale": r.rationale,
                        "remediation": r.remediation,
                    }
                    for r in rules
                ],
                indent=2,
            )
        )
        return
    for rule in rules:
        packs = ",".join(sorted(p.name for p in registry.packs.values() if p.includes(rule)))
        click.echo(f"{rule.id:<12} {rule.severity:<8} {rule.kind:<10} {rule.title}  [{packs}]")


def register(cli: click.Group) -> None:
    if "check" in cli.commands:
        return
    from escadre.cli.main import Options, project_options

    @cli.command()
    @project_options
    @click.option(
        "--target",
        "-t",
        metavar="KIND|NAME",
        help="Also run the target rules and the Compose support report: a kind (kubernetes, swarm, docker) "
        "or a registered target's name.",
    )
    @click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json", "sarif", "junit"]),
        default="text",
        show_default=True,
        help="Report format.",
    )
    @click.option("--pack", "packs", multiple=True, metavar="PACK", help="Rule pack (repeatable; default: baseline).")
    @click.option(
        "--fail-on",
        type=click.Choice(SEVERITY_CHOICES),
        help="Exit 1 on open findings at or above this severity (default: x-escadre.policy.fail_on, else high).",
    )
    @click.option("--strict", is_flag=True, help="Also fail on Compose keys the target only approximates or ignores.")
    @click.option(
        "--baseline",
        metavar="FILE",
        help="Findings recorded in FILE do not block (default: x-escadre.policy.baseline).",
    )
    @click.option("--write-baseline", metavar="FILE", help="Record every open finding in FILE and exit 0.")
    @click.option(
        "--manifests",
        metavar="FILE",
        type=click.Path(exists=True, dir_okay=False),
        help="Run the --target rules on these rendered manifests instead of rendering the project.",
    )
    @click.option("--output", "-o", metavar="FILE", help="Write the report to FILE instead of stdout.")
    @click.option("--list-rules", is_flag=True, help="List every rule (with --format json: as JSON) and exit.")
    def check(
        opts: Options,
        target: str | None,
        fmt: str,
        packs: tuple[str, ...],
        fail_on: str | None,
        strict: bool,
        baseline: str | None,
        write_baseline: str | None,
        manifests: str | None,
        output: str | None,
        list_rules: bool,
    ) -> None:
        """Check the project against security and compliance rules (before anything is deployed)."""
        if list_rules:
            _list_rules(fmt == "json")
            return
        from escadre.operations.check import check as do_check
        from escadre.operations.check import render_report
        from escadre.operations.check import write_baseline as do_write_baseline

        project = opts.load()
        kind = _kind(target)
        rendered = None
        if manifests:
            if kind is None:
                raise click.UsageError("--manifests needs --target KIND (kubernetes, swarm or ecs)")
            with open(manifests, encoding="utf-8") as handle:
                rendered = handle.read()
        report = do_check(
            None,  # no store, no driver: checking touches no target
            project,
            target_kind=kind,
            packs=packs,
            fail_on=fail_on,
            baseline=baseline,
            strict=strict,
            rendered=rendered,
            rendered_file=manifests,
        )
        if write_baseline:
            count = do_write_baseline(report, write_baseline)
            click.echo(f"wrote {count} finding(s) to {write_baseline}; pass --baseline {write_baseline} "
                       "(or set x-escadre.policy.baseline) to accept them", err=True)  # fmt: skip
            return
        to_terminal = output is None and sys.stdout.isatty()
        color = fmt == "text" and to_terminal and "NO_COLOR" not in os.environ
        text = render_report(report, fmt, color=color)  # type: ignore[arg-type]
        if output:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text)
            click.echo(f"wrote {output}: {report.summary()}", err=True)
        else:
            sys.stdout.write(text)
        if report.exit_code:
            sys.exit(report.exit_code)
