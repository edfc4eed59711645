"""110 phone calls

Revision ID: 0002
Revises: - (the base of the ami branch; needs the core at 0001)
Create Date: 2026-11-24

One row per call followed over AMI: arrival, queue, answer, hang-up, recording and the
abandoned-call callback task. The base of the AMI channel's branch (label ``ami``).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = None
branch_labels = ("ami",)
depends_on = "0001"

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Before channels had branches of their own the revisions were one chain, 0001 → 0002 →
    # 0003; a database stamped 0003 then has this table already (and the stamp says only
    # 0003 and what it depends on).
    if sa.inspect(op.get_bind()).has_table("calls"):
        return
    op.create_table(
        "calls",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("incident_id", ID, nullable=False),
        sa.Column("caller", sa.String(length=64), nullable=False),
        sa.Column("caller_name", sa.String(length=200), nullable=True),
        sa.Column("trunk", sa.String(length=32), nullable=False),
        sa.Column("drill", sa.Boolean(), nullable=False),
        sa.Column("asterisk_channel", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=True),
        sa.Column("ringing", sa.String(length=32), nullable=True),
        sa.Column("calltaker", sa.String(length=32), nullable=True),
        sa.Column("arrived_at", sa.DateTime(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("hold_s", sa.Float(), nullable=True),
        sa.Column("talk_s", sa.Float(), nullable=True),
        sa.Column("hangup_by", sa.String(length=16), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.Column("timeouts", sa.JSON(), nullable=False),
        sa.Column("recording", sa.String(length=500), nullable=True),
        sa.Column("callback", sa.String(length=12), nullable=True),
        sa.Column("callback_attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_calls_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("linkedid", name=op.f("uq_calls_linkedid")),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index("ix_calls_incident", ["incident_id"], unique=False)
        batch_op.create_index("ix_calls_calltaker_state", ["calltaker", "state"], unique=False)
        batch_op.create_index("ix_calls_caller", ["caller", "arrived_at"], unique=False)


def downgrade() -> None:
    op.drop_table("calls")
