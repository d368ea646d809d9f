"""Escadre's exception tree, organised by what the caller should do next.

::

    EscadreError                      root; every error Escadre raises on purpose
    ├── UserError                     the user can fix it; CLI exit 2, no traceback
    │   ├── SpecError                 a Compose file is wrong (carries file:line:column)
    │   ├── UsageError                a command was called wrongly (unknown target, bad flag combination)
    │   └── MissingExtraError         an optional dependency is not installed (says the pip command)
    ├── TargetError                   the target platform refused or failed; CLI exit 1
    │   ├── TargetUnreachableError    cannot talk to the engine/cluster at all
    │   ├── TemporaryTargetError      worth retrying after ``delay`` seconds
    │   └── ConflictError             something on the target is in the way (port taken, name used)
    ├── OperationFailed               an operation ran and did not succeed (build failed, unhealthy); exit 1
    └── StateError                    the state store cannot be opened/migrated; exit 1

Messages always say what happened *and* what to do about it. Driver modules translate SDK exceptions
into this tree (``raise TargetError(...) from exc``) so nothing above the driver layer ever sees an SDK
exception type.
"""

from __future__ import annotations

from dataclasses import dataclass


class EscadreError(Exception):
    """Root of every error Escadre raises deliberately."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class UserError(EscadreError):
    """Something the user can fix in their input; never shown with a traceback."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """A position in a user's file; ``line`` and ``column`` are 1-based (0 means unknown)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}" if self.column else f"{self.file}:{self.line}"
        return self.file


class SpecError(UserError):
    """A Compose file (or the x-escadre settings in it) is invalid."""

    def __init__(
        self,
        message: str,
        *,
        location: SourceLocation | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.location = location

    def __str__(self) -> str:
        prefix = f"{self.location}: " if self.location else ""
        return prefix + super().__str__()


class UsageError(UserError):
    """A command was invoked wrongly: unknown target, conflicting flags, unknown service."""


class MissingExtraError(UserError):
    """An optional dependency is missing; the message carries the install command."""


class TargetError(EscadreError):
    """The target (engine, cluster, cloud) refused or failed an operation."""

    def __init__(self, message: str, *, target: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.target = target

    def __str__(self) -> str:
        prefix = f"target {self.target!r}: " if self.target else ""
        return prefix + super().__str__()


class TargetUnreachableError(TargetError):
    """Escadre cannot talk to the target at all."""


class TemporaryTargetError(TargetError):
    """A transient failure: retrying after ``delay`` seconds may succeed."""

    def __init__(self, message: str, *, target: str | None = None, delay: float = 1.0, hint: str | None = None) -> None:
        super().__init__(message, target=target, hint=hint)
        self.delay = delay


class ConflictError(TargetError):
    """Something already on the target is in the way (a port taken, a name used by a foreign object)."""


class OperationFailed(EscadreError):
    """An operation ran to its end without success (a build failed, a service never became healthy)."""


class StateError(EscadreError):
    """The state store cannot be opened, migrated or written."""
