"""An analogue alarm panel for the tests: the project's Asterisk phones its own alarm panel
line and speaks Ademco Contact ID to it.

The call leaves Asterisk over SIP and RTP on loopback and comes back in, so the panel
number is routed by the shipped `[from-carrier]` to `[alarm-panel-in]` and
AlarmReceiver(). Two ways the digits travel, as carriers pass them:

    rfc4733  the fax loop (`tests/peers/faxsend.py`): in as the shipped `carrier`
             endpoint (dtmf_mode=rfc4733); the panel sends SendDTMF, whose tones Asterisk
             makes at least 100 ms long (ast_senddigit), gaps `gap_ms`
    inband   a second test-only loop, `panelloop` (from 127.0.0.5), in as the test-only
             endpoint `panelloop-in` (context from-carrier, dtmf_mode=inband: a carrier
             passing the tones in the G.711 audio); the panel plays the DTMF tones itself
             (PlayTones) with Contact ID's own timing, `tone_ms` tones and `gap_ms` gaps
             (50-60 ms), and Asterisk's DSP must detect them

The panel's side is the test-only dialplan `[alarmgw-test-panel]` below, appended to the
chroot's extensions.conf at start (`Asterisk.extra_config`), as a panel behaves:

    wait for the receiver's handshake (1400 Hz, then 2300 Hz, 100 ms each)
    for each message: send its 16 DTMF digits, wait for the kissoff (1400 Hz, 900 ms);
    without one, send the message again (up to `tries` times), then go on with the next
    hang up

Tones are heard with WaitForNoise/WaitForSilence (energy, not frequency: Asterisk 22's
Debian build has no func_tonedetect). Each step is a `UserEvent: AlarmgwTestPanel` (Step:
handshake / message / done / nohandshake; a message's Message, Try and Kissoff: yes/no).

    use_panel(asterisk)                       # before asterisk.start()
    panel_call(ami, [contact_id("1234", "1", "130", "01", "015")], caller="02887654321")
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

from tests.peers.ami import AmiSession
from tests.peers.asterisk import LOCAL_IP, Asterisk
from tests.peers.faxsend import use_faxloop
from tests.peers.gateway import free_port

PANEL_NUMBER = "88110119"
PANELLOOP_IP = "127.0.0.5"

# The two frequencies of each DTMF digit (ITU-T Q.23).
DTMF_HZ = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633),
}  # fmt: skip

# Contact ID (SIA DC-05): the DTMF digits and their values (0 counts 10; hex B-F are sent
# as * # A B C); a message's values sum to a multiple of 15.
VALUES = {**{str(d): d or 10 for d in range(10)}, "*": 11, "#": 12, "A": 13, "B": 14, "C": 15}
DIGIT_OF_VALUE = {v: k for k, v in VALUES.items()}

PANEL_DIALPLAN = """
[alarmgw-test-panel]
exten => s,1,Set(i=0)
 same => n,WaitForNoise(60,1,15)
 same => n,GotoIf($["${WAITSTATUS}" != "NOISE"]?nohandshake)
 same => n,UserEvent(AlarmgwTestPanel,Step: handshake)
 same => n(next),Set(i=$[${i} + 1])
 same => n,Set(msg=${CUT(PANEL_MESSAGES,-,${i})})
 same => n,GotoIf($["${msg}" = ""]?done)
 same => n,Set(try=0)
 ; The end of the handshake (or of the last kissoff), then the message.
 same => n(send),Set(try=$[${try} + 1])
 same => n,WaitForSilence(250,1,3)
 same => n,GotoIf($["${PANEL_DTMF}" = "inband"]?inband)
 same => n,SendDTMF(${msg},${PANEL_GAP},${PANEL_TONE})
 ; The kissoff: 900 ms of 1400 Hz some 200 ms after the last digit; a panel waits 1.25 s.
 same => n(kissoff),WaitForNoise(400,1,${PANEL_KISSOFF_WAIT})
 same => n,Set(kissoff=${IF($["${WAITSTATUS}" = "NOISE"]?yes:no)})
 same => n,UserEvent(AlarmgwTestPanel,Step: message,Message: ${msg},Try: ${try},Kissoff: ${kissoff})
 same => n,GotoIf($["${WAITSTATUS}" = "NOISE"]?next)
 same => n,GotoIf($[${try} < ${PANEL_TRIES}]?send:next)
 same => n(done),WaitForSilence(250,1,3)
 same => n,UserEvent(AlarmgwTestPanel,Step: done)
 same => n,Hangup()
 same => n(nohandshake),UserEvent(AlarmgwTestPanel,Step: nohandshake)
 same => n,Hangup()
 ; The digits as tones in the audio: PANEL_TONES holds each message's tone list, which
 ; goes on with silence while the panel listens for the kissoff (see tone_list).
 same => n(inband),PlayTones(${CUT(PANEL_TONES,-,${i})})
 same => n,Wait(${PANEL_TONES_SECONDS})
 same => n,Goto(kissoff)
"""

# What the panel's dialplan needs beyond the shipped modules.conf.
PANEL_MODULES = """
load => app_senddtmf.so
load => app_waitforsilence.so
load => func_cut.so
load => app_playtones.so
"""


def panelloop_pjsip(asterisk: Asterisk, port: int) -> str:
    """The test-only pjsip.conf sections of the inband loop."""
    return f"""
[transport-panelloop]
type=transport
protocol=udp
bind={PANELLOOP_IP}:{port}

[panelloop]
type=endpoint
transport=transport-panelloop
context=panelloop-unused
disallow=all
allow=alaw
dtmf_mode=inband
direct_media=no
aors=panelloop

[panelloop]
type=aor
contact=sip:{LOCAL_IP}:{asterisk.sip_port}

; Calls the loop sends come in as from a carrier that passes DTMF in the audio.
[panelloop-in]
type=endpoint
context=from-carrier
disallow=all
allow=alaw
dtmf_mode=inband
direct_media=no

[panelloop-identify]
type=identify
endpoint=panelloop-in
match={PANELLOOP_IP}
"""


def use_panel(asterisk: Asterisk) -> None:
    """Add the loops and the panel's dialplan to the configuration `asterisk.start()`
    installs."""
    use_faxloop(asterisk)
    port = free_port(PANELLOOP_IP, socket.SOCK_DGRAM)
    for name, text in (
        ("pjsip.conf", panelloop_pjsip(asterisk, port)),
        ("extensions.conf", PANEL_DIALPLAN),
        ("modules.conf", PANEL_MODULES),
    ):
        asterisk.extra_config[name] = asterisk.extra_config.get(name, "") + text


def tone_list(message: str, tone_ms: int, gap_ms: int, trail_ms: int = 4000) -> str:
    """PlayTones' list for `message`: each digit's two frequencies for `tone_ms`, then
    `gap_ms` of silence, each played once ('!'); '|' separates (a ',' would split the
    AMI Variable header). Then `trail_ms` of silence: a phone line's audio goes on, and
    Asterisk's DSP ends a digit only on the audio that follows it (with no packets after
    the last tone, its end came seconds late, at the next packet)."""
    parts = []
    for digit in message:
        low, high = DTMF_HZ[digit]
        parts += [f"!{low}+{high}/{tone_ms}", f"!0/{gap_ms}"]
    parts.append(f"!0/{trail_ms}")
    return "|".join(parts)


def contact_id(
    account: str, qualifier: str, code: str, group: str, zone: str, *, kind: str = "18"
) -> str:
    """The 16 DTMF digits of a Contact ID message, AAAA MT Q EEE GG ZZZ S, with its
    checksum digit S. `account` in DTMF digits (hex B-F as * # A B C)."""
    body = f"{account}{kind}{qualifier}{code}{group}{zone}"
    assert len(body) == 15 and all(c in VALUES for c in body), body
    rest = -sum(VALUES[c] for c in body) % 15
    return body + DIGIT_OF_VALUE[rest or 15]


def bad_checksum(message: str) -> str:
    """`message` with a wrong checksum digit."""
    wrong = DIGIT_OF_VALUE[VALUES[message[-1]] % 15 + 1]
    return message[:-1] + wrong


def panel_call(
    ami: AmiSession,
    messages: Sequence[str],
    *,
    caller: str = "02887654321",
    number: str = PANEL_NUMBER,
    dtmf: str = "rfc4733",
    tries: int = 2,
    tone_ms: int = 55,
    gap_ms: int = 55,
    kissoff_wait: float = 2.5,
    timeout: float = 15.0,
) -> str:
    """Originate the panel's call to `number` (the INVITE's From is `caller`): it sends
    `messages` as described above, `dtmf` "rfc4733" or "inband". Returns the Originate's
    ActionID; does not wait."""
    assert messages and all("-" not in m for m in messages)
    assert dtmf in ("rfc4733", "inband"), dtmf
    tones = "-".join(tone_list(m, tone_ms, gap_ms) for m in messages)
    seconds = max(len(m) for m in messages) * (tone_ms + gap_ms) / 1000 + 0.1
    res = ami.action(
        "Originate",
        timeout=timeout,
        Channel=f"PJSIP/{number}@{'faxloop' if dtmf == 'rfc4733' else 'panelloop'}",
        Context="alarmgw-test-panel",
        Exten="s",
        Priority="1",
        CallerID=f'"panel" <{caller}>',
        Variable=[
            f"PANEL_MESSAGES={'-'.join(messages)}",
            f"PANEL_TRIES={tries}",
            f"PANEL_TONE={tone_ms}",
            f"PANEL_GAP={gap_ms}",
            f"PANEL_KISSOFF_WAIT={kissoff_wait:g}",
            f"PANEL_DTMF={dtmf}",
            f"PANEL_TONES={tones}",
            f"PANEL_TONES_SECONDS={seconds:.2f}",
        ],
        Async="true",
    )
    if res.get("Response") != "Success":
        raise RuntimeError(f"Originate of the panel's call refused: {res}")
    return res["ActionID"]
