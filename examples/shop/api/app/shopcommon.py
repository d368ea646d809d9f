"""Configuration and connections shared by the API server and the migration job.

Host names and ports come from the environment; the database password is read from a secret *file*
(``DB_PASSWORD_FILE``, default ``/run/secrets/db_password``) and never from an environment variable.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg2
import redis

T = TypeVar("T")
log = logging.getLogger("shop")


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def setup_logging() -> None:
    level = logging.DEBUG if env_flag("API_DEBUG") else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


class Config:
    def __init__(self) -> None:
        self.version = os.environ.get("APP_VERSION", "dev")
        self.debug = env_flag("API_DEBUG")
        self.port = int(os.environ.get("API_PORT", "8000"))
        self.redis_host = os.environ.get("REDIS_HOST", "redis")
        self.redis_port = int(os.environ.get("REDIS_PORT", "6379"))
        self.db_host = os.environ.get("DB_HOST", "db")
        self.db_port = int(os.environ.get("DB_PORT", "5432"))
        self.db_name = os.environ.get("DB_NAME", "shop")
        self.db_user = os.environ.get("DB_USER", "shop")
        self.db_password_file = os.environ.get("DB_PASSWORD_FILE", "/run/secrets/db_password")
        self.startup_timeout = float(os.environ.get("STARTUP_TIMEOUT", "60"))
        if "DB_PASSWORD" in os.environ:
            log.warning("DB_PASSWORD is set in the environment and ignored: the password is read from %s",
                        self.db_password_file)

    def db_password(self) -> str:
        """Read on every new connection, so a rotated secret file is picked up without a restart."""
        try:
            with open(self.db_password_file, encoding="utf-8") as f:
                password = f.read().rstrip("\r\n")
        except OSError as exc:
            raise RuntimeError(f"cannot read the database password secret {self.db_password_file}: {exc}") from exc
        if not password:
            raise RuntimeError(f"the database password secret {self.db_password_file} is empty")
        return password

    def db_connect_kwargs(self) -> dict:
        return {
            "host": self.db_host,
            "port": self.db_port,
            "dbname": self.db_name,
            "user": self.db_user,
            "password": self.db_password(),
            "connect_timeout": 3,
            "application_name": "shop-api",
        }

    def pg_connect(self) -> psycopg2.extensions.connection:
        return psycopg2.connect(**self.db_connect_kwargs())

    def redis_client(self) -> redis.Redis:
        return redis.Redis(
            host=self.redis_host,
            port=self.redis_port,
            socket_timeout=2,
            socket_connect_timeout=2,
            health_check_interval=15,
            decode_responses=True,
        )


TRANSIENT = (psycopg2.OperationalError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
"""Errors worth retrying: the peer is not up (yet). Anything else (a missing secret) fails at once."""


def retry(what: str, fn: Callable[[], T], timeout: float) -> T:
    """Call ``fn`` until it succeeds or ``timeout`` seconds have passed (exponential back-off, max 2 s)."""
    deadline = time.monotonic() + timeout
    delay, attempt = 0.2, 0
    while True:
        attempt += 1
        try:
            result = fn()
        except TRANSIENT as exc:
            if time.monotonic() + delay > deadline:
                raise RuntimeError(f"{what}: still failing after {attempt} attempts: {exc}") from exc
            log.info("waiting for %s (attempt %d): %s", what, attempt, str(exc).strip().splitlines()[0])
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        else:
            if attempt > 1:
                log.info("%s is ready after %d attempts", what, attempt)
            return result
