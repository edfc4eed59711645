"""The AMI channel's table (its migrations: `migrations/`, Alembic branch ``ami``)."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, ForeignKey, Index, Integer, String, Table

from gateway.store.tables import Id, UTCDateTime, metadata

# 110 phone calls (one row per call, keyed by Asterisk's Linkedid), followed by the AMI
# channel from arrival to hang-up. The call's report is (channel "phone", external_id =
# linkedid); `incident_id` is the incident that report was filed under when the row was
# written. Progress also goes to the incident's audit log as call_* events.
calls = Table(
    "calls",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("linkedid", String(64), nullable=False, unique=True),
    Column("incident_id", Id, ForeignKey("incidents.id"), nullable=False),
    Column("caller", String(64), nullable=False),
    Column("caller_name", String(200)),
    Column("trunk", String(32), nullable=False),
    Column("drill", Boolean, nullable=False),
    Column("asterisk_channel", String(200)),
    # arrived → queued → ringing → answered → ended | abandoned
    Column("state", String(12), nullable=False),
    Column("queue", String(64)),
    Column("ringing", String(32)),  # the call-taker being rung
    Column("calltaker", String(32)),  # who answered
    Column("arrived_at", UTCDateTime, nullable=False),
    Column("answered_at", UTCDateTime),
    Column("ended_at", UTCDateTime),
    Column("hold_s", Float),  # waiting time until answer or abandon
    Column("talk_s", Float),
    Column("hangup_by", String(16)),  # caller | calltaker | system | unknown
    Column("end_reason", String(32)),  # caller_hangup | queue_timeout | completed | link_lost
    Column("timeouts", JSON, nullable=False),  # queues the caller timed out of, in order
    Column("recording", String(500)),
    # The abandoned-call callback task: pending → calling → connected | no_answer | busy |
    # failed (a failed or unanswered callback stays on the queue until one connects).
    Column("callback", String(12)),
    Column("callback_attempts", Integer, nullable=False, default=0),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("ix_calls_incident", calls.c.incident_id)
Index("ix_calls_calltaker_state", calls.c.calltaker, calls.c.state)
Index("ix_calls_caller", calls.c.caller, calls.c.arrived_at)
