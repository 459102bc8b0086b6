"""A `sharebus worker` whose ops monitor samples fast (for tests): the production wiring of
`start_worker` with `Ops(interval=…, window=…)` from SHAREBUS_TEST_OPS_* variables, run as
`python -m tests.browser.ops_worker`; and the process handle tests start it with."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from sharebus.apps.worker import Metrics, avro_encoders
from sharebus.apps.worker_process import WorkerProcess
from sharebus.core.settings import Settings
from streams.ops.extension import Ops
from streams.router.worker import WorkerExtension, run_worker


@dataclass
class OpsWorkerProcess(WorkerProcess):
    """A WorkerProcess running this module instead of `sharebus worker`."""

    argv: tuple[str, ...] = (sys.executable, "-m", "tests.browser.ops_worker")
    name: str = "ops worker"


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
