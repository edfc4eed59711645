"""Drill injects on the SMS channel (its declaration's ``drill``): an SMS from a drill number
to the center's number (`source_addr`, 12110), as a citizen's comes.

- **Through the SMSC**, where the operator gives a test account
  (``[channels.smpp.test_account]``, 测试账号): a second ESME, bound as a transmitter, submits
  the text from the drill number to our number; the SMSC delivers it to the gateway's own
  bind as any handset's SMS, and the inbox files it. The text is split as the gateway's
  sender splits its own (`text.split_for_sending`: UCS2 for Chinese, concatenated parts
  after a UDH) and each part is the sender's submit_sm (`sender.submit_fields`). smpplib
  blocks, so the whole session (connect, bind, each submit_sm and its submit_sm_resp,
  unbind) runs in a thread of the reactor's pool, bounded by `response_timeout` at each step.
- **The adapter's drill injection**, without one: the same parts, as the SMSC would deliver
  them, go through the inbox's own path (`Inbox.inject`: decoding, concatenation, the drill
  check, intake). Its report says in ``extra["injected"]`` that the drill runner put it
  there and it never crossed the SMSC.

Either way the inject's sender must be one of `drill_numbers`: the inbox files a message from
a drill number as a drill, so nothing a drill sends can become a real alarm.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from smpplib import client as smpp_client
from smpplib import consts, exceptions, smpp
from twisted.internet import threads
from twisted.logger import Logger

from gateway import phone
from gateway.channels.smpp.inbound import Inbound
from gateway.channels.smpp.sender import submit_fields
from gateway.channels.smpp.settings import SmppSettings, is_drill_number
from gateway.channels.smpp.text import split_for_sending
from gateway.drills.inject import DrillInject, InjectError, Sent
from gateway.drills.scenario import Sms
from gateway.intake import mask_phone

if TYPE_CHECKING:
    from gateway.channels.smpp.service import SmppChannel

log = Logger()

VIA_SMSC = "经短信中心测试账号"
VIA_ADAPTER = "适配器演练注入（未经短信中心）"


async def inject(service: SmppChannel, drill: DrillInject) -> Sent:
    """Send the inject's SMS (see the module's docstring); `InjectError` says why not."""
    sms = drill.inject.content
    if not isinstance(sms, Sms):
        raise InjectError(f"inject {drill.inject.id} is not an SMS but {drill.inject.channel}")
    s: SmppSettings = service.settings
    source = drill_sender(s, sms.sender)
    if service.stopping or not service.running:
        raise InjectError("the SMS channel is not running")
    try:
        data_coding, parts = split_for_sending(sms.text, service.sender.next_ref())
    except ValueError as e:
        raise InjectError(f"the text cannot be sent by SMS: {e}") from None
    if s.test_account is not None:
        await threads.deferToThread(submit_as_test_account, s, source, data_coding, parts)
        via = VIA_SMSC
    else:
        await _into_adapter(service, drill, source, data_coding, parts)
        via = VIA_ADAPTER
    log.info(
        "SMPP: drill run {run} inject {inject} sent from {who} to {to}, {n} part(s), {via}",
        run=drill.run,
        inject=drill.inject.id,
        who=mask_phone(source),
        to=s.source_addr,
        n=len(parts),
        via=via,
    )
    return Sent(report_channel="sms", sender_key=f"phone:{source}", via=via)


def drill_sender(s: SmppSettings, sender: str) -> str:
    """The inject's sender as it goes on the wire (as the gateway knows the number); it
    must be one of `drill_numbers`, or what it sends would be filed as a real alarm."""
    if not phone.looks_like_phone(sender):
        raise InjectError(f"the sender {sender!r} is not a phone number")
    number = phone.normalise(sender)
    if not is_drill_number(number, s.drill_numbers):
        raise InjectError(
            f"the sender {number} is not among [channels.smpp] drill_numbers: "
            "its SMS would be filed as a real alarm"
        )
    return number


# -- through the SMSC's test account (in a thread) -----------------------------------------


def submit_as_test_account(
    s: SmppSettings, source: str, data_coding: int, parts: list[bytes]
) -> list[str]:
    """Blocking: bind the test account as a transmitter, submit `parts` from `source` to our
    number, each waiting for its submit_sm_resp, and unbind. The SMSC's message ids."""
    account = s.test_account
    assert account is not None
    host, port = account.host or s.host, account.port or s.port
    c = smpp_client.Client(
        host,
        port,
        timeout=s.response_timeout,
        logger_name="smpp.drill",
        allow_unknown_opt_params=True,
    )
    try:
        try:
            c.connect()
        except exceptions.ConnectionError:
            raise InjectError(f"the SMSC at {host}:{port} cannot be reached") from None
        try:
            c.bind_transmitter(
                system_id=account.system_id,
                password=account.password,
                system_type=account.system_type,
                interface_version=0x34,
            )
        except exceptions.PDUError as e:
            status = e.args[1] if len(e.args) > 1 else None
            raise InjectError(
                f"the SMSC at {host}:{port} refused the test account {account.system_id}'s "
                f"bind_transmitter: {_status(status)}"
            ) from None
        except (exceptions.ConnectionError, OSError):
            raise InjectError(
                f"the test account {account.system_id}'s bind_transmitter got no answer from "
                f"{host}:{port} within {s.response_timeout} s"
            ) from None
        ids = [
            _submit(c, submit_fields(source, s.source_addr, data_coding, body, len(parts)), s)
            for body in parts
        ]
        _unbind(c)
        return ids
    finally:
        c.disconnect()


def _submit(c: smpp_client.Client, fields: dict[str, Any], s: SmppSettings) -> str:
    """One submit_sm and its submit_sm_resp (an enquire_link meanwhile is answered)."""
    p = c.send_message(**fields)
    sequence = p.sequence
    deadline = time.monotonic() + s.response_timeout
    while time.monotonic() < deadline:
        try:
            resp = c.read_pdu()
        except (TimeoutError, exceptions.ConnectionError, OSError):
            break
        if resp.command == "enquire_link":
            answer = smpp.make_pdu("enquire_link_resp", client=c)
            answer.sequence = resp.sequence  # see esme._response: make_pdu drops it
            c.send_pdu(answer)
        elif resp.command == "unbind":
            raise InjectError("the SMSC unbound the test account before answering submit_sm")
        elif resp.command in ("submit_sm_resp", "generic_nack") and resp.sequence == sequence:
            if resp.status != consts.SMPP_ESME_ROK:
                raise InjectError(
                    f"the SMSC refused the test account's submit_sm: {_status(resp.status)}"
                )
            message_id = resp.message_id or b""
            if isinstance(message_id, bytes):
                return message_id.decode("ascii", "replace")
            return str(message_id)
    raise InjectError(
        f"no submit_sm_resp for the test account's submit_sm within {s.response_timeout} s "
        "(the SMSC may still deliver it)"
    )


def _unbind(c: smpp_client.Client) -> None:
    try:
        c.unbind()  # and its unbind_resp
    except (exceptions.ConnectionError, exceptions.PDUError, OSError):
        pass  # every part was taken: an SMSC hanging up first loses nothing


def _status(status: int | None) -> str:
    if status is None:
        return "no status"
    return f"0x{status:08x} {consts.DESCRIPTIONS.get(status, 'unknown status')}"


# -- the adapter's drill injection -------------------------------------------------------------


async def _into_adapter(
    service: SmppChannel, drill: DrillInject, source: str, data_coding: int, parts: list[bytes]
) -> None:
    """The parts, as the SMSC would deliver them, into the inbox's own path."""
    dest = service.settings.source_addr
    esm_class = 0x40 if len(parts) > 1 else 0  # UDHI: each part starts with its UDH
    inbound = [Inbound(source, dest, data_coding, esm_class, body) for body in parts]
    injected = {
        "by": "drill_runner",
        "run": drill.run,
        "inject": drill.inject.id,
        "smsc": False,  # never crossed the SMSC
        "via": VIA_ADAPTER,
    }
    taken = await service.inbox.inject(inbound, service.now(), injected)
    last = taken[-1]
    if last.status != consts.SMPP_ESME_ROK:
        raise InjectError(f"the SMS channel did not take it ({last.outcome}): {last.problem}")
    if last.outcome == "ack":
        raise InjectError("the text was taken as a duty phone's acknowledgement, not an alarm")
    if last.outcome == "duplicate":
        raise InjectError(
            f"the same text from {source} is already filed and its incident open: "
            "taken as a redelivery of it, not a new report"
        )
