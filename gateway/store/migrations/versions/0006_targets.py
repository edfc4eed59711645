"""the registry of fixed and mobile targets

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28

Premises with alarm panels (固定目标: SIA DC-09 / Contact ID accounts) and vehicles with
JT/T 808 terminals (移动目标), declared in `gateway.targets.tables`: core data, read by
the channels that hear them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "premises",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("account", sa.String(length=16), nullable=False),
        sa.Column("receiver", sa.String(length=6), nullable=False),
        sa.Column("line", sa.String(length=6), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("unit", sa.String(length=12), nullable=False),
        sa.Column("phones", sa.JSON(), nullable=False),
        sa.Column("zones", sa.JSON(), nullable=False),
        sa.Column("aes_key", sa.String(length=64), nullable=True),
        sa.Column("supervision_s", sa.Integer(), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(), nullable=True),
        sa.Column("last_signal", sa.String(length=32), nullable=True),
        sa.Column("fault_reported_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_premises")),
    )
    op.create_index(
        op.f("ix_premises_account_receiver_line"),
        "premises",
        ["account", "receiver", "line"],
        unique=True,
    )
    op.create_index(op.f("ix_premises_updated_at"), "premises", ["updated_at"], unique=False)
    op.create_index(op.f("ix_premises_unit"), "premises", ["unit"], unique=False)
    op.create_table(
        "vehicles",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("terminal", sa.String(length=20), nullable=False),
        sa.Column("plate", sa.String(length=16), nullable=True),
        sa.Column("plate_color", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("company", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=12), nullable=True),
        sa.Column("phones", sa.JSON(), nullable=False),
        sa.Column("last_lat", sa.Float(), nullable=True),
        sa.Column("last_lon", sa.Float(), nullable=True),
        sa.Column("last_speed_kmh", sa.Float(), nullable=True),
        sa.Column("last_heading", sa.Integer(), nullable=True),
        sa.Column("last_fix_at", sa.DateTime(), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(), nullable=True),
        sa.Column("alarm_flags", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vehicles")),
    )
    op.create_index(op.f("ix_vehicles_terminal"), "vehicles", ["terminal"], unique=True)
    op.create_index(op.f("ix_vehicles_updated_at"), "vehicles", ["updated_at"], unique=False)
    op.create_index(op.f("ix_vehicles_unit"), "vehicles", ["unit"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_vehicles_unit"), table_name="vehicles")
    op.drop_index(op.f("ix_vehicles_updated_at"), table_name="vehicles")
    op.drop_index(op.f("ix_vehicles_terminal"), table_name="vehicles")
    op.drop_table("vehicles")
    op.drop_index(op.f("ix_premises_unit"), table_name="premises")
    op.drop_index(op.f("ix_premises_updated_at"), table_name="premises")
    op.drop_index(op.f("ix_premises_account_receiver_line"), table_name="premises")
    op.drop_table("premises")
