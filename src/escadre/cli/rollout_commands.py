"""``escadre rollout …`` and the top-level shortcuts ``promote``, ``abort``, ``rollback``.

Steering verbs (promote, pause, resume, abort) write a command to the state store; whichever process
runs the rollout (an ``up`` in another terminal, a detached runner, the API server) applies it within a
fraction of a second. ``resume`` also takes over a rollout whose process died and runs it here.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click


def _ctx(progress: Any = None) -> Any:
    from escadre.cli.main import make_context

    return make_context(progress)


def _render_status(statuses: list[Any]) -> None:
    from escadre.cli.output import ago

    if not statuses:
        click.echo("No rollouts recorded yet.")
        return
    for st in statuses:
        d = st.deployment
        weight = d.checkpoint.get("weight")
        state = d.status
        if d.active and not st.owner_alive:
            state += " (no process runs it: escadre rollout resume " + d.service + ")"
        line = f"{d.service}: {d.strategy} {d.from_revision or '-'} → {d.revision}  {state}"
        if d.active and weight is not None:
            line += f"  canary weight {weight}%"
        click.echo(click.style(line, bold=True))
        if d.message:
            click.echo(f"  {d.message}")
        for e in st.events:
            mark = {"error": "✖", "warning": "!"}.get(e.level, "·")
            click.echo(f"  {mark} {ago(e.ts):>8}  {e.kind.removeprefix('rollout.'):<14} {e.message}")


def _status_json(statuses: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "service": st.deployment.service,
            "deployment": st.deployment,
            "engine_running": st.owner_alive,
            "events": st.events,
        }
        for st in statuses
    ]


def register(cli: click.Group) -> None:
    from escadre.cli.main import Options, json_option, project_options, target_option

    @cli.group()
    def rollout() -> None:
        """Follow and steer progressive rollouts (canary, blue-green, rolling)."""

    @rollout.command("status")
    @project_options
    @target_option
    @click.argument("service", required=False)
    @click.option("--watch", "-w", is_flag=True, help="Keep following until every rollout has ended.")
    @json_option
    def status(opts: Options, target: str | None, service: str | None, watch: bool, as_json: bool) -> None:
        """Where each service's latest rollout is: step, weight, measurements, decisions."""
        from escadre.cli.output import print_json
        from escadre.operations.rollouts import status as do_status

        name = opts.name()
        ctx = _ctx()
        try:
            if not watch:
                statuses = do_status(ctx, name, target=target, service=service)
                if as_json:
                    print_json(_status_json(statuses))
                else:
                    _render_status(statuses)
                return
            seen: set[int] = set()
            while True:
                statuses = do_status(ctx, name, target=target, service=service, events=200)
                for st in statuses:
                    for e in st.events:
                        if e.id in seen:
                            continue
                        seen.add(e.id)
                        if as_json:
                            print_json({"service": st.deployment.service, "event": e})
                        else:
                            kind = e.kind.removeprefix("rollout.")
                            click.echo(f"{e.ts:%H:%M:%S} {st.deployment.service}: {kind}: {e.message}")
                if not any(st.deployment.active for st in statuses):
                    if not as_json:
                        for st in statuses:
                            click.echo(f"{st.deployment.service}: {st.deployment.status}")
                    break
                time.sleep(0.5)
        finally:
            ctx.close()

    def steer(verb: str, help_text: str) -> None:
        @rollout.command(verb, help=help_text)
        @project_options
        @target_option
        @click.argument("service", required=False)
        @click.option("--full", is_flag=True, hidden=verb != "promote", help="Skip every remaining step.")
        def command(opts: Options, target: str | None, service: str | None, full: bool) -> None:
            from escadre.operations.rollouts import command as do_command

            ctx = _ctx()
            try:
                record = do_command(ctx, opts.name(), verb, target=target, service=service, full=full)
            finally:
                ctx.close()
            click.echo(f"{record.service}: {verb}{' --full' if full else ''} sent to deployment {record.id}")

    steer("promote", "Continue a paused rollout (--full: skip every remaining pause and analysis).")
    steer("pause", "Pause a rollout at its current step.")
    steer("abort", "Abort a rollout: all traffic back to stable, the new revision removed.")

    @rollout.command("resume")
    @project_options
    @target_option
    @click.argument("service", required=False)
    @click.option("--timeout", type=float, metavar="SECONDS", help="How long to wait for instances to be ready.")
    def resume(opts: Options, target: str | None, service: str | None, timeout: float | None) -> None:
        """Continue a paused rollout, or take over one whose process died and run it to the end here."""
        from escadre.cli.output import ProgressDisplay
        from escadre.operations.rollouts import resume as do_resume

        project = opts.load()
        with ProgressDisplay(False) as progress:
            ctx = _ctx(progress)
            try:
                svc, final = do_resume(ctx, project, target=target, service=service, timeout=timeout)
            finally:
                ctx.close()
        click.echo(f"{svc}: {final}")
        if final not in ("succeeded", "resume-requested"):
            sys.exit(1)

    @rollout.command("retry")
    @project_options
    @target_option
    @click.argument("service")
    @click.option("--timeout", type=float, metavar="SECONDS")
    def retry(opts: Options, target: str | None, service: str, timeout: float | None) -> None:
        """Run an aborted or failed rollout again, from its first step."""
        from escadre.cli.output import ProgressDisplay
        from escadre.operations.rollouts import retry as do_retry

        project = opts.load()
        with ProgressDisplay(False) as progress:
            ctx = _ctx(progress)
            try:
                final = do_retry(ctx, project, service, target=target, timeout=timeout)
            finally:
                ctx.close()
        click.echo(f"{service}: {final}")
        if final != "succeeded":
            sys.exit(1)

    def rollback_command(group: click.Group, name: str) -> None:
        @group.command(name)
        @project_options
        @target_option
        @click.argument("service")
        @click.option("--to", "to", metavar="REVISION", help="Revision to go back to (default: the previous one).")
        @click.option("--timeout", type=float, metavar="SECONDS")
        def rollback(opts: Options, target: str | None, service: str, to: str | None, timeout: float | None) -> None:
            """Roll a service back to an earlier revision (re-created from the state store)."""
            from escadre.cli.output import ProgressDisplay
            from escadre.operations.rollouts import rollback as do_rollback

            project = opts.load()
            with ProgressDisplay(False) as progress:
                ctx = _ctx(progress)
                try:
                    revision, final = do_rollback(ctx, project, service, target=target, to=to, timeout=timeout)
                finally:
                    ctx.close()
            click.echo(f"{service}: rollback to {revision} {final}")
            if final != "succeeded":
                sys.exit(1)

    rollback_command(rollout, "rollback")
    rollback_command(cli, "rollback")

    for verb in ("promote", "abort"):
        cli.add_command(rollout.commands[verb], verb)
