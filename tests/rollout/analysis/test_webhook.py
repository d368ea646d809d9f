"""The webhook provider against a loopback server: what is sent, every kind of answer, and no token
ever echoed in a message."""

from __future__ import annotations

import json
from typing import Any

import pytest

from escadre.model.settings import AnalysisRef, AnalysisTemplate
from escadre.rollout.analysis import AnalysisRun, MeasureContext, MeasurementError, Reading
from escadre.rollout.analysis.providers import Webhook
from escadre.rollout.analysis.providers.webhook import interpret
from tests.rollout.analysis.helpers import Answer, Seen, free_port, loopback, metric, target

TOKEN = "Bearer s3cr3t-t0ken-value"


def hook(url: str, **fields: Any) -> Any:
    return metric("hook", provider={"webhook": {"url": url, "headers": {"Authorization": TOKEN}, **fields}})


def measure(answer: Answer, **fields: Any) -> tuple[Reading, list[Seen]]:
    with loopback(lambda seen, n: answer) as server:
        ctx = MeasureContext(target(args={"suite": "smoke"}), "hook", "canary")
        reading = Webhook().measure(hook(server.url + "/judge?key=abc", **fields), ctx)
    return reading, server.requests


def test_posts_the_rollout_context() -> None:
    reading, requests = measure(Answer(200, {"pass": True}))
    assert reading.verdict == "successful"
    (seen,) = requests
    assert (seen.method, seen.path) == ("POST", "/judge?key=abc")
    assert seen.headers["authorization"] == TOKEN
    assert seen.headers["content-type"] == "application/json"
    assert json.loads(seen.body) == {
        "app": "shop",
        "service": "api",
        "canary_revision": "v2",
        "stable_revision": "v1",
        "revision": "v2",
        "role": "canary",
        "metric": "hook",
        "args": {"suite": "smoke"},
    }


@pytest.mark.parametrize(
    ("body", "json_path", "value", "verdict"),
    [
        ({"pass": False, "message": "3 tests failed"}, None, None, "failed"),
        ({"inconclusive": True}, None, None, "inconclusive"),
        ({"result": 0.97}, None, 0.97, None),
        (0.5, None, 0.5, None),
        ([1, 2], None, [1.0, 2.0], None),
        ({"data": {"series": [{"v": "0.25"}]}}, "data.series.0.v", 0.25, None),
        ({"data": {"ok": True}}, "data.ok", None, "successful"),
        ({"result": None}, None, None, None),
    ],
)
def test_answers(body: Any, json_path: str | None, value: Any, verdict: str | None) -> None:
    reading, _ = measure(Answer(200, body), json_path=json_path)
    assert (reading.value, reading.verdict) == (value, verdict)
    if body == {"pass": False, "message": "3 tests failed"}:
        assert reading.detail == "3 tests failed"


def test_webhook_judges_in_a_run_with_template_args() -> None:
    with loopback(lambda seen, n: Answer(200, {"pass": json.loads(seen.body)["args"]["suite"] == "smoke"})) as server:
        templates = {
            "smoke": AnalysisTemplate.model_validate(
                {
                    "metrics": [
                        {
                            "name": "tests",
                            "count": 2,
                            "interval": 0,
                            "provider": {"webhook": {"url": server.url + "/{{args.suite}}"}},
                        }
                    ]
                }
            )
        }
        ref = AnalysisRef(templates=["smoke"], args={"suite": "smoke"})
        result = AnalysisRun.for_ref("smoke-tests", ref, templates, target()).run()
    assert result.phase == "successful"
    assert [s.path for s in server.requests] == ["/smoke", "/smoke"]


def test_errors_are_worded_without_secrets() -> None:
    echo = Answer(401, f"invalid token {TOKEN}", content_type="text/plain")
    with pytest.raises(MeasurementError) as info:
        measure(echo)
    message = str(info.value)
    assert info.value.permanent
    assert message.startswith("webhook http://127.0.0.1:")
    assert "/judge answered HTTP 401: 'invalid token <redacted>'" in message
    assert "s3cr3t" not in message and "key=abc" not in message

    with pytest.raises(MeasurementError) as info:
        measure(Answer(503, {"error": "overloaded"}))
    assert not info.value.permanent
    assert "HTTP 503" in str(info.value)

    with pytest.raises(MeasurementError, match="not JSON"):
        measure(Answer(200, "<html>login</html>", content_type="text/html"))

    with pytest.raises(MeasurementError, match="expected") as info:
        measure(Answer(200, {"status": "fine", "echo": TOKEN}))
    assert "s3cr3t" not in str(info.value)

    with pytest.raises(MeasurementError, match=r"without 'data.value' \(json_path\)"):
        measure(Answer(200, {"data": {}}), json_path="data.value")


def test_unreachable_webhook() -> None:
    port = free_port()
    url = f"http://user:pw@127.0.0.1:{port}/hook?token=abc"
    with pytest.raises(MeasurementError) as info:
        Webhook().measure(hook(url, timeout=1), MeasureContext(target(), "hook", "canary"))
    assert not info.value.permanent
    assert str(info.value) == f"webhook http://127.0.0.1:{port}/hook: connection refused"


def test_credentials_in_the_url_become_basic_auth() -> None:
    with loopback(lambda seen, n: Answer(200, {"pass": True})) as server:
        url = f"http://robot:p%40ss@{server.address}/hook"
        m = metric("hook", provider={"webhook": {"url": url}})
        assert Webhook().measure(m, MeasureContext(target(), "hook", "canary")).verdict == "successful"
    assert server.requests[0].headers["authorization"] == "Basic cm9ib3Q6cEBzcw=="  # robot:p@ss


def test_interpret_strings_that_are_not_numbers() -> None:
    with pytest.raises(MeasurementError, match="where a number was expected"):
        interpret({"result": "high"}, None)
