"""One-shot schema migration: applies the numbered migrations below that the database has not seen yet.

Runs as the ``migrate`` service (same image as the API) and exits 0; the API starts only after it
completed successfully. Safe to run again and concurrently (an advisory lock serialises runs).
"""

from __future__ import annotations

import logging
import sys

from shopcommon import Config, retry, setup_logging

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "create orders",
        """
        CREATE TABLE orders (
            id          BIGSERIAL PRIMARY KEY,
            item        TEXT        NOT NULL CHECK (length(item) BETWEEN 1 AND 100),
            quantity    INTEGER     NOT NULL DEFAULT 1 CHECK (quantity BETWEEN 1 AND 1000),
            created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
        )
        """,
    ),
    (2, "index orders by time", "CREATE INDEX orders_created_at_idx ON orders (created_at DESC)"),
]

LOCK_ID = 0x5E0B  # arbitrary, shared by every migrate run


def main() -> int:
    setup_logging()
    log = logging.getLogger("shop.migrate")
    config = Config()
    conn = retry("postgres", config.pg_connect, config.startup_timeout)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            cur.execute("SELECT version FROM schema_migrations")
            applied = {row[0] for row in cur.fetchall()}
            pending = [m for m in MIGRATIONS if m[0] not in applied]
            for version, name, sql in pending:
                log.info("applying migration %d: %s", version, name)
                cur.execute(sql)
                cur.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
        log.info("schema is at version %d (%d migration(s) applied now)", MIGRATIONS[-1][0], len(pending))
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
