"""The e-mail channel's intake hook in the writer's transaction, on SQLite and PostgreSQL
(`store_url`): the blobs commit with the report, each once however many mails carry it;
a resend is the same report; another message under a stored Message-ID is a new one; a
large message's blobs come from the spool, and a spool file gone is a temporary error."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.channels.smtp import mime
from gateway.channels.smtp.inbound import INLINE_MAX, Envelope, Filed, file_mail, inline
from gateway.channels.smtp.settings import SmtpSettings
from gateway.channels.smtp.spool import Spool
from gateway.channels.smtp.tables import fax_jobs, mail_blobs
from gateway.config import load_config
from gateway.report import InvalidReport
from gateway.store.engine import StoreUnavailable
from gateway.store.tables import reports
from tests.channels.smtp.faxpages import draw_page, tiff
from tests.inline import Store
from tests.peers.gateway import sample_with_smtp

PHOTO = b"\x89PNG\r\n\x1a\n" + b"photo" * 50


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[Store]:
    config = tmp_path / "city.toml"
    config.write_text(sample_with_smtp(2525, f'spool_dir = "{tmp_path / "spool"}"\n'), "utf-8")
    s = Store(store_url, load_config(config))
    yield s
    s.close()


def settings(store: Store) -> SmtpSettings:
    return SmtpSettings.from_config(store.config.channels["smtp"])


def filed(
    store: Store,
    message_id: str,
    text: str = "和平路有人抢劫",
    to: str = "110@alarm.example.cn",
    attachment: bytes = PHOTO,
    name: str = "现场.png",
    subtype: tuple[str, str] = ("image", "png"),
) -> Filed:
    m = EmailMessage()
    m["From"] = "王芳 <wang@example.com>"
    m["To"] = to
    m["Subject"] = "报警"
    m["Message-ID"] = f"<{message_id}>"
    m.set_content(text)
    m.add_attachment(attachment, maintype=subtype[0], subtype=subtype[1], filename=name)
    raw = m.as_bytes()
    envelope = Envelope("wang@example.com", (to,), "192.0.2.7")
    return file_mail(
        raw, mime.parse(raw, "wang@example.com"), envelope, settings(store), store.now()
    )


def count(store: Store, table: object) -> int:
    return store.read(lambda c: c.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_blobs_commit_with_the_report_each_once(store: Store) -> None:
    first = inline(filed(store, "a@example.com", "第一封"))
    second = inline(filed(store, "b@example.com", "第二封：同一张照片"))
    r1, r2 = store.submit(first.report), store.submit(second.report)
    assert not r1.duplicate and not r2.duplicate
    assert count(store, mail_blobs) == 3  # two raw messages, one photo
    data = store.read(
        lambda c: c.execute(
            select(mail_blobs.c.data).where(
                mail_blobs.c.sha256 == hashlib.sha256(PHOTO).hexdigest()
            )
        ).scalar_one()
    )
    assert bytes(data) == PHOTO
    doc = store.read(
        lambda c: c.execute(
            select(reports.c.doc).where(reports.c.receipt == r1.receipt)
        ).scalar_one()
    )
    assert "inline" not in doc["extra"]["mail"]  # the bytes are not stored twice


def test_a_resend_and_a_reused_id(store: Store) -> None:
    f = inline(filed(store, "same@example.com", "东风路着火"))
    r1 = store.submit(f.report)
    again = store.submit(f.report)
    assert again.duplicate and again.receipt == r1.receipt
    other = inline(filed(store, "same@example.com", "南坝路车祸"))
    r3 = store.submit(other.report)
    assert not r3.duplicate and r3.receipt != r1.receipt
    ids = store.read(lambda c: c.execute(select(reports.c.external_id)).scalars().all())
    key = other.report.extra["mail"]["content_key"]
    assert sorted(ids) == sorted(["mail:same@example.com", f"mail:same@example.com#{key}"])


def test_a_fax_document_is_queued(store: Store) -> None:
    document = tiff([draw_page(["测试"])])
    f = inline(
        filed(
            store,
            "fax@pbx",
            "",
            to="fax110@alarm.example.cn",
            attachment=document,
            name="fax.tif",
            subtype=("image", "tiff"),
        )
    )
    receipt = store.submit(f.report)
    jobs = store.read(lambda c: c.execute(select(fax_jobs)).mappings().all())
    assert [(j["receipt"], j["status"], j["sha256"]) for j in jobs] == [
        (receipt.receipt, "pending", hashlib.sha256(document).hexdigest())
    ]


def test_a_large_message_comes_through_the_spool(store: Store) -> None:
    big = bytes(range(256)) * (INLINE_MAX // 256 + 1)
    f = filed(
        store,
        "big@example.com",
        attachment=big,
        name="video.bin",
        subtype=("application", "octet-stream"),
    )
    spool = Spool(settings(store).spool)
    spool.clear()
    for b in f.blobs:
        spool.hold(b.sha256, b.data)
    store.submit(f.report)
    assert count(store, mail_blobs) == 2
    for b in f.blobs:
        spool.release(b.sha256)
    # A spool file gone (a temp cleaner, a disk swapped): 451 and the sender sends again.
    lost = filed(
        store, "lost@example.com", attachment=big[::-1], subtype=("application", "octet-stream")
    )
    with pytest.raises(StoreUnavailable, match="mail spool"):
        store.submit(dataclasses.replace(lost.report))
    assert count(store, mail_blobs) == 2


def test_inline_bytes_must_match_their_hash(store: Store) -> None:
    """A report filed under our channel's name through the API cannot put other bytes
    under the hash of a mail still to come (blobs are evidence, stored once per hash)."""
    f = inline(filed(store, "forged@example.com"))
    mail = dict(f.report.extra["mail"])
    photo = hashlib.sha256(PHOTO).hexdigest()
    mail["inline"] = dict(mail["inline"]) | {photo: base64.b64encode(b"forged").decode()}
    forged = dataclasses.replace(f.report, extra={"mail": mail})
    with pytest.raises(InvalidReport, match="does not match its SHA-256"):
        store.submit(forged)
    assert count(store, mail_blobs) == 0 and count(store, reports) == 0
