"""Every CLI command with nothing to talk to — Kafka, Connect, the registry, PostgreSQL, MariaDB
and the worker's web port all closed: one clear error each (what it tried to reach, the fix),
the "unreachable" exit code, and never a traceback. (The Kafka-only outage, with the rest up, is
in test_faults.py.) No stack needed: every endpoint points at a closed port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sharebus.core.errors import ExitCode
from sharebus.dev.stack.tls import Authority

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens


# Every command that talks to a service, with arguments it accepts. (`stack …` manages the
# services themselves; `run` starts them; `catalog validate|show`, `schemas generate` and
# `catalog diff` and `schemas generate` need none.)
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("worker",),
    ("samples", "init"),
    ("samples", "seed", "--rows", "1"),
    ("samples", "generate", "--rate", "1", "--changes", "1"),
    (
        "connectors",
        "add",
        "market",
        "--db",
        "{pg_url}/db",
        "--tables",
        "public.t",
    ),
    ("connectors", "apply"),
    ("connectors", "list"),
    ("connectors", "status", "cdc-market"),
    ("connectors", "pause", "cdc-market"),
    ("connectors", "resume", "cdc-market"),
    ("connectors", "restart", "cdc-market"),
    ("connectors", "remove", "cdc-market"),
    ("connectors", "resnapshot", "cdc-market", "public.enterprise"),
    ("catalog", "publish"),
    ("schemas", "register"),
    ("metrics", "calls"),
    ("metrics", "summary"),
    ("metrics", "reasons"),
    ("metrics", "latency"),
    ("metrics", "lag"),
    ("metrics", "audit"),
    ("ops", "status"),
    (
        "district",
        "sync",
        "500103",
        "--target",
        "{pg_url}/pool",
        "--until-caught-up",
    ),
    ("district", "backfill"),
    ("district", "backfills"),
    ("reconcile", "500103", "--target", "{pg_url}/pool"),
    ("acl", "sync"),
    ("acl", "show"),
    ("subscriber", "add", "500116"),
    ("subscriber", "rotate", "500103"),
    ("subscriber", "disable", "500103"),
    ("audit", "show"),
)


def _run(args: tuple[str, ...], env: dict[str, str], pg: int) -> tuple[int, str, str]:
    argv = [a.format(pg_url=f"postgresql://user:secretpw@127.0.0.1:{pg}") for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "sharebus", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    return proc.returncode, proc.stdout, proc.stderr


def _ca(directory: Path) -> Path:
    authority = Authority(directory)
    authority.ensure_ca(lambda line: None)
    return authority.ca_cert


def test_every_command_answers_dead_services_with_one_clear_error(tmp_path: Path) -> None:
    names = ("kafka", "public", "connect", "registry", "pg", "maria", "web", "clickhouse")
    ports = {name: _closed_port() for name in names}
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHAREBUS_")}
    env |= {
        "SHAREBUS_RUNTIME_DIR": str(tmp_path / "runtime"),
        "SHAREBUS_KAFKA_BOOTSTRAP": f"127.0.0.1:{ports['kafka']}",
        "SHAREBUS_KAFKA_PUBLIC_BOOTSTRAP": f"127.0.0.1:{ports['public']}",
        "SHAREBUS_CONNECT_URL": f"http://127.0.0.1:{ports['connect']}",
        "SHAREBUS_REGISTRY_URL": f"http://127.0.0.1:{ports['registry']}",
        "SHAREBUS_PG_PORT": str(ports["pg"]),
        "SHAREBUS_MARIADB_PORT": str(ports["maria"]),
        "SHAREBUS_WEB_PORT": str(ports["web"]),
        "SHAREBUS_METRICS_URL": f"clickhouse://default:secretpw@127.0.0.1:{ports['clickhouse']}/sharebus",
        "SHAREBUS_KAFKA_OUTAGE_TOLERANCE": "3",
        "SHAREBUS_DB_OUTAGE_TOLERANCE": "3",
        # A CA of its own: a client refuses to start without one (a missing CA is a config error).
        "SHAREBUS_TLS_CA_FILE": str(_ca(tmp_path / "tls")),
    }
    with ThreadPoolExecutor(6) as pool:
        answers = dict(zip(COMMANDS, pool.map(lambda a: _run(a, env, ports["pg"]), COMMANDS), strict=True))
    wrong: list[str] = []
    for args, (code, out, err) in answers.items():
        command = "sharebus " + " ".join(args)
        said = (err + out).strip()
        if "Traceback" in said:
            wrong.append(f"{command}: a traceback\n{said[-1500:]}")
        elif code != ExitCode.UNREACHABLE:
            wrong.append(f"{command}: exit {code}, expected {int(ExitCode.UNREACHABLE)}\n{said[-800:]}")
        elif "fix:" not in said:
            wrong.append(f"{command}: no fix named\n{said[-800:]}")
    for args, (code, _, err) in answers.items():
        first = err.strip().splitlines()[0] if err.strip() else ""
        print(f"$ sharebus {' '.join(args)} -> {code}: {first}")
    assert not wrong, "\n\n".join(wrong)
