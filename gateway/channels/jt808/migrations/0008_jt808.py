"""Vehicle terminals (JT/T 808): the track of an emergency

Revision ID: 0008
Revises: - (the base of the jt808 branch; needs the core at 0006, the targets registry)
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = None
branch_labels = ("jt808",)
depends_on = "0006"

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "vehicle_track",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("incident_id", ID, nullable=False),
        sa.Column("terminal", sa.String(length=20), nullable=False),
        sa.Column("fix_at", sa.DateTime(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("speed_kmh", sa.Float(), nullable=False),
        sa.Column("heading", sa.Integer(), nullable=False),
        sa.Column("alarm", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"],
            name=op.f("fk_vehicle_track_incident_id_incidents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vehicle_track")),
    )  # fmt: skip
    op.create_index(
        "ix_vehicle_track_incident", "vehicle_track", ["incident_id", "fix_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_vehicle_track_incident", table_name="vehicle_track")
    op.drop_table("vehicle_track")
