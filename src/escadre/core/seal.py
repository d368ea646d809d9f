"""Sealing: encrypting what must be kept but never stored in plain text.

A rollback re-creates an old revision exactly, so the state store must keep each revision's full spec —
including environment values that may be credentials. The store keeps a redacted copy for display and
this sealed copy (Fernet: AES-128-CBC + HMAC-SHA256) for rollbacks. The key comes from
``ESCADRE_STATE_KEY`` (share it between machines that share a Postgres state) or is generated once into
``<data dir>/state.key`` with mode 0600. Losing the key loses only the ability to roll back to revisions
sealed with it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from escadre.core.errors import StateError


def _key(data_dir: Path) -> bytes:
    env = os.environ.get("ESCADRE_STATE_KEY")
    if env:
        return env.encode()
    from cryptography.fernet import Fernet

    path = data_dir / "state.key"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        return key


class Sealer:
    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._fernet: Any = None

    def _f(self) -> Any:
        if self._fernet is None:
            from cryptography.fernet import Fernet

            try:
                self._fernet = Fernet(_key(self._data_dir))
            except ValueError as exc:
                raise StateError(
                    "ESCADRE_STATE_KEY (or state.key) is not a valid key",
                    hint="generate one with: python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'",
                ) from exc
        return self._fernet

    def seal(self, value: Mapping[str, Any]) -> str:
        token: bytes = self._f().encrypt(json.dumps(value, sort_keys=True).encode())
        return token.decode()

    def unseal(self, token: str) -> dict[str, Any]:
        from cryptography.fernet import InvalidToken

        try:
            data: dict[str, Any] = json.loads(self._f().decrypt(token.encode()))
        except InvalidToken as exc:
            raise StateError(
                "a sealed revision cannot be opened with this key",
                hint="set ESCADRE_STATE_KEY to the key used when it was deployed",
            ) from exc
        return data
