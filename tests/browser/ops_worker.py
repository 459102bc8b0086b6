"""A `sharebus worker` whose ops monitor samples fast (for tests): the production wiring of
`start_worker` with `Ops(interval=…, window=…)` from SHAREBUS_TEST_OPS_* variables, run as
`python -m tests.browser.ops_worker`; and the process handle tests start it with."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass

from sharebus.apps.worker import Metrics, avro_encoders
from sharebus.apps.worker_process import READY, WorkerProcess
from sharebus.core.errors import ComponentError
from sharebus.core.process import tail
from sharebus.core.settings import Settings
from streams.ops.extension import Ops
from streams.router.worker import WorkerExtension, run_worker


@dataclass
class OpsWorkerProcess(WorkerProcess):
    """A WorkerProcess running this module instead of `sharebus worker`."""

    def start(self, timeout: float = 90.0) -> None:
        self.starts += 1
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n--- start {self.starts}\n".encode())
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.browser.ops_worker"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log_path.read_text(errors="replace").count(READY) >= self.starts:
                return
            if self.proc.poll() is not None:
                raise self.died()
            time.sleep(0.2)
        raise ComponentError(
            "ops worker",
            f"not ready after {timeout:.0f}s",
            fix=f"read {self.log_path}",
            details=tail(self.log_path, 30),
        )


def main() -> None:
    settings = Settings()
    ops = Ops(
        settings,
        interval=float(os.environ.get("SHAREBUS_TEST_OPS_INTERVAL", "1")),
        window=int(os.environ.get("SHAREBUS_TEST_OPS_WINDOW", "6")),
        min_samples=int(os.environ.get("SHAREBUS_TEST_OPS_MIN_SAMPLES", "3")),
        connectors_every=5.0,
        slot_seconds=1.0,
    )
    extensions: list[WorkerExtension] = [Metrics(settings), ops]
    run_worker(settings, encoder_for=avro_encoders(settings), extensions=extensions)


if __name__ == "__main__":
    main()
