"""A drill scenario's phone inject played by the AMI channel (gateway/channels/ami/drill.py).

Against the real Asterisk 22 (tests/peers/asterisk.py, the project's asterisk/): the
injector has espeak-ng speak the script, originates the drill call, a sipp call-taker
answers, the channel (in process, on a real store) files a drill report from the inject's
number, and the script really plays: Asterisk logs its Playback, the call lasts longer
than the script, and the call's recording holds the script's audio. A call Asterisk
refuses is an `InjectError`.

Without Asterisk: the audio (espeak-ng's streamed WAV, the resampling to 8 kHz, the file
made once per script), the Originate the injector sends (a fake AMI link), and every way
an inject cannot be sent, each an `InjectError` that says why.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import struct
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
import pytest_twisted
from sqlalchemy import select
from twisted.internet import reactor, task

from gateway.channels.ami import drill as drill_module
from gateway.channels.ami import store as ami_store
from gateway.channels.ami.client import AmiError
from gateway.channels.ami.drill import (
    RATE,
    VIA,
    caller_id,
    inject,
    new_linkedid,
    pcm_of,
    prepare_audio,
    resample,
)
from gateway.channels.ami.service import AmiChannel
from gateway.config import Config
from gateway.drills.inject import DrillInject, InjectError, Sent
from gateway.drills.scenario import PhoneCall, scenario_from_text
from gateway.report import Report, Sender
from gateway.store.tables import incidents, reports
from tests.channels.fakes import FakeAmiLink, FakeContext, ami_channel
from tests.inline import Store
from tests.peers.ami import AmiSession
from tests.peers.asterisk import Asterisk
from tests.peers.sipp_peers import Sipp

T = TypeVar("T")
SOUNDS = "/var/lib/asterisk/sounds/alarmgw-drill"  # ALARMGW_DRILL_SOUNDS as shipped
SCRIPT = "喂，110吗？湖滨街有人打架。"
DRILL_FILE = re.compile(r"drill-[0-9a-f]{24}")


def need_espeak() -> None:
    """scripts/install-peers installs espeak-ng with the telephony peers; where it is
    missing the test says so (and fails where the telephony peers are required)."""
    if shutil.which("espeak-ng") is None:
        reason = "espeak-ng is not installed (Debian package espeak-ng): run scripts/install-peers"
        if os.environ.get("ALARMGW_REQUIRE_ASTERISK") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


def phone_inject(
    config: Config, sender: str = "13800000201", name: str = "演练张三", script: str = SCRIPT
) -> DrillInject:
    """Run 1's only inject: a phone call of a scenario file, as the runner hands it over."""
    text = f"""
name = "电话演练"
units = ["530102000000"]

[[inject]]
at = "+0:00"
channel = "phone"
from = {json.dumps(sender, ensure_ascii=False)}
caller_name = {json.dumps(name, ensure_ascii=False)}
script = {json.dumps(script, ensure_ascii=False)}
expect = {{ incident = "fight", category = "criminal", unit = "530102520000" }}
"""
    scenario = scenario_from_text(text, config)
    return DrillInject(1, scenario.injects[0], {})


def tone_wav(seconds: float = 1.0, rate: int = 22050, hz: float = 440.0) -> bytes:
    """A WAV as espeak-ng streams it to a pipe: 16-bit mono, sizes it could not fill in."""
    t = np.arange(int(seconds * rate)) / rate
    pcm = (8000 * np.sin(2 * np.pi * hz * t)).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 0x7FFFF024)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", 0x7FFFF000)
        + pcm
    )


def samples(path: Path) -> tuple[np.ndarray[Any, Any], int]:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64)
        return data, w.getframerate()


async def until(what: str, fn: Callable[[], T | None], timeout: float) -> T:
    """Poll `fn` on the running reactor until it gives something."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await task.deferLater(reactor, 0.05)


# -- the audio -------------------------------------------------------------------------------


def test_resampling_keeps_speech_band_and_drops_what_would_alias() -> None:
    t = np.arange(22050) / 22050
    kept = (10000 * np.sin(2 * np.pi * 1000 * t)).astype("<i2")
    out = resample(kept, 22050, RATE)
    assert len(out) == RATE
    spectrum = np.abs(np.fft.rfft(out.astype(np.float64)))
    assert int(np.argmax(spectrum)) == 1000  # 1 Hz per bin over one second
    assert abs(np.max(np.abs(out[100:-100])) - 10000) < 100
    # 6 kHz is above the new 4 kHz Nyquist frequency: dropped, not folded to 2 kHz.
    high = (10000 * np.sin(2 * np.pi * 6000 * t)).astype("<i2")
    assert np.max(np.abs(resample(high, 22050, RATE))) < 50


def test_espeak_ngs_streamed_wav_is_read_to_its_end() -> None:
    pcm, rate = pcm_of(tone_wav(0.5))
    assert (rate, len(pcm)) == (22050, 11025)


@pytest.mark.parametrize(
    "wav, message",
    [
        (b"", "no WAV audio"),
        (b"Error: The specified espeak-ng voice does not exist.\n", "no WAV audio"),
        (tone_wav().replace(struct.pack("<HH", 1, 1), struct.pack("<HH", 1, 2), 1), "16-bit mono"),
        (tone_wav()[:36], "no audio"),
    ],
)
def test_what_is_not_espeak_ngs_audio(wav: bytes, message: str) -> None:
    with pytest.raises(InjectError, match=message):
        pcm_of(wav)


def test_a_script_is_spoken_once_as_8khz_wav(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_espeak()
    s = FakeContext(store, "ami", drill_sounds=str(tmp_path / "sounds")).settings
    audio = prepare_audio(s, f"  {SCRIPT}\n")
    assert DRILL_FILE.fullmatch(audio.name)
    path = tmp_path / "sounds" / f"{audio.name}.wav"
    pcm, rate = samples(path)
    assert rate == RATE and 1.0 < audio.seconds == len(pcm) / RATE < 10
    assert np.sqrt(np.mean(pcm**2)) > 500  # speech, not silence
    assert path.stat().st_mode & 0o777 == 0o644  # Asterisk's user reads it
    # The same script again (a rerun of the drill): the file as it is, marked as used.
    os.utime(path, (1, 1))

    def no_espeak(*_: object) -> bytes:
        raise AssertionError("spoken twice")

    monkeypatch.setattr(drill_module, "speak", no_espeak)
    assert prepare_audio(s, SCRIPT) == audio
    assert path.stat().st_mtime > time.time() - 60
    # Audio nobody used for days goes when another script is made.
    monkeypatch.undo()
    os.utime(path, (1, 1))
    other = prepare_audio(s, "有人受伤了。")
    assert other.name != audio.name
    assert sorted(p.name for p in (tmp_path / "sounds").iterdir()) == [f"{other.name}.wav"]


# -- the Originate, with a fake AMI link ----------------------------------------------------


class Fake:
    """The channel on a fake AMI link (answers as the shipped dialplan would), its audio
    in a temporary folder; espeak-ng's output replaced by a tone."""

    def __init__(self, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.store = store
        self.tmp_path = tmp_path
        self.monkeypatch = monkeypatch
        self.sounds = tmp_path / "sounds"
        self.link = FakeAmiLink()
        self.link.answers["Getvar"] = {"Response": "Success", "Value": SOUNDS}
        ctx = FakeContext(store, "ami", drill_sounds=str(self.sounds))
        self.channel: AmiChannel = ami_channel(ctx, self.link)
        monkeypatch.setattr(drill_module, "speak", lambda text, voice: tone_wav())

    def settings(self, **changes: Any) -> None:
        self.channel.settings = dataclasses.replace(self.channel.settings, **changes)

    def real_espeak(self) -> None:
        self.monkeypatch.undo()

    def originates(self) -> list[dict[str, Any]]:
        return [fields for name, fields in self.link.actions if name == "Originate"]


@pytest.fixture
def fake(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fake:
    return Fake(store, tmp_path, monkeypatch)


@pytest_twisted.ensureDeferred
async def test_the_originate_of_a_drill_call(fake: Fake) -> None:
    drill = phone_inject(fake.store.config, sender="+86 138-0000-0202", name='"演练"<李四>')
    sent = await inject(fake.channel, drill)
    (call,) = fake.originates()
    assert sent == Sent(
        "phone", sender_key="phone:13800000202", external_id=call["ChannelId"], via=VIA
    )
    assert re.fullmatch(r"\d{13}\.\d{6}", call["ChannelId"])  # the recording route's form
    (audio,) = fake.sounds.iterdir()
    assert call == {
        "Channel": "Local/110@from-drill",
        "Context": "alarmgw-drill",
        "Exten": "s",
        "Priority": "1",
        "CallerID": '"演练李四" <13800000202>',
        "Timeout": "180000",
        "Async": "true",
        "ChannelId": call["ChannelId"],
        "OtherChannelId": call["ChannelId"] + ";2",
        "Variable": [f"ALARMGW_DRILL_FILE={audio.stem}"],
    }
    assert [name for name, _ in fake.link.actions] == ["Getvar", "Originate"]


def test_caller_ids_and_linkedids() -> None:
    assert caller_id("13800000201", "张三") == '"张三" <13800000201>'
    assert caller_id("13800000201", None) == "<13800000201>"
    assert caller_id("13800000201", ' "\x07" ') == "<13800000201>"
    ids = {new_linkedid() for _ in range(100)}
    assert len(ids) == 100 and all(re.fullmatch(r"[0-9.]{1,40}", i) for i in ids)


def _from(sender: str) -> Callable[[Fake, DrillInject], DrillInject]:
    """The inject with a sender a scenario file would refuse (the injector checks too)."""

    def change(_: Fake, drill: DrillInject) -> DrillInject:
        assert isinstance(drill.inject.content, PhoneCall)
        content = dataclasses.replace(drill.inject.content, sender=sender)
        return dataclasses.replace(drill, inject=dataclasses.replace(drill.inject, content=content))

    return change


def _link_down(fake: Fake, drill: DrillInject) -> DrillInject:
    fake.link.up = False
    return drill


def _no_espeak(fake: Fake, drill: DrillInject) -> DrillInject:
    fake.real_espeak()
    (fake.tmp_path / "empty").mkdir()
    fake.monkeypatch.setenv("PATH", str(fake.tmp_path / "empty"))
    return drill


def _unwritable(fake: Fake, drill: DrillInject) -> DrillInject:
    (fake.tmp_path / "a-file").write_text("")
    fake.settings(drill_sounds=str(fake.tmp_path / "a-file" / "sounds"))
    return drill


def _answers(action: str, answer: Any) -> Callable[[Fake, DrillInject], DrillInject]:
    def change(fake: Fake, drill: DrillInject) -> DrillInject:
        fake.link.answers[action] = answer
        return drill

    return change


QUEUED = {"Response": "Success", "Message": "Originate successfully queued"}
CANNOT = [
    # (case, what is wrong, a piece of the InjectError's message)
    ("not a phone number", _from("报警人"), "'报警人' cannot be a calling number"),
    ("AMI link down", _link_down, "the AMI link to Asterisk is down"),
    ("no espeak-ng", _no_espeak, "espeak-ng is not installed (Debian package espeak-ng)"),
    (
        "unwritable drill_sounds",
        _unwritable,
        "a-file/sounds ([channels.ami] drill_sounds): Not a directory",
    ),
    (
        "an old dialplan",
        _answers("Getvar", {"Response": "Success", "Value": ""}),
        "Asterisk's dialplan has no ALARMGW_DRILL_SOUNDS global",
    ),
    (
        "Asterisk answers Error",
        _answers("Originate", AmiError("Originate", "Permission denied")),
        "did not place the drill call on Local/110@from-drill (Originate: Permission denied)",
    ),
    (
        "OriginateResponse Failure",
        _answers("Originate", [QUEUED, {"Event": "OriginateResponse", "Response": "Failure"}]),
        "did not place the drill call on Local/110@from-drill (failed (reason ?))",
    ),
]


@pytest.mark.parametrize(("case", "change", "message"), CANNOT, ids=[c[0] for c in CANNOT])
@pytest_twisted.ensureDeferred
async def test_an_inject_that_cannot_be_sent_says_why(
    fake: Fake, case: str, change: Callable[[Fake, DrillInject], DrillInject], message: str
) -> None:
    drill = change(fake, phone_inject(fake.store.config))
    with pytest.raises(InjectError) as e:
        await inject(fake.channel, drill)
    assert message in str(e.value)
    if case != "OriginateResponse Failure" and case != "Asterisk answers Error":
        assert fake.originates() == []


@pytest_twisted.ensureDeferred
async def test_a_voice_espeak_ng_does_not_have(fake: Fake) -> None:
    need_espeak()
    fake.real_espeak()
    fake.settings(drill_voice="qq-nope")
    with pytest.raises(InjectError) as e:
        await inject(fake.channel, phone_inject(fake.store.config))
    assert "with voice 'qq-nope' ([channels.ami] drill_voice): Error: The specified" in str(e.value)
    assert fake.originates() == []


# -- through the real Asterisk ----------------------------------------------------------------


async def running_channel(store: Store, asterisk: Asterisk, **settings: Any) -> AmiChannel:
    """The AMI channel, started in process on `store` and logged in to the real Asterisk."""
    store.clock.advance(time.time() - store.clock.seconds())  # Asterisk's time is real
    ctx = FakeContext(
        store,
        "ami",
        host=asterisk.ami_host,
        port=asterisk.ami_port,
        username=asterisk.ami_user,
        secret=asterisk.ami_secret,
        drill_sounds=str(asterisk.host_path(SOUNDS)),
        action_timeout=2.0,
        ping_interval=1.0,
        **settings,
    )
    channel = AmiChannel(ctx)
    channel.startService()
    await until("the AMI login", lambda: channel.up, 20)
    return channel


async def stopped(channel: AmiChannel) -> None:
    d = channel.stopService()
    if d is not None:
        await d


def phone_reports(store: Store) -> list[Any]:
    q = select(reports).where(reports.c.channel == "phone")
    return store.read(lambda c: list(c.execute(q).mappings()))


def rtp_sent(asterisk: Asterisk, seat: str) -> int:
    """RTP packets Asterisk has sent so far to `seat`'s softphone in its current call."""
    table = asterisk.cli("pjsip show channelstats")
    counts = re.findall(rf"(?m)^\s*\S+\s+{seat}-\S+\s+\S+\s+\S+(?:\s+\S+){{4}}\s+(\d+)\s", table)
    return max(map(int, counts), default=0)


def correlation(recording: np.ndarray[Any, Any], script: np.ndarray[Any, Any]) -> float:
    """The peak of the normalised cross-correlation: 1 when the recording holds the script
    exactly (at any offset), about 0 for unrelated sound."""
    n = len(recording) + len(script)
    c = np.fft.irfft(np.fft.rfft(recording, n) * np.conj(np.fft.rfft(script, n)), n)
    return float(np.max(c) / (np.linalg.norm(recording) * np.linalg.norm(script)))


@pytest_twisted.ensureDeferred
async def test_a_phone_inject_is_a_drill_call_through_asterisk(
    asterisk: Asterisk, ami: AmiSession, store: Store
) -> None:
    need_espeak()
    phone = Sipp.softphone(asterisk, "1001", answer_after=0.5)
    channel = await running_channel(store, asterisk)
    try:
        sent = await inject(channel, phone_inject(store.config))
        linkedid = sent.external_id
        assert linkedid is not None
        assert (sent.report_channel, sent.sender_key, sent.via) == (
            "phone",
            "phone:13800000201",
            VIA,
        )
        # The report the call filed when it arrived, as every 110 call does.
        (row,) = await until("the report", lambda: phone_reports(store), 10)
        assert (row["external_id"], row["drill"], row["sender_key"]) == (
            linkedid,
            True,
            "phone:13800000201",
        )
        report = Report.from_json(row["doc"])
        assert report.sender == Sender("phone", "13800000201", "演练张三")
        assert (report.text, report.drill) == ("110来电 13800000201（演练）", True)
        assert report.extra["trunk"] == "drill"
        sent_to_seat: list[int] = [0]

        def ended() -> Any:
            sent_to_seat.append(rtp_sent(asterisk, "1001"))
            r = store.read(lambda c: ami_store.load_call(c, linkedid))
            return r if r is not None and r["state"] in ("ended", "abandoned") else None

        call = await until("the call's end", ended, 40)
    finally:
        await stopped(channel)
        phone.stop()
    assert (call["state"], call["calltaker"], call["trunk"], call["drill"]) == (
        "ended",
        "1001",
        "drill",
        True,
    )
    doc = store.document(store.read(lambda c: _number(c, row["incident_id"])))
    assert doc["drill"]
    assert {"call_answered", "call_ended"} <= {e["action"] for e in doc["events"]}
    # The script played: Asterisk says so, the call outlasted it (a second's pause, the
    # script, ALARMGW_DRILL_AFTER), and the call's recording holds its audio.
    audio = prepare_audio(channel.settings, SCRIPT)  # the file the call played
    log = asterisk.full_log.read_text(encoding="utf-8", errors="replace")
    assert f"Drill call {linkedid}: played {audio.name}: SUCCESS" in log
    assert call["talk_s"] >= audio.seconds + 1
    script, _ = samples(asterisk.host_path(SOUNDS) / f"{audio.name}.wav")
    recording_path = asterisk.host_path(call["recording"])
    recorded, rate = await until(
        "the recording",
        lambda: (lambda r: r if len(r[0]) >= 0.9 * len(script) else None)(samples(recording_path)),
        10,
    )
    assert rate == RATE
    assert correlation(recorded, script) > 0.8
    # ... and went out to the call-taker's phone: RTP packets of 20 ms.
    assert max(sent_to_seat) >= 0.9 * audio.seconds * 50


def _number(conn: Any, incident_id: int) -> str:
    q = select(incidents.c.number).where(incidents.c.id == incident_id)
    return str(conn.execute(q).scalar_one())


@pytest_twisted.ensureDeferred
async def test_a_drill_call_asterisk_refuses(
    asterisk: Asterisk, ami: AmiSession, store: Store
) -> None:
    need_espeak()
    channel = await running_channel(store, asterisk, drill_channel="Local/110@no-such-context")
    try:
        with pytest.raises(InjectError) as e:
            await inject(channel, phone_inject(store.config))
    finally:
        await stopped(channel)
    assert "did not place the drill call on Local/110@no-such-context (failed (reason 0))" in str(
        e.value
    )
    assert phone_reports(store) == []
