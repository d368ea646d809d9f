"""The state store: Escadre's memory of targets, projects, revisions, deployments and events.

One ``StateStore`` wraps a SQLAlchemy engine (SQLite file by default, Postgres by URL). Every public
method is one transaction, so a crash never leaves half a write; ``transaction()`` groups several.
Methods return frozen records, never ORM objects, so nothing above this layer can write by accident.

Opening checks the schema version against ``HEAD`` with one query and only imports Alembic when a
migration is needed: ``escadre ps`` should not pay for the migration machinery.
Secret values never reach this module: revision specs are redacted before they are stored.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from escadre.core.errors import StateError, UsageError
from escadre.core.redact import redact_spec
from escadre.model.revision import Revision
from escadre.state.tables import CommandRow, DeploymentRow, EventRow, ProjectRow, RevisionRow, TargetRow, utcnow

HEAD = "0002"
"""The newest migration; ``tests/state`` checks it matches the migrations directory."""

ACTIVE_STATUSES = ("pending", "progressing", "paused")
FINAL_STATUSES = ("succeeded", "failed", "aborted", "rolled-back", "superseded")


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


@dataclass(frozen=True, slots=True)
class TargetRecord:
    name: str
    kind: str
    config: Mapping[str, Any]
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    id: int
    name: str
    target: str
    working_dir: str
    files: tuple[str, ...]
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class RevisionRecord:
    project: str
    target: str
    service: str
    revision: str
    image: str
    image_id: str | None
    spec: Mapping[str, Any]
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class DeploymentRecord:
    id: int
    project: str
    target: str
    service: str
    revision: str
    from_revision: str | None
    strategy: str
    status: str
    step: int
    checkpoint: Mapping[str, Any]
    message: str
    owner: str
    started_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: int
    ts: dt.datetime
    project: str | None
    target: str | None
    service: str | None
    deployment_id: int | None
    kind: str
    level: str
    message: str
    data: Mapping[str, Any] = field(default_factory=dict)
    actor: str = ""


def default_owner() -> str:
    """Who holds a deployment: ``host:pid``, so a restart can tell a dead owner from a live one."""
    return f"{socket.gethostname()}:{os.getpid()}"


STALE_AFTER = dt.timedelta(minutes=10)


def owner_alive(record: DeploymentRecord, now: dt.datetime | None = None) -> bool:
    """Whether the process that holds ``record`` still runs.

    On this host the pid is checked; for another host (a second operator, a CI runner) the holder counts
    as gone once the deployment has not been updated for ``STALE_AFTER``.
    """
    if not record.owner:
        return False  # left for another process to take (up --detach)
    host, _, pid = record.owner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        if int(pid) == os.getpid():
            return True
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return (now or dt.datetime.now(dt.UTC)) - record.updated_at < STALE_AFTER


class StateStore:
    """Transactional access to Escadre's state. Thread-safe (one session per call)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._local = threading.local()

    # ------------------------------------------------------------------------------------- opening

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> StateStore:
        """Open (creating and migrating when needed) the store at ``url``."""
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        try:
            if url.startswith("sqlite"):
                from sqlalchemy.pool import StaticPool

                kwargs: dict[str, Any] = {"connect_args": {"timeout": 30, "check_same_thread": False}}
                if url in {"sqlite:///:memory:", "sqlite://"}:
                    kwargs["poolclass"] = StaticPool
                engine = create_engine(url, **kwargs)
                event.listen(engine, "connect", _sqlite_pragmas)
                event.listen(engine, "begin", _sqlite_begin_immediate)
            else:
                engine = create_engine(url, pool_pre_ping=True)
        except (SQLAlchemyError, ImportError) as exc:
            hint = "install the Postgres driver: pip install 'escadre[postgres]'" if "psycopg" in str(exc) else None
            raise StateError(f"cannot open the state store {_safe_url(url)}: {exc}", hint=hint) from exc
        store = cls(engine)
        if migrate:
            store.migrate()
        return store

    def schema_version(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except OperationalError:
            return None
        except SQLAlchemyError as exc:
            if "alembic_version" in str(exc):
                return None
            raise StateError(f"cannot read the state store {_safe_url(str(self.engine.url))}: {exc}") from exc

    def migrate(self) -> None:
        """Bring the schema to ``HEAD`` (a no-op costing one query when it is already there)."""
        try:
            current = self.schema_version()
        except SQLAlchemyError as exc:
            raise StateError(
                f"cannot reach the state store {_safe_url(str(self.engine.url))}: {exc}",
                hint="check ESCADRE_STATE (a SQLite path or a postgresql+psycopg:// URL)",
            ) from exc
        if current == HEAD:
            return
        from escadre.state.migrate import upgrade

        upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------------------- transactions

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction; nested calls on the same thread join the outer one."""
        outer: Session | None = getattr(self._local, "session", None)
        if outer is not None:
            yield outer
            return
        session = self._sessions()
        self._local.session = session
        try:
            with session.begin():
                yield session
        except SQLAlchemyError as exc:
            raise StateError(f"state store write failed: {exc}") from exc
        finally:
            self._local.session = None
            session.close()

    # ------------------------------------------------------------------------------------ targets

    def add_target(self, name: str, kind: str, config: Mapping[str, Any], *, replace: bool = False) -> TargetRecord:
        with self.transaction() as s:
            row = s.get(TargetRow, name)
            if row is not None and not replace:
                raise UsageError(
                    f"a target named {name!r} already exists ({row.kind})",
                    hint=f"remove it first (escadre target remove {name}) or pick another name",
                )
            if row is None:
                row = TargetRow(name=name, kind=kind, config=dict(config))
                s.add(row)
            else:
                row.kind, row.config = kind, dict(config)
            s.flush()
            return _target(row)

    def get_target(self, name: str) -> TargetRecord | None:
        with self.transaction() as s:
            row = s.get(TargetRow, name)
            return _target(row) if row else None

    def list_targets(self) -> list[TargetRecord]:
        with self.transaction() as s:
            return [_target(r) for r in s.scalars(select(TargetRow).order_by(TargetRow.name))]

    def remove_target(self, name: str) -> bool:
        with self.transaction() as s:
            row = s.get(TargetRow, name)
            if row is None:
                return False
            s.delete(row)
            return True

    # ----------------------------------------------------------------------------------- projects

    def upsert_project(
        self, name: str, target: str, *, working_dir: str = "", files: Sequence[str] = ()
    ) -> ProjectRecord:
        with self.transaction() as s:
            row = self._project_row(s, name, target)
            if row is None:
                row = ProjectRow(name=name, target=target, working_dir=working_dir, files=list(files))
                s.add(row)
            else:
                if working_dir:
                    row.working_dir = working_dir
                if files:
                    row.files = list(files)
                row.updated_at = utcnow()
            s.flush()
            return _project(row)

    def get_project(self, name: str, target: str) -> ProjectRecord | None:
        with self.transaction() as s:
            row = self._project_row(s, name, target)
            return _project(row) if row else None

    def list_projects(self, target: str | None = None) -> list[ProjectRecord]:
        with self.transaction() as s:
            query = select(ProjectRow).order_by(ProjectRow.name, ProjectRow.target)
            if target is not None:
                query = query.where(ProjectRow.target == target)
            return [_project(r) for r in s.scalars(query)]

    def forget_project(self, name: str, target: str) -> None:
        """Drop a project's history (after ``down``); events stay, detached from the project."""
        with self.transaction() as s:
            row = self._project_row(s, name, target)
            if row is not None:
                s.query(EventRow).filter(EventRow.project_id == row.id).update({EventRow.project_id: None})
                s.delete(row)

    @staticmethod
    def _project_row(s: Session, name: str, target: str) -> ProjectRow | None:
        return s.scalars(select(ProjectRow).where(ProjectRow.name == name, ProjectRow.target == target)).first()

    def _require_project(self, s: Session, name: str, target: str) -> ProjectRow:
        """The project's row, inserted if missing; safe against concurrent inserts (Postgres)."""
        row = self._project_row(s, name, target)
        if row is not None:
            return row
        values = {
            "name": name,
            "target": target,
            "working_dir": "",
            "files": [],
            "created_at": utcnow(),
            "updated_at": utcnow(),
        }
        if s.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            s.execute(pg_insert(ProjectRow).values(**values).on_conflict_do_nothing())
        else:
            s.add(ProjectRow(**values))
            s.flush()
        found = self._project_row(s, name, target)
        assert found is not None
        return found

    # ---------------------------------------------------------------------------------- revisions

    def record_revision(
        self, project: str, target: str, revision: Revision, *, sealed: str | None = None
    ) -> RevisionRecord:
        """Remember a revision (idempotent). Its spec is stored redacted for display; ``sealed`` is the
        encrypted full spec (``core.seal``) kept so a rollback can re-create it exactly."""
        with self.transaction() as s:
            prow = self._require_project(s, project, target)
            row = s.scalars(
                select(RevisionRow).where(
                    RevisionRow.project_id == prow.id,
                    RevisionRow.service == revision.service,
                    RevisionRow.revision == revision.id,
                )
            ).first()
            if row is None:
                row = RevisionRow(
                    project_id=prow.id,
                    service=revision.service,
                    revision=revision.id,
                    image=revision.image,
                    image_id=revision.image_id,
                    spec=redact_spec(revision.spec),
                    sealed=sealed,
                )
                s.add(row)
                s.flush()
            elif sealed and not row.sealed:
                row.sealed = sealed
            return _revision(row, prow)

    def get_revision(self, project: str, target: str, service: str, revision: str) -> RevisionRecord | None:
        """Look a revision up by id or unique id prefix."""
        with self.transaction() as s:
            prow = self._project_row(s, project, target)
            if prow is None:
                return None
            rows = list(
                s.scalars(
                    select(RevisionRow).where(
                        RevisionRow.project_id == prow.id,
                        RevisionRow.service == service,
                        RevisionRow.revision.startswith(revision, autoescape=True),
                    )
                )
            )
            if len(rows) > 1:
                raise UsageError(f"revision prefix {revision!r} of service {service!r} is ambiguous")
            return _revision(rows[0], prow) if rows else None

    def list_revisions(self, project: str, target: str, service: str | None = None) -> list[RevisionRecord]:
        with self.transaction() as s:
            prow = self._project_row(s, project, target)
            if prow is None:
                return []
            query = select(RevisionRow).where(RevisionRow.project_id == prow.id)
            if service is not None:
                query = query.where(RevisionRow.service == service)
            return [_revision(r, prow) for r in s.scalars(query.order_by(RevisionRow.id))]

    # -------------------------------------------------------------------------------- deployments

    def start_deployment(
        self,
        project: str,
        target: str,
        service: str,
        revision: str,
        *,
        from_revision: str | None,
        strategy: str,
        status: str = "progressing",
        checkpoint: Mapping[str, Any] | None = None,
        owner: str | None = None,
    ) -> DeploymentRecord:
        """Open a deployment of ``service``; any still-active one for it is marked superseded."""
        with self.transaction() as s:
            prow = self._require_project(s, project, target)
            now = utcnow()
            for old in s.scalars(
                select(DeploymentRow).where(
                    DeploymentRow.project_id == prow.id,
                    DeploymentRow.service == service,
                    DeploymentRow.status.in_(ACTIVE_STATUSES),
                )
            ):
                old.status, old.finished_at = "superseded", now
            row = DeploymentRow(
                project_id=prow.id,
                service=service,
                revision=revision,
                from_revision=from_revision,
                strategy=strategy,
                status=status,
                step=0,
                checkpoint=dict(checkpoint or {}),
                message="",
                owner=default_owner() if owner is None else owner,
            )
            s.add(row)
            s.flush()
            return _deployment(row, prow)

    def update_deployment(
        self,
        deployment_id: int,
        *,
        status: str | None = None,
        step: int | None = None,
        checkpoint: Mapping[str, Any] | None = None,
        message: str | None = None,
        owner: str | None = None,
    ) -> DeploymentRecord:
        with self.transaction() as s:
            row = s.get(DeploymentRow, deployment_id)
            if row is None:
                raise StateError(f"deployment {deployment_id} does not exist in the state store")
            if status is not None:
                row.status = status
                if status in FINAL_STATUSES:
                    row.finished_at = utcnow()
            if step is not None:
                row.step = step
            if checkpoint is not None:
                row.checkpoint = dict(checkpoint)
            if message is not None:
                row.message = message
            if owner is not None:
                row.owner = owner
            row.updated_at = utcnow()
            s.flush()
            prow = s.get(ProjectRow, row.project_id)
            assert prow is not None
            return _deployment(row, prow)

    def get_deployment(self, deployment_id: int) -> DeploymentRecord | None:
        with self.transaction() as s:
            row = s.get(DeploymentRow, deployment_id)
            if row is None:
                return None
            prow = s.get(ProjectRow, row.project_id)
            assert prow is not None
            return _deployment(row, prow)

    def list_deployments(
        self,
        project: str,
        target: str,
        *,
        service: str | None = None,
        active_only: bool = False,
        limit: int | None = None,
    ) -> list[DeploymentRecord]:
        """Newest first."""
        with self.transaction() as s:
            prow = self._project_row(s, project, target)
            if prow is None:
                return []
            query = select(DeploymentRow).where(DeploymentRow.project_id == prow.id)
            if service is not None:
                query = query.where(DeploymentRow.service == service)
            if active_only:
                query = query.where(DeploymentRow.status.in_(ACTIVE_STATUSES))
            query = query.order_by(DeploymentRow.id.desc())
            if limit:
                query = query.limit(limit)
            return [_deployment(r, prow) for r in s.scalars(query)]

    def active_deployments(self, target: str | None = None) -> list[DeploymentRecord]:
        """Every unfinished deployment (used to resume after a crash)."""
        with self.transaction() as s:
            query = (
                select(DeploymentRow, ProjectRow)
                .join(ProjectRow, ProjectRow.id == DeploymentRow.project_id)
                .where(DeploymentRow.status.in_(ACTIVE_STATUSES))
            )
            if target is not None:
                query = query.where(ProjectRow.target == target)
            return [_deployment(d, p) for d, p in s.execute(query.order_by(DeploymentRow.id))]

    # ------------------------------------------------------------------------------------- events

    def add_event(
        self,
        kind: str,
        message: str,
        *,
        project: str | None = None,
        target: str | None = None,
        service: str | None = None,
        deployment_id: int | None = None,
        level: str = "info",
        data: Mapping[str, Any] | None = None,
        actor: str = "",
    ) -> EventRecord:
        with self.transaction() as s:
            prow = self._require_project(s, project, target) if project and target else None
            row = EventRow(
                project_id=prow.id if prow else None,
                service=service,
                deployment_id=deployment_id,
                kind=kind,
                level=level,
                message=message,
                data=dict(data or {}),
                actor=actor or os.environ.get("USER", ""),
            )
            s.add(row)
            s.flush()
            return _event(row, prow)

    def events(
        self,
        *,
        project: str | None = None,
        target: str | None = None,
        service: str | None = None,
        deployment_id: int | None = None,
        after_id: int = 0,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[EventRecord]:
        with self.transaction() as s:
            query = select(EventRow, ProjectRow).outerjoin(ProjectRow, ProjectRow.id == EventRow.project_id)
            if project is not None:
                query = query.where(ProjectRow.name == project)
            if target is not None:
                query = query.where(ProjectRow.target == target)
            if service is not None:
                query = query.where(EventRow.service == service)
            if deployment_id is not None:
                query = query.where(EventRow.deployment_id == deployment_id)
            if after_id:
                query = query.where(EventRow.id > after_id)
            query = query.order_by(EventRow.id.desc() if newest_first else EventRow.id)
            if limit:
                query = query.limit(limit)
            return [_event(e, p) for e, p in s.execute(query)]

    # ----------------------------------------------------------------------------- rollout control

    def add_command(
        self, deployment_id: int, command: str, args: Mapping[str, Any] | None = None, *, actor: str = ""
    ) -> int:
        with self.transaction() as s:
            row = CommandRow(deployment_id=deployment_id, command=command, args=dict(args or {}), actor=actor)
            s.add(row)
            s.flush()
            return row.id

    def take_commands(self, deployment_id: int) -> list[tuple[str, dict[str, Any], str]]:
        """Pending commands for a deployment, oldest first, marked consumed in the same transaction."""
        with self.transaction() as s:
            rows = list(
                s.scalars(
                    select(CommandRow)
                    .where(CommandRow.deployment_id == deployment_id, CommandRow.consumed_at.is_(None))
                    .order_by(CommandRow.id)
                )
            )
            now = utcnow()
            for row in rows:
                row.consumed_at = now
            return [(r.command, dict(r.args or {}), r.actor) for r in rows]

    def sealed_spec(self, project: str, target: str, service: str, revision: str) -> str | None:
        with self.transaction() as s:
            prow = self._project_row(s, project, target)
            if prow is None:
                return None
            return s.scalars(
                select(RevisionRow.sealed).where(
                    RevisionRow.project_id == prow.id, RevisionRow.service == service, RevisionRow.revision == revision
                )
            ).first()

    def stable_revision(self, project: str, target: str, service: str) -> str | None:
        """The revision the last finished deployment of ``service`` left serving."""
        with self.transaction() as s:
            prow = self._project_row(s, project, target)
            if prow is None:
                return None
            row = s.scalars(
                select(DeploymentRow)
                .where(
                    DeploymentRow.project_id == prow.id,
                    DeploymentRow.service == service,
                    DeploymentRow.status.in_(("succeeded", "aborted", "rolled-back")),
                )
                .order_by(DeploymentRow.id.desc())
            ).first()
            if row is None:
                return None
            return row.revision if row.status == "succeeded" else row.from_revision

    def count(self, table: str) -> int:
        model = {"events": EventRow, "deployments": DeploymentRow, "revisions": RevisionRow}[table]
        with self.transaction() as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)


# ------------------------------------------------------------------------------------------ helpers


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite's own transaction handling defers BEGIN and cannot take the write lock up front;
    # we disable it and issue BEGIN IMMEDIATE ourselves, so concurrent writers queue on busy_timeout
    # instead of failing with "database is locked" when two readers both try to upgrade.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _safe_url(url: str) -> str:
    """A URL with any password hidden."""
    from escadre.core.redact import redact_value

    return str(redact_value("url", url))


def _target(r: TargetRow) -> TargetRecord:
    return TargetRecord(r.name, r.kind, dict(r.config or {}), _aware(r.created_at) or utcnow())


def _project(r: ProjectRow) -> ProjectRecord:
    return ProjectRecord(r.id, r.name, r.target, r.working_dir, tuple(r.files or ()), _aware(r.updated_at) or utcnow())


def _revision(r: RevisionRow, p: ProjectRow) -> RevisionRecord:
    return RevisionRecord(
        p.name,
        p.target,
        r.service,
        r.revision,
        r.image,
        r.image_id,
        dict(r.spec or {}),
        _aware(r.created_at) or utcnow(),
    )


def _deployment(r: DeploymentRow, p: ProjectRow) -> DeploymentRecord:
    return DeploymentRecord(
        id=r.id,
        project=p.name,
        target=p.target,
        service=r.service,
        revision=r.revision,
        from_revision=r.from_revision,
        strategy=r.strategy,
        status=r.status,
        step=r.step,
        checkpoint=dict(r.checkpoint or {}),
        message=r.message,
        owner=r.owner,
        started_at=_aware(r.started_at) or utcnow(),
        updated_at=_aware(r.updated_at) or utcnow(),
        finished_at=_aware(r.finished_at),
    )


def _event(r: EventRow, p: ProjectRow | None) -> EventRecord:
    return EventRecord(
        id=r.id,
        ts=_aware(r.ts) or utcnow(),
        project=p.name if p else None,
        target=p.target if p else None,
        service=r.service,
        deployment_id=r.deployment_id,
        kind=r.kind,
        level=r.level,
        message=r.message,
        data=dict(r.data or {}),
        actor=r.actor,
    )
