"""Plays a drill scenario's mail and fax injects (`gateway.drills.inject`) through the
channel's own SMTP listener, as a mail client on loopback (smtplib, in a thread).

A mail comes from the inject's drill sender (one of `drill_senders`: the listener files it
as a drill by its sender) to the first alarm address, with the inject's subject, text and
attachments. A fax comes as the site's fax server delivers one: from the first drill sender
to the first fax address, with the calling number in our dialplan's ``X-Alarmgw-Fax-*``
headers and the page attached — the scenario's TIFF/PDF, or its text drawn on an A4 fax
page (Pillow, a CJK font).
"""

from __future__ import annotations

import io
import mimetypes
import smtplib
import textwrap
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import PurePosixPath

from twisted.internet import threads

from gateway import phone
from gateway.channels.smtp.service import SmtpChannel
from gateway.drills.inject import DrillInject, InjectError, Sent
from gateway.drills.scenario import Fax, Mail
from gateway.fonts import CJK_FILES

VIA = "经SMTP监听（演练发件人）"


async def inject(smtp: SmtpChannel, drill: DrillInject) -> Sent:
    s = smtp.settings
    content = drill.inject.content
    msg = EmailMessage()
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(f"drill-{drill.run}-{drill.inject.id}", domain=s.hostname)
    if isinstance(content, Mail):
        if content.sender.lower() not in s.drill_senders:
            raise InjectError(f"{content.sender} is not one of [channels.smtp] drill_senders")
        if not s.recipients:
            raise InjectError("[channels.smtp] has no alarm address (recipients)")
        sender, to = content.sender, s.recipients[0]
        msg["Subject"] = content.subject
        msg.set_content(content.text.strip() + "\n")
        for path in content.attachments:
            _attach(msg, path, drill.file(path))
        key = f"email:{sender.lower()}"  # as correlation keys a mail's sender
    else:
        assert isinstance(content, Fax)
        if not s.drill_senders or not s.fax_recipients:
            raise InjectError("a fax drill needs [channels.smtp] drill_senders and fax_recipients")
        sender, to = s.drill_senders[0], s.fax_recipients[0]
        msg["Subject"] = f"Fax from {content.sender}"
        msg["X-Alarmgw-Fax-Caller"] = content.sender
        msg["X-Alarmgw-Fax-Pages"] = "1"
        msg.set_content(f"Fax from {content.sender}\n")
        if content.page:
            _attach(msg, content.page, drill.file(content.page))
        else:
            page = await threads.deferToThread(draw_page, content.text or "")
            msg.add_attachment(page, maintype="image", subtype="tiff", filename="fax.tif")
        key = f"phone:{phone.normalise(content.sender)}"  # the fax's calling number
    msg["From"], msg["To"] = sender, to
    host = "127.0.0.1" if s.host in ("0.0.0.0", "") else ("::1" if s.host == "::" else s.host)
    if smtp.port is None:
        raise InjectError("the SMTP listener is not listening")
    await threads.deferToThread(_send, host, smtp.port, msg, sender, to)
    return Sent("fax" if isinstance(content, Fax) else "email", sender_key=key, via=VIA)


def _send(host: str, port: int, msg: EmailMessage, sender: str, to: str) -> None:
    try:
        with smtplib.SMTP(host, port, timeout=60) as client:
            client.send_message(msg, sender, [to])
    except smtplib.SMTPResponseException as e:
        why = (
            e.smtp_error.decode("utf-8", "replace")
            if isinstance(e.smtp_error, bytes)
            else e.smtp_error
        )
        raise InjectError(f"the SMTP listener answered {e.smtp_code} {why}") from None
    except (OSError, smtplib.SMTPException) as e:
        raise InjectError(f"cannot send to the SMTP listener {host}:{port}: {e}") from None


def _attach(msg: EmailMessage, path: str, data: bytes) -> None:
    ctype, _ = mimetypes.guess_type(path)
    maintype, subtype = (ctype or "application/octet-stream").split("/", 1)
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=PurePosixPath(path).name)


def draw_page(text: str) -> bytes:
    """`text` on a fine-resolution A4 fax page (1728 × 2292 px, 1 bit), as a G4 TIFF."""
    from PIL import Image, ImageDraw, ImageFont

    page = Image.new("1", (1728, 2292), 1)
    draw = ImageDraw.Draw(page)
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont
    for path in CJK_FILES:
        try:
            font = ImageFont.truetype(path, 48)
            break
        except OSError:
            continue
    else:
        raise InjectError("no CJK font to draw the fax page (Debian fonts-noto-cjk)")
    y = 120
    for para in text.strip().splitlines() or [""]:
        for line in textwrap.wrap(para, 30) or [""]:
            draw.text((120, y), line, font=font, fill=0)
            y += 72
    out = io.BytesIO()
    page.save(out, format="TIFF", compression="group4", dpi=(204, 196))
    return out.getvalue()
