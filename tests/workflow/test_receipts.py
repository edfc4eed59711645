"""Receipts as people read and type them (Crockford base32's reading rules), and the public
status a receipt shows, against a real store (SQLite, and PostgreSQL where one runs)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.report import Location
from gateway.workflow.records import (
    RECEIPT_ALPHABET,
    RECEIPT_MAX,
    NotAReceipt,
    new_receipt,
    normalise_receipt,
    receipt_status,
)
from gateway.workflow.table import State
from tests.conftest import T0
from tests.harness import STATION, Harness, actor

NANBA = Location(lat=24.98, lon=102.65, accuracy_m=15)

receipts = st.text(alphabet=RECEIPT_ALPHABET, min_size=1, max_size=RECEIPT_MAX)
# How each character may be typed or read aloud: any case, 0 as O, 1 as I or L.
READINGS = {ch: [ch, ch.lower()] for ch in RECEIPT_ALPHABET} | {
    "0": ["0", "O", "o"],
    "1": ["1", "I", "i", "L", "l"],
}
SEPARATORS = ["-", " ", "－", "\u3000", "\u2013"]  # hyphen, space, full-width, en dash


@st.composite
def typed(draw: st.DrawFn, receipt: str) -> str:
    out = []
    for ch in receipt:
        if draw(st.booleans()):
            out.append(draw(st.sampled_from(SEPARATORS)))
        out.append(draw(st.sampled_from(READINGS[ch])))
    if draw(st.booleans()):
        out.append(draw(st.sampled_from(SEPARATORS)))
    return "".join(out)


@given(st.data(), receipts)
def test_any_reading_of_a_receipt_normalises_back_to_it(data: st.DataObject, receipt: str) -> None:
    assert normalise_receipt(data.draw(typed(receipt))) == receipt


@given(receipts)
def test_normalising_a_stored_receipt_changes_nothing(receipt: str) -> None:
    assert normalise_receipt(receipt) == receipt


def test_new_receipts_are_stored_form() -> None:
    for _ in range(200):
        receipt = new_receipt()
        assert len(receipt) == 10 and normalise_receipt(receipt) == receipt


@pytest.mark.parametrize(
    ("as_typed", "receipt"),
    [
        ("7k2mq9xwrt", "7K2MQ9XWRT"),
        ("7K2M-Q9XW-RT", "7K2MQ9XWRT"),
        (" 7K2M Q9XW RT ", "7K2MQ9XWRT"),
        ("OIL0", "0110"),
        ("oil", "011"),
        ("ＡＢ１２", "AB12"),  # full-width, as a Chinese input method may give
    ],
)
def test_readings(as_typed: str, receipt: str) -> None:
    assert normalise_receipt(as_typed) == receipt


@pytest.mark.parametrize(
    ("as_typed", "char"),
    [("7K2U", "U"), ("7k2u", "u"), ("", None), (" - ", None), ("7K#2", "#"), ("7Kß", "ß")],
)
def test_what_no_receipt_has_is_refused_naming_it(as_typed: str, char: str | None) -> None:
    with pytest.raises(NotAReceipt) as e:
        normalise_receipt(as_typed)
    assert e.value.char == char


@given(st.text(max_size=40))
def test_normalising_gives_the_stored_form_or_refuses(text: str) -> None:
    try:
        receipt = normalise_receipt(text)
    except NotAReceipt:
        return
    assert receipt and set(receipt) <= set(RECEIPT_ALPHABET)
    assert normalise_receipt(receipt) == receipt


# -- the public status -----------------------------------------------------------------------


@pytest.fixture
def h(store_url: str, config: Any) -> Iterator[Harness]:
    harness = Harness(store_url, config, T0)
    yield harness
    harness.close()


def test_status_shows_the_incident_state_and_milestones(h: Harness) -> None:
    r = h.submit(h.report(location=NANBA))
    status = h.read(receipt_status, r.receipt)
    assert status is not None
    assert (status.receipt, status.state, status.received_at) == (r.receipt, State.RECEIVED, T0)
    assert status.milestones == {"received": "2026-11-24T01:00:00.000Z"} and not status.merged
    h.advance(65)
    h.act(r.incident, "accept", actor("calltaker"), category="criminal")
    status = h.read(receipt_status, r.receipt)
    assert status.state == State.ACCEPTED
    assert status.milestones["accepted"] == "2026-11-24T01:01:05.000Z"
    assert status.to_json() == {
        "receipt": r.receipt,
        "state": "accepted",
        "received_at": "2026-11-24T01:00:00.000Z",
        "milestones": status.milestones,
    }
    assert h.read(receipt_status, "0" * 10) is None
    assert h.read(receipt_status, "0" * (RECEIPT_MAX + 1)) is None


def test_a_merged_report_follows_its_master(h: Harness) -> None:
    master = h.submit(h.report(location=NANBA))
    h.act(master.incident, "accept", actor("calltaker"), category="criminal")
    h.act(master.incident, "dispatch", actor("dispatcher"), unit=STATION)
    h.advance(30)
    # Elsewhere in the city, so that correlation does not attach it by itself.
    duplicate = h.submit(h.report(location=Location(lat=25.10, lon=102.77)))
    assert duplicate.incident != master.incident
    h.act(duplicate.incident, "merge", actor("calltaker"), master=master.incident)
    status = h.read(receipt_status, duplicate.receipt)
    assert status.state == State.DISPATCHED and status.merged
    assert status.received_at == h.now  # its own report's time, not the master's
    assert not h.read(receipt_status, master.receipt).merged
