"""The systems channel's service: nothing runs of its own (the gateway's HTTP site serves
``POST /api/v1/systems/{system}/alarms``); it checks a request's signature, maps its JSON
to a report by the system's source and hands that to intake."""

from __future__ import annotations

from twisted.application.service import Service
from twisted.logger import Logger

from gateway.channel import ChannelContext, RouteCall
from gateway.channels.systems import mapping, signature
from gateway.channels.systems.metrics import UNKNOWN, SystemsMetrics
from gateway.channels.systems.settings import Source, SystemsSettings
from gateway.http.resource import HttpError, compile_schema, parse_json
from gateway.report import InvalidReport, Receipt
from gateway.schemas import load_schema, with_categories

log = Logger()

# What a refused request is told. An unknown system hears exactly what a bad signature
# does: nobody learns which systems exist by guessing.
_TOLD = {
    "no_timestamp": f"send {signature.TIMESTAMP} (Unix seconds)",
    "no_signature": f"send {signature.SIGNATURE} (sha256=<hex>)",
    "bad_timestamp": f"{signature.TIMESTAMP} must be Unix seconds",
    "bad_signature_format": f"{signature.SIGNATURE} must be sha256=<64 hex digits>",
    "unknown_system": "the signature does not verify",
    "bad_signature": "the signature does not verify",
    "late": f"{signature.TIMESTAMP} is outside the replay window (check the clock)",
    "early": f"{signature.TIMESTAMP} is outside the replay window (check the clock)",
    "replayed": "this signed request was already sent with another Idempotency-Key",
}
_HEADER_OF = {
    "no_timestamp": signature.TIMESTAMP,
    "bad_timestamp": signature.TIMESTAMP,
    "late": signature.TIMESTAMP,
    "early": signature.TIMESTAMP,
    "replayed": "Idempotency-Key",
}
# RFC 9110 §11.6.1: a 401 carries a challenge saying how to authenticate.
CHALLENGE = {"WWW-Authenticate": 'HMAC-SHA256 realm="alarmgw"'}


class SystemsChannel(Service):
    name = "systems"  # type: ignore[assignment]

    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        self.settings: SystemsSettings = ctx.settings
        self.metrics: SystemsMetrics = ctx.metrics
        self.categories = ctx.config.categories
        self._check_codes()
        # The report as intake will take it (the city's categories): a body whose values
        # do not fit is refused naming its pointer, before anything is stored.
        name = "report.schema.json"
        labels = {code: c.name for code, c in self.categories.items()}
        self.validate = compile_schema(with_categories(load_schema(name), name, labels))
        self.replays = signature.Replays(self.settings.window_s)

    def _check_codes(self) -> None:
        """The categories a source names are this city's ([categories]), which the
        channel's config check cannot see: a typo stops the start, not each alarm."""
        wrong = [
            (f"sources.{s.code}.category", s.category)
            for s in self.settings.sources.values()
            if s.category is not None and s.category not in self.categories
        ] + [
            (f"sources.{s.code}.category_codes.{theirs}", ours)
            for s in self.settings.sources.values()
            for theirs, ours in s.category_codes.items()
            if ours not in self.categories
        ]
        if wrong:
            from gateway.app import StartupError

            where, what = wrong[0]
            known = ", ".join(self.categories)
            raise StartupError(f"channels.systems.{where}: unknown category {what!r} ({known})")

    async def receive(self, system: str, call: RouteCall) -> Receipt:
        """The alarm of one signed request, durably stored (or an HttpError: 401 for a
        signature that does not verify, 400/422 for a body that is not an alarm)."""
        raw = call.body("application/json")  # the octets as signed (413, 415 before anything)
        source = self.settings.sources.get(system)
        key = call.header("idempotency-key")
        sent = call.header(signature.SIGNATURE)
        try:
            ts = signature.verify(
                source.secrets if source else None,
                call.header(signature.TIMESTAMP),
                sent,
                raw,
                call.now.timestamp(),
                self.settings.window_s,
            )
        except signature.Refused as e:
            raise self._unauthorized(system if source else UNKNOWN, e, system) from None
        assert source is not None and sent is not None  # verified
        if key is not None:
            key = key.strip()
            problem = _key_problem(key, source)
            if problem is not None:
                self._refused(system, "unmappable", detail="Idempotency-Key")
                raise HttpError(422, "invalid_report", problem, "Idempotency-Key")
        try:
            self.replays.check(sent, key, ts, call.now.timestamp())
        except signature.Refused as e:
            raise self._unauthorized(system, e) from None
        # Only now, with the sender known, is anything of the body read.
        try:
            doc = parse_json(raw)
        except HttpError:
            self._refused(system, "bad_json")
            raise
        try:
            report = mapping.report_of(source, doc, key, call.now, self.categories, self.validate)
        except mapping.Unmappable as e:
            self._refused(system, "unmappable", detail=e.field)  # not the value: no body in logs
            raise HttpError(422, "invalid_report", e.problem, e.field) from None
        try:
            receipt = await self.ctx.submit(report)
        except InvalidReport as e:  # what only intake knows
            self._refused(system, "invalid", detail=e.field or "")
            raise
        outcome = "duplicate" if receipt.duplicate else "stored"
        self.metrics.accepted.labels(system, outcome).inc()
        return receipt

    def _unauthorized(self, label: str, e: signature.Refused, named: str = "") -> HttpError:
        self._refused(label, e.reason, named)
        return HttpError(401, "unauthorized", _TOLD[e.reason], _HEADER_OF.get(e.reason), CHALLENGE)

    def _refused(self, label: str, reason: str, named: str = "", detail: str = "") -> None:
        """A log line (the system, the reason; never a secret or the body) and the count."""
        self.metrics.refused.labels(label, reason).inc()
        log.warn(
            "Refused an alarm from system {system}: {reason}{detail}",
            system=named or label,
            reason=reason,
            detail=f" ({detail})" if detail else "",
        )


def _key_problem(key: str, source: Source) -> str | None:
    """What is wrong with an Idempotency-Key: it is printable ASCII (the IETF draft's
    sf-string), short enough to make an external id with the system's code. An empty one
    would silently mean none (a retry then stores twice), and other octets mean different
    things to different clients."""
    limit = mapping.MAX_EXTERNAL_ID - len(source.code) - 1
    if not key:
        return "Idempotency-Key is empty"
    if len(key) > limit:
        return f"Idempotency-Key is over {limit} characters"
    if not (key.isascii() and key.isprintable()):
        return "Idempotency-Key may hold printable ASCII only"
    return None
