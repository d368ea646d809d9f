from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine

from escadre.state.migrate import heads, upgrade
from escadre.state.store import HEAD
from escadre.state.tables import Base


def test_head_constant_matches_the_migration_scripts() -> None:
    assert heads() == [HEAD]


def test_migrations_produce_exactly_the_declared_tables(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(f"sqlite:///{tmp_path}/m.db")
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_downgrade_to_base_and_back(tmp_path: Path) -> None:
    from alembic import command

    from escadre.state.migrate import alembic_config

    engine = create_engine(f"sqlite:///{tmp_path}/m.db")
    upgrade(engine)
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn  # type: ignore[attr-defined]
        command.downgrade(cfg, "base")  # type: ignore[arg-type]
    upgrade(engine)
