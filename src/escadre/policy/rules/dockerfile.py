"""Dockerfile rules (``ESC-DKR-*``): the images a project builds itself.

They run on the Dockerfile of every service with a ``build:`` section (once per file and target), and
point at the instruction's line. What the built image runs as and whether it has a healthcheck is read
from the stage that is built (``build.target`` or the last), following ``FROM <earlier stage>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from escadre.policy.dockerfile import Instruction
from escadre.policy.model import Hit, Refs, RuleSet
from escadre.policy.rules.images import parse_image
from escadre.policy.subjects import DockerfileInput, known_token, secret_name, secret_value, uid_of, url_credentials

rules = RuleSet("dockerfile", "dockerfile")

TLS_OFF = (
    (re.compile(r"\bcurl\b[^;&|]*\s(-k|--insecure)\b"), "curl --insecure"),
    (re.compile(r"\bwget\b[^;&|]*\s--no-check-certificate\b"), "wget --no-check-certificate"),
    (re.compile(r"\bpip3?\b[^;&|]*\s--trusted-host\b"), "pip --trusted-host"),
    (re.compile(r"\b(npm|yarn)\b[^;&|]*\bstrict-ssl\b[\s=]*false\b"), "npm/yarn strict-ssl false"),
    (re.compile(r"\bsslverify\s*=\s*(0|false|no)\b", re.I), "yum/dnf sslverify=false"),
    (re.compile(r"\bgit\b[^;&|]*\bhttp\.sslVerify\b[\s=]*false\b", re.I), "git http.sslVerify false"),
)
TLS_ENV: dict[str, Callable[[str], bool]] = {
    "PYTHONHTTPSVERIFY": lambda v: v.strip("\"'") == "0",
    "NODE_TLS_REJECT_UNAUTHORIZED": lambda v: v.strip("\"'") == "0",
    "GIT_SSL_NO_VERIFY": lambda v: True,
    "NPM_CONFIG_STRICT_SSL": lambda v: v.strip("\"'").lower() == "false",
    "PIP_TRUSTED_HOST": lambda v: bool(v.strip("\"'")),
}
UNSIGNED = (
    (re.compile(r"\bapk\b[^;&|]*\s--allow-untrusted\b"), "apk --allow-untrusted"),
    (re.compile(r"\bapt(-get)?\b[^;&|]*\s--allow-unauthenticated\b"), "apt-get --allow-unauthenticated"),
    (re.compile(r"\bapt(-get)?\b[^;&|]*\s--force-yes\b"), "apt-get --force-yes"),
    (re.compile(r"\b(yum|dnf|tdnf)\b[^;&|]*\s--nogpgcheck\b"), "--nogpgcheck"),
    (re.compile(r"\brpm\b[^;&|]*\s--(nodigest|nosignature|noverify|nofiledigest)\b"), "rpm without verification"),
)


def _hit(instruction: Instruction, message: str, evidence: str = "") -> Hit:
    return Hit(
        message, (), evidence=evidence or f"{instruction.keyword} {instruction.args}"[:200], line=instruction.line
    )


def _env_pairs(instruction: Instruction) -> Iterator[tuple[str, str]]:
    """``ENV A=1 B=2`` / ``ENV A 1`` / ``ARG A=1`` as (name, value) pairs."""
    text = instruction.args.strip()
    if instruction.keyword == "ENV" and "=" not in text.split(" ", 1)[0]:
        name, _, value = text.partition(" ")
        yield name, value.strip()
        return
    for word in instruction.words():
        name, sep, value = word.partition("=")
        yield name, value if sep else ""


def _commands(d: DockerfileInput) -> Iterator[Instruction]:
    return (i for i in d.dockerfile.instructions if i.keyword == "RUN")


@rules.add(
    "ESC-DKR-001",
    "Image without a USER",
    "medium",
    rationale="Without a USER instruction the image's processes run as root unless every deployer overrides it.",
    remediation="Create a user (`RUN useradd -u 10001 app`) and end the build stage with `USER 10001`.",
    refs=Refs(cis=("4.1",), checkov=("CKV_DOCKER_3",), trivy=("DS002",)),
)
def no_user(d: DockerfileInput) -> Iterator[Hit]:
    stage = d.dockerfile.stage(d.target)
    if stage is not None and d.dockerfile.user(d.target) is None:
        yield Hit(f"the built stage (FROM {stage.base}) sets no USER: it runs as root", (), "no-user", stage.line)


@rules.add(
    "ESC-DKR-002",
    "Last USER is root",
    "medium",
    rationale="Switching back to root at the end of a build leaves the image running as root.",
    remediation="End the stage with `USER` of an unprivileged user.",
    refs=Refs(checkov=("CKV_DOCKER_8",), trivy=("DS002",), hadolint=("DL3002",)),
)
def root_user(d: DockerfileInput) -> Iterator[Hit]:
    found = d.dockerfile.last("USER", d.target)
    if found is not None and uid_of(found.args.strip()) == 0:
        yield _hit(found, f"the last USER is root ({found.args.strip()})")


@rules.add(
    "ESC-DKR-003",
    "Image without a HEALTHCHECK",
    "low",
    rationale="""Without a HEALTHCHECK (and none in the Compose file) nothing tells a broken container
    from a working one.""",
    remediation="Add `HEALTHCHECK CMD …` that exercises the service, or a `healthcheck:` in the Compose file.",
    refs=Refs(cis=("4.6",), checkov=("CKV_DOCKER_2",), trivy=("DS026",), hadolint=("DL3057",)),
)
def no_healthcheck(d: DockerfileInput) -> Iterator[Hit]:
    stage = d.dockerfile.stage(d.target)
    if stage is not None and d.dockerfile.last("HEALTHCHECK", d.target) is None:
        yield Hit(f"the built stage (FROM {stage.base}) has no HEALTHCHECK", (), "no-healthcheck", stage.line)


@rules.add(
    "ESC-DKR-004",
    "ADD instead of COPY",
    "low",
    rationale="""ADD fetches URLs and unpacks archives implicitly: remote content without a checksum, and
    surprises when a file happens to be a tarball.""",
    remediation="Use COPY for local files; download with `curl` and verify a checksum for remote ones.",
    refs=Refs(cis=("4.9",), checkov=("CKV_DOCKER_4",), trivy=("DS005",), hadolint=("DL3020",)),
)
def add_instruction(d: DockerfileInput) -> Iterator[Hit]:
    for instruction in d.dockerfile.instructions:
        if instruction.keyword == "ADD":
            yield _hit(instruction, "uses ADD; COPY is explicit")


@rules.add(
    "ESC-DKR-005",
    "Secret in ENV or ARG",
    "high",
    rationale="""ENV and ARG values are stored in the image's configuration and history, readable by anyone
    who pulls it.""",
    remediation="Use a build secret (`RUN --mount=type=secret`) at build time, a Compose secret at run time.",
    refs=Refs(cis=("4.10",), trivy=("DS031",)),
)
def env_secret(d: DockerfileInput) -> Iterator[Hit]:
    for instruction in d.dockerfile.instructions:
        if instruction.keyword not in ("ENV", "ARG"):
            continue
        for name, value in _env_pairs(instruction):
            if known_token(value) or url_credentials(value) or (secret_name(name) and secret_value(value)):
                yield _hit(
                    instruction, f"{instruction.keyword} {name} holds a credential", f"{instruction.keyword} {name}"
                )


@rules.add(
    "ESC-DKR-006",
    "TLS verification disabled",
    "high",
    rationale="""Turning off certificate checks (curl -k, wget --no-check-certificate, pip --trusted-host,
    NODE_TLS_REJECT_UNAUTHORIZED=0…) lets anyone on the path substitute what the build downloads.""",
    remediation="Remove the option; install the CA certificate the build needs instead.",
    refs=Refs(
        checkov=(
            "CKV2_DOCKER_2",
            "CKV2_DOCKER_3",
            "CKV2_DOCKER_4",
            "CKV2_DOCKER_5",
            "CKV2_DOCKER_6",
            "CKV2_DOCKER_12",
            "CKV2_DOCKER_13",
            "CKV2_DOCKER_14",
            "CKV2_DOCKER_15",
            "CKV2_DOCKER_16",
        ),
    ),
)
def tls_off(d: DockerfileInput) -> Iterator[Hit]:
    for instruction in d.dockerfile.instructions:
        if instruction.keyword == "RUN":
            for pattern, label in TLS_OFF:
                if pattern.search(instruction.args):
                    yield _hit(instruction, f"disables TLS verification ({label})", label)
            for name, check in TLS_ENV.items():
                match = re.search(rf"\b{name}=(\S+)", instruction.args)
                if match and check(match.group(1)):
                    yield _hit(instruction, f"disables TLS verification ({name})", name)
        elif instruction.keyword in ("ENV", "ARG"):
            for name, value in _env_pairs(instruction):
                verify = TLS_ENV.get(name.upper())
                if verify is not None and value and verify(value):
                    yield _hit(instruction, f"disables TLS verification ({name}={value})", name)


@rules.add(
    "ESC-DKR-007",
    "sudo in RUN",
    "medium",
    rationale="""Build steps already run as root (or as the USER chosen); sudo in an image means a setuid path
    to root at run time.""",
    remediation="Drop sudo: run the step before switching USER, or use gosu in entrypoints.",
    refs=Refs(checkov=("CKV2_DOCKER_1",), trivy=("DS010",), hadolint=("DL3004",)),
)
def sudo(d: DockerfileInput) -> Iterator[Hit]:
    for instruction in _commands(d):
        if re.search(r"(^|[;&|]\s*|\s)sudo\s", instruction.args):
            yield _hit(instruction, "runs a command with sudo")


@rules.add(
    "ESC-DKR-008",
    "Package index updated alone",
    "low",
    rationale="""`apt-get update` in its own RUN is cached as a layer: later installs use a stale index and
    miss security updates.""",
    remediation="""Update and install in one RUN:
    `apt-get update && apt-get install -y … && rm -rf /var/lib/apt/lists/*`.""",
    refs=Refs(cis=("4.7",), checkov=("CKV_DOCKER_5",), trivy=("DS017",)),
)
def update_alone(d: DockerfileInput) -> Iterator[Hit]:
    update = re.compile(r"\b(apt-get|apt|apk|yum|dnf|zypper)\s+(update|makecache|refresh)\b")
    install = re.compile(r"\b(apt-get|apt|apk|yum|dnf|zypper)\s+(-\S+\s+)*(install|add|upgrade)\b")
    for instruction in _commands(d):
        if update.search(instruction.args) and not install.search(instruction.args):
            yield _hit(instruction, "updates the package index in a RUN that installs nothing")


def _base(d: DockerfileInput, instruction: Instruction) -> str | None:
    words = instruction.args.split()
    if not words:
        return None
    base = words[0]
    if base.lower() == "scratch" or base.lower() in d.dockerfile.aliases() or "$" in base:
        return None
    return base


@rules.add(
    "ESC-DKR-009",
    "Base image not pinned",
    "medium",
    rationale="A `FROM` on `latest` (or no tag) builds on whatever the registry holds that day.",
    remediation="Pin the base image to a version tag, and better a digest.",
    refs=Refs(checkov=("CKV_DOCKER_7",), trivy=("DS001",), hadolint=("DL3006", "DL3007")),
)
def base_unpinned(d: DockerfileInput) -> Iterator[Hit]:
    for instruction in d.dockerfile.instructions:
        if instruction.keyword != "FROM":
            continue
        base = _base(d, instruction)
        if base is None:
            continue
        ref = parse_image(base)
        if ref.digest is None and ref.tag in (None, "latest"):
            yield _hit(instruction, f"builds FROM {base}, which is not pinned to a version", base)


@rules.add(
    "ESC-DKR-010",
    "Base image not pinned by digest",
    "low",
    rationale="A tag of a base image can be moved; a digest makes the build reproducible and reviewable.",
    remediation="Use `FROM image:tag@sha256:…`.",
    refs=Refs(cis=("4.2",)),
    packs=("restricted",),
)
def base_no_digest(d: DockerfileInput) -> Iterator[Hit]:
    for instruction in d.dockerfile.instructions:
        if instruction.keyword != "FROM":
            continue
        base = _base(d, instruction)
        if base is not None and parse_image(base).digest is None:
            yield _hit(instruction, f"builds FROM {base} without a digest", base)


@rules.add(
    "ESC-DKR-011",
    "Package signature checks disabled",
    "high",
    rationale="""Options such as `--allow-unauthenticated`, `--force-yes`, `--allow-untrusted` and
    `--nogpgcheck` install packages whose signatures were not verified.""",
    remediation="Remove the option and import the repository's signing key.",
    refs=Refs(
        cis=("4.11",),
        checkov=("CKV2_DOCKER_7", "CKV2_DOCKER_8", "CKV2_DOCKER_9", "CKV2_DOCKER_10", "CKV2_DOCKER_11"),
    ),
)
def unsigned(d: DockerfileInput) -> Iterator[Hit]:
    for instruction in _commands(d):
        for pattern, label in UNSIGNED:
            if pattern.search(instruction.args):
                yield _hit(instruction, f"installs packages without signature checks ({label})", label)


@rules.add(
    "ESC-DKR-012",
    "Port 22 exposed",
    "low",
    rationale="An image exposing SSH invites running an SSH server in the container.",
    remediation="Remove `EXPOSE 22` and the SSH server.",
    refs=Refs(cis=("5.7",), checkov=("CKV_DOCKER_1",), trivy=("DS004",)),
)
def expose_22(d: DockerfileInput) -> Iterator[Hit]:
    for instruction in d.dockerfile.instructions:
        if instruction.keyword == "EXPOSE" and any(w.split("/")[0] == "22" for w in instruction.args.split()):
            yield _hit(instruction, "exposes port 22 (SSH)")


@rules.add(
    "ESC-DKR-013",
    "MAINTAINER is deprecated",
    "info",
    rationale="MAINTAINER was deprecated in favour of labels (OCI `org.opencontainers.image.authors`).",
    remediation='Use `LABEL org.opencontainers.image.authors="…"`.',
    refs=Refs(checkov=("CKV_DOCKER_6",), hadolint=("DL4000",)),
    packs=("restricted",),
)
def maintainer(d: DockerfileInput) -> Iterator[Hit]:
    for instruction in d.dockerfile.instructions:
        if instruction.keyword == "MAINTAINER":
            yield _hit(instruction, "uses the deprecated MAINTAINER instruction")


@rules.add(
    "ESC-DKR-014",
    "Relative WORKDIR",
    "info",
    rationale="A relative WORKDIR depends on the previous ones; an absolute path says where files land.",
    remediation="Use an absolute path: `WORKDIR /app`.",
    refs=Refs(checkov=("CKV_DOCKER_10",), hadolint=("DL3000",)),
    packs=("restricted",),
)
def relative_workdir(d: DockerfileInput) -> Iterator[Hit]:
    for instruction in d.dockerfile.instructions:
        path = instruction.args.strip().strip("\"'")
        if instruction.keyword == "WORKDIR" and not path.startswith(("/", "$")) and not re.match(r"^[A-Za-z]:", path):
            yield _hit(instruction, f"WORKDIR {path} is relative")


@rules.add(
    "ESC-DKR-015",
    "Duplicate stage name",
    "low",
    rationale="Two stages with the same name make `COPY --from` and `--target` ambiguous.",
    remediation="Give every stage a unique `AS` name.",
    refs=Refs(checkov=("CKV_DOCKER_11",), hadolint=("DL3024",)),
    packs=("restricted",),
)
def duplicate_alias(d: DockerfileInput) -> Iterator[Hit]:
    seen: set[str] = set()
    for stage in d.dockerfile.stages:
        if stage.alias:
            alias = stage.alias.lower()
            if alias in seen:
                yield Hit(f"the stage name {stage.alias} is used twice", (), f"alias {alias}", stage.line)
            seen.add(alias)


@rules.add(
    "ESC-DKR-016",
    "Password set with chpasswd",
    "medium",
    rationale="A password set at build time is the same in every container of the image and is in its history.",
    remediation="Do not give image users passwords; authenticate at run time with a mounted secret.",
    refs=Refs(checkov=("CKV2_DOCKER_17",)),
)
def chpasswd(d: DockerfileInput) -> Iterator[Hit]:
    for instruction in _commands(d):
        if re.search(r"\bchpasswd\b", instruction.args):
            yield _hit(instruction, "sets a password with chpasswd")


@rules.add(
    "ESC-DKR-017",
    "apt instead of apt-get",
    "info",
    rationale="`apt` has no stable command-line interface for scripts; `apt-get` does.",
    remediation="Use `apt-get` (and `apt-cache`) in Dockerfiles.",
    refs=Refs(checkov=("CKV_DOCKER_9",), hadolint=("DL3027",)),
    packs=("restricted",),
)
def apt(d: DockerfileInput) -> Iterator[Hit]:
    for instruction in _commands(d):
        if re.search(r"(^|[;&|]\s*|\s)apt\s+(install|update|upgrade|remove|full-upgrade)\b", instruction.args):
            yield _hit(instruction, "uses apt in a script (use apt-get)")


@rules.add(
    "ESC-DKR-018",
    "Remote script piped to a shell",
    "medium",
    rationale="`curl … | sh` runs whatever the server returns at build time, unverified.",
    remediation="Download the script, verify its checksum or signature, then run it.",
    packs=("baseline",),
)
def curl_pipe_shell(d: DockerfileInput) -> Iterator[Hit]:
    pattern = re.compile(r"\b(curl|wget)\b[^|;&]*\|\s*(sudo\s+)?(ba|da|z)?sh\b")
    for instruction in _commands(d):
        if pattern.search(instruction.args):
            yield _hit(instruction, "pipes a downloaded script into a shell")


RULES = rules.rules
