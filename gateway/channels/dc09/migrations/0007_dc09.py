"""Alarm panels (SIA DC-09): the premises' signal history

Revision ID: 0007
Revises: - (the base of the dc09 branch; needs the core at 0006, the targets registry)
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = None
branch_labels = ("dc09",)
depends_on = "0006"

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "dc09_signals",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("premises_id", sa.Integer(), nullable=True),
        sa.Column("account", sa.String(length=16), nullable=False),
        sa.Column("protocol", sa.String(length=4), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("qualifier", sa.String(length=1), nullable=True),
        sa.Column("zone", sa.String(length=8), nullable=True),
        sa.Column("partition", sa.String(length=8), nullable=True),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("stored_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dc09_signals")),
        sa.UniqueConstraint("external_id", name=op.f("uq_dc09_signals_external_id")),
    )
    op.create_index(
        "ix_dc09_signals_account", "dc09_signals", ["account", "received_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_dc09_signals_account", table_name="dc09_signals")
    op.drop_table("dc09_signals")
