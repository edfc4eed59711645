"""Alembic environment: the engine comes from `gateway.store.migrate` (no alembic.ini)."""

from alembic import context

import gateway.drills.tables  # noqa: F401 - the core's tables declared outside store/
import gateway.targets.tables  # noqa: F401 - the core's tables declared outside store/
from gateway.store.tables import metadata

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
