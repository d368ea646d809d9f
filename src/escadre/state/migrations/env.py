"""Alembic environment for Escadre's state store.

Run programmatically by ``escadre.state.migrate`` (the connection is passed in ``config.attributes``),
or by hand for development: ``alembic -c src/escadre/state/migrations/alembic.ini revision -m ...``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from escadre.state.tables import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or "sqlite:///escadre-dev.db"
    engine = create_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
