"""CSV imports of the registry (`gateway.targets.importer`, `alarmgw targets|vehicles
import`): every row checked before anything is written, every problem named by line and
column, UTF-8 with or without a BOM or GB18030, and an import that changes nothing when
nothing changed. The CLI runs as a real process, as tests/test_cli.py runs it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from gateway.config import Config
from gateway.store.engine import make_engine, sqlite_url
from gateway.store.migrate import upgrade
from gateway.targets import importer, records
from gateway.targets.tables import premises, vehicles
from tests.conftest import T0

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "gateway" / "targets"
HEADER = "account,receiver,line,name,address,lat,lon,unit,phones,zones,key,supervision_s\n"
KEY = "000102030405060708090a0b0c0d0e0f"
GOOD = (
    HEADER
    + "1234,,,示例银行南坝支行,南坝路1号,24.98,102.65,530102510000,0871-60000101；13800000101,"
    '"1:前门, 2:金库",' + KEY + ",90\n"
    "A128,,1,示例金店,南坝路8号,24.981,102.651,530102510000,,1：柜台，3：保险柜,,\n"
    "5555,2,,示例便利店,南坝路20号,,,530102510000,13800000102、13800000103,,,3600\n"
)


def alarmgw(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args, "--data-dir", str(data)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    e = make_engine(store_url, writer=True)
    upgrade(e)
    yield e
    e.dispose()


def import_premises(engine: Engine, config: Config, text: str, now: object = T0) -> list[str]:
    found = importer.read_premises(text.encode(), config.org)
    assert found.problems == []
    with engine.begin() as conn:
        return [str(o) for o in records.upsert_premises(conn, [i for _, i in found.rows], now)]


def stored(engine: Engine, table: object = premises) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table).order_by(table.c.id)).mappings()]  # type: ignore[attr-defined]


# -- a good file, again, changed -------------------------------------------------------------


def test_good_file_then_again_then_changed(engine: Engine, config: Config) -> None:
    assert import_premises(engine, config, GOOD) == ["new", "new", "new"]
    rows = stored(engine)
    bank, shop, store = rows
    assert (bank["account"], bank["receiver"], bank["line"]) == ("1234", "", "")
    assert bank["phones"] == ["0871-60000101", "13800000101"]
    assert bank["zones"] == {"1": "前门", "2": "金库"}
    assert bank["aes_key"] == KEY.upper() and bank["supervision_s"] == 90
    assert (bank["lat"], bank["lon"], bank["unit"]) == (24.98, 102.65, "530102510000")
    assert (shop["account"], shop["line"], shop["zones"]) == (
        "A128",
        "1",
        {"1": "柜台", "3": "保险柜"},
    )
    assert shop["aes_key"] is None and shop["supervision_s"] is None
    assert (store["receiver"], store["lat"], store["lon"]) == ("2", None, None)
    assert store["phones"] == ["13800000102", "13800000103"]
    assert all(r["created_at"] == r["updated_at"] == T0 for r in rows)
    assert all(r["last_seen_at"] is None for r in rows)

    # The same file again: nothing changes, not even updated_at.
    later = T0 + timedelta(hours=1)
    assert import_premises(engine, config, GOOD, later) == ["unchanged"] * 3
    assert stored(engine) == rows

    # One row changed: that row, and only it, is updated.
    changed = GOOD.replace("示例金店,南坝路8号", "示例金店（新址）,南坝路9号")
    assert import_premises(engine, config, changed, later) == ["unchanged", "updated", "unchanged"]
    after = stored(engine)
    assert after[1]["name"] == "示例金店（新址）" and after[1]["updated_at"] == later
    assert after[1]["created_at"] == T0 and after[1]["id"] == shop["id"]
    assert [after[0], after[2]] == [bank, store]


def test_an_empty_key_keeps_the_key_and_none_removes_it(engine: Engine, config: Config) -> None:
    """A key is never shown, so no file could carry it back: an empty cell keeps it."""
    import_premises(engine, config, GOOD)
    without = GOOD.replace(KEY, "")
    assert import_premises(engine, config, without) == ["unchanged"] * 3
    assert stored(engine)[0]["aes_key"] == KEY.upper()
    no_column = "\n".join(
        ",".join(cells[:10] + cells[11:])
        for cells in (line.split(",") for line in HEADER.strip().splitlines())
    )
    assert "key" not in no_column
    removed = GOOD.replace(KEY, "none")
    assert import_premises(engine, config, removed)[0] == "updated"
    assert stored(engine)[0]["aes_key"] is None


def test_vehicles(engine: Engine, config: Config) -> None:
    text = (
        "terminal,plate,plate_color,kind,company,unit,phones\n"
        "013800138001,云a12345,黄色,运钞车,示例押运公司,530100000000,0871-60002001\n"
        "13800138002,云AT1002,1,taxi,,,\n"
        "13800138003,,,其他,,,\n"
    )
    found = importer.read_vehicles(text.encode(), config.org)
    assert found.problems == []
    with engine.begin() as conn:
        items = [i for _, i in found.rows]
        assert records.upsert_vehicles(conn, items, T0) == ["new"] * 3
        assert records.upsert_vehicles(conn, items, T0 + timedelta(hours=1)) == ["unchanged"] * 3
    cash, taxi, other = stored(engine, vehicles)
    assert (cash["terminal"], cash["plate"], cash["plate_color"], cash["kind"]) == (
        "13800138001", "云A12345", 2, "cash_van"
    )  # fmt: skip
    assert cash["phones"] == ["0871-60002001"] and cash["unit"] == "530100000000"
    assert (taxi["kind"], taxi["company"], taxi["unit"], taxi["plate_color"]) == (
        "taxi",
        "",
        None,
        1,
    )
    assert (other["kind"], other["plate"]) == ("other", None)
    assert all(v["alarm_flags"] == 0 and v["updated_at"] == T0 for v in (cash, taxi, other))


# -- problems: all of them, by line and column, nothing written ------------------------------------


BAD = (
    "# 一个有问题的文件\n"
    + HEADER
    + "12G4,,,示例银行,南坝路1号,,,530102510000,,,,\n"  # 3: account not hex
    + "1234,,,,南坝路2号,24.98,,530199000000,,,,\n"  # 4: no name, lat without lon, unit
    + '1234,,,示例金店,南坝路3号,95,200,530102510000,12,"1:前门, 2",abcd,0\n'  # 5
    + '5678,,,"示例\n便利店",南坝路4号,,102.6,530102510000,,"01:前门,1:后门",,abc\n'  # 6-7
    + "5678,,,示例药房,南坝路5号,,,530102510000,,,,,extra\n"  # 8: a cell too many
    + "ABCDE,,,示例超市,南坝路6号,,,530102510000,,,,\n"  # 9: good
    + "abcde,,,示例超市2,南坝路7号,,,530102510000,,,,\n"  # 10: the same account as 9
)
BAD_PROBLEMS = [
    "bad.csv:3: column account: '12G4' is not 3 to 16 hex digits",
    "bad.csv:4: column name: is required",
    "bad.csv:4: column lon: lat is given without lon",
    "bad.csv:4: column unit: unknown unit code '530199000000'",
    "bad.csv:5: column lat: 95 is out of range (-90 to 90)",
    "bad.csv:5: column lon: 200 is out of range (-180 to 180)",
    "bad.csv:5: column phones: '12' is not a phone number",
    "bad.csv:5: column zones: '2' is not NUMBER:NAME (e.g. 1:前门)",
    "bad.csv:5: column key: an AES key is 32, 48 or 64 hex digits, not 4 characters",
    "bad.csv:5: column supervision_s: 0 is out of range (1 to 2678400 s)",
    "bad.csv:5: column account: account 1234 is on line 4 too",
    "bad.csv:6: column name: contains a line break",
    "bad.csv:6: column lat: lon is given without lat",
    "bad.csv:6: column zones: zone 1 is given twice",
    "bad.csv:6: column supervision_s: 'abc' is not a whole number",
    "bad.csv:8: 13 cells, the header has 12",
    "bad.csv:10: column account: account ABCDE is on line 9 too",
]


def test_every_problem_by_line_and_column(config: Config) -> None:
    found = importer.read_premises(BAD.encode(), config.org)
    assert [p.format("bad.csv") for p in found.problems] == BAD_PROBLEMS


@pytest.mark.parametrize(
    ("header", "problems"),
    [
        (
            "account,receiver,name,unit,colour\n",
            [
                "f.csv:1: column colour: unknown column (allowed: account, receiver, line, "
                "name, address, lat, lon, unit, phones, zones, key, supervision_s)",
                "f.csv:1: column address: required, missing from the header",
            ],
        ),
        (
            "Account, Name ,address,unit,name\n",
            ["f.csv:1: column name: named twice in the header"],
        ),
        ("", ["f.csv:1: no header row (the columns: account, receiver, line, name, address, "
              "lat, lon, unit, phones, zones, key, supervision_s)"]),
    ],
)  # fmt: skip
def test_header_problems(config: Config, header: str, problems: list[str]) -> None:
    found = importer.read_premises(header.encode(), config.org)
    assert [p.format("f.csv") for p in found.problems] == problems


def test_vehicle_problems(config: Config) -> None:
    text = (
        "terminal,plate,plate_color,kind,company,unit\n"
        "1.38001E+10,云A 12345,紫,car,,530100000001\n"
        "0000,,,taxi,,\n"
        "13800138001,,,taxi,,\n"
        "013800138001,,,taxi,,\n"
    )
    found = importer.read_vehicles(text.encode(), config.org)
    assert [p.format("v.csv") for p in found.problems] == [
        "v.csv:2: column terminal: '1.38001E+10' is a number in scientific notation (format "
        "the column as text in the spreadsheet)",
        "v.csv:2: column plate: '云A 12345' has a space in it",
        "v.csv:2: column plate_color: '紫' is not one of 1 (蓝), 2 (黄), 3 (黑), 4 (白), "
        "5 (绿), 9 (其他)",
        "v.csv:2: column kind: 'car' is not one of taxi (出租车), cash_van (运钞车), bus (公交车), "
        "police (警车), truck (货车), other (其他)",
        "v.csv:2: column unit: unknown unit code '530100000001'",
        "v.csv:3: column terminal: is all zeros",
        "v.csv:5: column terminal: terminal 13800138001 is on line 4 too",
    ]


# -- encodings ------------------------------------------------------------------------------------


def test_gb18030(config: Config) -> None:
    """What a Chinese Excel saves as "CSV": GBK text (GB18030 reads it, and more)."""
    text = GOOD.replace("示例便利店", "示例便利店䶮")  # 䶮: in GB18030, not in GBK
    found = importer.read_premises(text.encode("gb18030"), config.org)
    assert found.encoding == "GB18030" and found.problems == []
    assert [item.name for _, item in found.rows] == ["示例银行南坝支行", "示例金店", "示例便利店䶮"]
    assert found.rows[0][1].zones == {"1": "前门", "2": "金库"}


def test_utf8_with_and_without_bom(config: Config) -> None:
    plain = importer.read_premises(GOOD.encode(), config.org)
    bom = importer.read_premises(b"\xef\xbb\xbf" + GOOD.encode(), config.org)
    assert (plain.encoding, bom.encoding) == ("UTF-8", "UTF-8 (with BOM)")
    assert bom.problems == [] and bom.rows == plain.rows  # the BOM is not in "account"
    crlf = importer.read_premises(GOOD.replace("\n", "\r\n").encode(), config.org)
    assert crlf.rows == plain.rows


def test_files_that_are_neither(config: Config) -> None:
    utf16 = importer.read_premises(GOOD.encode("utf-16"), config.org)
    assert [p.format("u.csv") for p in utf16.problems] == [
        'u.csv:1: the file is UTF-16 (Excel\'s "Unicode text"): save it as "CSV UTF-8" or '
        '"CSV" instead'
    ]
    junk = importer.read_premises(HEADER.encode() + b"1234,\x80\xff\n", config.org)
    assert [p.format("j.csv") for p in junk.problems] == [
        "j.csv:1: the file is neither UTF-8 nor GB18030 (line 2, byte 84)"
    ]


# -- the samples ----------------------------------------------------------------------------------


def test_the_samples_import_cleanly_inside_their_units(engine: Engine, config: Config) -> None:
    """Each sample premises lies in its unit's jurisdiction (the unit routing would pick)."""
    found = importer.read_premises((SAMPLES / "sample_premises.csv").read_bytes(), config.org)
    assert found.problems == [] and len(found.rows) == 12
    located = [item for _, item in found.rows if item.lat is not None]
    assert len(located) >= 10
    for item in located:
        assert item.lon is not None
        unit = config.org.unit_at(item.lat, item.lon)  # type: ignore[arg-type]
        assert unit is not None and unit.code == item.unit, item.name
    assert any(item.aes_key for _, item in found.rows)
    assert all("示例" in item.name for _, item in found.rows)
    cars = importer.read_vehicles((SAMPLES / "sample_vehicles.csv").read_bytes(), config.org)
    assert cars.problems == [] and len(cars.rows) == 12
    assert {v.kind for _, v in cars.rows} == {"taxi", "cash_van", "bus", "police", "truck", "other"}
    with engine.begin() as conn:
        assert records.upsert_premises(conn, [i for _, i in found.rows], T0) == ["new"] * 12
        assert records.upsert_vehicles(conn, [v for _, v in cars.rows], T0) == ["new"] * 12


# -- the command line -----------------------------------------------------------------------------


def test_cli_import_and_list(tmp_path: Path) -> None:
    data = tmp_path / "data"
    good = tmp_path / "premises.csv"
    good.write_bytes(GOOD.encode("gb18030"))
    out = alarmgw("targets", "import", str(good), "--dry-run", data=data)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        f"{good}: read as GB18030",
        f"{good}: 3 premises: 3 new, 0 updated, 0 unchanged (dry run: nothing written)",
    ]
    out = alarmgw("targets", "import", str(good), data=data)
    assert out.stdout.splitlines()[-1] == f"{good}: 3 premises: 3 new, 0 updated, 0 unchanged"
    out = alarmgw("targets", "import", str(good), data=data)
    assert out.stdout.splitlines()[-1] == f"{good}: 3 premises: 0 new, 0 updated, 3 unchanged"
    good.write_text(GOOD.replace(",3600", ",7200"), encoding="utf-8-sig")
    out = alarmgw("targets", "import", str(good), data=data)
    assert out.stdout.splitlines() == [
        f"{good}: read as UTF-8 (with BOM)",
        f"{good}: 3 premises: 0 new, 1 updated, 2 unchanged",
    ]
    listing = alarmgw("targets", "list", data=data)
    assert listing.returncode == 0, listing.stderr
    assert "示例银行南坝支行" in listing.stdout and "南坝派出所" in listing.stdout
    assert "7200" in listing.stdout and KEY not in listing.stdout.lower()
    assert "(3 个固定目标" in listing.stdout
    one = alarmgw("targets", "list", "--account", "a128", data=data)
    assert "示例金店" in one.stdout and "示例银行" not in one.stdout
    other = alarmgw("targets", "list", "--unit", "530103000000", data=data)
    assert "(0 个固定目标" in other.stdout
    bad = alarmgw("targets", "list", "--unit", "1", data=data)
    assert bad.returncode == 1 and "unknown unit" in bad.stderr

    cars = alarmgw("vehicles", "import", str(SAMPLES / "sample_vehicles.csv"), data=data)
    assert cars.returncode == 0, cars.stderr
    assert "12 vehicles: 12 new, 0 updated, 0 unchanged" in cars.stdout
    listing = alarmgw("vehicles", "list", data=data)
    assert "云AJ2001" in listing.stdout and "运钞车" in listing.stdout
    one = alarmgw("vehicles", "list", "--terminal", "013800138001", data=data)
    assert "云AT1001" in one.stdout and "(1 个移动目标" in one.stdout


def test_cli_refuses_a_bad_file_whole(tmp_path: Path) -> None:
    data = tmp_path / "data"
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD, encoding="utf-8")
    out = alarmgw("targets", "import", str(bad), data=data)
    assert out.returncode == 1
    assert out.stdout == f"{bad}: read as UTF-8\n"
    lines = out.stderr.splitlines()
    assert lines[:-1] == [p.replace("bad.csv", str(bad), 1) for p in BAD_PROBLEMS]
    assert lines[-1] == f"{bad}: 17 problems; nothing was imported"
    assert "Traceback" not in out.stderr
    # Line 9 was good, and was not written either.
    engine = make_engine(sqlite_url(data), writer=False)
    try:
        assert stored(engine) == []
    finally:
        engine.dispose()
    missing = alarmgw("vehicles", "import", str(tmp_path / "nope.csv"), data=data)
    assert missing.returncode == 1 and "nope.csv: No such file or directory" in missing.stderr
