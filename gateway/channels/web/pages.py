"""The citizen's report form (网上报警): plain HTML in Chinese, works without JavaScript.

Each rendering of the form carries a fresh token in a hidden field; it becomes the
report's external id, so a double click or a browser resubmission stores one report.

With JavaScript (`locate.py`, served as /report/locate.js: no inline script, so a strict
Content-Security-Policy can allow it) a "使用我的位置" button fills the latitude, longitude
and accuracy from the browser's geolocation; without it the citizen types an address, or
coordinates behind "手动填写经纬度".
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Mapping
from html import escape
from typing import Any

from gateway.phone import looks_like_phone

MAX_PHONE = 200  # characters of the phone field, blanks included (as its OpenAPI schema says)
# The limits of schemas/report.schema.json, checked here to say them in Chinese.
MAX_TEXT, MAX_ADDRESS, MAX_NAME = 10000, 500, 200
MAX_ACCURACY = 100_000  # metres (location.accuracy_m)

# Decimal degrees and metres as the form's text fields carry them (FORM_FIELDS in http.py
# publishes the same patterns). Blanks around them are forgiven.
LAT = r"^ *-?(?:[0-8]?[0-9](?:\.[0-9]{1,15})?|90(?:\.0{1,15})?) *$"
LON = r"^ *-?(?:(?:1[0-7][0-9]|[0-9]?[0-9])(?:\.[0-9]{1,15})?|180(?:\.0{1,15})?) *$"
ACCURACY = r"^ *(?:[0-9]{1,5}(?:\.[0-9]{1,15})?|100000(?:\.0{1,15})?) *$"

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
{head}<title>{title}</title>
<style>
body{{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;max-width:40em;
margin:1em auto;padding:0 1em;line-height:1.6}}
label{{display:block;margin-top:.8em;font-weight:bold}}
input,select,textarea{{width:100%;box-sizing:border-box;font-size:1em;padding:.4em}}
button{{margin-top:1em;font-size:1.1em;padding:.5em 2em}}
details{{margin-top:.8em}}
.notice{{background:#fff3cd;padding:.6em;border-left:4px solid #d39e00}}
.error{{background:#f8d7da;padding:.6em;border-left:4px solid #b02a37}}
.ok{{background:#d1e7dd;padding:.6em;border-left:4px solid #146c43}}
.status{{display:block;margin-top:.4em}}
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
<div id="locate-box" hidden>
<button type="button" id="locate">使用我的位置</button>
<span id="locate-status" class="status" role="status" aria-live="polite">{located}</span>
</div>
<input type="hidden" id="accuracy" name="accuracy" value="{accuracy}">
<details id="manual"{manual}>
<summary>手动填写经纬度</summary>
<label for="lat">纬度（WGS84，如 25.04）</label>
<input id="lat" name="lat" inputmode="decimal" value="{lat}" placeholder="25.04">
<label for="lon">经度（WGS84，如 102.71）</label>
<input id="lon" name="lon" inputmode="decimal" value="{lon}" placeholder="102.71">
</details>
<label for="category">警情类别</label>
<select id="category" name="category">{options}</select>
<label for="phone">联系电话</label>
<input id="phone" name="phone" inputmode="tel" maxlength="20" value="{phone}">
<label for="name">姓名（可选）</label>
<input id="name" name="name" maxlength="50" value="{name}">
<button type="submit">提交报警</button>
</form>
<p><a href="/receipt">查询报警进度</a></p>
<script src="/report/locate.js"></script>"""

DONE = """<h1>报警已收到</h1>
<p class="ok">您的报警已登记。回执号：<strong id="receipt">{receipt}</strong><br>
警情编号：<strong id="incident">{incident}</strong><br>
提交时间：<span id="received">{received}</span></p>
<p>请保存回执号，可凭它查询处理进度：<a id="status-link" href="/receipt/{receipt}">查询进度</a></p>
<p>如情况紧急或有变化，请立即拨打 <strong>110</strong>。</p>"""


def page(title: str, body: str, head: str = "") -> bytes:
    """A whole page of the web channel around `body` (HTML)."""
    return PAGE.format(title=escape(title), body=body, head=head).encode()


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
    point = bool(v.get("lat", "").strip() or v.get("lon", "").strip())
    accuracy = v.get("accuracy", "").strip() if point else ""
    located = ""
    if accuracy and re.match(ACCURACY, accuracy):
        located = f"已定位：精度约 {_metres(accuracy)} 米"
    body = FORM.format(
        token=escape(v.get("token") or uuid.uuid4().hex),
        error=f'<p class="error" id="error">{escape(error)}</p>' if error else "",
        options="".join(options),
        located=escape(located),
        # Coordinates typed by hand stay in view when the form comes back.
        manual=" open" if point and not accuracy else "",
        accuracy=escape(accuracy),
        **{k: escape(v.get(k, "")) for k in ("text", "address", "lat", "lon", "phone", "name")},
    )
    return page("网上报警", body)


def done_page(receipt: str, incident: str, received: str) -> bytes:
    """The receipt page; `received` is the submission's time as a person reads it (the
    city's time zone, with its offset)."""
    body = DONE.format(
        receipt=escape(receipt), incident=escape(incident), received=escape(received)
    )
    return page("报警已收到", body)


def unavailable_page() -> bytes:
    body = (
        '<h1>暂时无法受理</h1><p class="error">系统繁忙，您的报警<strong>尚未</strong>登记。'
        "请返回重新提交，或立即拨打 <strong>110</strong>。</p>"
    )
    return page("暂时无法受理", body)


def too_large_page(categories: Mapping[str, Any], limit: int) -> bytes:
    """The form again, empty (a body over the limit is not read), saying why."""
    return form_page(categories, error=f"提交的内容过长（至多 {limit} 字节），请删减后重新提交")


def form_report(
    form: dict[str, str], categories: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The form's fields as a report submission (validated like any API submission).
    Raises ValueError with a Chinese message for what a citizen can fix: everything the
    report schema would refuse is checked here first, so that no English reaches the form."""
    # As typed (the limits are on the fields as sent), then trimmed.
    _check_text("发生了什么", form.get("text", ""), MAX_TEXT, multiline=True)
    _check_text("事发地点", form.get("address", ""), MAX_ADDRESS)
    _check_text("姓名", form.get("name", ""), MAX_NAME)
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
    loc = _location(form)
    if loc:
        doc["location"] = loc
    category = form.get("category", "")
    if category:
        if categories is not None and category not in categories:
            raise ValueError("请从列表中选择警情类别")
        doc["category"] = category
    return doc


def _location(form: dict[str, str]) -> dict[str, Any]:
    loc: dict[str, Any] = {}
    lat, lon = form.get("lat", "").strip(" "), form.get("lon", "").strip(" ")
    accuracy = form.get("accuracy", "").strip(" ")
    if lat and not re.match(LAT, lat):
        raise ValueError("纬度须为 -90 到 90 之间的数字（如 25.04）")
    if lon and not re.match(LON, lon):
        raise ValueError("经度须为 -180 到 180 之间的数字（如 102.71）")
    if accuracy and not re.match(ACCURACY, accuracy):
        raise ValueError(f"定位精度须为 0 到 {MAX_ACCURACY} 米，请重新定位或手动填写经纬度")
    if bool(lat) != bool(lon):
        raise ValueError("纬度和经度须同时填写")
    if lat:
        loc["lat"], loc["lon"] = float(lat), float(lon)
        # The browser's estimate (定位精度); without a point it means nothing: left out.
        if accuracy:
            loc["accuracy_m"] = float(accuracy)
    address = form.get("address", "").strip()
    if address:
        loc["address"] = address
    return loc


def _check_text(label: str, value: str, limit: int, multiline: bool = False) -> None:
    """As report.schema.json and `Report.from_json` check text, said in Chinese."""
    if len(value) > limit:
        raise ValueError(f"“{label}”过长（至多{limit}个字，现有{len(value)}个）")
    allowed = "\n\r\t" if multiline else ""
    for ch in value:
        if ch not in allowed and unicodedata.category(ch) in ("Cc", "Cs"):
            raise ValueError(
                f"“{label}”中有无法识别的控制字符（U+{ord(ch):04X}），请删除后重新提交"
            )


#: Chinese names of the fields a submission's checks may name (`HttpError.field`,
#: `InvalidReport.field`), for the form's last line of defence (`form_problem`).
FIELD_NAMES = {
    "text": "发生了什么",
    "location": "经纬度",
    "location.lat": "纬度",
    "location.lon": "经度",
    "location.accuracy_m": "定位精度",
    "location.address": "事发地点",
    "sender.id": "联系电话",
    "sender.name": "姓名",
    "category": "警情类别",
}


def form_problem(field: str | None) -> str:
    """What the form says when a check behind `form_report` refuses (its message is for
    API clients, in English): the field in Chinese, never the English."""
    label = FIELD_NAMES.get(field or "")
    if label:
        return f"“{label}”填写有误，请检查后重新提交"
    return "提交的内容有误，请检查后重新提交"


def _metres(accuracy: str) -> str:
    return str(round(float(accuracy)))
