"""Phone numbers (gateway/phone.py): one normalisation for every channel's sender key, and
the shape a number typed on the web form, the API or the CLI must have."""

from __future__ import annotations

import pytest

from gateway.phone import looks_like_phone, normalise


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("13911112222", "13911112222"),
        ("+86 139 1111 2222", "13911112222"),
        ("+86-139-1111-2222", "13911112222"),
        ("(0086) 139.1111.2222", "13911112222"),
        ("8613911112222", "13911112222"),
        ("008613800138000", "13800138000"),
        ("+8613800138000", "13800138000"),
        ("0871-6512 3456", "087165123456"),  # a fixed line keeps its area code
        ("862161234567", "862161234567"),  # not a mobile number: +86 kept
        ("86", "86"),
        ("", ""),
        # Not phone numbers: kept as they are (AMI's withheld callers, SMS senders by name).
        ("anonymous-1764000000.12", "anonymous-1764000000.12"),
        ("ICBC", "ICBC"),
        ("12", "12"),
    ],
)
def test_normalise(value: str, key: str) -> None:
    assert normalise(value) == key


@pytest.mark.parametrize(
    "value", ["13911112222", "+86 139 1111 2222", "(0871) 6512-3456", "110", " 12345 "]
)
def test_looks_like_phone(value: str) -> None:
    assert looks_like_phone(value)


@pytest.mark.parametrize(
    "value",
    ["abc", "", "12", "+", "139 1111 222x", "1" * 21, "86+13911112222", "１３９１１１１２２２２"],
)
def test_does_not_look_like_phone(value: str) -> None:
    assert not looks_like_phone(value)


def test_the_submission_schema_says_the_same() -> None:
    """report-submission.schema.json checks a web report's phone with this very pattern."""
    import re

    from gateway.phone import PATTERN
    from gateway.schemas import load_schema

    then = load_schema("report-submission.schema.json")["then"]
    assert then["properties"]["sender"]["properties"]["id"]["pattern"] == PATTERN
    for value in ("13800000000", "+86 138-0000-0000", " 138", "12", "abc", " +86", "+"):
        assert bool(re.fullmatch(PATTERN, value)) == looks_like_phone(value), value
