"""RawTableWriter: CNAM-like raw CSV files, checked byte for byte and read back."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from sndslab.errors import SndslabError
from sndslab.synth._writer import FileStats, RawTableWriter, _FakeSpec

PRS = _FakeSpec(
    "ER_PRS_F",
    ["BEN_NIR_PSA", "EXE_SOI_DTD", "PRS_NAT_REF", "PRS_PAI_MNT", "BEN_RNG_GEM", "PRS_ACT_QTE"],
    ["string", "date", "integer", "number", "integer", "number"],
    "%d/%m/%Y",
    yearly=True,
)
MCO = _FakeSpec(
    "T_MCOaaB",
    ["ETA_NUM", "RSA_NUM", "ENT_DAT", "SOR_DAT"],
    ["string", "string", "datetime", "datetime"],
    "%d%b%Y:%H:%M:%S",
)
SPECS = {"ER_PRS_F": PRS, "T_MCOaaB": MCO}


def _writer(out: Path, **kw: object) -> RawTableWriter:
    return RawTableWriter(out, registry_lookup=SPECS.__getitem__, **kw)  # type: ignore[arg-type]


def _prs(n: int, start: int = 0) -> pa.Table:
    return pa.table(
        {
            "PRS_PAI_MNT": pa.array([25.0 + i / 3 for i in range(start, start + n)]),
            "BEN_NIR_PSA": pa.array([f"P{i:04d}" for i in range(start, start + n)]),
            "EXE_SOI_DTD": pa.array(
                [dt.date(2021, 1, 1) + dt.timedelta(days=i) for i in range(start, start + n)],
                pa.date32(),
            ),
            "PRS_NAT_REF": pa.array([1111] * n, pa.int32()),
        }
    )


def test_header_order_rows_and_nulls(tmp_path: Path) -> None:
    w = _writer(tmp_path)
    w.write("ER_PRS_F", 2021, _prs(2))
    stats = w.close()
    text = (tmp_path / "ER_PRS_F_2021.csv").read_text()
    assert text == (
        "BEN_NIR_PSA;EXE_SOI_DTD;PRS_NAT_REF;PRS_PAI_MNT;BEN_RNG_GEM;PRS_ACT_QTE\n"
        "P0000;01/01/2021;1111;25;;\n"
        "P0001;02/01/2021;1111;25.33;;\n"
    )
    assert stats == {"ER_PRS_F_2021.csv": FileStats("ER_PRS_F", 2021, 2, len(text.encode()))}


def test_append_over_several_writes_header_once(tmp_path: Path) -> None:
    w = _writer(tmp_path)
    for start in (0, 3, 6):
        w.write("ER_PRS_F", 2021, _prs(3, start))
    w.write("ER_PRS_F", 2022, _prs(1))
    stats = w.close()
    lines = (tmp_path / "ER_PRS_F_2021.csv").read_text().splitlines()
    assert len(lines) == 10 and lines[0].startswith("BEN_NIR_PSA;")
    assert sum(line.startswith("BEN_NIR_PSA") for line in lines) == 1
    assert [line.split(";")[0] for line in lines[1:]] == [f"P{i:04d}" for i in range(9)]
    assert stats["ER_PRS_F_2021.csv"].rows == 9 and stats["ER_PRS_F_2022.csv"].rows == 1


def test_gzip_round_trip(tmp_path: Path) -> None:
    plain, packed = tmp_path / "plain", tmp_path / "gz"
    for out, compress in ((plain, False), (packed, True)):
        w = _writer(out, compress=compress)
        w.write("ER_PRS_F", 2021, _prs(50))
        w.write("ER_PRS_F", 2021, _prs(50, 50))
        stats = w.close()
    assert set(stats) == {"ER_PRS_F_2021.csv.gz"}
    gz = packed / "ER_PRS_F_2021.csv.gz"
    assert stats["ER_PRS_F_2021.csv.gz"].bytes == gz.stat().st_size
    assert gzip.decompress(gz.read_bytes()) == (plain / "ER_PRS_F_2021.csv").read_bytes()


def test_sas_datetime_upper_case(tmp_path: Path) -> None:
    w = _writer(tmp_path)
    w.write(
        "T_MCOaaB",
        None,
        pa.table(
            {
                "ETA_NUM": ["750000001", None],
                "ENT_DAT": pa.array([dt.date(2020, 1, 1), dt.date(2020, 12, 31)], pa.date32()),
                "SOR_DAT": pa.array(
                    [dt.datetime(2020, 1, 3, 14, 5, 9, 123456), None], pa.timestamp("us")
                ),
            }
        ),
    )
    w.close()
    assert (tmp_path / "T_MCOaaB.csv").read_text().splitlines()[1:] == [
        "750000001;;01JAN2020:00:00:00;03JAN2020:14:05:09",
        ";;31DEC2020:00:00:00;",
    ]


def test_unknown_column_names_table_and_column(tmp_path: Path) -> None:
    w = _writer(tmp_path)
    with pytest.raises(SndslabError, match=r"ER_PRS_F.*NOT_A_COLUMN"):
        w.write("ER_PRS_F", 2021, pa.table({"NOT_A_COLUMN": [1]}))


def test_numbers_rounded_no_negative_zero(tmp_path: Path) -> None:
    w = _writer(tmp_path)
    w.write(
        "ER_PRS_F",
        2021,
        pa.table(
            {
                "PRS_PAI_MNT": [12.3456, -0.001, 1e6 + 0.5, None],
                "BEN_RNG_GEM": pa.array([1, None, 3, 4], pa.int64()),
            }
        ),
    )
    w.close()
    rows = (tmp_path / "ER_PRS_F_2021.csv").read_text().splitlines()[1:]
    assert [r.split(";")[3:5] for r in rows] == [
        ["12.35", "1"],
        ["0", ""],
        ["1000000.5", "3"],
        ["", "4"],
    ]


def test_quoting_only_when_needed(tmp_path: Path) -> None:
    w = _writer(tmp_path)
    w.write("ER_PRS_F", 2021, pa.table({"BEN_NIR_PSA": ["plain", "a;b", 'say "hi"', "x\ny"]}))
    w.close()
    text = (tmp_path / "ER_PRS_F_2021.csv").read_text()
    assert text.splitlines()[1] == "plain;;;;;"
    assert '"a;b";;;;;' in text and '"say ""hi""";;;;;' in text and '"x\ny";;;;;' in text
    back = pacsv.read_csv(
        tmp_path / "ER_PRS_F_2021.csv",
        parse_options=pacsv.ParseOptions(delimiter=";", newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types={"BEN_NIR_PSA": pa.string()}),
    )
    assert back["BEN_NIR_PSA"].to_pylist() == ["plain", "a;b", 'say "hi"', "x\ny"]


def test_write_after_close_and_close_idempotent(tmp_path: Path) -> None:
    w = _writer(tmp_path)
    w.write("ER_PRS_F", 2021, _prs(1))
    assert w.close() == w.close()
    with pytest.raises(RuntimeError):
        w.write("ER_PRS_F", 2021, _prs(1))


def test_read_back_with_duckdb_and_pyarrow(tmp_path: Path) -> None:
    data = _prs(1000)
    w = _writer(tmp_path)
    for batch in data.to_batches(max_chunksize=300):
        w.write("ER_PRS_F", 2021, pa.Table.from_batches([batch]))
    w.close()
    path = tmp_path / "ER_PRS_F_2021.csv"
    back = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(delimiter=";"),
        convert_options=pacsv.ConvertOptions(
            column_types={"EXE_SOI_DTD": pa.string()}, strings_can_be_null=True
        ),
    )
    assert back.column_names == PRS.column_names
    assert back["BEN_NIR_PSA"].to_pylist() == data["BEN_NIR_PSA"].to_pylist()
    assert back["PRS_PAI_MNT"].to_pylist() == [round(v, 2) for v in data["PRS_PAI_MNT"].to_pylist()]
    assert back["BEN_RNG_GEM"].null_count == 1000
    con = duckdb.connect()
    rows = con.execute(
        "select BEN_NIR_PSA, strptime(EXE_SOI_DTD, '%d/%m/%Y')::date, PRS_NAT_REF, PRS_PAI_MNT "
        "from read_csv(?, delim=';', header=true, all_varchar=true) ",
        [str(path)],
    ).fetchall()
    expected = list(
        zip(
            data["BEN_NIR_PSA"].to_pylist(),
            data["EXE_SOI_DTD"].to_pylist(),
            ["1111"] * 1000,
            [f"{round(v, 2):g}" for v in data["PRS_PAI_MNT"].to_pylist()],
            strict=True,
        )
    )
    assert [(a, b, c, float(d)) for a, b, c, d in rows] == [
        (a, b, c, float(d)) for a, b, c, d in expected
    ]


def test_background_writer_gives_the_same_bytes(tmp_path: Path) -> None:
    spec = _FakeSpec("T", ["A", "D", "M"], ["string", "date", "number"], "%d/%m/%Y")
    data = pa.table(
        {
            "A": pa.array([f"a{i}" for i in range(1000)]),
            "D": pa.array([dt.date(2020, 1, 1) + dt.timedelta(days=i % 300) for i in range(1000)]),
            "M": pa.array([i / 7 for i in range(1000)]),
        }
    )
    outputs = []
    for background in (False, True):
        out = tmp_path / str(background)
        w = RawTableWriter(out, registry_lookup=lambda _n: spec, background=background)
        for part in range(5):
            w.write("T", 2020 + part % 2, data.slice(part * 200, 200))
        stats = w.close()
        assert sum(s.rows for s in stats.values()) == 1000
        outputs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outputs[0] == outputs[1]


def test_background_writer_reports_a_failure(tmp_path: Path) -> None:
    spec = _FakeSpec("T", ["A"], ["string"], "%d/%m/%Y")
    w = RawTableWriter(tmp_path / "o", registry_lookup=lambda _n: spec, background=True)

    def boom(*_args: object) -> None:
        raise OSError("disk full")

    w._append = boom  # type: ignore[method-assign]
    w.write("T", None, pa.table({"A": ["x"]}))
    with pytest.raises(OSError, match="disk full"):
        w.close()
