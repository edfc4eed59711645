"""The in-process channel tests' city and store (see `tests/channels/fakes.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import Config
from tests.channels.fakes import city
from tests.inline import Store, sqlite_copy


@pytest.fixture(scope="session")
def channels_city(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The sample city with the SMS and AMI channels on and duty phones."""
    return city(tmp_path_factory.mktemp("city"))


@pytest.fixture(scope="session")
def migrated(channels_city: Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite database migrated for `channels_city`, copied by each test."""
    path = tmp_path_factory.mktemp("migrated") / "alarmgw.db"
    Store(f"sqlite:///{path}", channels_city).close()
    assert not path.with_name("alarmgw.db-wal").exists()
    return path


@pytest.fixture
def store(channels_city: Config, migrated: Path, tmp_path: Path) -> Iterator[Store]:
    """A real store (SQLite) of `channels_city`, its clock a `task.Clock` at T0."""
    s = Store(sqlite_copy(migrated, tmp_path), channels_city, migrate=False)
    yield s
    s.close()
