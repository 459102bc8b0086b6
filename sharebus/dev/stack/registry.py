"""The local schema registry: sharebus's own Confluent-REST registry (`sharebus.apps.registry`),
a Python process keeping schemas in a compacted Kafka topic; REST on SHAREBUS_REGISTRY_URL."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import requests

from sharebus.core import naming
from sharebus.core.https import verify
from sharebus.core.process import PidRecord, spawn
from sharebus.core.progress import Echo
from sharebus.dev.stack.component import Component
from sharebus.dev.stack.tls import Authority

SCHEMA_TOPIC = naming.SCHEMAS_TOPIC


class Registry(Component):
    """Needs Kafka (its storage): start it after Kafka."""

    name = "registry"
    port_setting = "SHAREBUS_REGISTRY_URL"
    start_timeout = 60.0

    @property
    def port(self) -> int:
        return urlsplit(self.settings.registry_url).port or 8081

    @property
    def endpoint(self) -> str:
        return self.settings.registry_url.rstrip("/")

    @property
    def config_file(self) -> Path:
        return self.layout.conf / "registry.json"

    @property
    def marker(self) -> str:
        return str(self.config_file)

    def prepare(self, echo: Echo) -> None:
        url = urlsplit(self.settings.registry_url)
        tls = url.scheme == "https"
        if tls:
            Authority.of(self.settings).ensure(self.settings, echo)
        config = {
            "host": url.hostname or "127.0.0.1",
            "port": self.port,
            "prefix": url.path.rstrip("/"),
            "bootstrap": self.settings.kafka_bootstrap,
            "topic": SCHEMA_TOPIC,
            "tls": tls,
        }
        self.config_file.parent.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(json.dumps(config, indent=2) + "\n")

    def launch(self) -> PidRecord:
        # The interpreter running the CLI is the project's: it imports `sharebus`.
        argv = [sys.executable, "-m", "sharebus.apps.registry", "--config", str(self.config_file)]
        # It runs in the runtime folder: a relative SHAREBUS_RUNTIME_DIR (its TLS CA) is made absolute.
        env = {**os.environ, "SHAREBUS_RUNTIME_DIR": str(self.layout.root)}
        return spawn(
            argv,
            log_file=self.log_file,
            pid_file=self.layout.pid_file(self.name),
            marker=self.marker,
            cwd=self.layout.root,
            env=env,
        )

    def probe(self) -> str | None:
        try:
            # The probe needs no login; it verifies the certificate as every client does.
            resp = requests.get(f"{self.endpoint}/", timeout=3, verify=verify(self.settings))
        except requests.exceptions.SSLError as exc:
            return f"TLS certificate not trusted ({exc})"
        except requests.RequestException as exc:
            return f"REST not answering ({type(exc).__name__})"
        if resp.status_code != 200:
            return f"REST answered {resp.status_code}"
        return None
