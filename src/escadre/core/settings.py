"""Process-wide settings, read from ``ESCADRE_*`` environment variables.

Every field documents its unit and default; ``docs/configuration.md`` lists them for users.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


def _data_home(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "escadre"


@dataclass(frozen=True, slots=True)
class Settings:
    state: str
    """``ESCADRE_STATE``: a SQLAlchemy URL (``postgresql+psycopg://…``) or a path to a SQLite file.
    Default ``$XDG_DATA_HOME/escadre/state.db`` (``~/.local/share/escadre/state.db``)."""

    data_dir: Path
    """``ESCADRE_DATA_DIR``: where Escadre keeps files of its own (router configs). Default: beside the state."""

    target: str | None
    """``ESCADRE_TARGET``: the target used when ``--target`` is not given. Default: the local Docker engine."""

    wait_timeout: float
    """``ESCADRE_WAIT_TIMEOUT``: seconds ``up`` waits for a service to become ready. Default 300."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        data_dir = Path(env["ESCADRE_DATA_DIR"]) if env.get("ESCADRE_DATA_DIR") else _data_home(env)
        state = env.get("ESCADRE_STATE") or str(data_dir / "state.db")
        return cls(
            state=state,
            data_dir=data_dir,
            target=env.get("ESCADRE_TARGET") or None,
            wait_timeout=float(env.get("ESCADRE_WAIT_TIMEOUT", "300")),
        )

    @property
    def state_url(self) -> str:
        """The state location as a SQLAlchemy URL."""
        if "://" in self.state:
            return self.state
        return f"sqlite:///{Path(self.state).expanduser().absolute()}"
