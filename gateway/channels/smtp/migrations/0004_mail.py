"""E-mail and fax-to-mail

Revision ID: 0004
Revises: - (the base of the smtp branch; needs the core at 0001)
Create Date: 2026-11-26

What came by mail (raw messages, attachments, fax page images) content-addressed in the
database; fax documents waiting for page images and OCR, and their pages; the mail the
gateway sends the citizen. The base of the e-mail channel's branch (label ``smtp``).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = None
branch_labels = ("smtp",)
depends_on = "0001"

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "mail_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_mail_blobs")),
    )
    op.create_table(
        "fax_jobs",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("incident_id", ID, nullable=False),
        sa.Column("receipt", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("drill", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_fax_jobs_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fax_jobs")),
        sa.UniqueConstraint("receipt", "sha256", name=op.f("uq_fax_jobs_receipt_sha256")),
    )
    with op.batch_alter_table("fax_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_fax_jobs_status_next", ["status", "next_at"], unique=False)
        batch_op.create_index("ix_fax_jobs_incident", ["incident_id"], unique=False)
    op.create_table(
        "fax_pages",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("job_id", ID, nullable=False),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("png_sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("stretched", sa.Boolean(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["fax_jobs.id"], name=op.f("fk_fax_pages_job_id_fax_jobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fax_pages")),
        sa.UniqueConstraint("job_id", "page", name=op.f("uq_fax_pages_job_id_page")),
    )
    op.create_table(
        "mail_out",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("incident_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("to_address", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("in_reply_to", sa.String(length=255), nullable=True),
        sa.Column("dedupe", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=True),
        sa.Column("drill", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_mail_out_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_out")),
        sa.UniqueConstraint("dedupe", name=op.f("uq_mail_out_dedupe")),
        sa.UniqueConstraint("message_id", name=op.f("uq_mail_out_message_id")),
    )
    with op.batch_alter_table("mail_out", schema=None) as batch_op:
        batch_op.create_index("ix_mail_out_status_next", ["status", "next_at"], unique=False)
        batch_op.create_index("ix_mail_out_incident", ["incident_id"], unique=False)


def downgrade() -> None:
    op.drop_table("mail_out")
    op.drop_table("fax_pages")
    op.drop_table("fax_jobs")
    op.drop_table("mail_blobs")
