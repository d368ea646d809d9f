"""Running Alembic migrations from code (no ``alembic.ini`` needed at run time).

Imported only when the schema is behind ``store.HEAD``, so everyday commands never load Alembic.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from escadre.core.errors import StateError

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> object:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` in one transaction."""
    from alembic import command
    from alembic.config import Config

    cfg = alembic_config(engine)
    assert isinstance(cfg, Config)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except Exception as exc:
        raise StateError(
            f"migrating the state store failed: {exc}",
            hint="restore the state file from a backup or point ESCADRE_STATE at a new location",
        ) from exc


def heads() -> list[str]:
    """Head revisions of the migration scripts (one, unless someone branched)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return list(ScriptDirectory.from_config(cfg).get_heads())
