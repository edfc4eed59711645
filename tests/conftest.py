"""Shared fixtures: the sample config, and a migrated store on SQLite and on PostgreSQL.

PostgreSQL is the one on 127.0.0.1:5432 (database `test`, trust auth); each test gets a
schema of its own. Where none is reachable the PostgreSQL cases skip with the reason —
CI installs and starts one, so there they run (`ALARMGW_REQUIRE_PG=1` turns the skip
into a failure)."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.config import Config, load_config, sample_text
from tests.peers.gateway import GatewayProcess

PG_URL = os.environ.get("ALARMGW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def config() -> Config:
    return load_config(None)


class FakeClock:
    """Only for code that reads the time without scheduling (twisted's Clock schedules)."""

    def __init__(self, t: datetime) -> None:
        self.t = t.timestamp()

    def seconds(self) -> float:
        return self.t

    def advance(self, s: float) -> None:
        self.t += s


T0 = datetime(2026, 11, 24, 1, 0, 0, tzinfo=UTC)  # 09:00 in Shanghai


def pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except Exception as e:  # noqa: BLE001
        return f"PostgreSQL not reachable at {PG_URL}: {e}"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    reason = pg_available()
    if reason:
        if os.environ.get("ALARMGW_REQUIRE_PG"):
            pytest.fail(reason)
        pytest.skip(reason)
    yield PG_URL


def fresh_pg_schema(base: str) -> tuple[str, Any]:
    import psycopg

    schema = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(base, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")

    def drop() -> None:
        with psycopg.connect(base, autocommit=True) as c:
            c.execute(f"DROP SCHEMA {schema} CASCADE")

    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", drop


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'alarmgw.db'}"
        return
    base = request.getfixturevalue("pg_url")
    url, drop = fresh_pg_schema(base)
    yield url
    drop()


# -- a real gateway process per test module (tests/integration, tests/channels/web) --------------
# On a copy of the sample city whose acknowledgement SLA is 2 seconds, so that escalation
# can be seen in real time.


def city_config(tmp: Path, *, ack_seconds: int = 2, busy_timeout_ms: int | None = None) -> Path:
    text = sample_text()
    text = re.sub(
        r"\[sla\.acknowledge\][^\[]*",
        f"[sla.acknowledge]\np1 = {ack_seconds}\np2 = {ack_seconds}\n"
        f"p3 = {ack_seconds}\np4 = {ack_seconds}\n\n",
        text,
    )
    if busy_timeout_ms is not None:
        text = text.replace("[storage]\n", f"[storage]\nbusy_timeout_ms = {busy_timeout_ms}\n")
    path = tmp / "city.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("gw")
    gw = GatewayProcess(tmp / "data", city_config(tmp, busy_timeout_ms=300))
    gw.start()
    yield gw
    code = gw.stop()
    assert code == 0, f"gateway exit code {code}:\n{gw.log()}"
