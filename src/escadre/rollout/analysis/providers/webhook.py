"""Webhook: let any system judge the canary — a test suite, a load test, an SLO service.

Escadre POSTs the rollout context as JSON::

    {"app": ..., "service": ..., "canary_revision": ..., "stable_revision": ..., "revision": ...,
     "role": "canary", "metric": ..., "args": {...}}

and reads the answer:

* ``{"pass": true|false}`` judges directly (conditions are not used);
* ``{"inconclusive": true}`` is inconclusive (pause for a human);
* ``{"result": 0.97}``, a bare number or list of numbers, or the value at ``json_path`` (dotted, list
  indexes allowed: ``data.0.value``) is the ``result`` conditions judge; ``null`` there is no data.

An optional ``"message"`` in the answer is kept in the measurement. A 4xx answer (wrong URL, rejected
token) is a permanent error; a 5xx, 408, 429 or no answer is retried. Headers (tokens) are never
echoed: if the server's error body repeats one, it is masked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from escadre.rollout.analysis.model import MeasureContext, MeasurementError, Reading
from escadre.rollout.analysis.providers._http import Failure, describe, safe_url, send, snippet

if TYPE_CHECKING:
    from escadre.model.settings import Metric

_RETRYABLE = {408, 425, 429}
_MISSING = object()


class Webhook:
    """The ``webhook`` provider."""

    def measure(self, metric: Metric, ctx: MeasureContext) -> Reading:
        config = metric.provider.webhook
        if config is None:
            raise MeasurementError(f"metric {metric.name!r} has no webhook provider", permanent=True)
        url = ctx.render(config.url)
        where = safe_url(url)
        target = ctx.target
        body = {
            "app": target.app,
            "service": target.service,
            "canary_revision": target.canary_revision,
            "stable_revision": target.stable_revision,
            "revision": ctx.revision,
            "role": ctx.role,
            "metric": metric.name,
            "args": dict(target.args),
        }
        headers = {"Content-Type": "application/json", "Accept": "application/json", **config.headers}
        secrets = [v for value in config.headers.values() for v in (value, *value.split())]
        try:
            answer = send(url, method="POST", headers=headers, body=json.dumps(body).encode(), timeout=config.timeout)
        except Failure as exc:
            raise MeasurementError(f"webhook {where}: {describe(exc, config.timeout)}") from None
        except ValueError as exc:
            raise MeasurementError(f"invalid webhook URL {where!r}: {exc}", permanent=True) from None
        if not answer.ok:
            permanent = 300 <= answer.status < 500 and answer.status not in _RETRYABLE
            raise MeasurementError(
                f"webhook {where} answered HTTP {answer.status}: {snippet(answer.body, secrets)!r}", permanent=permanent
            )
        try:
            payload = json.loads(answer.body) if answer.body.strip() else None
        except ValueError:
            raise MeasurementError(
                f"webhook {where} answered something that is not JSON: {snippet(answer.body, secrets)!r}"
            ) from None
        return interpret(payload, config.json_path, where, secrets)


def interpret(payload: Any, json_path: str | None, where: str = "the webhook", secrets: Sequence[str] = ()) -> Reading:
    """The reading a webhook's decoded JSON answer stands for (see the module docstring)."""
    message = ""
    if isinstance(payload, dict):
        message = snippet(str(payload.get("message") or "").encode(), secrets)
        if payload.get("inconclusive") is True:
            return Reading(None, verdict="inconclusive", detail=message or f"{where} answered inconclusive")
    if json_path:
        value = dig(payload, json_path)
        if value is _MISSING:
            raise MeasurementError(f"{where} answered without {json_path!r} (json_path): {_short(payload, secrets)}")
    elif isinstance(payload, dict) and "pass" in payload:
        value = payload["pass"]
        if not isinstance(value, bool):
            raise MeasurementError(f"{where} answered a non-boolean 'pass': {value!r}", permanent=True)
    elif isinstance(payload, dict) and "result" in payload:
        value = payload["result"]
    elif isinstance(payload, dict):
        raise MeasurementError(
            f'{where} answered {_short(payload, secrets)}: expected {{"pass": bool}}, {{"result": number}}, '
            '{"inconclusive": true} or a number',
            permanent=True,
            hint="set json_path to the number's place in the answer, e.g. json_path: data.value",
        )
    else:
        value = payload
    if isinstance(value, bool):
        return Reading(
            None,
            verdict="successful" if value else "failed",
            detail=message or f"{where} answered pass={str(value).lower()}",
        )
    detail = message or f"{where} answered"
    if value is None:
        return Reading(None, detail=f"{where} answered null")
    if isinstance(value, list):
        return Reading([_number(v, where) for v in value], detail=detail)
    return Reading(_number(value, where), detail=detail)


def dig(payload: Any, path: str) -> Any:
    """The value at dotted ``path`` in ``payload`` (digits index lists); ``_MISSING`` when absent."""
    current = payload
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit() and -len(current) <= int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def _number(value: Any, where: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise MeasurementError(f"{where} answered {value!r} where a number was expected", permanent=True)


def _short(payload: Any, secrets: Sequence[str]) -> str:
    return snippet(json.dumps(payload).encode(), secrets)
