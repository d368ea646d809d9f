"""Shop API: a small JSON API on the standard library's ThreadingHTTPServer.

    GET  /api/health   200 when Redis and Postgres answer, 503 otherwise (used by the healthcheck)
    GET  /api/info     version and host name of the replica that answered
    GET  /api/visits   increments and returns the visit counter (Redis INCR)
    GET  /api/orders   the latest orders (Postgres)
    POST /api/orders   {"item": "coffee", "quantity": 2} -> 201 and the stored order

SIGTERM drains: /api/health turns 503, in-flight requests finish, then the process exits.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg2
import psycopg2.extras
import psycopg2.pool
import redis

from shopcommon import Config, retry, setup_logging

log = logging.getLogger("shop.api")
MAX_BODY = 16 * 1024
VISITS_KEY = "shop:visits"


class ClientError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class Store:
    """Postgres (a small thread-safe connection pool) and Redis (redis-py pools internally)."""

    def __init__(self, config: Config, max_connections: int = 8) -> None:
        self.config = config
        self.redis: redis.Redis = config.redis_client()
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._slots = threading.BoundedSemaphore(max_connections)
        self._max = max_connections

    def connect(self) -> None:
        """Wait for both back ends at start-up (they may still be starting)."""
        timeout = self.config.startup_timeout
        retry("redis", self.redis.ping, timeout)
        self._pool = retry(
            "postgres",
            lambda: psycopg2.pool.ThreadedConnectionPool(1, self._max, **self.config.db_connect_kwargs()),
            timeout,
        )

    @contextmanager
    def cursor(self):
        """A cursor in a transaction; a connection that failed is closed instead of returned to the pool."""
        assert self._pool is not None, "connect() first"
        if not self._slots.acquire(timeout=5):
            raise ClientError(HTTPStatus.SERVICE_UNAVAILABLE, "database busy")
        conn = None
        broken = False
        try:
            conn = self._pool.getconn()
            with conn, conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                yield cur
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            broken = True
            raise
        finally:
            if conn is not None:
                self._pool.putconn(conn, close=broken or bool(conn.closed))
            self._slots.release()

    def run(self, fn):
        """Run ``fn(cursor)``; retried once on a fresh connection if the pooled one had gone stale
        (Postgres restarted behind a long-lived pool)."""
        try:
            with self.cursor() as cur:
                return fn(cur)
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            log.warning("postgres connection failed (%s), retrying once", str(exc).strip())
            with self.cursor() as cur:
                return fn(cur)

    def health(self) -> tuple[bool, dict[str, str]]:
        checks: dict[str, str] = {}
        try:
            self.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {exc}"
        try:
            self.run(lambda cur: cur.execute("SELECT 1"))
            checks["postgres"] = "ok"
        except Exception as exc:
            checks["postgres"] = f"error: {str(exc).strip()}"
        return all(v == "ok" for v in checks.values()), checks

    def visit(self) -> int:
        return int(self.redis.incr(VISITS_KEY))

    def orders(self, limit: int) -> dict[str, Any]:
        def q(cur):
            cur.execute(
                "SELECT id, item, quantity, created_at FROM orders ORDER BY id DESC LIMIT %s", (limit,)
            )
            rows = cur.fetchall()
            cur.execute("SELECT count(*) AS n FROM orders")
            return rows, cur.fetchone()["n"]

        rows, total = self.run(q)
        return {"orders": [_order(r) for r in rows], "total": total}

    def add_order(self, item: str, quantity: int) -> dict[str, Any]:
        def q(cur):
            cur.execute(
                "INSERT INTO orders (item, quantity) VALUES (%s, %s) RETURNING id, item, quantity, created_at",
                (item, quantity),
            )
            return cur.fetchone()

        return _order(self.run(q))


def _order(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "created_at": row["created_at"].isoformat()}


class App:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.hostname = socket.gethostname()
        self.started = time.time()
        self.draining = threading.Event()
        self._active = 0
        self._idle = threading.Condition()

    @contextmanager
    def request(self):
        with self._idle:
            self._active += 1
        try:
            yield
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """After the listener closed: let in-flight requests finish (they run in daemon threads)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)

    def handle(self, method: str, path: str, query: str, body: bytes) -> tuple[HTTPStatus, Any]:
        route = (method, path.rstrip("/") or "/")
        if route == ("GET", "/api/health"):
            if self.draining.is_set():
                return HTTPStatus.SERVICE_UNAVAILABLE, {"status": "draining"}
            ok, checks = self.store.health()
            status = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
            return status, {"status": "ok" if ok else "degraded", "checks": checks}
        if route == ("GET", "/api/info"):
            return HTTPStatus.OK, {
                "service": "shop-api",
                "version": self.config.version,
                "hostname": self.hostname,
                "uptime_seconds": round(time.time() - self.started, 1),
                "debug": self.config.debug,
            }
        if route == ("GET", "/api/visits"):
            return HTTPStatus.OK, {"visits": self.store.visit(), "served_by": self.hostname}
        if route == ("GET", "/api/orders"):
            return HTTPStatus.OK, self.store.orders(limit=_limit(query))
        if route == ("POST", "/api/orders"):
            item, quantity = _parse_order(body)
            return HTTPStatus.CREATED, self.store.add_order(item, quantity)
        if path.startswith("/api/") and route[1] in {"/api/health", "/api/info", "/api/visits", "/api/orders"}:
            return HTTPStatus.METHOD_NOT_ALLOWED, {"error": f"{method} not allowed on {path}"}
        return HTTPStatus.NOT_FOUND, {"error": f"no route for {path}"}


def _limit(query: str) -> int:
    from urllib.parse import parse_qs

    try:
        value = int(parse_qs(query).get("limit", ["20"])[0])
    except ValueError:
        raise ClientError(HTTPStatus.BAD_REQUEST, "limit must be an integer") from None
    return max(1, min(value, 100))


def _parse_order(body: bytes) -> tuple[str, int]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise ClientError(HTTPStatus.BAD_REQUEST, "body must be JSON") from None
    if not isinstance(data, dict):
        raise ClientError(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
    item = str(data.get("item", "")).strip()
    if not 1 <= len(item) <= 100:
        raise ClientError(HTTPStatus.BAD_REQUEST, "item must be 1 to 100 characters")
    quantity = data.get("quantity", 1)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 1000:
        raise ClientError(HTTPStatus.BAD_REQUEST, "quantity must be an integer from 1 to 1000")
    return item, quantity


def make_handler(app: App) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "shop-api"
        sys_version = ""
        protocol_version = "HTTP/1.1"  # keep-alive with the proxy

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def _dispatch(self, method: str) -> None:
            with app.request():
                self._serve(method)

        def _serve(self, method: str) -> None:
            path, _, query = self.path.partition("?")
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    raise ClientError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
                body = self.rfile.read(length) if length else b""
                status, payload = app.handle(method, path, query, body)
            except ClientError as exc:
                status, payload = exc.status, {"error": str(exc)}
            except Exception as exc:
                log.error("%s %s failed: %s", method, path, exc, exc_info=app.config.debug)
                status = HTTPStatus.SERVICE_UNAVAILABLE
                payload = {"error": "backend unavailable"}
                if app.config.debug:
                    payload["detail"] = f"{type(exc).__name__}: {str(exc).strip()}"
            self._send(status, payload)

        def _send(self, status: HTTPStatus, payload: Any) -> None:
            data = (json.dumps(payload, default=str) + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Served-By", app.hostname)
            if app.draining.is_set():
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt: str, *args: Any) -> None:
            # Healthchecks every few seconds would drown the log: show them only with API_DEBUG=1.
            if "/api/health" in self.requestline and not app.config.debug:
                return
            log.info("%s %s", self.address_string(), fmt % args)

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def main() -> int:
    setup_logging()
    config = Config()
    store = Store(config)
    log.info("shop-api %s starting (redis %s:%d, postgres %s@%s:%d/%s, debug=%s)", config.version,
             config.redis_host, config.redis_port, config.db_user, config.db_host, config.db_port,
             config.db_name, config.debug)
    try:
        store.connect()
    except Exception as exc:
        log.error("giving up: %s", exc)
        return 1
    app = App(config, store)
    server = Server(("", config.port), make_handler(app))

    def stop(signum: int, _frame: Any) -> None:
        if app.draining.is_set():
            return
        log.info("%s received: draining and shutting down", signal.Signals(signum).name)
        app.draining.set()
        # shutdown() blocks until serve_forever() returns, so call it from another thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("listening on :%d", config.port)
    server.serve_forever(poll_interval=0.5)
    server.server_close()
    if not app.wait_idle(timeout=5):
        log.warning("stopping with requests still in flight")
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
