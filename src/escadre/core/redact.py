"""Keeping secret values out of output, logs and the state store.

Compose ``secrets`` are handled as files and never read into the model's output. But users also put
passwords in ``environment`` (the policy engine flags that), and ``secrets: {content: ...}`` carries a value
inline. Everything Escadre prints, stores or serves goes through ``redact_spec`` first: values of
secret-looking keys are replaced by a marker that keeps a short digest, so a change is still visible
(``<redacted sha256:1a2b3c4d>``) while the value is not.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key|access[_-]?key|credential|"
    r"auth|_key$|^key$|_pw$|_pwd$|dsn|connection[_-]?string)",
    re.IGNORECASE,
)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<pw>[^@/\s]+)@", re.I)


def looks_secret(key: str) -> bool:
    """True when a variable or label name suggests its value is a credential."""
    return bool(SECRET_KEY.search(key))


def _points_to_a_file(key: str, text: str) -> bool:
    """``DB_PASSWORD_FILE=/run/secrets/db_password`` names where the secret is, not the secret."""
    return key.upper().endswith(("_FILE", "_PATH", "_DIR")) and text.startswith("/")


def marker(value: str) -> str:
    digest = hashlib.sha256(value.encode()).hexdigest()[:8]
    return f"<redacted sha256:{digest}>"


def redact_value(key: str, value: Any) -> Any:
    if value is None or not isinstance(value, str | int | float) or isinstance(value, bool):
        return value
    text = str(value)
    if looks_secret(key) and text and not _points_to_a_file(key, text):
        return marker(text)
    return _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{marker(m['pw'])}@", text)


def redact_env(env: Mapping[str, Any]) -> dict[str, Any]:
    return {k: redact_value(k, v) for k, v in env.items()}


def redact_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a normalized Compose mapping (a whole project or one service) fit to show or store."""
    out = dict(spec)
    if "environment" in out and isinstance(out["environment"], Mapping):
        out["environment"] = redact_env(out["environment"])
    if "build" in out and isinstance(out["build"], Mapping):
        build = dict(out["build"])
        if isinstance(build.get("args"), Mapping):
            build["args"] = redact_env(build["args"])
        out["build"] = build
    if "services" in out and isinstance(out["services"], Mapping):
        out["services"] = {name: redact_spec(svc) for name, svc in out["services"].items()}
    for section in ("secrets", "configs"):
        if section in out and isinstance(out[section], Mapping):
            redacted = {}
            for name, item in out[section].items():
                if isinstance(item, Mapping) and "content" in item and section == "secrets":
                    redacted[name] = {**item, "content": marker(str(item["content"]))}
                else:
                    redacted[name] = item
            out[section] = redacted
    return out
