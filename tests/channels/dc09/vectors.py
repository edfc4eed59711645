"""Published SIA DC-09 frames, each with where it was found, for the frame tests.

Lines are copied verbatim. Where the source prints a frame without its LF and CR (pysiaalarm
strips them before parsing; the ioBroker files end without a CR), `frame` adds them: DC-09
frames run from LF to CR, and neither is counted in the CRC or the length.
"""

from __future__ import annotations

from dataclasses import dataclass

PYSIAALARM = (
    "eavanvalkenburg/pysiaalarm@0f539a6ee2798eb2cb041fa431161203113be7ae "
    "tests/test_sia_package_cases.py"
)
PYSIAALARM_KEY = b"AAAAAAAAAAAAAAAA"  # tests/test_utils.py KEY, tests/encrypted_config.json
IOBROKER = "schmupu/ioBroker.sia@30d037c92e74296c23b8a0d69848f02e7fef4120"
IOBROKER_KEY = b"0123456789ABCDEF"  # test/siatest.txt: "password encrypt: 0123456789ABCDEF"
KADAVRIS = "kadavris/SIA@e390bfa65bf6fda992ee1b56d23a75775aa3137e ajax_service.pl"


@dataclass(frozen=True)
class Published:
    name: str
    line: str  # as printed by the source
    source: str
    crc_ok: bool  # the CRC on the line is the CRC of its text
    length_ok: bool  # the length on the line is the count of its text
    key: bytes | None = None  # the key it decrypts with, where one is known
    note: str = ""

    @property
    def frame(self) -> bytes:
        return b"\n" + self.line.encode("latin-1") + b"\r"


# pysiaalarm's EventParsing cases (test_sia_package_cases.py). Upstream never checks the
# length (SIAEvent.valid_length is computed but not used, and compares the wire's hex as
# decimal), and its tests catch the resulting errors broadly, so most lines are wrong.
PYSIAALARM_LINES = (
    Published(
        "case_bug",
        r'9618004D"SIA-DCS"7960L0#123456[#123456|Nri1CL0^VX FRONTE ^]_22:40:48,04-11-2021',
        PYSIAALARM + " case_bug (issue #11)",
        crc_ok=False,
        length_ok=False,
        note="6 bytes short of its length: the account was likely shortened when anonymised",
    ),
    Published(
        "case_bug2",
        r'5670004D"SIA-DCS"8070L0#123456[#123456|Nri0KR1^TAST. 001 ^]_13:49:12,04-13-2021',
        PYSIAALARM + " case_bug2 (issue #42)",
        crc_ok=False,
        length_ok=False,
    ),
    Published(
        "case_dc04",
        r'<x0A>CE110032"SIA-DCS"9876R579BDFL789ABC#12345A[#12345A|NFA129]_14:12:04,09-25-201',
        PYSIAALARM + " case_dc04",
        crc_ok=False,
        length_ok=False,
        note="an LF written as the text '<x0A>', a 3-digit year",
    ),
    Published(
        "case_adm_cid",
        r'87CD0037"ADM-CID"9876R579BDFL789ABC#12345A[#12345A|1110 00 129]_14:12:04,09-25-2011',
        PYSIAALARM + " case_adm_cid",
        crc_ok=False,
        length_ok=False,
    ),
    Published(
        "case_adm_cid2",
        r'57150047"ADM-CID"0247R4F39L4F39#4F39[#4F39|3401 01 057]',
        PYSIAALARM + " case_adm_cid2",
        crc_ok=True,
        length_ok=False,
        note="the length written in decimal (47 bytes, 0x2F)",
    ),
    Published(
        "case_code_jc",
        r'97F90078"SIA-DCS"6002L0#AAA[|Nri2/JC12]_12:58:23,09-15-2021',
        PYSIAALARM + " case_code_jc",
        crc_ok=True,
        length_ok=False,
    ),
    Published(
        "case_xdata_M",
        r'87570078"SIA-DCS"6002L0#AAA[|Nri1/CL501][M0026B9E4268B]_14:12:04,09-25-2019',
        PYSIAALARM + " case_xdata_M",
        crc_ok=True,
        length_ok=False,
    ),
    Published(
        "case_xdata_K",
        r'02310052"SIA-DCS"6002L0#1111[|Nri1/RP000][KAAAAAAAAAAAAAAAA]_14:12:04,09-25-2019',
        PYSIAALARM + " case_xdata_K (ACCOUNT = '1111')",
        crc_ok=True,
        length_ok=False,
    ),
    Published(
        "case_xdata_X_and_Y",
        r'5B090059"SIA-DCS"0004L0#1111[#1111|Nri1/PA501][X006E07.7777777][Y49N06.6666666]'
        r"_20:45:46,04-22-2021",
        PYSIAALARM + " case_xdata_X_and_Y (ACCOUNT = '1111')",
        crc_ok=True,
        length_ok=False,
    ),
    Published(
        "case_encrypted",
        r'60AB0078"*SIA-DCS"5994L0#AAA[5AB718E008C616BF16F6468033A11326B0F7546CAB230910BCA1'
        r"0E4DEBA42283C436E4F8EFF50931070DDE36D5BB5F0C",
        PYSIAALARM + " case_encrypted",
        crc_ok=True,
        length_ok=False,
        note="key not published (not the tests' AAAAAAAAAAAAAAAA)",
    ),
    Published(
        "case_encrypted_adm",
        r'D0850078"*ADM-CID"6879R0L0#123F[64F7ADD9BA9377DBF2C014BC709329BEEE345B5F20C60B7E'
        r"B9D2C6B8C222666B13D0B4A114B448B0AC555FCC658DB6EE",
        PYSIAALARM + " case_encrypted_adm",
        crc_ok=True,
        length_ok=True,
        note="key not published (not the tests' AAAAAAAAAAAAAAAA)",
    ),
    Published(
        "case_cl",
        r'E5D50078"SIA-DCS"6002L0#AAA[|Nri1/CL501]_14:12:04,09-25-2019',
        PYSIAALARM + " case_cl",
        crc_ok=True,
        length_ok=False,
    ),
    Published(
        "case_op",
        r'90820051"SIA-DCS"4738R0001L0001[#006969|Nri04/OP001NM]',
        PYSIAALARM + " case_op",
        crc_ok=False,
        length_ok=False,
        note="no #account before the '['",
    ),
    Published(
        "case_null",
        r'76D80055"*NULL"0000R0L0#AAAB[B4BC8B40D0E6D959D6BEA78E88CC0B2155741A3C44FBB96D476A3E5'
        r"57CAD64D9",
        PYSIAALARM + " case_null",
        crc_ok=True,
        length_ok=True,
        key=PYSIAALARM_KEY,
        note="decrypts to 'ppppppppppp]_18:24:52,07-05-2020': no '|' after the pad",
    ),
    Published(
        "case_wa",
        r'C4160279"SIA-DCS"5268L0#AAA[Nri1/WA000]_08:40:47,07-08-2020',
        PYSIAALARM + " case_wa (and ToFromDict: msg_crc C416 beside calc_crc E9A4)",
        crc_ok=False,
        length_ok=False,
    ),
)

# Not DC-09 at all: pysiaalarm's case_oh (Osborne-Hoffman) and case_eventformaterror.
PYSIAALARM_NOT_DC09 = (
    r"SR0001L0001    006969XX    [ID00000000]",
    r"this is not a parsable event",
)

# ioBroker.sia's test frames (its test/siatest.txt sends them with netcat).
IOBROKER_CLEAR = Published(
    "iobroker_siaCommand",
    'D3A10095"SIA-DCS"0005L0#12345[#12345|Nri0000pi0006da10-25-18ti14:37:53UT0000'
    "^$PR,SCOMPARSA          ,Centrale,Zona1,ROtTe.6MyLittlPoint^]_12:37:53,10-25-2018",
    IOBROKER + " test/siaCommand",
    crc_ok=True,
    length_ok=True,
)
IOBROKER_ENCRYPTED = Published(
    "iobroker_siaCommandENC",
    'AEAE0137"*SIA-DCS"0018L0#12345[4cea0b8eb4752a51724c2c55f3801a6e35cb21d25e014290c29995e7'
    "cdbbb4659747c1e185c3627db922513d6d5cbb33440d09eefa204e96d62c9c9fc6ffaa5abeccfce859dd540f"
    "74cba79c04a048a9b597c12b027f6366a3817d1dd6e26e2019d33075a67ab4a74221f57450070a7f0de890d"
    "087c64e76db6893c192ef5e16762ef9934bbfc516d041ad71c47d4dd0",
    IOBROKER + " test/siaCommandENC",
    crc_ok=True,
    length_ok=True,
    key=IOBROKER_KEY,
    note="lower-case hex; a binary pad (control characters) before the '|'",
)

# An Ajax hub's link test, quoted as "ajax sample" in a receiver script.
AJAX_NULL = Published(
    "ajax_null",
    '85420026"NULL"0000L0#000[]_21:58:31,08-08-2019',
    KADAVRIS + " ('# ajax sample:' comment above parseSIA)",
    crc_ok=True,
    length_ok=True,
)

# pysiaalarm's test generator (tests/test_utils.py create_test_line with account "1111",
# KEY, code "WA", seq "7654", use_fixed_time=True): "0"×16 pad (its zfill) before
# "|Nri1/WA000]_16:04:02,07-09-2020". pysiaalarm 3.2.2's SIAEvent.encrypt_content gives the
# same ciphertext (test_frame checks it). The CRC and length are ours: the generator writes
# the length as str(int(str(len(line)), 16)).zfill(4), "0280" for these 118 bytes.
PYSIAALARM_GENERATED = Published(
    "pysiaalarm_create_test_line",
    '05BB0076"*SIA-DCS"7654L0#1111[C07DA1EB73C617857476EE5D79436CEE5E0084485E79EC56B0D5D1F3'
    "F6E648B278050BBCCBC8FE5DCA7E3C80DBDD4945",
    "eavanvalkenburg/pysiaalarm@0f539a6 tests/test_utils.py create_test_line (see above)",
    crc_ok=True,
    length_ok=True,
    key=PYSIAALARM_KEY,
)

GOOD = (AJAX_NULL, IOBROKER_CLEAR, IOBROKER_ENCRYPTED, PYSIAALARM_GENERATED) + tuple(
    v for v in PYSIAALARM_LINES if v.crc_ok and v.length_ok
)
