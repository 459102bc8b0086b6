"""The local stack as a user drives it: status, idempotent up, Connect's compacted topics."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from confluent_kafka.admin import ConfigResource, ResourceType

from sharebus.core.kafka_clients import admin_client, kafka_config
from sharebus.core.naming import CONNECT_CONFIG_TOPIC, CONNECT_OFFSET_TOPIC, CONNECT_STATUS_TOPIC
from sharebus.core.settings import Settings
from sharebus.dev.stack.manager import LocalStack

pytestmark = pytest.mark.integration


def sharebus(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sharebus", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )


def test_status_json_reports_every_component_healthy_with_endpoint(stack_settings: Settings) -> None:
    proc = sharebus("stack", "status", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["healthy"] is True
    by_name = {c["name"]: c for c in report["components"]}
    assert set(by_name) == {"postgres", "mariadb", "kafka", "registry", "connect"}
    assert by_name["kafka"]["endpoint"] == f"127.0.0.1:{stack_settings.kafka_port}"
    assert by_name["connect"]["endpoint"] == stack_settings.connect_url
    assert by_name["postgres"]["port"] == stack_settings.pg_port
    assert all(c["state"] == "running" and c["pid"] for c in report["components"])


def test_up_is_idempotent_and_fetches_nothing_the_second_time(stack_settings: Settings) -> None:
    before = {s.name: s.pid for s in LocalStack(stack_settings).status()}
    proc = sharebus("stack", "up", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["fetched"] is False
    assert set(report["actions"].values()) == {"already running"}
    assert {c["name"]: c["pid"] for c in report["components"]} == before


def test_connect_internal_topics_are_compacted(stack_settings: Settings) -> None:
    admin = admin_client(kafka_config(stack_settings))
    topics = [CONNECT_CONFIG_TOPIC, CONNECT_OFFSET_TOPIC, CONNECT_STATUS_TOPIC]
    futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, t) for t in topics])
    for resource, future in futures.items():
        assert future.result(timeout=10)["cleanup.policy"].value == "compact", resource.name
