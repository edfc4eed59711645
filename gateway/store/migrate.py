"""Schema migrations with Alembic, run from code: at start (`Database.start`) and by
`alarmgw db upgrade`.

The core's revisions are one chain (branch ``core``, in `migrations/versions/`); each
channel that has tables brings a branch of its own (labelled with its code, in its package's
``migrations/`` folder, based on the core revision it needs). Every installed channel's
folder is on the version path, so a database that a channel once migrated still resolves
when that channel is off; only the enabled channels' branches are upgraded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from gateway import discovery
from gateway.channel import Channel

HERE = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    locations = [str(HERE / "versions")]
    for code in discovery.installed():
        channel = discovery.declaration(code)
        if channel.migrations:
            locations.append(str(discovery.resource(channel, channel.migrations)))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(locations))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, channels: Sequence[Channel] = ()) -> None:
    """The core to its head, then each of `channels` that has a branch."""
    cfg = alembic_config(engine)
    command.upgrade(cfg, "core@head")
    for channel in channels:
        if channel.migrations:
            command.upgrade(cfg, f"{channel.code}@head")


def current(engine: Engine) -> tuple[str, ...]:
    """The revisions the database is at: the head of each branch it has."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
