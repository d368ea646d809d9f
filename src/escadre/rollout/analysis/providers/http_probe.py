"""The built-in HTTP probe: success rate and latency of a revision, measured by Escadre itself.

Not everyone runs Prometheus, and a canary that answers 500s or takes seconds should still be caught.
Each measurement sends ``requests`` requests (four at a time) spread over every instance address of
the role, and gives conditions ``result`` (the share of answers whose status is in ``success_status``),
``error_rate`` (1 - result), ``p50``/``p90``/``p99`` latency in seconds and ``requests`` (how many were
sent) — so ``result >= 0.95 and p99 < 0.5`` works.

What counts:

* no address to probe (no instance of that role yet) is *no data*: inconclusive, never a pass;
* a request without answer (refused, reset, timed out) counts as a failed request: a canary that drops
  connections is failing. Timed-out requests count in the latency percentiles at their elapsed time,
  so slowness cannot hide behind the timeout;
* when *no* request got an answer at all the probe cannot tell a dead canary from an unreachable
  network, so the measurement is an *error* that names the addresses and the reason.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from escadre.rollout.analysis.model import MeasureContext, MeasurementError, Reading
from escadre.rollout.analysis.providers._http import Failure, describe, send

if TYPE_CHECKING:
    from escadre.model.settings import HttpProbeProvider, Metric

CONCURRENCY = 4


@dataclass(frozen=True)
class _Outcome:
    status: int | None
    elapsed: float
    error: str = ""
    timed_out: bool = False


class HttpProbe:
    """The ``http`` provider."""

    def __init__(self, concurrency: int = CONCURRENCY) -> None:
        self.concurrency = concurrency

    def measure(self, metric: Metric, ctx: MeasureContext) -> Reading:
        config = metric.provider.http
        if config is None:
            raise MeasurementError(f"metric {metric.name!r} has no http provider", permanent=True)
        addresses = [a for a in ctx.target.addresses(ctx.role) if a]
        if not addresses:
            return Reading(None, detail=f"no {ctx.role} instance to probe (no address)")
        path = ctx.render(config.path)
        if not path.startswith("/"):
            path = "/" + path
        urls = [f"http://{with_port(address, config.port)}{path}" for address in addresses]
        plan = [urls[i % len(urls)] for i in range(config.requests)]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(plan)), thread_name_prefix="probe") as pool:
            outcomes = list(pool.map(lambda url: _request(url, config), plan))
        answered = [o for o in outcomes if o.status is not None]
        reasons = Counter(o.error for o in outcomes if o.error)
        why = ", ".join(f"{n}× {reason}" for reason, n in reasons.most_common(3))
        if not answered:
            shown = ", ".join(addresses[:5]) + (", ..." if len(addresses) > 5 else "")
            raise MeasurementError(
                f"none of the {len(outcomes)} probe requests to the {ctx.role} revision ({shown}) got an answer: {why}",
                hint="check that the instances listen on that port and are reachable from where Escadre runs",
            )
        good = sum(1 for o in answered if o.status in config.success_status)
        rate = good / len(outcomes)
        timed = sorted(o.elapsed for o in outcomes if o.status is not None or o.timed_out)
        variables = {
            "p50": percentile(timed, 50),
            "p90": percentile(timed, 90),
            "p99": percentile(timed, 99),
            "error_rate": 1.0 - rate,
            "requests": len(outcomes),
        }
        statuses = Counter(o.status for o in answered if o.status not in config.success_status)
        bad = ", ".join(f"{n}× HTTP {s}" for s, n in statuses.most_common(3))
        failures = "; ".join(part for part in (bad, why) if part)
        detail = (
            f"{good}/{len(outcomes)} {config.method} {path} succeeded on {len(addresses)} {ctx.role} instance(s), "
            f"p50 {variables['p50']:.3f}s p99 {variables['p99']:.3f}s" + (f" (failed: {failures})" if failures else "")
        )
        return Reading(rate, variables, detail=detail)


def with_port(address: str, port: int | None) -> str:
    """``address`` (``host:port``, ``[v6]:port`` or ``host``) with its port replaced by ``port``."""
    if port is None:
        return address
    host = address
    if address.startswith("["):
        host = address[: address.index("]") + 1]
    elif address.count(":") == 1:
        host = address.rsplit(":", 1)[0]
    elif address.count(":") > 1:
        host = f"[{address}]"
    return f"{host}:{port}"


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values; NaN when there are none."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def _request(url: str, config: HttpProbeProvider) -> _Outcome:
    body = b"" if config.method == "POST" else None
    start = time.perf_counter()
    try:
        answer = send(url, method=config.method, headers=config.headers, body=body, timeout=config.timeout, direct=True)
    except Failure as exc:
        reason = describe(exc, config.timeout)
        return _Outcome(None, time.perf_counter() - start, reason, reason.startswith("timed out"))
    except ValueError as exc:
        return _Outcome(None, time.perf_counter() - start, f"invalid URL: {exc}")
    return _Outcome(answer.status, time.perf_counter() - start)
