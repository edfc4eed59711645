"""A fax machine for the tests: the project's Asterisk sends a fax to its own fax line.

The call leaves Asterisk on the test-only endpoint `faxloop` and comes back in over SIP
and RTP on loopback, as a carrier would deliver it: the INVITE is sent from
`FAXLOOP_IP` (127.0.0.4, a transport of its own), which `faxloop-identify` maps to the
`carrier` endpoint, so the fax number is routed by the shipped `[from-carrier]` context.
The sending side is `SendFAX` (spandsp, G.711 audio: neither endpoint offers T.38).
None of this is in the shipped pjsip.conf: `use_faxloop(asterisk)` appends it to the
chroot's copy at start (`Asterisk.extra_config`).

    use_faxloop(asterisk)          # before asterisk.start()
    page = fax_page(tmp_path / "page.tif", resolution="fine")
    send_fax(asterisk, ami, page, number="88110110", caller="02887654321")
"""

from __future__ import annotations

import socket
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from tests.peers.ami import AmiSession
from tests.peers.asterisk import LOCAL_IP, Asterisk
from tests.peers.gateway import free_port

FAXLOOP_IP = "127.0.0.4"

# A4 width at the fax's horizontal resolution: 1728 pixels (T.4 §2.2, 215 mm).
PAGE_WIDTH = 1728
# Vertical resolution in dpi of the two T.30 resolutions every fax machine has
# (3.85 and 7.7 lines/mm); the horizontal one is 204 dpi (8 pels/mm) for both.
RESOLUTIONS = {"standard": 98, "fine": 196}


def faxloop_pjsip(asterisk: Asterisk, port: int) -> str:
    """The test-only pjsip.conf sections of the loop."""
    return f"""
[transport-faxloop]
type=transport
protocol=udp
bind={FAXLOOP_IP}:{port}

[faxloop]
type=endpoint
transport=transport-faxloop
context=faxloop-unused
disallow=all
allow=alaw
direct_media=no
aors=faxloop

[faxloop]
type=aor
contact=sip:{LOCAL_IP}:{asterisk.sip_port}

; Calls the loop sends come back in as the carrier's.
[faxloop-identify]
type=identify
endpoint=carrier
match={FAXLOOP_IP}
"""


def use_faxloop(asterisk: Asterisk) -> None:
    """Add the loop to the configuration `asterisk.start()` installs."""
    port = free_port(FAXLOOP_IP, socket.SOCK_DGRAM)
    asterisk.extra_config["pjsip.conf"] = faxloop_pjsip(asterisk, port)


def fax_page(path: Path, resolution: str = "fine", lines: tuple[str, ...] = ()) -> Path:
    """A one-page TIFF-F: 1-bit, 1728 pixels wide, T.4 (G3) coded, 204 dpi across and
    98 (standard) or 196 (fine) dpi down; an A4 page's height of lines, with a black
    bar at the top and bottom and some large text."""
    ydpi = RESOLUTIONS[resolution]
    height = round(297 / 25.4 * ydpi)
    img = Image.new("1", (PAGE_WIDTH, height), 1)
    draw = ImageDraw.Draw(img)
    draw.rectangle((100, ydpi // 2, PAGE_WIDTH - 100, ydpi // 2 + ydpi // 4), fill=0)
    draw.rectangle((100, height - ydpi, PAGE_WIDTH - 100, height - ydpi + ydpi // 4), fill=0)
    font = ImageFont.load_default(size=ydpi // 2)
    text = lines or ("ALARM 110 FAX TEST", f"{resolution} {204}x{ydpi} dpi")
    y = ydpi
    for line in text:
        draw.text((150, y), line, fill=0, font=font)
        y += ydpi * 3 // 4
    img.save(path, compression="group3", dpi=(204, ydpi))
    return path


def send_fax(
    asterisk: Asterisk,
    ami: AmiSession,
    page: Path,
    *,
    number: str = "88110110",
    caller: str = "02887654321",
    station_id: str = "+86 28 8765 4321",
    timeout: float = 15.0,
) -> str:
    """Originate a call from the loop to `number` that runs SendFAX with `page` (copied
    into Asterisk's root); returns the ActionID of the Originate. The sender's caller ID
    is `caller` (the From of the INVITE), its T.30 station id (the receiver's CSID)
    `station_id`. Does not wait for the fax: see the `SendFAX` / `ReceiveFAX` events."""
    inside = asterisk.put_file(page, f"/var/spool/asterisk/tmp/{page.name}")
    res = ami.action(
        "Originate",
        timeout=timeout,
        Channel=f"PJSIP/{number}@faxloop",
        Application="SendFAX",
        Data=inside,
        CallerID=f'"fax" <{caller}>',
        Variable=[f"FAXOPT(localstationid)={station_id}"],
        Async="true",
    )
    if res.get("Response") != "Success":
        raise RuntimeError(f"Originate to the fax loop refused: {res}")
    return res["ActionID"]
