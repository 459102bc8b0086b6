"""A registered connector's config reads back into the spec it was rendered from, and its
password comes from the secrets file Connect reads (else the environment)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.registered import secret_file, spec_of, target_of
from connectors.render import CaptureSpec, render
from sharebus.core.errors import ConfigError
from sharebus.core.settings import Settings


@pytest.mark.parametrize(
    "spec",
    [
        CaptureSpec(
            department="market",
            db_name="dept_market",
            tables=("public.enterprise", "public.inspection"),
            db_host="h",
            db_port=55432,
            db_user="cdc",
            snapshot_mode="no_data",
        ),
        CaptureSpec(
            department="hrss",
            db_name="dept_hrss",
            tables=("dept_hrss.social_insurance",),
            db_host="h",
            db_port=53306,
            db_user="cdc",
            kind="mariadb",
        ),
    ],
)
def test_render_then_read_back(spec: CaptureSpec, tmp_path: Path) -> None:
    config = render(spec, Settings(connect_secrets_dir=tmp_path))  # type: ignore[call-arg]
    assert spec_of(spec.connector_name, config) == spec
    path = secret_file(config)
    assert path == tmp_path / spec.password_secret
    with pytest.raises(ConfigError, match="SHAREBUS_DB_PASSWORD"):
        target_of(spec, config, env={})
    assert target_of(spec, config, env={"SHAREBUS_DB_PASSWORD": "from-env"}).password == "from-env"
    path.write_text("from-file")
    target = target_of(spec, config, env={})
    assert (target.kind, target.host, target.dbname, target.password) == (
        spec.kind,
        "h",
        spec.db_name,
        "from-file",
    )


def test_connectors_not_made_by_sharebus_are_named_as_such() -> None:
    with pytest.raises(ConfigError, match="was not onboarded by sharebus"):
        spec_of("other", {"connector.class": "x.Y", "topic.prefix": "other"})
