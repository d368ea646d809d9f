"""What each kind of rule receives, and the small readers several rules share.

A Compose rule gets a :class:`ServiceInput` (the model's ``Service``, plus its parsed Dockerfile when it is
built here, plus the raw text of any key so a rule can tell a literal written in the file from a value
interpolated from the environment); a Dockerfile rule a :class:`DockerfileInput`; a target rule a
:class:`TargetInput` with the rendered objects.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from escadre.core.redact import looks_secret
from escadre.model.project import Project, Service
from escadre.policy.dockerfile import Dockerfile
from escadre.policy.manifests import Manifests
from escadre.policy.model import Key


@dataclass(frozen=True, slots=True)
class RuleOptions:
    """Settings some rules read. ``allowed_registries``: registry hosts images may come from (empty:
    the registry allow-list rule does not apply); ``ESCADRE_POLICY_REGISTRIES`` sets it."""

    allowed_registries: tuple[str, ...] = ()


def _no_text(_path: tuple[Key, ...]) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class ServiceInput:
    project: Project
    service: Service
    dockerfile: Dockerfile | None = None
    options: RuleOptions = field(default_factory=RuleOptions)
    source_line: Callable[[tuple[Key, ...]], str | None] = _no_text
    """The raw line of the Compose file where the key at an absolute path is written: ``None`` when the
    project has no positions at all, ``""`` when that exact key has none (a value from an ``env_file``)."""

    @property
    def name(self) -> str:
        return self.service.name

    @property
    def spec(self) -> dict[str, object]:
        return dict(self.service.spec)

    def written_literally(self, path: tuple[Key, ...]) -> bool:
        """Whether the value at ``path`` (relative to the service) is written in the Compose file as is,
        rather than interpolated (``${DB_PASSWORD}``) or read from an ``env_file``. Projects built without
        positions (no file to read) count as literal."""
        line = self.source_line(("services", self.name, *path))
        if line is None:
            return True
        return bool(line) and not re.search(r"\$(\{|[A-Za-z_])", line)

    def target(self) -> str | None:
        return self.service.build.target if self.service.build is not None else None


@dataclass(frozen=True, slots=True)
class DockerfileInput:
    dockerfile: Dockerfile
    services: tuple[str, ...] = ()
    target: str | None = None
    options: RuleOptions = field(default_factory=RuleOptions)


@dataclass(frozen=True, slots=True)
class TargetInput:
    manifests: Manifests
    project: Project | None = None
    options: RuleOptions = field(default_factory=RuleOptions)


# ------------------------------------------------------------------------------------ security options


def security_options(service: Service) -> Iterator[tuple[int, str, str]]:
    """``security_opt`` entries as (index, key, value): ``seccomp:unconfined`` and ``seccomp=unconfined``
    both give ``("seccomp", "unconfined")``; ``no-new-privileges`` alone gives value ``true``."""
    for index, entry in enumerate(service.security_opt):
        match = re.match(r"^([a-zA-Z-]+)(?:[:=](.*))?$", entry.strip())
        if not match:
            continue
        key = match.group(1).lower()
        value = match.group(2)
        yield index, key, ("true" if value is None else value.strip())


# ------------------------------------------------------------------------------------------------ users


def uid_of(user: str | None) -> int | None:
    """The numeric UID of a Compose/Dockerfile ``user`` (``"1000:1000"`` → 1000; ``root`` → 0; a name → None)."""
    if user is None:
        return None
    name = user.split(":", 1)[0].strip()
    if name == "root":
        return 0
    return int(name) if name.isdigit() else None


# ---------------------------------------------------------------------------------------------- secrets

_NOT_SECRET_SUFFIX = re.compile(
    r"(_FILE|_PATH|_DIR|_URL|_URI|_HOST|_PORT|_USER|_USERNAME|_NAME|_ENABLED|_ENABLE|_DISABLED|_METHOD|_MODE|"
    r"_TYPE|_TTL|_TIMEOUT|_EXPIRY|_EXPIRES|_EXPIRATION|_LENGTH|_ALGORITHM|_ALG|_HEADER|_PROVIDER|_ISSUER|"
    r"_AUDIENCE|_REALM|_SCOPE|_SCOPES|_ID|_VERSION|_LIFETIME|_ROTATION|_POLICY|_STRATEGY|_BACKEND|_REGION)$",
    re.IGNORECASE,
)
_PLAIN_VALUE = re.compile(r"^(true|false|yes|no|on|off|none|null|disabled?|enabled?|[0-9.]+[smhdkKMG]?|)$", re.I)
_URL_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.-]*://[^:/@\s]+:([^@/\s]+)@", re.I)
KNOWN_TOKENS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an AWS access key id", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    ("a GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b")),
    ("a Stripe live key", re.compile(r"\b[sr]k_live_[0-9a-zA-Z]{20,}\b")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----")),
)


def secret_name(name: str) -> bool:
    """A variable, argument or label name that suggests its value is a credential (``DB_PASSWORD``,
    ``API_TOKEN``), excluding names that describe one (``PASSWORD_FILE``, ``TOKEN_TTL``, ``AUTH_URL``)."""
    last = re.split(r"[.]", name)[-1]
    return looks_secret(last) and not _NOT_SECRET_SUFFIX.search(last)


def secret_value(value: object) -> bool:
    """A value that could be a credential: text that is not a flag, number, path or plain URL."""
    if not isinstance(value, str):
        return False
    text = value.strip()
    if len(text) < 4 or _PLAIN_VALUE.match(text):
        return False
    if text.startswith(("/", "./", "../", "~/")):
        return False
    if re.match(r"^[a-z][a-z0-9+.-]*://", text, re.I):
        return url_credentials(text)
    return not text.startswith("${")


def url_credentials(value: object) -> bool:
    """A URL with a password in it (``postgres://app:s3cret@db/app``)."""
    if not isinstance(value, str):
        return False
    match = _URL_CREDENTIALS.search(value)
    return match is not None and not match.group(1).startswith("$")


def known_token(value: object) -> str | None:
    """What well-known credential format ``value`` contains (``a GitHub token``), if any."""
    if not isinstance(value, str):
        return None
    for label, pattern in KNOWN_TOKENS:
        if pattern.search(value):
            return label
    return None
