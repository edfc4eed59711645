"""drill runs

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26

A drill run and its injects (`gateway.drills.tables`).
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "drill_runs",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("file", sa.String(500), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("scenario", sa.JSON, nullable=False),
        sa.Column("files", sa.JSON, nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("started_by", sa.JSON, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("paused_at", sa.DateTime),
        sa.Column("paused_s", sa.Float, nullable=False),
        sa.Column("ended_at", sa.DateTime),
        sa.PrimaryKeyConstraint("id", name="pk_drill_runs"),
    )
    op.create_index("ix_drill_runs_sha256", "drill_runs", ["sha256"])
    op.create_table(
        "drill_sends",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("run_id", Id, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("inject_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("due_at", sa.DateTime, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("claimed_at", sa.DateTime),
        sa.Column("sent_at", sa.DateTime),
        sa.Column("via", sa.String(100)),
        sa.Column("report_channel", sa.String(32)),
        sa.Column("sender_key", sa.String(220)),
        sa.Column("external_id", sa.String(200)),
        sa.Column("report_id", Id),
        sa.Column("error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_drill_sends"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["drill_runs.id"], name="fk_drill_sends_run_id_drill_runs"
        ),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name="fk_drill_sends_report_id_reports"
        ),
    )
    op.create_index("ix_drill_sends_run_id", "drill_sends", ["run_id", "seq"], unique=True)
    op.create_index("ix_drill_sends_status", "drill_sends", ["status", "due_at"])


def downgrade() -> None:
    op.drop_table("drill_sends")
    op.drop_table("drill_runs")
