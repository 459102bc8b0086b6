"""Capture specs of the sample departments: their databases in the stack's PostgreSQL cluster."""

from __future__ import annotations

from connectors.client import ConnectClient
from connectors.register import Registration, register_postgres
from connectors.render import CaptureSpec
from sharebus.progress import Echo
from sharebus.samples.departments import SampleDepartment, get_department
from sharebus.settings import Settings


def sample_spec(dept: SampleDepartment, settings: Settings, *, snapshot_mode: str = "initial") -> CaptureSpec:
    return CaptureSpec(
        department=dept.id,
        db_name=dept.database,
        tables=dept.tables,
        db_host=settings.pg_host,
        db_port=settings.pg_port,
        db_user=settings.pg_cdc_user,
        snapshot_mode=snapshot_mode,
    )


def apply_sample_connectors(settings: Settings, dept_ids: list[str], echo: Echo) -> list[Registration]:
    """Register (idempotently) the Debezium connector of each sample department."""
    client = ConnectClient(settings.connect_url)
    password = settings.pg_cdc_password.get_secret_value()
    regs = []
    for dept_id in dept_ids:
        dept = get_department(dept_id)
        regs.append(register_postgres(client, sample_spec(dept, settings), settings, password=password,
                                      admin_dsn=settings.pg_dsn(dept.database), echo=echo))  # fmt: skip
    return regs
