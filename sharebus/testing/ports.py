"""Ports for the processes a test starts (workers, registries, databases): below Linux's ephemeral
range, so no outgoing connection of the moment can take one between its choice and its bind."""

from __future__ import annotations

import os
import random
import socket
import threading

LOW, HIGH = 20000, 23999
"""Where test ports come from: below the ephemeral range (32768–60999 by default) and clear of the
stack's own (PostgreSQL 25432/25532, MariaDB 23306/23406, Kafka, the registry, Connect)."""
STACK = frozenset({23306, 23406})

_lock = threading.Lock()
_given: set[int] = set()
_rng = random.Random(os.getpid())  # two sessions at once start from different places


def free_port() -> int:
    """A port nothing listens on now and this process has not handed out before."""
    with _lock:
        for _ in range(HIGH - LOW + 1):
            port = _rng.randint(LOW, HIGH)
            if port in _given or port in STACK:
                continue
            with socket.socket() as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _given.add(port)
            return port
    raise RuntimeError(f"no free port left in {LOW}–{HIGH}")
