"""The router's pure half: its values, how traffic shares become HAProxy weights, slot assignment, the
HAProxy configuration and the parsing of ``show stat`` (no engine, no socket: unit-testable).

Why slots. HAProxy 2.6 cannot add servers to a backend at run time in a way that survives a reload, but
it can change everything about an existing server through the Runtime API — address, port, weight,
ready/maintenance — without a reload, instantly and without touching established connections. So each
routed backend is declared once with ``N`` pre-allocated server *slots* per role (``stable1..N``,
``canary1..N``, and ``preview1..N`` in a separate ``…_preview`` backend), all starting in maintenance at
a dummy address, and a rollout only ever *moves* containers into and out of slots.

Why no reload for weights. A reload starts a new worker process: counters restart at zero, health checks
start over, and long connections stay on the old process until they end. Weight changes happen every few
seconds during a canary, so they go through the Runtime API, which is exact (``set server … weight``)
and costs nothing. Reloads (seamless: master-worker, ``SIGUSR2``, listening sockets handed over with
``expose-fd listeners``) only happen when the set of listeners changes.

The configuration is rendered from the *state* — listeners plus every slot's address, weight and
readiness — and rewritten after every ``apply``, so a reload or a ``docker restart`` comes back with
exactly the last applied assignment.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from escadre.core.errors import UsageError

Role = Literal["stable", "canary", "preview"]
ROLES: tuple[Role, ...] = ("stable", "canary", "preview")
RUN_DIR = "/run/escadre"
SOCKET = f"{RUN_DIR}/admin.sock"
ADMIN_PORT = 9999  # Runtime API on 127.0.0.1 inside the container (remote engines: exec + nc)
METRICS_PORT = 8405  # Prometheus exporter inside the container
PREVIEW_PORT_BASE = 42000  # preview frontends bind here and up inside the container
RESERVED_PORTS = frozenset({ADMIN_PORT, METRICS_PORT})
DUMMY_ADDRESS = "127.0.0.1"
DUMMY_PORT = 1
BASE_WEIGHT = 100  # per-server weight when a role is alone (any equal value splits evenly)
MAX_WEIGHT = 256
STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Listener:
    """A routed service port: ``port`` inside the router (and the service), ``published`` on the host."""

    service: str
    port: int
    published: int | None = None
    host_ip: str | None = None
    mode: Literal["http", "tcp"] = "http"
    preview_published: int | None = None

    @property
    def key(self) -> str:
        return f"{self.service}:{self.port}"


@dataclass(frozen=True, slots=True)
class Server:
    """One instance behind the router: a container IP on a network the router shares, and its port."""

    address: str
    port: int


@dataclass(frozen=True, slots=True)
class Counters:
    """Cumulative counters of one role's slots since the router process started (a reload resets them)."""

    requests: int = 0
    responses_5xx: int = 0
    responses_4xx: int = 0
    responses_2xx: int = 0
    connection_errors: int = 0
    current_sessions: int = 0


@dataclass(frozen=True, slots=True)
class Slot:
    """What one server slot holds; an unused slot is in maintenance (``ready=False``)."""

    address: str = DUMMY_ADDRESS
    port: int = DUMMY_PORT
    weight: int = 0
    ready: bool = False


@dataclass(slots=True)
class Backend:
    canary_weight: int = 0
    slots: dict[str, list[Slot]] = field(default_factory=dict)


@dataclass(slots=True)
class State:
    """Everything the router's configuration is rendered from; persisted as JSON beside it."""

    slots: int
    metrics: bool
    listeners: list[Listener] = field(default_factory=list)
    backends: dict[str, Backend] = field(default_factory=dict)

    def listener(self, service: str, port: int) -> Listener:
        for listener in self.listeners:
            if listener.service == service and listener.port == port:
                return listener
        known = ", ".join(item.key for item in self.listeners) or "none"
        raise UsageError(
            f"the router has no listener for {service}:{port} (it routes: {known})",
            hint="call Router.ensure with that listener first",
        )

    def backend(self, listener: Listener) -> Backend:
        backend = self.backends.setdefault(listener.key, Backend())
        for role in roles_of(listener):
            slots = backend.slots.setdefault(role, [])
            if any(s.ready for s in slots[self.slots :]):
                raise UsageError(
                    f"{listener.key} has {role} servers in slots beyond the new slot count {self.slots}",
                    hint="shift traffic off them first, or keep the slot count",
                )
            backend.slots[role] = (slots + [Slot()] * self.slots)[: self.slots]
        return backend

    @property
    def structure(self) -> str:
        """Hash of what a reload changes (listeners, slot count, exporter), not of the assignments."""
        raw = json.dumps([self.slots, self.metrics, [asdict(item) for item in self.listeners]], sort_keys=True)
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def dumps(self) -> str:
        return json.dumps(
            {
                "version": STATE_VERSION,
                "slots": self.slots,
                "metrics": self.metrics,
                "listeners": [asdict(item) for item in self.listeners],
                "backends": {
                    key: {
                        "canary_weight": b.canary_weight,
                        "slots": {role: [list(asdict(s).values()) for s in slots] for role, slots in b.slots.items()},
                    }
                    for key, b in self.backends.items()
                },
            },
            indent=1,
        )

    @classmethod
    def loads(cls, text: str | None, *, slots: int, metrics: bool) -> State:
        if not text:
            return cls(slots=slots, metrics=metrics)
        raw: dict[str, Any] = json.loads(text)
        state = cls(slots=int(raw.get("slots", slots)), metrics=bool(raw.get("metrics", metrics)))
        state.listeners = [Listener(**item) for item in raw.get("listeners", [])]
        for key, b in (raw.get("backends") or {}).items():
            state.backends[key] = Backend(
                canary_weight=int(b.get("canary_weight", 0)),
                slots={
                    role: [Slot(str(s[0]), int(s[1]), int(s[2]), bool(s[3])) for s in items]
                    for role, items in (b.get("slots") or {}).items()
                },
            )
        return state


def roles_of(listener: Listener) -> tuple[Role, ...]:
    return ("stable", "canary", "preview") if listener.preview_published is not None else ("stable", "canary")


def _ident(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def backend_name(listener: Listener, role: Role = "stable") -> str:
    base = f"be_{_ident(listener.service)}_{listener.port}"
    return f"{base}_preview" if role == "preview" else base


def preview_ports(listeners: Sequence[Listener]) -> dict[str, int]:
    """Ports the preview frontends bind inside the router (one per listener with a preview)."""
    used = {item.port for item in listeners} | RESERVED_PORTS
    out: dict[str, int] = {}
    port = PREVIEW_PORT_BASE
    for listener in sorted(listeners, key=lambda item: (item.port, item.service)):
        if listener.preview_published is None:
            continue
        while port in used:
            port += 1
        out[listener.key] = port
        used.add(port)
    return out


def check_listeners(listeners: Sequence[Listener]) -> None:
    """Refuse listener sets the router cannot serve (clashing or reserved ports)."""
    seen: dict[int, str] = {}
    for listener in listeners:
        if not 1 <= listener.port <= 65535:
            raise UsageError(f"router listener {listener.key}: port {listener.port} is out of range")
        if listener.port in RESERVED_PORTS:
            raise UsageError(
                f"router listener {listener.key}: port {listener.port} is reserved by the router itself "
                f"(Runtime API {ADMIN_PORT}, metrics {METRICS_PORT})",
                hint="route another container port",
            )
        if listener.port >= PREVIEW_PORT_BASE and listener.preview_published is not None:
            raise UsageError(f"router listener {listener.key}: ports from {PREVIEW_PORT_BASE} are used for previews")
        if listener.port in seen and seen[listener.port] != listener.service:
            raise UsageError(
                f"services {seen[listener.port]!r} and {listener.service!r} both want router port {listener.port}",
                hint="one router port fronts one service: change the port of one of them",
            )
        seen[listener.port] = listener.service


# ------------------------------------------------------------------------------------------ weights


def split_weights(canary_weight: int, n_stable: int, n_canary: int) -> tuple[int, int]:
    """Per-server HAProxy weights ``(stable, canary)`` giving canary ``canary_weight`` % of requests.

    Each stable server must get ``(100-w)/n_stable`` and each canary ``w/n_canary`` of the traffic, i.e.
    weights in the ratio ``(100-w)·n_canary : w·n_stable``. Weights are integers in 1..256, so the pair
    is searched for the smallest error (exact whenever the reduced ratio fits, e.g. any split with equal
    server counts; 90/10 over 3 stable + 1 canary is 3:1). A role with no servers gets nothing whatever
    ``canary_weight`` says, so a missing canary never drops traffic.
    """
    if not 0 <= canary_weight <= 100:
        raise UsageError(f"canary weight {canary_weight} is not a percentage (0..100)")
    if n_canary == 0 or canary_weight == 0:
        return (BASE_WEIGHT if n_stable else 0, 0)
    if n_stable == 0 or canary_weight == 100:
        return (0, BASE_WEIGHT)
    want = canary_weight / 100
    best: tuple[float, int, int] | None = None
    for b in range(1, MAX_WEIGHT + 1):
        exact_a = b * n_canary * (100 - canary_weight) / (canary_weight * n_stable)
        for a in {max(1, min(MAX_WEIGHT, int(exact_a))), max(1, min(MAX_WEIGHT, int(exact_a) + 1))}:
            err = abs(b * n_canary / (a * n_stable + b * n_canary) - want)
            if best is None or err < best[0] - 1e-12:
                best = (err, a, b)
        if best is not None and best[0] < 1e-12:
            break
    assert best is not None
    return best[1], best[2]


def place(current: Sequence[Slot], servers: Sequence[Server], weight: int, what: str) -> list[Slot]:
    """New contents of one role's slots: servers already in a slot keep it (their connections and
    counters stay put), new servers take free slots (maintenance ones first), the rest go to maintenance.
    """
    if len(set(servers)) > len(current):
        raise UsageError(
            f"{what}: {len(set(servers))} servers do not fit the router's {len(current)} slots",
            hint="create the Router with a larger slots= (it reloads the router once)",
        )
    ready = weight > 0
    wanted = list(dict.fromkeys(servers))
    taken: dict[int, Server] = {}
    for i, slot in enumerate(current):
        key = Server(slot.address, slot.port)
        if slot.ready and key in wanted and key not in taken.values():
            taken[i] = key
    free = [i for i in range(len(current)) if i not in taken]
    for server in wanted:
        if server in taken.values():
            continue
        # its own former slot first, then slots in maintenance, then slots of servers going away
        i = min(free, key=lambda j: (Server(current[j].address, current[j].port) != server, current[j].ready, j))
        free.remove(i)
        taken[i] = server
    return [
        Slot(taken[i].address, taken[i].port, weight, ready) if i in taken else replace(slot, weight=0, ready=False)
        for i, slot in enumerate(current)
    ]


def slot_commands(backend: str, role: Role, slots: Sequence[Slot]) -> tuple[list[str], list[str]]:
    """Runtime API commands making HAProxy match ``slots``: ``(bring_up, take_down)``. Callers send every
    *bring up* before any *take down*, so a backend never goes through a moment with no server."""
    up: list[str] = []
    down: list[str] = []
    for i, slot in enumerate(slots, start=1):
        name = f"{backend}/{role}{i}"
        if slot.ready:
            up.append(f"set server {name} addr {slot.address} port {slot.port}")
            up.append(f"set server {name} weight {slot.weight}")
            up.append(f"set server {name} state ready")
        else:
            down.append(f"set server {name} state maint")
            down.append(f"set server {name} weight 0")
    return up, down


# ------------------------------------------------------------------------------------ configuration

_GLOBAL = f"""\
# Generated by Escadre: the router of one app. Rewritten on every change; edits are lost.
global
    # maxconn follows the container's open-files limit, capped (1M-fd hosts would waste memory)
    fd-hard-limit 65536
    hard-stop-after 60s
    stats socket {SOCKET} mode 666 level admin expose-fd listeners
    stats socket ipv4@127.0.0.1:{ADMIN_PORT} level admin
    stats timeout 30s

defaults
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout queue 10s
    timeout check 1s
    timeout http-keep-alive 10s
    timeout http-request 30s
    timeout tunnel 1h
    retries 3
    option redispatch 1
"""


def render_config(state: State) -> str:
    """The HAProxy configuration for ``state`` (listeners and every slot's current content)."""
    out = [_GLOBAL]
    if state.metrics:
        out.append(
            f"frontend escadre_metrics\n    mode http\n    bind :{METRICS_PORT}\n"
            "    http-request use-service prometheus-exporter if { path /metrics }\n"
            "    http-request return status 404\n"
        )
    previews = preview_ports(state.listeners)
    for listener in sorted(state.listeners, key=lambda item: (item.port, item.service)):
        backend = state.backend(listener)
        binds = [("", listener.port, backend_name(listener))]
        if listener.key in previews:
            binds.append(("_preview", previews[listener.key], backend_name(listener, "preview")))
        for suffix, port, target in binds:
            lines = [f"frontend fe_{_ident(listener.service)}_{listener.port}{suffix}", f"    mode {listener.mode}"]
            lines.append(f"    bind :{port}")
            if listener.mode == "http":
                lines.append("    option forwardfor")
                # on a reload, idle keep-alive connections get "Connection: close" on their next response
                # instead of being closed under a client that may be sending a request at that moment
                lines.append("    option idle-close-on-response")
            lines.append(f"    default_backend {target}")
            out.append("\n".join(lines) + "\n")
        for role in roles_of(listener):
            if role == "canary":
                continue
            name = backend_name(listener, role)
            lines = [f"backend {name}", f"    mode {listener.mode}", "    balance roundrobin"]
            lines.append("    default-server check inter 1s fastinter 500ms downinter 1s fall 2 rise 1")
            for member in ("stable", "canary") if role == "stable" else ("preview",):
                for i, slot in enumerate(backend.slots[member], start=1):
                    state_kw = "" if slot.ready else " disabled"
                    lines.append(f"    server {member}{i} {slot.address}:{slot.port} weight {slot.weight}{state_kw}")
            out.append("\n".join(lines) + "\n")
    return "\n".join(out)


# ------------------------------------------------------------------------------------------ show stat


def parse_stat(text: str) -> list[dict[str, str]]:
    """Rows of ``show stat`` CSV output; several replies may follow each other (each with its ``# `` header)."""
    rows: list[dict[str, str]] = []
    header: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("# "):
            header = next(csv.reader([line[2:]]))
        elif line.strip() and header is not None:
            rows.append(dict(zip(header, next(csv.reader([line])), strict=False)))
    return rows


def _int(row: Mapping[str, str], key: str) -> int:
    value = row.get(key) or ""
    return int(value) if value.isdigit() else 0


def _role(name: str) -> str:
    return name.rstrip("0123456789")


def serving(row: Mapping[str, str]) -> bool:
    """A slot that takes traffic: not in maintenance or drain, and not marked down by checks."""
    status = row.get("status", "")
    return status.startswith("UP") or status == "no check"


def counters_from_rows(rows: Iterable[Mapping[str, str]], roles: Sequence[str]) -> dict[str, Counters]:
    totals: dict[str, dict[str, int]] = {role: {} for role in roles}
    for row in rows:
        role = _role(row.get("svname", ""))
        if role not in totals or row.get("svname") in ("FRONTEND", "BACKEND"):
            continue
        t = totals[role]
        requests = _int(row, "req_tot") if row.get("req_tot") else _int(row, "stot")
        for key, value in (
            ("requests", requests),
            ("responses_5xx", _int(row, "hrsp_5xx")),
            ("responses_4xx", _int(row, "hrsp_4xx")),
            ("responses_2xx", _int(row, "hrsp_2xx")),
            ("connection_errors", _int(row, "econ") + _int(row, "eresp")),
            ("current_sessions", _int(row, "scur")),
        ):
            t[key] = t.get(key, 0) + value
    return {role: Counters(**values) for role, values in totals.items()}


def shares_from_rows(rows: Iterable[Mapping[str, str]], roles: Sequence[str]) -> dict[str, int]:
    """Percent of new requests each role gets now (slots that serve, by their weight)."""
    sums = dict.fromkeys(roles, 0)
    for row in rows:
        role = _role(row.get("svname", ""))
        if role in sums and serving(row):
            sums[role] += _int(row, "weight")
    total = sum(sums.values())
    if not total:
        return dict.fromkeys(roles, 0)
    shares = {role: round(100 * value / total) for role, value in sums.items()}
    drift = 100 - sum(shares.values())
    if drift:
        top = max(shares, key=lambda role: sums[role])
        shares[top] += drift
    return shares


_OK_REPLY = re.compile(r"^(IP changed from|no need to change the addr|port changed from|IP and port)", re.I)


def runtime_errors(reply: str) -> list[str]:
    """Lines of a reply to ``set server`` commands that are not one of HAProxy's success messages."""
    return [line for line in reply.splitlines() if line.strip() and not _OK_REPLY.match(line.strip())]


__all__ = [
    "Counters",
    "Listener",
    "Server",
    "Slot",
    "State",
    "render_config",
    "split_weights",
]
