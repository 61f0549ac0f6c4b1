"""``sndslab release-table``: one Parquet table and its spec through the gate; one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sndslab
from sndslab.cli import main
from sndslab.release import ReleaseLog, TableSpec


def test_release_table_command(
    tmp_path: Path, realistic: pa.Table, geo_spec: TableSpec, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    sndslab.open_lake(lake, create=True).close()
    pq.write_table(realistic, tmp_path / "t.parquet")
    (tmp_path / "spec.yaml").write_text(geo_spec.to_yaml())
    args = [
        "release-table",
        str(lake),
        "--table",
        str(tmp_path / "t.parquet"),
        "--spec",
        str(tmp_path / "spec.yaml"),
        "--out",
        str(tmp_path / "out"),
        "--decimal-comma",
    ]
    assert main(args) == 0
    audit = json.loads((tmp_path / "out" / "audit.json").read_text())
    assert audit["attack"]["passed"] and len(ReleaseLog(lake).releases()) == 1
    # a lowered threshold: one line, usage-free runtime error, nothing written
    bad = [
        "release-table",
        str(lake),
        "--table",
        str(tmp_path / "t.parquet"),
        "--spec",
        str(tmp_path / "spec.yaml"),
        "--out",
        str(tmp_path / "out2"),
        "--threshold",
        "5",
    ]
    assert main(bad) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "only be raised" in err[0]
    assert not (tmp_path / "out2").exists()
