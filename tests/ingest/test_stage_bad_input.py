"""Each kind of bad input ends staged, quarantined (with file, line, column) or refused, with
the row accounting adding up, and never a traceback."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sndslab.engines import quote_path
from sndslab.ingest import FileAccount, stage
from sndslab.lake import part_id
from sndslab.registry import get_table


def write_csv(
    path: Path,
    header: list[str],
    rows: list[str],
    *,
    delim: str = ";",
    encoding: str = "utf-8",
    final_newline: bool = True,
) -> Path:
    """Write ``header`` and raw ``rows`` (already joined lines) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join([delim.join(header), *rows]) + ("\n" if final_newline else "")
    path.write_bytes(text.encode(encoding))
    return path


def stage_one(raw: Path, lake: Path) -> FileAccount:
    """Stage ``raw`` (a directory with one file) and return that file's account."""
    result = stage(raw, lake)
    assert len(result.accounts) == 1, result.accounts
    return result.accounts[0]


def read_part(lake: Path, rel: str) -> pa.Table:
    """The rows of the part DIRECTORY ``lake/rel`` (a dataset of Parquet parts), in the order
    of its parts, read with DuckDB."""
    part = lake / rel
    assert part.is_dir(), part
    glob = quote_path(str(part / "*.parquet"))
    with duckdb.connect() as con:
        sql = f"SELECT * FROM read_parquet({glob}, hive_partitioning = false)"
        return con.sql(sql).to_arrow_table()


def rows(lake: Path, rel: str) -> list[dict[str, Any]]:
    """Rows of the part directory ``lake/rel`` as dicts."""
    return read_part(lake, rel).to_pylist()


def stg_rows(lake: Path, acc: FileAccount) -> list[dict[str, Any]]:
    return rows(lake, next(p for p in acc.parts if p.startswith("stg/")))


def quarantine_rows(lake: Path, acc: FileAccount) -> list[dict[str, Any]]:
    return rows(lake, next(p for p in acc.parts if p.startswith("quarantine/")))


BEN = ["BEN_NIR_PSA", "BEN_RNG_GEM", "BEN_NAI_ANN", "BEN_SEX_COD", "BEN_DCD_DTE", "BEN_RES_DPT"]


def _ben(raw: Path, rows: list[str], **kw: object) -> Path:
    return write_csv(raw / "IR_BEN_R.csv", BEN, rows, **kw)  # type: ignore[arg-type]


def test_good_file_types_every_column(tmp_path: Path) -> None:
    _ben(tmp_path / "raw", ["A1;1;1950;1;05/03/2020;075", "A2;2;1980;2;;013"])
    acc = stage_one(tmp_path / "raw", tmp_path / "lake")
    assert (acc.status, acc.rows_in, acc.staged, acc.quarantined) == ("staged", 2, 2, {})
    assert acc.parts == [f"stg/IR_BEN_R/year=none/{part_id(acc.file, acc.sha256)}"]
    table = read_part(tmp_path / "lake", acc.parts[0])
    spec = get_table("IR_BEN_R")
    provenance = ["_source_file", "_source_line", "_year"]
    assert table.schema.names == [*spec.column_names, *provenance]
    assert [(f.name, f.type) for f in table.schema][-3:] == [
        ("_source_file", pa.string()),
        ("_source_line", pa.int64()),
        ("_year", pa.int32()),
    ]
    assert pa.schema(list(table.schema)[:-3]) == spec.arrow_schema()
    assert table.column("_year").null_count == 2  # a file without a year
    got = table.to_pylist()
    assert got[0]["BEN_DCD_DTE"] == dt.date(2020, 3, 5)
    assert got[0]["BEN_NAI_ANN"] == 1950
    assert got[1]["BEN_RES_DPT"] == "013"
    assert [(r["_source_file"], r["_source_line"]) for r in got] == [
        ("IR_BEN_R.csv", 1),
        ("IR_BEN_R.csv", 2),
    ]


def test_truncated_last_line(tmp_path: Path) -> None:
    _ben(tmp_path / "raw", ["A1;1;1950;1;;075", "A2;2;1980;2;;013", "A3;1;19"], final_newline=False)
    acc = stage_one(tmp_path / "raw", tmp_path / "lake")
    assert (acc.rows_in, acc.staged, acc.quarantined) == (3, 2, {"malformed_line": 1})
    (q,) = quarantine_rows(tmp_path / "lake", acc)
    assert (q["_source_line"], q["reason"], q["raw_value"]) == (3, "malformed_line", "A3;1;19")
    assert "Expected Number of Columns" in q["detail"]


def test_wrong_column_count_on_line_3(tmp_path: Path) -> None:
    lines = [f"A{i};1;1950;1;;075" for i in range(1, 6)]
    lines[2] = "A3;1;1950;1;;075;EXTRA"
    _ben(tmp_path / "raw", lines)
    acc = stage_one(tmp_path / "raw", tmp_path / "lake")
    assert (acc.rows_in, acc.staged, acc.quarantined) == (5, 4, {"malformed_line": 1})
    (q,) = quarantine_rows(tmp_path / "lake", acc)
    assert (q["_source_file"], q["_source_line"]) == ("IR_BEN_R.csv", 3)
    # rows after the rejected line keep their real line numbers
    staged = stg_rows(tmp_path / "lake", acc)
    assert [(r["BEN_NIR_PSA"], r["_source_line"]) for r in staged] == [
        ("A1", 1),
        ("A2", 2),
        ("A4", 4),
        ("A5", 5),
    ]


def test_blank_lines_and_unterminated_quote(tmp_path: Path) -> None:
    rows = ["A1;1;1950;1;;075", "", "A2;1;1950;1;;075", 'A3;"1;1950;1;;075', "A4;1;1950;1;;075"]
    _ben(tmp_path / "raw", rows)
    acc = stage_one(tmp_path / "raw", tmp_path / "lake")
    # the blank line is no row; the open quote swallows the rest of the file, line by line
    assert (acc.rows_in, acc.staged, acc.quarantined) == (4, 2, {"malformed_line": 2})
    assert [r["_source_line"] for r in stg_rows(tmp_path / "lake", acc)] == [1, 3]
    assert [q["_source_line"] for q in quarantine_rows(tmp_path / "lake", acc)] == [4, 5]


def test_unknown_and_missing_columns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    header = ["BEN_NIR_PSA", "BEN_NAI_ANN", "NEW_COL_2030"]
    write_csv(tmp_path / "raw" / "IR_BEN_R.csv", header, ["A1;1950;x"])
    with caplog.at_level(logging.WARNING, logger="sndslab.ingest"):
        acc = stage_one(tmp_path / "raw", tmp_path / "lake")
    assert acc.unknown_columns == ["NEW_COL_2030"]
    assert "BEN_RNG_GEM" in acc.missing_columns and "BEN_NIR_PSA" not in acc.missing_columns
    assert any("IR_BEN_R.csv" in m and "NEW_COL_2030" in m for m in caplog.messages)
    (row,) = stg_rows(tmp_path / "lake", acc)
    assert "NEW_COL_2030" not in row
    assert row["BEN_RNG_GEM"] is None and row["BEN_NAI_ANN"] == 1950


def test_latin1_file_read_correctly(tmp_path: Path) -> None:
    header = ["GEO_DPT_COD", "GEO_REG_COD", "GEO_DPT_LIB", "TEC_COL"]
    write_csv(
        tmp_path / "raw" / "IR_DPT_V.csv",
        header,
        ["001;84;Ain;1", "973;03;Guyane française;1", "974;04;La Réunion;1"],
        encoding="latin-1",
    )
    acc = stage_one(tmp_path / "raw", tmp_path / "lake")
    assert acc.encoding == "latin-1" and acc.staged == 3
    labels = [r["GEO_DPT_LIB"] for r in stg_rows(tmp_path / "lake", acc)]
    assert labels == ["Ain", "Guyane française", "La Réunion"]


def test_latin1_bytes_after_the_sniffed_megabyte(tmp_path: Path) -> None:
    header = ["GEO_DPT_COD", "GEO_REG_COD", "GEO_DPT_LIB", "TEC_COL"]
    rows = [f"{i:03d};84;Ain;1" for i in range(80_000)] + ["974;04;La Réunion;1"]
    write_csv(tmp_path / "raw" / "IR_DPT_V.csv", header, rows, encoding="latin-1")
    acc = stage_one(tmp_path / "raw", tmp_path / "lake")
    assert acc.encoding == "latin-1" and acc.staged == 80_001 and acc.quarantined == {}
    assert stg_rows(tmp_path / "lake", acc)[-1]["GEO_DPT_LIB"] == "La Réunion"


@pytest.mark.parametrize("content", [b"", b"BEN_NIR_PSA;BEN_NAI_ANN\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "IR_BEN_R.csv").write_bytes(content)
    acc = stage_one(tmp_path / "raw", tmp_path / "lake")
    assert (acc.status, acc.rows_in, acc.staged) == ("empty", 0, 0)
    assert "empty" in acc.message


def test_duplicate_file_is_skipped(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    _ben(raw, ["A1;1;1950;1;;075"])
    (raw / "copy").mkdir()
    (raw / "copy" / "IR_BEN_R.csv").write_bytes((raw / "IR_BEN_R.csv").read_bytes())
    result = stage(raw, tmp_path / "lake")
    by_file = {a.file: a for a in result.accounts}
    assert by_file["IR_BEN_R.csv"].status == "staged"
    dup = by_file["copy/IR_BEN_R.csv"]
    assert (dup.status, dup.duplicate_of, dup.rows_in) == ("skipped_duplicate", "IR_BEN_R.csv", 0)
    assert len(list((tmp_path / "lake" / "stg").rglob("*.parquet"))) == 1
    assert by_file["IR_BEN_R.csv"].parts == [
        f"stg/IR_BEN_R/year=none/{part_id('IR_BEN_R.csv', dup.sha256)}"
    ]


def test_absurd_values_are_quarantined(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    _ben(
        raw,
        [
            "A1;1;2099;1;;075",  # birth year in the future
            "A2;1;1950;1;05/03/1850;075",  # death date before 1900
            "A3;1;1950;1;31/02/2020;075",  # impossible date: a type error
            "A4;x;1950;1;;075",  # not an integer
            "A5;1;1950;1;;075",
        ],
    )
    write_csv(
        raw / "IR_IMB_R.csv",
        ["BEN_NIR_PSA", "BEN_RNG_GEM", "IMB_ALD_DTD", "IMB_ALD_DTF"],
        ["A5;1;01/01/2015;01/01/1600", "A6;1;01/01/2015;01/01/1601"],
    )
    write_csv(
        raw / "T_MCO20B.csv",
        ["ETA_NUM", "RSA_NUM", "SEJ_NBJ"],
        ["100;1;3", "100;2;-2"],
    )
    result = stage(raw, tmp_path / "lake")
    by_file = {a.file: a for a in result.accounts}
    ben = by_file["IR_BEN_R.csv"]
    assert ben.staged == 1
    assert ben.quarantined == {"absurd_birth_year": 1, "absurd_date": 1, "type_error": 2}
    q = {r["_source_line"]: r for r in quarantine_rows(tmp_path / "lake", ben)}
    assert (q[1]["reason"], q[1]["column"], q[1]["raw_value"]) == (
        "absurd_birth_year",
        "BEN_NAI_ANN",
        "2099",
    )
    assert (q[2]["reason"], q[2]["column"]) == ("absurd_date", "BEN_DCD_DTE")
    assert (q[3]["reason"], q[3]["column"], q[3]["raw_value"]) == (
        "type_error",
        "BEN_DCD_DTE",
        "31/02/2020",
    )
    assert (q[4]["column"], q[4]["raw_value"]) == ("BEN_RNG_GEM", "x")
    imb = by_file["IR_IMB_R.csv"]  # the 1600-01-01 open-end sentinel is not absurd
    assert (imb.staged, imb.quarantined) == (1, {"absurd_date": 1})
    mco = by_file["T_MCO20B.csv"]
    assert (mco.year, mco.staged, mco.quarantined) == (2020, 1, {"negative_length_of_stay": 1})
    assert all(a.rows_in == a.staged + a.quarantined_total for a in result.accounts)


def test_decimal_comma_comma_delimiter_and_sas_dates(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    write_csv(
        raw / "er_pha_f_2020.txt",
        ["PHA_ACT_PRU", "PHA_ACT_QSN", "FLX_DIS_DTD", "DCT_ORD_NUM"],
        ['"12,50",2,01/02/2020,9', "3.25,1,2020-03-01,9"],
        delim=",",
    )
    write_csv(
        raw / "T_MCO20C.csv",
        ["ETA_NUM", "RSA_NUM", "EXE_SOI_DTD", "EXE_SOI_DTF"],
        ["100;1;05JAN2020:00:00:00;07jan2020"],
    )
    result = stage(raw, tmp_path / "lake")
    by_file = {a.file: a for a in result.accounts}
    pha = by_file["er_pha_f_2020.txt"]
    assert (pha.table, pha.year, pha.delimiter, pha.staged) == ("ER_PHA_F", 2020, ",", 2)
    got = stg_rows(tmp_path / "lake", pha)
    assert [r["PHA_ACT_PRU"] for r in got] == [12.5, 3.25]
    assert [r["FLX_DIS_DTD"] for r in got] == [dt.date(2020, 2, 1), dt.date(2020, 3, 1)]
    (mco,) = stg_rows(tmp_path / "lake", by_file["T_MCO20C.csv"])
    assert (mco["EXE_SOI_DTD"], mco["EXE_SOI_DTF"]) == (dt.date(2020, 1, 5), dt.date(2020, 1, 7))


def test_gzip_and_parquet_inputs(tmp_path: Path) -> None:
    import gzip

    import pyarrow as pa

    raw = tmp_path / "raw"
    raw.mkdir()
    body = "BEN_NIR_PSA;BEN_NAI_ANN;BEN_DCD_DTE\nA1;1950;05/03/2020\nA2;2099;\n"
    (raw / "IR_BEN_R.csv.gz").write_bytes(gzip.compress(body.encode()))
    table = pa.table(
        {
            "ben_nir_psa": ["B1", "B2", "B3"],
            "BEN_NAI_ANN": [1950, 1960, 1700],
            "BEN_DCD_DTE": [dt.date(2020, 3, 5), None, None],
            "EXTRA": [1, 2, 3],
        }
    )
    pq.write_table(table, raw / "IR_BEN_R_part2.parquet")
    result = stage(raw, tmp_path / "lake")
    by_file = {a.file: a for a in result.accounts}
    gz = by_file["IR_BEN_R.csv.gz"]
    assert (gz.rows_in, gz.staged, gz.quarantined) == (2, 1, {"absurd_birth_year": 1})
    par = by_file["IR_BEN_R_part2.parquet"]
    assert par.table == "IR_BEN_R", par.message
    assert (par.rows_in, par.staged, par.quarantined) == (3, 2, {"absurd_birth_year": 1})
    assert par.unknown_columns == ["EXTRA"]
    got = stg_rows(tmp_path / "lake", par)
    assert [(r["BEN_NIR_PSA"], r["BEN_DCD_DTE"], r["_source_line"]) for r in got] == [
        ("B1", dt.date(2020, 3, 5), 1),
        ("B2", None, 2),
    ]
    (q,) = quarantine_rows(tmp_path / "lake", par)
    assert (q["_source_line"], q["raw_value"]) == (3, "1700")


def test_unrecognised_and_unreadable_files_are_refused(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    write_csv(raw / "notes.csv", ["FOO", "BAR"], ["1;2"])
    (raw / "README.md").write_text("hello")
    (raw / "IR_BEN_R_2.csv.gz").write_bytes(b"not gzip at all")
    (raw / "IR_BEN_R_3.parquet").write_bytes(b"PAR1 broken")
    result = stage(raw, tmp_path / "lake")
    by_file = {a.file: a for a in result.accounts}
    assert {a.status for a in result.accounts} == {"refused"}
    assert "not a registry table" in by_file["notes.csv"].message
    assert "unsupported file type" in by_file["README.md"].message
    assert "cannot read" in by_file["IR_BEN_R_2.csv.gz"].message
    assert "cannot read" in by_file["IR_BEN_R_3.parquet"].message
