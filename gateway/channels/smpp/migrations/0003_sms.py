"""SMS over SMPP

Revision ID: 0003
Revises: - (the base of the smpp branch; needs the core at 0001)
Create Date: 2026-11-24

Parts of concatenated SMS waiting for the rest, and the SMS the gateway sends with the
SMSC's message id of each part (for delivery receipts). The base of the SMS channel's
branch (label ``smpp``).
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = None
branch_labels = ("smpp",)
depends_on = "0001"

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sms_parts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("dest", sa.String(length=32), nullable=False),
        sa.Column("ref", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data_coding", sa.Integer(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_parts")),
        sa.UniqueConstraint(
            "source", "dest", "ref", "total", "seq",
            name=op.f("uq_sms_parts_source_dest_ref_total_seq"),
        ),
    )  # fmt: skip
    op.create_table(
        "sms_out",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("incident_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("dedupe", sa.String(length=100), nullable=True),
        sa.Column("ref", sa.Integer(), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=True),
        sa.Column("drill", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_sms_out_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_out")),
        sa.UniqueConstraint("dedupe", name=op.f("uq_sms_out_dedupe")),
    )
    with op.batch_alter_table("sms_out", schema=None) as batch_op:
        batch_op.create_index("ix_sms_out_status_next", ["status", "next_at"], unique=False)
        batch_op.create_index("ix_sms_out_incident", ["incident_id"], unique=False)
    op.create_table(
        "sms_out_parts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("sms_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=65), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["sms_id"], ["sms_out.id"], name=op.f("fk_sms_out_parts_sms_id_sms_out")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_out_parts")),
        sa.UniqueConstraint("message_id", name=op.f("uq_sms_out_parts_message_id")),
        sa.UniqueConstraint("sms_id", "seq", name=op.f("uq_sms_out_parts_sms_id_seq")),
    )


def downgrade() -> None:
    op.drop_table("sms_out_parts")
    op.drop_table("sms_out")
    op.drop_table("sms_parts")
