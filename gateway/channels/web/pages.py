"""The citizen's report form (网上报警): plain HTML in Chinese, works without JavaScript.

Each rendering of the form carries a fresh token in a hidden field; it becomes the
report's external id, so a double click or a browser resubmission stores one report."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from html import escape
from typing import Any

from gateway.phone import looks_like_phone

MAX_PHONE = 200  # characters of the phone field, blanks included (as its OpenAPI schema says)

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;max-width:40em;
margin:1em auto;padding:0 1em;line-height:1.6}}
label{{display:block;margin-top:.8em;font-weight:bold}}
input,select,textarea{{width:100%;box-sizing:border-box;font-size:1em;padding:.4em}}
button{{margin-top:1em;font-size:1.1em;padding:.5em 2em}}
.notice{{background:#fff3cd;padding:.6em;border-left:4px solid #d39e00}}
.error{{background:#f8d7da;padding:.6em;border-left:4px solid #b02a37}}
.ok{{background:#d1e7dd;padding:.6em;border-left:4px solid #146c43}}
</style></head><body>
{body}
</body></html>"""

FORM = """<h1>网上报警</h1>
<p class="notice">紧急情况请立即拨打 <strong>110</strong>。网上报警不能代替电话报警。</p>
{error}
<form method="post" action="/report" accept-charset="utf-8">
<input type="hidden" name="token" value="{token}">
<label for="text">发生了什么？（必填）</label>
<textarea id="text" name="text" rows="5" maxlength="2000" required>{text}</textarea>
<label for="address">事发地点</label>
<input id="address" name="address" maxlength="500" value="{address}" placeholder="如：明湖路12号">
<label for="lat">纬度 / 经度（可选，WGS84）</label>
<input id="lat" name="lat" inputmode="decimal" value="{lat}" placeholder="25.04">
<input id="lon" name="lon" inputmode="decimal" value="{lon}" placeholder="102.71">
<label for="category">警情类别</label>
<select id="category" name="category">{options}</select>
<label for="phone">联系电话</label>
<input id="phone" name="phone" inputmode="tel" maxlength="20" value="{phone}">
<label for="name">姓名（可选）</label>
<input id="name" name="name" maxlength="50" value="{name}">
<button type="submit">提交报警</button>
</form>"""

DONE = """<h1>报警已收到</h1>
<p class="ok">您的报警已登记。回执号：<strong id="receipt">{receipt}</strong><br>
警情编号：<strong id="incident">{incident}</strong><br>
提交时间：<span id="received">{received}</span></p>
<p>请保存回执号，可凭它查询处理进度：<a href="/api/v1/receipts/{receipt}">查询进度</a></p>
<p>如情况紧急或有变化，请立即拨打 <strong>110</strong>。</p>"""


def form_page(
    categories: Mapping[str, Any],
    values: dict[str, str] | None = None,
    error: str | None = None,
) -> bytes:
    v = values or {}
    options = ['<option value="">（不确定）</option>'] + [
        f'<option value="{escape(code)}"{" selected" if v.get("category") == code else ""}>'
        f"{escape(c.name)}</option>"
        for code, c in categories.items()
    ]
    body = FORM.format(
        token=escape(v.get("token") or uuid.uuid4().hex),
        error=f'<p class="error" id="error">{escape(error)}</p>' if error else "",
        options="".join(options),
        **{k: escape(v.get(k, "")) for k in ("text", "address", "lat", "lon", "phone", "name")},
    )
    return PAGE.format(title="网上报警", body=body).encode()


def done_page(receipt: str, incident: str, received: str) -> bytes:
    """The receipt page; `received` is the submission's time as a person reads it (the
    city's time zone, with its offset)."""
    body = DONE.format(
        receipt=escape(receipt), incident=escape(incident), received=escape(received)
    )
    return PAGE.format(title="报警已收到", body=body).encode()


def unavailable_page() -> bytes:
    body = (
        '<h1>暂时无法受理</h1><p class="error">系统繁忙，您的报警<strong>尚未</strong>登记。'
        "请返回重新提交，或立即拨打 <strong>110</strong>。</p>"
    )
    return PAGE.format(title="暂时无法受理", body=body).encode()


def form_report(form: dict[str, str]) -> dict[str, Any]:
    """The form's fields as a report submission (validated like any API submission).
    Raises ValueError with a Chinese message for what a citizen can fix."""
    text = form.get("text", "").strip()
    if not text:
        raise ValueError("请填写发生了什么")
    doc: dict[str, Any] = {"text": text}
    phone = form.get("phone", "")
    if len(phone) > MAX_PHONE:
        raise ValueError(f"联系电话过长（至多{MAX_PHONE}个字符）")
    if phone.strip(" ") and not looks_like_phone(phone):
        raise ValueError("联系电话请填写号码：数字，可带 +、空格或 -")
    name = form.get("name", "").strip()
    phone = phone.strip(" ")
    doc["sender"] = {"kind": "phone", "id": phone} if phone else {"kind": "web", "id": "anonymous"}
    if name:
        doc["sender"]["name"] = name
    loc: dict[str, Any] = {}
    lat, lon = form.get("lat", "").strip(), form.get("lon", "").strip()
    if lat or lon:
        try:
            loc["lat"], loc["lon"] = float(lat), float(lon)
        except ValueError:
            raise ValueError("纬度和经度须为数字，且须同时填写") from None
    if form.get("address", "").strip():
        loc["address"] = form["address"].strip()
    if loc:
        doc["location"] = loc
    if form.get("category"):
        doc["category"] = form["category"]
    return doc
