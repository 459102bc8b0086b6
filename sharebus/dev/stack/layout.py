"""Where the local stack keeps things inside the git-ignored runtime folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sharebus.core.settings import Settings


@dataclass(frozen=True)
class Layout:
    """Paths under `SHAREBUS_RUNTIME_DIR`; everything the stack fetches or writes lives here."""

    root: Path

    @classmethod
    def of(cls, settings: Settings) -> Layout:
        return cls(settings.runtime_dir.resolve())

    @property
    def lib(self) -> Path:
        """Kafka broker + Connect runtime jars (one classpath)."""
        return self.root / "lib"

    @property
    def plugins(self) -> Path:
        """Kafka Connect plugin.path: one folder per Debezium connector plugin."""
        return self.root / "plugins"

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def log_file(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def pid_file(self, component: str) -> Path:
        return self.pids / f"{component}.json"

    def data_dir(self, component: str) -> Path:
        return self.data / component

    def ensure(self) -> None:
        for path in (self.lib, self.plugins, self.conf, self.logs, self.pids, self.data):
            path.mkdir(parents=True, exist_ok=True)
