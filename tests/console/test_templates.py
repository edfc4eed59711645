"""The incident page's template with every channel's view filled in (the call with its
recording, the SMS thread, mail, fax pages with OCR text, attachments): what a call-taker
reads, in Chinese and Beijing time, rendered without a gateway."""

from __future__ import annotations

from typing import Any

from gateway.console.render import ACTION_NAMES_ZH, render

NUMBER = "530100-20261126-000042"


def doc() -> dict[str, Any]:
    return {
        "number": NUMBER,
        "state": "accepted",
        "category": "criminal",
        "priority": 1,
        "location": {"lat": 24.98, "lon": 102.65, "accuracy_m": 35.0, "address": "南坝路8号"},
        "unit": "530102510000",
        "drill": False,
        "master": None,
        "summary": "有人持刀抢包",
        "reason": None,
        "result": None,
        "created_at": "2026-11-26T01:00:00Z",
        "deadlines": [
            {"step": "dispatch", "due": "2026-11-26T01:02:00Z", "unit": None, "fired": True}
        ],
        "reports": [
            {
                "channel": "email",
                "receipt": "7K2MQ9XWRT",
                "received_at": "2026-11-26T01:00:00Z",
                "sender": {"kind": "email", "id": "citizen@example.cn", "name": "王五"},
                "text": "附照片",
                "attachments": [
                    {
                        "name": "现场.jpg",
                        "content_type": "image/jpeg",
                        "size": 2048,
                        "sha256": "a" * 64,
                    }
                ],
            },
            {
                "channel": "telegram",
                "receipt": "7K2MQ9XWRW",
                "received_at": "2026-11-26T01:00:20Z",
                "sender": {"kind": "account", "id": "telegram:10086", "name": "李四"},
                "text": "嫌疑人照片",
                "attachments": [
                    {
                        "name": "photo-42.jpg",
                        "content_type": "image/jpeg",
                        "size": 4096,
                        "sha256": "c" * 64,
                        "ref": f"/api/v1/telegram/files/{'c' * 64}",
                    }
                ],
            },
            {
                "channel": "sms",
                "receipt": "7K2MQ9XWRV",
                "received_at": "2026-11-26T01:00:30Z",
                "sender": {"kind": "phone", "id": "13800000001"},
                "text": "他往北跑了",
            },
        ],
        "calls": [
            {
                "linkedid": "1764118800.7",
                "caller": "13800000001",
                "caller_name": "张三",
                "arrived_at": "2026-11-26T01:00:05Z",
                "answered_at": "2026-11-26T01:00:09Z",
                "ended_at": "2026-11-26T01:01:40Z",
                "hold_s": 4.0,
                "talk_s": 91.0,
                "calltaker": "1001",
                "recording": "/var/spool/asterisk/monitor/110-1764118800.7.wav",
            }
        ],
        "sms": [
            {
                "kind": "receipt",
                "to": "13800000001",
                "text": "【示例市110】已收到您的报警，回执号7K2MQ9XWRV",
                "status": "delivered",
                "created_at": "2026-11-26T01:00:31Z",
            }
        ],
        "telegram": [
            {
                "kind": "reply",
                "chat": 10086,
                "text": "请问嫌疑人穿什么衣服？",
                "status": "sent",
                "attempts": 1,
                "by": "wang.jiejing",
                "created_at": "2026-11-26T01:02:00Z",
            }
        ],
        "mail": [
            {
                "kind": "reply",
                "to": "citizen@example.cn",
                "subject": "回复：报警",
                "text": "民警已出发",
                "status": "sent",
                "created_at": "2026-11-26T01:03:00Z",
            }
        ],
        "fax": [
            {
                "receipt": "7K2MQ9XWRT",
                "name": "fax.tif",
                "status": "done",
                "error": None,
                "pages": [
                    {
                        "page": 1,
                        "image": f"/api/v1/incidents/{NUMBER}/files/{'b' * 64}",
                        "text": "南坝路 抢劫",
                    }
                ],
            }
        ],
        "events": [
            {
                "seq": 1,
                "action": "create",
                "actor": {"user": "alarmgw", "role": "system", "unit": None},
                "at": "2026-11-26T01:00:00Z",
                "from_state": None,
                "to_state": "received",
                "reason": None,
                "data": {"unit": "530102510000"},
            },
            {
                "seq": 2,
                "action": "accept",
                "actor": {"user": "wang.jiejing", "role": "calltaker", "unit": "530100000000"},
                "at": "2026-11-26T01:00:50Z",
                "from_state": "received",
                "to_state": "accepted",
                "reason": None,
                "data": {},
            },
        ],
    }


def page() -> str:
    return render(
        "Asia/Shanghai",
        "incident.html",
        user={"name": "zhao", "role": "dispatcher", "unit": "530100000000", "unit_name": "指挥中心",
              "extension": "1001", "scope": ["530100000000"]},
        csrf="t",
        nav="queue",
        doc=doc(),
        actions=["dispatch", "cancel"],
        offered=[],
        param_names={},
        suggestion=("530102510000", "警情位置在该单位辖区内"),
        units=[("530102510000", "南坝派出所", "station")],
        all_units=[("530102510000", "南坝派出所")],
        categories={"criminal": "刑事"},
        merge=[],
        history=[],
        seq=2,
        calltaker="1001",
        tile_url=None,
        tile_attribution=None,
        pop=False,
        unit_name=lambda c: {"530102510000": "南坝派出所"}.get(c, c),
        channel_name=lambda c: {"email": "邮件", "sms": "短信"}.get(c, c),
        category_name=lambda c: {"criminal": "刑事"}.get(c, c),
        action_name=lambda a: ACTION_NAMES_ZH.get(a, a),
        city=None,
    ).decode()  # fmt: skip


def test_every_channels_view_is_on_the_incident_page() -> None:
    html = page()
    # Beijing time (UTC+8), not UTC.
    assert "2026-11-26 09:00:00" in html and "2026-11-26 01:00:00" not in html
    assert f'src="/api/v1/incidents/{NUMBER}/recordings/1764118800.7"' in html  # the recording
    assert "张三" in html and "91.0" in html
    assert "【示例市110】已收到您的报警" in html and "报警回执 · 已送达" in html  # the SMS thread
    # A Telegram photo links the route its `ref` names; the chat thread, in Chinese.
    assert f'href="/api/v1/telegram/files/{"c" * 64}"' in html and "photo-42.jpg" in html
    assert "请问嫌疑人穿什么衣服？" in html and "会话 10086 · 接警员回复 · 已发送" in html
    assert "民警已出发" in html and "回复：报警" in html  # mail sent
    assert f"/api/v1/incidents/{NUMBER}/files/{'a' * 64}" in html and "现场.jpg" in html
    assert "南坝路 抢劫" in html and "第 1 页" in html  # fax page and its OCR text
    assert "派警" in html and "建议：警情位置在该单位辖区内" in html  # dispatch with why
    assert 'data-missed="1"' in html  # the missed dispatch deadline
    assert "系统" in html and "wang.jiejing" in html  # the timeline's actors
    assert "精度约 35 米" in html


def test_what_people_typed_is_escaped() -> None:
    d = doc()
    d["summary"] = "<script>alert(1)</script>"
    html = render(
        "Asia/Shanghai", "_row.html", row=type("R", (), {
            "number": NUMBER, "state": "received", "category": None, "priority": None,
            "drill": False, "unit": None, "summary": d["summary"], "address": "<b>x</b>",
            "lat": None, "lon": None, "created_at": __import__("datetime").datetime(2026, 11, 26),
            "channels": ["web"], "due": None, "due_step": None, "missed": False,
        })(),
        unit_name=lambda c: c or "", channel_name=lambda c: c, category_name=lambda c: c,
    ).decode()  # fmt: skip
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;" in html
