"""The web channel's service: nothing runs of its own (the gateway's HTTP site serves its
routes); it holds what the routes need and builds a report from a submission."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import fastjsonschema
from twisted.application.service import Service

from gateway import phone
from gateway.channel import ChannelContext, RouteCall
from gateway.http.resource import HttpError, compile_schema, schema_error
from gateway.report import Report, parse_utc
from gateway.schemas import load_schema, with_categories
from gateway.workflow.table import Role

# Who may claim a channel other than "web", a received_at of their own, or the drill flag.
SYSTEM_ROLES = frozenset({Role.INTEGRATION, Role.ADMIN})
DRILL_SUBMITTERS = frozenset({Role.DRILL_COORDINATOR, Role.INTEGRATION, Role.ADMIN})
MAX_KEY = 200  # characters of an Idempotency-Key (the external_id's limit)


class WebChannel(Service):
    name = "web"  # type: ignore[assignment]

    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        # The category codes are the city's ([categories]), not the schema file's nine.
        categories = {code: c.name for code, c in ctx.config.categories.items()}
        name = "report-submission.schema.json"
        self.validate = compile_schema(
            with_categories(copy.deepcopy(load_schema(name)), name, categories)
        )

    def report(self, call: RouteCall, doc: Any, key: str | None = None) -> Report:
        """The report of a submission (the body of POST /api/v1/reports, or the form's);
        refuses with 4xx what the schema or the sender's role does not allow."""
        who = call.actor
        if not isinstance(doc, dict):
            raise HttpError(422, "invalid_report", "the body must be a JSON object")
        try:
            self.validate(doc)
        except fastjsonschema.JsonSchemaValueException as e:
            raise schema_error(e, "invalid_report") from None
        system = who is not None and who.role in SYSTEM_ROLES
        channel = doc.get("channel", "web" if not system else "api")
        if channel != "web" and not system:
            raise HttpError(
                403,
                "forbidden",
                f"only an integration token may use channel {channel!r}",
                "channel",
            )
        if doc.get("drill") and (who is None or who.role not in DRILL_SUBMITTERS):
            raise HttpError(
                403,
                "forbidden",
                "drill reports need a drill_coordinator, integration or admin token",
                "drill",
            )
        if key is None:
            key = call.header("idempotency-key")
        if key is not None:
            key = key.strip()
            _check_key(key)
        external_id = key or doc.get("external_id") or str(uuid.uuid4())
        received = (
            parse_utc(doc["received_at"], "received_at")
            if (system and "received_at" in doc)
            else call.now
        )
        full = dict(doc, channel=channel, external_id=external_id, received_at=received.isoformat())
        report = Report.from_json(full)
        if doc.get("channel", "web") == "web" and report.sender.kind == "phone":
            # A number must look like one (report-submission.schema.json says so); a report
            # that names its channel files what its peer says (anonymous-<linkedid>).
            if not phone.looks_like_phone(report.sender.id):
                problem = f"{report.sender.id!r} is {phone.NOT_A_PHONE}"
                raise HttpError(422, "invalid_report", problem, "sender.id")
        return report


def _check_key(key: str) -> None:
    """An Idempotency-Key is 1 to 200 characters of printable ASCII (the IETF draft's
    sf-string): an empty one would silently mean none (a retry then stores twice), and
    other octets mean different things to different clients."""
    if not key:
        raise HttpError(422, "invalid_report", "Idempotency-Key is empty", "Idempotency-Key")
    if len(key) > MAX_KEY:
        raise HttpError(
            422,
            "invalid_report",
            f"Idempotency-Key is over {MAX_KEY} characters",
            "Idempotency-Key",
        )
    if not (key.isascii() and key.isprintable()):  # for ASCII: " " to "~"
        raise HttpError(
            422,
            "invalid_report",
            "Idempotency-Key may hold printable ASCII only",
            "Idempotency-Key",
        )
