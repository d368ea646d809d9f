"""``escadre render KIND``: the project as a file the platform's own tool accepts.

``escadre render swarm > stack.yml`` (for ``docker stack deploy -c``), ``escadre render kubernetes >
app.yaml`` (for ``kubectl apply -f``). Secrets appear only as references, never as values. What the target
cannot honour is reported on stderr (``--strict``: refused), exactly as ``escadre check --target`` says.
"""

from __future__ import annotations

import sys
from typing import Any

import click


def register(cli: click.Group) -> None:
    from escadre.cli.main import Options, project_options

    @cli.command()
    @project_options
    @click.argument("kind", type=click.Choice(["swarm", "kubernetes"]))
    @click.option("--namespace", help="Kubernetes: namespace of every object (default: the project name).")
    @click.option(
        "--k8s-version", metavar="X.Y", help="Kubernetes: API version to render and validate for (e.g. 1.31)."
    )
    @click.option("--strict", is_flag=True, help="Refuse Compose keys the target would only approximate.")
    @click.option(
        "--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write to FILE instead of stdout."
    )
    def render(
        opts: Options, kind: str, namespace: str | None, k8s_version: str | None, strict: bool, output: str | None
    ) -> None:
        """Render the project for a target kind (Swarm stack file, Kubernetes manifests)."""
        from escadre.drivers.registry import render as do_render
        from escadre.drivers.registry import support_table
        from escadre.drivers.support import report

        project = opts.load()
        findings = report(project, support_table(kind))
        if strict and findings:
            from escadre.core.errors import UsageError

            listing = "; ".join(f"{f.path}: {f.level} ({f.note})" for f in findings)
            raise UsageError(
                f"{kind} does not fully honour {len(findings)} key(s) with --strict: {listing}",
                hint=f"escadre check --target {kind} explains each one",
            )
        options: dict[str, Any] = {"namespace": namespace, "k8s_version": k8s_version}
        text = do_render(kind, project, {k: v for k, v in options.items() if v is not None})
        for f in findings:
            click.echo(f"# {f.level}: {f.path}: {f.note}", err=True)
        if output:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(text)
            click.echo(f"wrote {output}", err=True)
        else:
            sys.stdout.write(text)
