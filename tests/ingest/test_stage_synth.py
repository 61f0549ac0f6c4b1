"""Staging the generator's output: every table staged, every row accounted for."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sndslab.ingest import StageResult
from sndslab.lake import part_id
from sndslab.registry import get_table


def test_every_generated_table_is_staged_and_rows_add_up(
    synth_staged: tuple[Path, StageResult], synth_truth: Path
) -> None:
    lake, result = synth_staged
    manifest = json.loads((synth_truth / "manifest.json").read_text())
    files = manifest["files"]
    by_file = {a.file: a for a in result.accounts}
    assert set(by_file) == set(files)
    for name, info in files.items():
        acc = by_file[name]
        assert acc.status == "staged", acc.message
        assert acc.table == info["table"] and acc.year == info["year"]
        assert acc.rows_in == acc.staged + acc.quarantined_total
        # the generator injects no unparsable value: care dates after the flow date and
        # missing care dates (dcir.invalid_care_date_lines) are valid types, left to the rules
        assert acc.quarantined == {}, (name, acc.quarantined)
        if info["rows"] >= 0:  # -1: nomenclature copies, not counted by the generator
            assert acc.staged == info["rows"], name
    staged_tables = {p.name for p in (lake / "stg").iterdir()}
    assert staged_tables == {info["table"] for info in files.values()}
    assert not (lake / "quarantine").exists()
    assert result.totals["rows_in"] == sum(a.rows_in for a in result.accounts)
    assert result.totals["staged"] == sum(a.staged for a in result.accounts)


def test_stg_parts_have_the_canonical_schema_and_line_numbers(
    synth_staged: tuple[Path, StageResult],
) -> None:
    lake, result = synth_staged
    acc = next(a for a in result.accounts if a.file == "ER_PRS_F_2020.csv")
    (part,) = acc.parts
    assert part == f"stg/ER_PRS_F/year=2020/{part_id(acc.file, acc.sha256)}"
    (file,) = sorted((lake / part).glob("*.parquet"))  # DuckDB writes one part per dataset
    table = pq.read_table(file)
    expected = get_table("ER_PRS_F").arrow_schema()
    for name, typ in (("_source_file", pa.string()), ("_source_line", pa.int64())):
        expected = expected.append(pa.field(name, typ))
    expected = expected.append(pa.field("_year", pa.int32()))
    assert [(f.name, f.type) for f in table.schema] == [(f.name, f.type) for f in expected]
    lines = table.column("_source_line").to_pylist()
    assert lines == list(range(1, acc.rows_in + 1))
    assert set(table.column("_year").to_pylist()) == {2020}
    state = json.loads((lake / "_state" / "files.json").read_text())
    assert state["files"][f"{acc.sha256}:{acc.file}"]["staged"] == acc.staged
