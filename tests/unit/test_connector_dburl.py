"""Department database URLs: kinds, defaults, the password never shown, and where it comes from."""

from __future__ import annotations

import pytest

from connectors.dburl import mask_urls, parse_db_url, redact, resolve_password
from sharebus.core.errors import ConfigError


def test_postgres_and_mariadb_urls_parse_with_default_ports() -> None:
    pg = parse_db_url("postgresql://cdc:s3cret@db.example:6543/dept_x")
    assert (pg.kind, pg.host, pg.port, pg.user, pg.dbname, pg.password) == (
        "postgres",
        "db.example",
        6543,
        "cdc",
        "dept_x",
        "s3cret",
    )
    assert parse_db_url("postgres://u@h/d").port == 5432
    maria = parse_db_url("mariadb://u@h/hr")
    assert (maria.kind, maria.port, maria.password) == ("mariadb", 3306, None)
    assert parse_db_url("mysql://u@h/hr").kind == "mariadb"


def test_the_password_is_in_neither_repr_nor_safe_url() -> None:
    target = parse_db_url("postgresql://cdc:pa%40ss@h:1/d")
    assert target.password == "pa@ss"
    assert "pa@ss" not in repr(target) and "pa%40ss" not in repr(target)
    assert target.safe_url == "postgresql://cdc@h:1/d"


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("oracle://u@h/d", "database kind"),
        ("postgresql://h/d", "user"),
        ("postgresql://u@h", "database name"),
        ("postgresql://u:secretpw@h:notaport/d", "valid URL"),
    ],
)
def test_bad_urls_name_the_problem_without_the_password(url: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        parse_db_url(url)
    assert "secretpw" not in info.value.render()


def test_password_comes_from_url_then_env_then_prompt() -> None:
    with_pw = parse_db_url("postgresql://u:url-pw@h/d")
    assert resolve_password(with_pw, env={"SHAREBUS_DB_PASSWORD": "env-pw"}).password == "url-pw"
    bare = parse_db_url("postgresql://u@h/d")
    assert resolve_password(bare, env={"SHAREBUS_DB_PASSWORD": "env-pw"}).password == "env-pw"
    assert resolve_password(bare, env={"X": "x-pw"}, env_name="X").password == "x-pw"
    assert resolve_password(bare, env={}, prompt=lambda text: "typed").password == "typed"
    with pytest.raises(ConfigError, match="SHAREBUS_DB_PASSWORD"):
        resolve_password(bare, env={})


def test_masking_and_redaction() -> None:
    text = "connect postgresql://cdc:hunter2@h:5432/d failed; retry mariadb://a:b@c/d"
    assert mask_urls(text) == "connect postgresql://cdc:***@h:5432/d failed; retry mariadb://a:***@c/d"
    assert redact("password hunter2 was refused", ["hunter2", None, ""]) == "password *** was refused"
    # A short secret is masked as a word only: the message around it stays readable.
    assert redact("port 5432: password ort refused (ort)", ["ort"]) == "port 5432: password *** refused (***)"
