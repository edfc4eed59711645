"""[channels.telegram]: what config_check names when the channel is on, the defaults when it
is off (the sample city's section is only `enabled = false`), and the token kept secret."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.channels.telegram.settings import TelegramSettings, config_problems

TOKEN = "123456:AAH-secret-part"


@pytest.mark.parametrize(
    ("section", "problems"),
    [
        ({"enabled": False}, []),
        ({"enabled": True, "token": TOKEN}, []),
        ({"enabled": True}, [("token", "the bot's token (from @BotFather) is required")]),
        (
            {"enabled": True, "token": "nocolon"},
            [("token", "is not a bot token (<bot id>:<secret>)")],
        ),
        (
            {"enabled": True, "token": TOKEN, "mode": "webhook"},
            [
                ("webhook_url", 'mode = "webhook" needs the public URL of the hook'),
                ("webhook_secret", 'mode = "webhook" needs a secret of 16+ characters'),
            ],
        ),
        (
            {"enabled": True, "token": TOKEN, "receipt_text": "回执 {receipt} {nope}"},
            [("receipt_text", "unknown field(s) nope (known: address, category, incident, "
              "priority, receipt, summary, time)")],
        ),
        (
            {"enabled": True, "token": TOKEN, "updates": {"closed": "结案 {incident"}},
            [("updates.closed", "not a template: expected '}' before end of string")],
        ),
    ],
)  # fmt: skip
def test_config_problems(section: dict[str, Any], problems: list[tuple[str, str]]) -> None:
    assert config_problems(section) == problems


def test_defaults_and_urls() -> None:
    s = TelegramSettings.from_config({"enabled": False})
    assert (s.mode, s.base_url, s.api_url, s.file_url) == (
        "polling",
        "https://api.telegram.org",
        "https://api.telegram.org/bot",
        "https://api.telegram.org/file/bot",
    )
    s = TelegramSettings.from_config(
        {"enabled": True, "base_url": "http://127.0.0.1:8081/", "drill_chats": [-5, 7],
         "updates": {"closed": "好了"}}
    )  # fmt: skip
    assert s.api_url == "http://127.0.0.1:8081/bot"
    assert s.drill_chats == (-5, 7)
    assert s.updates["closed"] == "好了" and "dispatched" in s.updates  # defaults kept


def test_the_token_and_the_secret_are_not_in_the_repr() -> None:
    s = TelegramSettings.from_config(
        {"enabled": True, "token": TOKEN, "webhook_secret": "s3cret-s3cret-s3cret"}
    )
    assert "secret-part" not in repr(s) and "s3cret" not in repr(s)
