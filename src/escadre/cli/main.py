"""The ``escadre`` command: parse → call an ``operations`` function → render.

Commands stay thin; everything they do is available to the API server through the same operations.
Imports of anything heavy (the spec loader, the state store, SDKs, rich) happen inside the command
that needs them, so ``escadre --help`` loads click and nothing else.

Exit codes: 0 success, 1 an operation failed (deploy, target error), 2 usage or spec error.
Errors Escadre raises on purpose are printed as one message (with a hint), never a traceback;
``ESCADRE_DEBUG=1`` shows the traceback too.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from escadre import __version__

if TYPE_CHECKING:
    from escadre.model.project import Project
    from escadre.operations.context import Context

F = TypeVar("F", bound=Callable[..., Any])


class Options:
    """Options shared by every command that reads a Compose project."""

    def __init__(self, **kwargs: Any) -> None:
        self.files: tuple[str, ...] = kwargs.pop("files", ())
        self.project_name: str | None = kwargs.pop("project_name", None)
        self.project_directory: str | None = kwargs.pop("project_directory", None)
        self.env_files: tuple[str, ...] = kwargs.pop("env_files", ())
        self.profiles: tuple[str, ...] = kwargs.pop("profiles", ())

    def load(self) -> Project:
        from escadre.spec import load_project

        return load_project(
            list(self.files) or None,
            project_dir=self.project_directory,
            project_name=self.project_name,
            env_files=list(self.env_files) or None,
            profiles=list(self.profiles) or None,
        )

    def argv(self) -> list[str]:
        """These options as command-line arguments (to start another escadre process on the same project)."""
        out: list[str] = []
        for f in self.files:
            out += ["--file", os.path.abspath(f)]
        if self.project_name:
            out += ["-p", self.project_name]
        if self.project_directory:
            out += ["--project-directory", os.path.abspath(self.project_directory)]
        for f in self.env_files:
            out += ["--env-file", os.path.abspath(f)]
        for p in self.profiles:
            out += ["--profile", p]
        if not self.files and not self.project_directory:
            out += ["--project-directory", os.getcwd()]
        return out

    def name(self) -> str:
        """The project name, without loading the files when ``-p`` says it."""
        if self.project_name:
            return self.project_name
        return self.load().name


def project_options(fn: F, *, short_file: bool = True) -> F:
    """Add the Compose project options; ``short_file=False`` leaves ``-f`` free (``logs -f`` follows)."""
    file_flags = ("-f", "--file") if short_file else ("--file",)
    decorators = [
        click.option(
            *file_flags,
            "files",
            multiple=True,
            metavar="FILE",
            help="Compose file (repeatable; later files override earlier ones).",
        ),
        click.option("-p", "--project-name", help="Project name (default: from the file or directory)."),
        click.option("--project-directory", metavar="DIR", help="Base directory for relative paths."),
        click.option(
            "--env-file", "env_files", multiple=True, metavar="FILE", help="Environment file(s) for interpolation."
        ),
        click.option("--profile", "profiles", multiple=True, help="Enable services of this profile (repeatable)."),
    ]
    for d in reversed(decorators):
        fn = d(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        opts = Options(
            files=kwargs.pop("files"),
            project_name=kwargs.pop("project_name"),
            project_directory=kwargs.pop("project_directory"),
            env_files=kwargs.pop("env_files"),
            profiles=kwargs.pop("profiles"),
        )
        return fn(*args, opts=opts, **kwargs)

    return wrapper  # type: ignore[return-value]


target_option = click.option("--target", "-t", metavar="NAME", help="Target to use (default: the local Docker engine).")
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")


def make_context(progress: Any = None) -> Context:
    from escadre.core.progress import NullProgress
    from escadre.operations.context import Context

    return Context(progress=progress or NullProgress())


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="escadre")
def cli() -> None:
    """Escadre: one Compose application, any orchestrator, safe progressive delivery.

    \b
    Start here:
      escadre config            show the normalized, validated, merged Compose model
      escadre plan              what `up` would change
      escadre up                deploy to the target (the local Docker engine by default)
      escadre ps / logs / history / down
      escadre target add NAME --kind docker --host ssh://user@host
    """


# --------------------------------------------------------------------------------------------- config


@cli.command()
@project_options
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.option("--services", "list_services", is_flag=True, help="Only list the service names.")
@click.option("--revisions", is_flag=True, help="List each service with its revision inputs hashed (no engine).")
def config(opts: Options, fmt: str, list_services: bool, revisions: bool) -> None:
    """Validate and print the merged, normalized Compose model (secret values redacted)."""
    project = opts.load()
    if list_services:
        for name in project.services:
            click.echo(name)
        return
    from escadre.core.redact import redact_spec

    doc = redact_spec(dict(project.spec))
    if fmt == "json":
        from escadre.cli.output import print_json

        print_json(doc)
        return
    import yaml

    click.echo(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, allow_unicode=True), nl=False)
    del revisions


# ------------------------------------------------------------------------------------------------ up


@cli.command()
@project_options
@target_option
@click.argument("services", nargs=-1)
@click.option("--build", is_flag=True, help="Build images even when their sources did not change.")
@click.option("--no-wait", is_flag=True, help="Return once containers are started, without waiting for health.")
@click.option("--timeout", type=float, metavar="SECONDS", help="How long to wait for each service (default 300).")
@click.option("--remove-orphans", is_flag=True, help="Remove services that are no longer in the Compose files.")
@click.option("--strict", is_flag=True, help="Refuse Compose keys the target only approximates or ignores.")
@click.option("--detach", "-d", is_flag=True, help="Start rollouts in the background and return at once.")
@click.option(
    "--allow-policy-violations",
    is_flag=True,
    help="Deploy even when policy findings reach the threshold (recorded in the event log).",
)
@json_option
def up(
    opts: Options,
    target: str | None,
    services: tuple[str, ...],
    build: bool,
    no_wait: bool,
    timeout: float | None,
    remove_orphans: bool,
    strict: bool,
    detach: bool,
    allow_policy_violations: bool,
    as_json: bool,
) -> None:
    """Deploy the project: only what changed is touched; changed services roll out with their
    strategy (exit 0 when promoted, 1 when aborted or rolled back)."""
    from escadre.cli.output import ProgressDisplay, print_json
    from escadre.operations.deploy import up as do_up

    project = opts.load()
    with ProgressDisplay(as_json) as progress:
        ctx = make_context(progress)
        try:
            result = do_up(
                ctx,
                project,
                target=target,
                services=services or None,
                build=build,
                wait=not no_wait,
                timeout=timeout,
                remove_orphans=remove_orphans,
                strict=strict,
                detach=_background_runner(opts, target) if detach else None,
                allow_policy_violations=allow_policy_violations,
            )
        finally:
            ctx.close()
    if as_json:
        print_json(
            {
                "ok": result.ok,
                "project": result.project,
                "target": result.target,
                "services": result.outcomes,
                "removed_orphans": result.removed_orphans,
            }
        )
    else:
        _summarize_up(result)
    if not result.ok:
        sys.exit(1)


def _background_runner(opts: Options, target: str | None) -> Callable[[Any], None]:
    """Starts ``escadre rollout resume`` for a deployment in a detached process (same files, options)."""

    def spawn(deployment: Any) -> None:
        import subprocess

        from escadre.core.settings import Settings

        logs = Settings.from_env().data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "escadre.cli.main", "rollout", "resume", deployment.service, *opts.argv()]
        if target:
            argv += ["--target", target]
        with open(logs / f"rollout-{deployment.id}.log", "ab") as log:
            subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)

    return spawn


def _summarize_up(result: Any) -> None:
    counts: dict[str, int] = {}
    for o in result.outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    click.echo(f"{result.project} on {result.target}: {summary}")
    for o in result.failures:
        click.echo(f"  {o.service}: {o.status}: {o.message}", err=True)


# ---------------------------------------------------------------------------------------------- plan


@cli.command()
@project_options
@target_option
@click.argument("services", nargs=-1)
@json_option
def plan(opts: Options, target: str | None, services: tuple[str, ...], as_json: bool) -> None:
    """Show what `up` would change, without changing anything."""
    from escadre.cli.output import print_json, table
    from escadre.operations.deploy import plan as do_plan

    project = opts.load()
    ctx = make_context()
    try:
        result = do_plan(ctx, project, target=target, services=services or None)
    finally:
        ctx.close()
    if as_json:
        print_json(
            {
                "project": result.project,
                "target": result.target,
                "has_changes": result.has_changes,
                "changes": [
                    {
                        "service": c.service,
                        "action": c.action,
                        "revision": c.revision.id if c.revision else None,
                        "image_pending": c.image_pending,
                        "current": c.current,
                        "replicas": c.replicas,
                        "current_replicas": c.current_replicas,
                        "reason": c.reason,
                        "changed_keys": c.changed_keys,
                    }
                    for c in result.changes
                ],
                "orphans": result.orphans,
            }
        )
        return
    rows = []
    for c in result.changes:
        new = (c.revision.id if c.revision else "") + (" (after build)" if c.image_pending else "")
        rows.append(
            [c.service, c.action, ",".join(c.current) or "-", new, f"{c.current_replicas}→{c.replicas}", c.reason]
        )
    for o in result.orphans:
        rows.append([o, "orphan", "", "", "", "not in the Compose files (up --remove-orphans removes it)"])
    table(
        ["service", "action", "running", "new revision", "replicas", "why"],
        rows,
        title=f"{result.project} on {result.target}",
    )
    if not result.has_changes:
        click.echo("Nothing to change.")


# ------------------------------------------------------------------------------------------------ ps


@cli.command()
@project_options
@target_option
@click.argument("service", required=False)
@json_option
def ps(opts: Options, target: str | None, service: str | None, as_json: bool) -> None:
    """List the project's instances on the target (found by label)."""
    from escadre.cli.output import print_json, table
    from escadre.operations.inspect import ps as do_ps

    name = opts.name()
    ctx = make_context()
    try:
        status = do_ps(ctx, name, target=target, service=service)
    finally:
        ctx.close()
    if as_json:
        print_json(status)
        return
    rows = []
    for rev in status.revisions:
        for inst in rev.instances:
            state = inst.state + (f" ({inst.exit_code})" if inst.exit_code is not None else "")
            rows.append(
                [
                    rev.service,
                    rev.revision,
                    inst.name,
                    state,
                    inst.health if inst.health != "none" else "",
                    str(inst.restarts or ""),
                    ", ".join(inst.ports),
                    inst.message,
                ]
            )
    if not rows:
        click.echo(f"No instances of project {name!r} on this target.")
        return
    table(["service", "revision", "name", "state", "health", "restarts", "ports", "message"], rows)
    for resource in status.resources:
        if resource.kind == "router":
            click.echo(f"router: {resource.name} (owns the published ports of the routed services)")


# ---------------------------------------------------------------------------------------------- logs


@cli.command()
@functools.partial(project_options, short_file=False)
@target_option
@click.argument("services", nargs=-1)
@click.option("-f", "--follow", is_flag=True, help="Keep streaming new lines (Compose files: --file).")
@click.option("--tail", type=int, metavar="N", help="Only the last N lines of each instance.")
@json_option
@click.option("--no-prefix", is_flag=True, help="Do not prefix lines with the instance name.")
def logs(
    opts: Options,
    target: str | None,
    services: tuple[str, ...],
    follow: bool,
    tail: int | None,
    as_json: bool,
    no_prefix: bool,
) -> None:
    """Show the output of the project's instances (``--json``: one JSON object per line)."""
    from escadre.operations.inspect import logs as do_logs

    name = opts.name()
    ctx = make_context()
    colours = ["cyan", "green", "yellow", "magenta", "blue", "bright_cyan", "bright_green", "bright_magenta"]
    assigned: dict[str, str] = {}
    colour = sys.stdout.isatty()
    try:
        for line in do_logs(ctx, name, services, target=target, follow=follow, tail=tail):
            if as_json:
                record = {"service": line.service, "instance": line.instance, "stream": line.stream, "ts": line.ts}
                click.echo(json.dumps({**record, "text": line.text}))
                continue
            if no_prefix:
                click.echo(line.text)
                continue
            prefix = f"{line.instance} | "
            if colour:
                c = assigned.setdefault(line.instance, colours[len(assigned) % len(colours)])
                prefix = click.style(prefix, fg=c)
            click.echo(prefix + line.text)
    except KeyboardInterrupt:
        pass
    finally:
        ctx.close()


# ---------------------------------------------------------------------------------------------- down


@cli.command()
@project_options
@target_option
@click.option("-v", "--volumes", is_flag=True, help="Also remove the project's named volumes (data is lost).")
@json_option
def down(opts: Options, target: str | None, volumes: bool, as_json: bool) -> None:
    """Remove everything Escadre created for the project (found by label)."""
    from escadre.cli.output import ProgressDisplay, print_json
    from escadre.operations.deploy import down as do_down

    name = opts.name()
    with ProgressDisplay(as_json) as progress:
        ctx = make_context(progress)
        try:
            removed = do_down(ctx, name, target=target, volumes=volumes)
        finally:
            ctx.close()
    if as_json:
        print_json({"project": name, "removed": removed})
    else:
        click.echo(f"{name}: removed {len(removed)} object(s)")


# ------------------------------------------------------------------------------------------- history


@cli.command()
@project_options
@target_option
@click.argument("service", required=False)
@click.option("--events", "with_events", is_flag=True, help="Show the event log instead of deployments.")
@click.option("--limit", type=int, default=50, show_default=True)
@json_option
def history(
    opts: Options, target: str | None, service: str | None, with_events: bool, limit: int, as_json: bool
) -> None:
    """Deployments (or events) of the project, newest first."""
    from escadre.cli.output import ago, print_json, table
    from escadre.operations.inspect import history as do_history

    name = opts.name()
    ctx = make_context()
    try:
        hist = do_history(ctx, name, target=target, service=service, limit=limit, with_events=with_events)
    finally:
        ctx.close()
    if as_json:
        print_json({"deployments": hist.deployments, "events": hist.events} if with_events else hist.deployments)
        return
    if with_events:
        table(
            ["when", "kind", "service", "level", "message"],
            [[ago(e.ts), e.kind, e.service or "", e.level, e.message] for e in hist.events],
        )
        return
    rows = []
    for d in hist.deployments:
        took = ""
        if d.finished_at:
            took = f"{(d.finished_at - d.started_at).total_seconds():.1f}s"
        rows.append(
            [
                str(d.id),
                ago(d.started_at),
                d.service,
                d.from_revision or "-",
                d.revision,
                d.strategy,
                d.status,
                took,
                d.message,
            ]
        )
    if not rows:
        click.echo(f"No deployments of {name!r} recorded yet.")
        return
    table(["id", "when", "service", "from", "to", "strategy", "status", "took", "message"], rows)


# -------------------------------------------------------------------------------------------- target


@cli.group()
def target() -> None:
    """Manage deployment targets (engines, clusters)."""


@target.command("add")
@click.argument("name")
@click.option("--kind", required=True, help="docker, swarm or kubernetes.")
@click.option("--host", help="Engine address: unix:///var/run/docker.sock, tcp://host:2376, ssh://user@host.")
@click.option("--tls", is_flag=True, help="Use TLS (tcp:// hosts).")
@click.option("--tlsverify/--no-tlsverify", default=True, show_default=True, help="Verify the engine's certificate.")
@click.option("--tlscacert", type=click.Path(exists=True, dir_okay=False), help="CA certificate file.")
@click.option("--tlscert", type=click.Path(exists=True, dir_okay=False), help="Client certificate file.")
@click.option("--tlskey", type=click.Path(exists=True, dir_okay=False), help="Client key file.")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Kubernetes: kubeconfig file (a path is stored).")
@click.option("--context", "kube_context", help="Kubernetes: context in the kubeconfig.")
@click.option("--namespace", help="Kubernetes: namespace to deploy into (default: the project name).")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="Other target settings (swarm: registry=HOST:PORT, routing_mesh=auto|on|off; kubernetes: "
    "traffic=gateway|ingress-nginx|replicas, gateway=NS/NAME, ingress_class=NAME, k8s_version=X.Y).",
)
@click.option("--no-check", is_flag=True, help="Do not connect to the target before saving it.")
@click.option("--replace", is_flag=True, help="Replace an existing target of that name.")
@json_option
def target_add(
    name: str,
    kind: str,
    host: str | None,
    tls: bool,
    tlsverify: bool,
    tlscacert: str | None,
    tlscert: str | None,
    tlskey: str | None,
    kubeconfig: str | None,
    kube_context: str | None,
    namespace: str | None,
    settings: tuple[str, ...],
    no_check: bool,
    replace: bool,
    as_json: bool,
) -> None:
    """Register a target (connects first to check it answers)."""
    from escadre.cli.output import print_json
    from escadre.operations.targets import add_target

    config = {
        "host": host,
        "tls": tls or bool(tlscacert or tlscert),
        "tls_verify": tlsverify if (tls or tlscacert or tlscert) else None,
        "ca_cert": os.path.abspath(tlscacert) if tlscacert else None,
        "client_cert": os.path.abspath(tlscert) if tlscert else None,
        "client_key": os.path.abspath(tlskey) if tlskey else None,
        "kubeconfig": os.path.abspath(os.path.expanduser(kubeconfig)) if kubeconfig else None,
        "context": kube_context,
        "namespace": namespace,
    }
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--set")
        config[key.strip()] = value.strip()
    ctx = make_context()
    try:
        record, info = add_target(ctx, name, kind, config, check=not no_check, replace=replace)
    finally:
        ctx.close()
    if as_json:
        print_json({"target": record, "info": info})
        return
    suffix = f" — {info.endpoint}, version {info.version}" if info else ""
    click.echo(f"target {record.name} ({record.kind}) added{suffix}")


@target.command("list")
@json_option
def target_list(as_json: bool) -> None:
    """List targets (the local engine is always there)."""
    from escadre.cli.output import print_json, table
    from escadre.operations.targets import list_targets

    ctx = make_context()
    try:
        targets = list_targets(ctx)
    finally:
        ctx.close()
    if as_json:
        print_json(targets)
        return
    table(
        ["name", "kind", "address", "note"],
        [
            [
                t.name,
                t.kind,
                t.config.get("host") or "DOCKER_HOST / local socket" if t.kind == "docker" else "",
                "default" if t.implicit else "",
            ]
            for t in targets
        ],
    )


@target.command("remove")
@click.argument("name")
def target_remove(name: str) -> None:
    """Forget a target (nothing on it is touched)."""
    from escadre.operations.targets import remove_target

    ctx = make_context()
    try:
        remove_target(ctx, name)
    finally:
        ctx.close()
    click.echo(f"target {name} removed")


from escadre.cli import check_command, render_command, rollout_commands  # noqa: E402  (they register on `cli`)

rollout_commands.register(cli)
render_command.register(cli)
check_command.register(cli)

# ---------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn Escadre's errors into a message and an exit code."""
    try:
        cli.main(args=argv, prog_name="escadre", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:
        from escadre.core.errors import EscadreError

        if not isinstance(exc, EscadreError):
            raise
        if os.environ.get("ESCADRE_DEBUG"):
            import traceback

            traceback.print_exc()
        from escadre.cli.output import error

        error(str(exc))
        sys.exit(exc.exit_code)
    sys.exit(0)


if __name__ == "__main__":
    main()
