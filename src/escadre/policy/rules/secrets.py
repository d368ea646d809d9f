"""Secrets (``ESC-SEC-*``): credentials written where they leak — environment, build args, labels.

Environment variables are visible to anyone who can ``docker inspect`` a container or read
``/proc/<pid>/environ``, are copied into crash reports and child processes, and end in the state store
of every deploy tool. Build args and labels are baked into image metadata and pushed with it.

Both Compose spellings of ``environment`` are read (``[KEY=value]`` and ``{KEY: value}``): the loader has
already normalized them to one mapping, which is why the list form is not missed here. Whether a value
is *written in the file* or *interpolated* (``${DB_PASSWORD}``) is told from the raw line the loader
located, so a committed password and a password passed through the environment are two findings with
two remedies. Messages name the key, never the value.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

from escadre.policy.model import Hit, Key, Refs, RuleSet
from escadre.policy.subjects import ServiceInput, known_token, secret_name, secret_value, url_credentials

rules = RuleSet("compose", "secrets")


def _suspicious(key: str, value: object) -> bool:
    return (secret_name(key) and secret_value(value)) or url_credentials(value)


@rules.add(
    "ESC-SEC-001",
    "Secret written in the environment",
    "high",
    rationale="""A credential written in the Compose file is in version control, in every copy of the
    file, and in the environment of the container, where `docker inspect` shows it.""",
    remediation="""Move it to a Compose secret (`secrets:` with `file:` or `environment:`) and read the
    file it is mounted as (`*_FILE` variables); rotate the exposed value.""",
    refs=Refs(cis=("4.10",), nsa=("Secrets",)),
)
def literal_env(s: ServiceInput) -> Iterator[Hit]:
    for key, value in s.service.environment.items():
        if _suspicious(key, value) and known_token(value) is None and s.written_literally(("environment", key)):
            yield Hit(f"environment variable {key} holds a credential written in the file", ("environment", key), key)


@rules.add(
    "ESC-SEC-002",
    "Secret passed as an environment variable",
    "medium",
    rationale="""Even when it is not committed, a credential in an environment variable is readable by
    `docker inspect`, in /proc, in child processes and crash dumps; files mounted from secrets are not.""",
    remediation="""Declare it as a Compose secret (`secrets: {db_password: {environment: DB_PASSWORD}}`) and
    have the service read `/run/secrets/db_password`.""",
    refs=Refs(nsa=("Secrets",), checkov=("CKV_K8S_35",)),
)
def env_secret(s: ServiceInput) -> Iterator[Hit]:
    for key, value in s.service.environment.items():
        if not secret_name(key) or known_token(value) is not None:
            continue
        if value is None:
            yield Hit(f"environment variable {key} passes a credential from the host", ("environment", key), key)
        elif secret_value(value) and not s.written_literally(("environment", key)):
            yield Hit(f"environment variable {key} carries a credential", ("environment", key), key)


def _values(s: ServiceInput) -> Iterator[tuple[tuple[Key, ...], str, object]]:
    for key, value in s.service.environment.items():
        yield ("environment", key), f"environment variable {key}", value
    for key, value in s.service.labels.items():
        yield ("labels", key), f"label {key}", value
    for key, value in s.service.deploy.labels.items():
        yield ("deploy", "labels", key), f"deploy label {key}", value
    if s.service.build is not None:
        for key, value in s.service.build.args.items():
            yield ("build", "args", key), f"build arg {key}", value
        for key, value in s.service.build.labels.items():
            yield ("build", "labels", key), f"build label {key}", value
    for field in ("command", "entrypoint"):
        for index, word in enumerate(getattr(s.service, field) or ()):
            yield (field, index), f"{field} argument {index}", word


@rules.add(
    "ESC-SEC-003",
    "Known credential format",
    "critical",
    rationale="""A value matching a provider's key format (AWS, GitHub, GitLab, Slack, Stripe, Google) or a
    PEM private key is almost certainly live; it has to be revoked, not only removed.""",
    remediation="Revoke the credential at its provider, then pass the new one as a Compose secret.",
    refs=Refs(cis=("4.10",)),
)
def known_tokens(s: ServiceInput) -> Iterator[Hit]:
    for path, what, value in _values(s):
        label = known_token(value)
        if label is not None:
            yield Hit(f"{what} contains {label}", path, what)


@rules.add(
    "ESC-SEC-004",
    "Secret in a build argument",
    "high",
    rationale="""Build arguments are recorded in the image's history (`docker history`) and travel with
    the image to every registry and node that pulls it.""",
    remediation="Use a build secret (`build.secrets` and `RUN --mount=type=secret`) instead.",
    refs=Refs(cis=("4.10",), trivy=("DS031",)),
)
def build_args(s: ServiceInput) -> Iterator[Hit]:
    if s.service.build is None:
        return
    for key, value in s.service.build.args.items():
        if _suspicious(key, value) and known_token(value) is None:
            yield Hit(f"build arg {key} passes a credential into the image", ("build", "args", key), key)


@rules.add(
    "ESC-SEC-005",
    "Secret in a label",
    "high",
    rationale="Labels are public metadata: `docker inspect`, registries and every monitoring agent read them.",
    remediation="Remove the credential from the label; labels are for non-sensitive metadata only.",
    refs=Refs(cis=("4.10",)),
)
def labels(s: ServiceInput) -> Iterator[Hit]:
    sources: list[tuple[tuple[Key, ...], Mapping[str, object]]] = [
        (("labels",), s.service.labels),
        (("deploy", "labels"), s.service.deploy.labels),
    ]
    if s.service.build is not None:
        sources.append((("build", "labels"), s.service.build.labels))
    for prefix, mapping in sources:
        for key, value in mapping.items():
            if _suspicious(key, value) and known_token(value) is None:
                yield Hit(f"label {key} holds a credential", (*prefix, key), key)


@rules.add(
    "ESC-SEC-006",
    "Secret file inside the project",
    "medium",
    rationale="""A secret whose `file:` lies inside the project directory is one `git add .` away from being
    committed with the Compose file, if it is not already.""",
    remediation="""Keep secret files outside the repository (or use `environment:` / `external: true`), and
    list them in .gitignore meanwhile.""",
    refs=Refs(cis=("4.10",)),
)
def secret_in_project(s: ServiceInput) -> Iterator[Hit]:
    root = os.path.abspath(s.project.working_dir) + os.sep
    for mount in s.service.secrets:
        source = s.project.secrets.get(mount.source)
        if source is not None and source.file and os.path.abspath(source.file).startswith(root):
            yield Hit(
                f"uses the secret {mount.source}, read from {os.path.relpath(source.file, root)} inside the project",
                ("secrets", mount.source, "file"),
                evidence=mount.source,
                absolute=True,
            )


RULES = rules.rules
