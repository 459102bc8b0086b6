"""Capture specs of the sample departments: PostgreSQL ones in the stack's cluster, and `hrss` in
the stack's MariaDB."""

from __future__ import annotations

from connectors.client import ConnectClient
from connectors.register import Registration, register, register_postgres
from connectors.registered import record_target
from connectors.render import MARIADB, CaptureSpec, render_mariadb
from sharebus.core.keys import write_secret
from sharebus.core.progress import Echo
from sharebus.core.settings import Settings
from sharebus.dev.samples import hrss
from sharebus.dev.samples.departments import SampleDepartment, get_department


def sample_spec(dept: SampleDepartment, settings: Settings, *, snapshot_mode: str = "initial") -> CaptureSpec:
    return CaptureSpec(
        department=dept.id,
        db_name=dept.database,
        tables=dept.tables,
        db_host=settings.pg_host,
        db_port=settings.pg_port,
        db_user=settings.pg_cdc_user,
        snapshot_mode=snapshot_mode,
        db_ca=settings.db_ca,
    )


def hrss_spec(
    settings: Settings, *, snapshot_mode: str = "initial", department: str | None = None
) -> CaptureSpec:
    """The MariaDB sample department's capture (optionally under another department id)."""
    return CaptureSpec(
        department=department or hrss.HRSS.id,
        db_name=hrss.HRSS.database,
        tables=hrss.HRSS.tables,
        db_host=settings.mariadb_host,
        db_port=settings.mariadb_port,
        db_user=settings.mariadb_cdc_user,
        snapshot_mode=snapshot_mode,
        kind=MARIADB,
        db_ca=settings.db_ca,
    )


def register_hrss(client: ConnectClient, settings: Settings, echo: Echo) -> Registration:
    """Create the hrss sample database if missing and register its MariaDB connector."""
    hrss.apply_schema(settings)
    spec = hrss_spec(settings)
    write_secret(settings.secrets_dir, spec.password_secret, settings.mariadb_cdc_password.get_secret_value())
    record_target(settings.secrets_dir, spec)
    return register(client, spec.connector_name, render_mariadb(spec, settings), echo)


def apply_sample_connectors(settings: Settings, dept_ids: list[str], echo: Echo) -> list[Registration]:
    """Register (idempotently) the Debezium connector of each sample department."""
    client = ConnectClient.of(settings)
    password = settings.pg_cdc_password.get_secret_value()
    regs = []
    for dept_id in dept_ids:
        if dept_id == hrss.HRSS.id:
            regs.append(register_hrss(client, settings, echo))
            continue
        dept = get_department(dept_id)
        regs.append(
            register_postgres(
                client,
                sample_spec(dept, settings),
                settings,
                password=password,
                admin_dsn=settings.pg_dsn(dept.database),
                echo=echo,
            )
        )
    return regs
