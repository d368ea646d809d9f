"""The context every operation runs in: settings, the state store, and the chosen target's driver.

The CLI, the API server and GitOps all build a ``Context`` and call the same operation functions, so a
deploy behaves identically whoever triggers it. The store and the driver are opened lazily: ``escadre
config`` never touches either, ``escadre target list`` never loads an SDK.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from escadre.core.errors import UsageError
from escadre.core.progress import NullProgress, Progress
from escadre.core.settings import Settings
from escadre.drivers.base import Driver

if TYPE_CHECKING:
    from escadre.core.seal import Sealer
    from escadre.state.store import StateStore, TargetRecord

DEFAULT_TARGET = "local"


@dataclass(frozen=True, slots=True)
class TargetSpec:
    name: str
    kind: str
    config: Mapping[str, Any]
    implicit: bool = False


@dataclass
class Context:
    settings: Settings = field(default_factory=Settings.from_env)
    progress: Progress = field(default_factory=NullProgress)
    actor: str = field(default_factory=lambda: os.environ.get("USER", "") or "unknown")
    _store: StateStore | None = None
    _drivers: dict[str, Driver] = field(default_factory=dict)
    _from_store: set[str] = field(default_factory=set)
    _store_lock: threading.Lock = field(default_factory=threading.Lock)
    _sealer: Sealer | None = None

    @property
    def store(self) -> StateStore:
        with self._store_lock:
            if self._store is None:
                from escadre.state.store import StateStore

                self._store = StateStore.open(self.settings.state_url)
            return self._store

    def target_spec(self, name: str | None) -> TargetSpec:
        """The named target, or the default one: ``ESCADRE_TARGET``, else the local Docker engine."""
        chosen = name or self.settings.target or DEFAULT_TARGET
        attached = self._drivers.get(chosen)
        if attached is not None and chosen not in self._from_store:
            return TargetSpec(chosen, attached.kind, {})
        if chosen == DEFAULT_TARGET:
            # built in, never stored: resolving it needs no state store
            return TargetSpec(DEFAULT_TARGET, "docker", {}, implicit=True)
        record: TargetRecord | None = self.store.get_target(chosen)
        if record is not None:
            return TargetSpec(record.name, record.kind, record.config)
        known = [t.name for t in self.store.list_targets()]
        raise UsageError(
            f"unknown target {chosen!r}",
            hint=(
                f"known targets: {', '.join([DEFAULT_TARGET, *known])}; add one with "
                f"escadre target add {chosen} --kind docker --host ..."
            ),
        )

    def driver(self, target: str | None = None) -> Driver:
        spec = self.target_spec(target)
        if spec.name not in self._drivers:
            from escadre.drivers.registry import make_driver

            self._drivers[spec.name] = make_driver(spec.name, spec.kind, spec.config)
            self._from_store.add(spec.name)
        return self._drivers[spec.name]

    @property
    def sealer(self) -> Sealer:
        """Encrypts revision specs kept for rollbacks (``core.seal``)."""
        if self._sealer is None:
            from escadre.core.seal import Sealer

            self._sealer = Sealer(self.settings.data_dir)
        return self._sealer

    def attach(self, driver: Driver) -> None:
        """Use ``driver`` for the target of its name (tests, embedding, ``--dry-run``)."""
        self._drivers[driver.name] = driver

    def close(self) -> None:
        for driver in self._drivers.values():
            driver.close()
        self._drivers.clear()
        self._from_store.clear()
        if self._store is not None:
            self._store.close()
            self._store = None
