"""Telegram: the files of its reports and what the bot sends

Revision ID: 0009
Revises: - (the base of the telegram branch; needs the core at 0001)
Create Date: 2026-11-26

Photos and voice messages of Telegram reports (content-addressed) and which reports name
them, and the messages the bot
sends to chats (receipts, state updates, call-takers' replies, duty notices). The base of
the Telegram channel's branch (label ``telegram``).
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = None
branch_labels = ("telegram",)
depends_on = "0001"

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "telegram_files",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_telegram_files")),
    )
    op.create_table(
        "telegram_file_reports",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("report_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["sha256"],
            ["telegram_files.sha256"],
            name=op.f("fk_telegram_file_reports_sha256_telegram_files"),
        ),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name=op.f("fk_telegram_file_reports_report_id_reports")
        ),
        sa.PrimaryKeyConstraint("sha256", "report_id", name=op.f("pk_telegram_file_reports")),
    )
    op.create_index(
        "ix_telegram_file_reports_report", "telegram_file_reports", ["report_id"], unique=False
    )
    op.create_table(
        "telegram_out",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("incident_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("dedupe", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=True),
        sa.Column("drill", sa.Boolean(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_telegram_out_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_out")),
        sa.UniqueConstraint("dedupe", name=op.f("uq_telegram_out_dedupe")),
    )
    op.create_index(
        "ix_telegram_out_status_next", "telegram_out", ["status", "next_at"], unique=False
    )
    op.create_index("ix_telegram_out_incident", "telegram_out", ["incident_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_telegram_out_incident", table_name="telegram_out")
    op.drop_index("ix_telegram_out_status_next", table_name="telegram_out")
    op.drop_table("telegram_out")
    op.drop_index("ix_telegram_file_reports_report", table_name="telegram_file_reports")
    op.drop_table("telegram_file_reports")
    op.drop_table("telegram_files")
