"""The broker's authorisation denials, per principal: read from its authorizer log (Kafka logs each
denied operation at INFO, `kafka.authorizer.logger`), the N-th denial of one principal within the
window raises an alert — a district trying topics that are not its own, or a stolen login probing."""

from __future__ import annotations

import re
from pathlib import Path

from sharebus.core.logins import RefusalWatch
from streams.ops.watch import Alert

AUTHORIZATION_DENIALS = "authorization_denials"
_DENIED = re.compile(
    r"Principal = User:(?P<user>\S+) is Denied [Oo]peration = (?P<op>\w+) from host = (?P<host>\S+)"
    r" on resource = (?P<resource>\S+)"
)
_CHUNK = 1 << 20  # bytes read per file and sample at most: a flood is caught up over samples


class DenialWatch:
    """Follows the broker log files `paths` (glob patterns: one per broker of a local cluster)
    from their end at the first poll; the denials are counted per principal as refused logins are
    (`RefusalWatch`): the `threshold`-th within `window` seconds raises one alert per principal and
    window."""

    def __init__(self, paths: tuple[Path, ...], threshold: int, window: float) -> None:
        self.paths = paths
        self._offsets: dict[Path, int] = {}
        self._started = False
        self._now = 0.0
        self._last: dict[str, str] = {}  # the denial being counted
        self._alerts: list[Alert] = []
        self._count = RefusalWatch(threshold, window, self._alert, clock=lambda: self._now)

    def poll(self, now: float) -> list[Alert]:
        """The alerts of the denials logged since the last poll."""
        denials = self._read()
        self._started, self._now, self._alerts = True, now, []
        for user, detail in denials:
            self._last = detail
            self._count.refused(user)
        return self._alerts

    def _alert(self, user: str, count: int) -> None:
        self._alerts.append(Alert(self._now, AUTHORIZATION_DENIALS, user, {**self._last, "count": count}))

    def _files(self) -> list[Path]:
        out: list[Path] = []
        for pattern in self.paths:
            out.extend(sorted(pattern.parent.glob(pattern.name)) if pattern.parent.is_dir() else [])
        return out

    def _read(self) -> list[tuple[str, dict[str, str]]]:
        found: list[tuple[str, dict[str, str]]] = []
        for path in self._files():
            try:
                size = path.stat().st_size
                start = self._offsets.get(path)
                if start is None or start > size:  # new to us (from its end at start-up) or rotated
                    start = size if not self._started else 0
                with path.open("rb") as fh:
                    fh.seek(start)
                    data = fh.read(_CHUNK)
            except OSError:
                continue
            complete = data.rfind(b"\n") + 1  # a line still being written is read next time
            self._offsets[path] = start + complete
            for line in data[:complete].decode("utf-8", "replace").splitlines():
                match = _DENIED.search(line)
                if match is not None:
                    found.append(
                        (
                            match["user"],
                            {"operation": match["op"], "host": match["host"], "resource": match["resource"]},
                        )
                    )
        return found
