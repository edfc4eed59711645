"""Plays a drill scenario's phone inject (`gateway.drills.inject`): a call into the 110
queue over the drill way in, from the inject's number, that speaks the inject's script to
the call-taker who answers it.

- **The script becomes audio** with espeak-ng (in a thread), resampled with numpy to what
  Asterisk plays, 8 kHz 16-bit mono WAV, and written to ``drill_sounds``. Its name is a
  hash of voice and script, so a rerun of the drill reuses it; files unused for two days
  go.
- **The call** is an AMI Originate of a Local channel, ``Local/110@from-drill``. Its ;2
  leg calls 110 in ``[from-drill]`` as a call on the drill trunk does: a drill from its
  first step, its caller id the inject's number and name. Its ;1 leg is answered when a
  call-taker answers, and plays the file in ``[alarmgw-drill]`` (asterisk/extensions.conf).
- **Its Linkedid is chosen here** (Originate ``ChannelId``), so the report the call files
  (channel ``phone``, external id = Linkedid; see `service.report_of`) is known exactly.
- The injector returns once the call has entered the center: the tracker has seen its
  ``AlarmgwCall``. Asterisk refusing the call, or the call not arriving, is an
  `InjectError`, as are a missing espeak-ng and a directory that cannot be written.

The drill runner awaits `inject` as a Twisted coroutine; the AMI work runs on the reactor's
asyncio loop and crosses over through the channel's `as_deferred`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import secrets
import shutil
import struct
import subprocess
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from twisted.internet import threads
from twisted.logger import Logger

from gateway import phone
from gateway.channels.ami import store
from gateway.channels.ami.client import AmiError, AmiLink, AmiUnavailable, originate_failed
from gateway.channels.ami.settings import AmiSettings
from gateway.drills.inject import DrillInject, InjectError, Sent
from gateway.drills.scenario import PhoneCall
from gateway.intake import mask_phone

if TYPE_CHECKING:
    from gateway.channels.ami.service import AmiChannel

log = Logger()

VIA = "经演练中继呼入"
RATE = 8000  # Hz: Asterisk's format_wav plays 8 kHz 16-bit mono, what G.711 carries
ESPEAK_TIMEOUT = 60.0  # seconds: espeak-ng speaks a minute of script in about one
KEEP_UNUSED = 2 * 86400.0  # seconds an audio file nobody used is kept
ARRIVAL_WAIT = 10.0  # seconds for the call to reach intake (milliseconds, normally)
POLL = 0.05  # seconds between looks for its arrival
_ringing: set[asyncio.Future[Any]] = set()  # Originates waiting for a call-taker's answer


@dataclass(frozen=True)
class Audio:
    """A script as Asterisk plays it: ``<drill_sounds>/<name>.wav``."""

    name: str  # without .wav, as Playback takes it
    seconds: float


async def inject(ami: AmiChannel, drill: DrillInject) -> Sent:
    """The channel's injector (its declaration's ``drill``)."""
    content = drill.inject.content
    if not isinstance(content, PhoneCall):
        raise InjectError(f"the AMI channel plays phone calls, not {type(content).__name__}")
    number = caller_number(content.sender)
    if ami.loop is None or not ami.up:
        raise InjectError("the AMI link to Asterisk is down")
    audio: Audio = await threads.deferToThread(prepare_audio, ami.settings, content.script)
    linkedid = await ami.as_deferred(place_call(ami, number, content.caller_name, audio))
    log.info(
        "AMI: drill run {run} inject {inject}: call {call} from {caller} entered the 110 "
        "queue ({seconds:.1f} s of script)",
        run=drill.run,
        inject=drill.inject.id,
        call=linkedid,
        caller=mask_phone(number),
        seconds=audio.seconds,
    )
    return Sent(store.CHANNEL, sender_key=f"phone:{number}", external_id=linkedid, via=VIA)


def caller_number(sender: str) -> str:
    """The calling number as Asterisk will present it, normalised as the gateway keys it
    (``+86 138-0000-0201`` → ``13800000201``), so that the report's sender is the same."""
    if not phone.looks_like_phone(sender):
        raise InjectError(f"{sender!r} cannot be a calling number: {phone.NOT_A_PHONE}")
    return phone.normalise(sender)


def caller_id(number: str, name: str | None) -> str:
    """Originate's ``CallerID``, ``"name" <number>``: a quote or angle bracket in the name
    would end it early, so those go (and control characters)."""
    clean = "".join(ch for ch in name or "" if ch.isprintable() and ch not in '"<>\\')
    clean = clean.strip()[:60]
    return f'"{clean}" <{number}>' if clean else f"<{number}>"


def new_linkedid() -> str:
    """The call's Linkedid. Asterisk's own are ``<epoch seconds>.<counter>``; these have
    milliseconds before the dot (13 digits, not 10) and 6 random digits after it, so they
    never meet one of Asterisk's, and keep the digits-and-a-dot form the gateway's
    routes take (the recording's URL)."""
    return f"{time.time_ns() // 1_000_000}.{secrets.randbelow(10**6):06d}"


# -- the script as audio (blocking: in a thread) ------------------------------------------


def prepare_audio(s: AmiSettings, script: str) -> Audio:
    """The script spoken, as a file of `s.drill_sounds`; made once per voice and text."""
    text = script.strip()
    if not text:
        raise InjectError("the phone inject has no script to speak")
    folder = Path(s.drill_sounds)
    name = "drill-" + hashlib.sha256(f"{s.drill_voice}\n{text}".encode()).hexdigest()[:24]
    path = folder / f"{name}.wav"
    made = _reuse(path)
    if made is not None:
        return Audio(name, made)
    samples, rate = pcm_of(speak(text, s.drill_voice))
    pcm = resample(samples, rate, RATE)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write(path, pcm)
    except OSError as e:
        raise InjectError(
            f"cannot write the script's audio to {folder} ([channels.ami] drill_sounds): "
            f"{e.strerror or e}"
        ) from None
    _prune(folder)
    return Audio(name, len(pcm) / RATE)


def speak(text: str, voice: str) -> bytes:
    """espeak-ng's WAV of `text` (UTF-8 on its stdin, the WAV on its stdout)."""
    program = shutil.which("espeak-ng")
    if program is None:
        raise InjectError(
            "espeak-ng is not installed (Debian package espeak-ng): it speaks the script "
            "of a phone inject"
        )
    try:
        done = subprocess.run(  # noqa: S603 - fixed program, the text goes on stdin
            [program, "-v", voice, "-b", "1", "--stdin", "--stdout"],
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=ESPEAK_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        why = f"espeak-ng did not speak the script within {ESPEAK_TIMEOUT:.0f} s"
        raise InjectError(why) from None
    except OSError as e:
        raise InjectError(f"cannot run espeak-ng ({program}): {e.strerror or e}") from None
    if done.returncode != 0 or not done.stdout:
        why = done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}"
        raise InjectError(
            f"espeak-ng could not speak the script with voice {voice!r} "
            f"([channels.ami] drill_voice): {why}"
        )
    return done.stdout


def pcm_of(wav: bytes) -> tuple[np.ndarray[Any, np.dtype[np.int16]], int]:
    """The samples and rate of a 16-bit mono PCM WAV. Writing to a pipe, espeak-ng cannot
    go back to fill in the sizes (its header says 0x7ffff000 bytes): the data chunk is
    taken up to the end of what came."""
    if len(wav) < 12 or wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise InjectError("espeak-ng wrote no WAV audio")
    pos, fmt = 12, None
    while pos + 8 <= len(wav):
        kind, size = wav[pos : pos + 4], struct.unpack_from("<I", wav, pos + 4)[0]
        body = pos + 8
        if kind == b"fmt " and size >= 16 and body + 16 <= len(wav):
            fmt = struct.unpack_from("<HHIIHH", wav, body)  # format, channels, rate, …, bits
        elif kind == b"data":
            if fmt is None or (fmt[0], fmt[1], fmt[5]) != (1, 1, 16):
                raise InjectError(f"espeak-ng wrote audio other than 16-bit mono PCM ({fmt})")
            data = wav[body : body + size]
            return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2"), int(fmt[2])
        pos = body + size + (size & 1)
    raise InjectError("espeak-ng wrote no audio")


def resample(
    samples: np.ndarray[Any, np.dtype[np.int16]], rate: int, to: int
) -> np.ndarray[Any, np.dtype[np.int16]]:
    """Band-limited resampling through the spectrum: what lies below the new Nyquist
    frequency (4 kHz at 8 kHz) is kept, everything above it dropped (no aliasing), and the
    signal is rebuilt at the new length. The transform takes the signal as periodic, which
    costs nothing for speech that begins and ends in silence. numpy only: no filter design
    library, no sox."""
    n = len(samples)
    if n == 0 or rate == to:
        return samples.astype("<i2")
    m = max(1, round(n * to / rate))
    spectrum = np.fft.rfft(samples.astype(np.float64))[: m // 2 + 1]
    out = np.fft.irfft(spectrum, m) * (m / n)
    return np.clip(np.rint(out), -32768, 32767).astype("<i2")


def _reuse(path: Path) -> float | None:
    """The length in seconds of an audio file made before (marked as used now), if any."""
    try:
        with wave.open(str(path), "rb") as w:
            seconds = w.getnframes() / w.getframerate()
        os.utime(path)
    except (OSError, EOFError, wave.Error):
        return None
    return seconds


def _write(path: Path, pcm: np.ndarray[Any, np.dtype[np.int16]]) -> None:
    """Whole or not at all (a temporary file renamed): Asterisk may be playing the file of
    the same script for another call meanwhile. Readable by Asterisk's user."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".drill-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f, wave.open(f, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(pcm.tobytes())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _prune(folder: Path) -> None:
    """Audio nobody used for `KEEP_UNUSED` (every use marks a file), and temporary files
    a crash left behind."""
    now = time.time()
    for pattern, age in (("drill-*.wav", KEEP_UNUSED), (".drill-*.tmp", 3600.0)):
        for path in folder.glob(pattern):
            try:
                if now - path.stat().st_mtime > age:
                    path.unlink()
            except OSError:
                pass


# -- the call (on the reactor's asyncio loop) ----------------------------------------------


async def place_call(ami: AmiChannel, number: str, name: str | None, audio: Audio) -> str:
    """Originate the drill call; return its Linkedid once it has entered the center."""
    link = ami.link
    if link is None or not ami.up:
        raise InjectError("the AMI link to Asterisk is down")
    s = ami.settings
    await _check_dialplan(link)
    linkedid = new_linkedid()
    originate = asyncio.ensure_future(
        link.action(
            "Originate",
            timeout=s.drill_wait_seconds + 15,
            Channel=s.drill_channel,
            Context=s.drill_context,
            Exten="s",
            Priority="1",
            CallerID=caller_id(number, name),
            # How long the drill caller waits for a call-taker: ;1 is answered with ;2.
            Timeout=str(s.drill_wait_seconds * 1000),
            Async="true",
            ChannelId=linkedid,
            OtherChannelId=f"{linkedid};2",
            Variable=[f"ALARMGW_DRILL_FILE={audio.name}"],
        ),
        loop=ami.loop,
    )
    _ringing.add(originate)
    originate.add_done_callback(functools.partial(_answered, linkedid))
    await _arrival(ami, link, linkedid, originate)
    return linkedid


async def _check_dialplan(link: AmiLink) -> None:
    """Asterisk's dialplan must be one that knows drill calls (its ALARMGW_DRILL_SOUNDS):
    with an older one the call-taker would answer a call that says nothing."""
    try:
        resp = await link.action("Getvar", Variable="ALARMGW_DRILL_SOUNDS")
    except (AmiUnavailable, AmiError) as e:
        raise InjectError(f"Asterisk did not answer: {e}") from None
    if not (resp.get("Value") or "").strip():
        raise InjectError(
            "Asterisk's dialplan has no ALARMGW_DRILL_SOUNDS global, nor then the "
            "[alarmgw-drill] context: install this version's asterisk/extensions.conf"
        )


async def _arrival(
    ami: AmiChannel, link: AmiLink, linkedid: str, originate: asyncio.Future[Any]
) -> None:
    """Wait until the call has entered the center (the tracker follows it), or Asterisk
    said it could not place it. A call that does not arrive in time is hung up."""
    assert ami.loop is not None
    deadline = ami.loop.time() + ARRIVAL_WAIT
    while linkedid not in ami.tracker.calls:
        if originate.done():
            why = _failure(originate)
            if why is None:
                return  # already answered: it came in
            raise InjectError(
                f"Asterisk did not place the drill call on {ami.settings.drill_channel} "
                f"({why}): check [channels.ami] drill_channel and the dialplan"
            )
        if ami.loop.time() > deadline:
            try:
                await link.action("Hangup", Channel=linkedid)  # its ;1 leg, by Uniqueid
            except (AmiUnavailable, AmiError):
                pass
            raise InjectError(
                f"the drill call did not reach the 110 intake within {ARRIVAL_WAIT:.0f} s"
            )
        await asyncio.sleep(POLL)


def _failure(originate: asyncio.Future[Any]) -> str | None:
    """None if the Originate was answered, else why not."""
    if originate.cancelled():
        return "cancelled"
    error = originate.exception()
    if isinstance(error, (AmiUnavailable, AmiError)):
        return str(error)
    if error is not None:
        raise error
    return originate_failed(originate.result())


def _answered(linkedid: str, originate: asyncio.Future[Any]) -> None:
    """The Originate's end, long after the injector returned: a call-taker answered, or
    the drill caller gave up (its report says so too: an abandoned call)."""
    _ringing.discard(originate)
    try:
        why = _failure(originate)
    except Exception as e:  # noqa: BLE001 - a log line, nothing more
        why = repr(e)
    if why is None:
        log.info("AMI: drill call {call} answered", call=linkedid)
    else:
        log.info("AMI: drill call {call} not answered: {why}", call=linkedid, why=why)
