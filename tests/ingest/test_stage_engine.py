"""The engine seam used by staging."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sndslab.engines import DuckDBEngine, SparkEngine, get_engine, spark_available
from sndslab.errors import InvalidArgumentError, SndslabError
from sndslab.ingest import stage


def test_duckdb_engine_settings_and_spill_dir(tmp_path: Path) -> None:
    eng = get_engine("DuckDB", lake=tmp_path / "lake", memory_limit="300MB", threads=1)
    assert isinstance(eng, DuckDBEngine) and eng.name == "duckdb"
    con = eng.connect()
    try:
        threads, temp = con.fetchone(
            "SELECT current_setting('threads'), current_setting('temp_directory')"
        )  # type: ignore[misc]
    finally:
        con.close()
    assert threads == 1
    assert Path(temp) == tmp_path / "lake" / ".tmp"


def test_stage_accepts_an_engine_object(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "IR_BEN_R.csv").write_text("BEN_NIR_PSA;BEN_NAI_ANN\nA;1950\n")
    result = stage(raw, tmp_path / "lake", engine=DuckDBEngine(memory_limit="200MB", threads=1))
    assert result.totals["staged"] == 1
    assert not (tmp_path / "lake" / ".tmp").exists()


def test_unknown_engine_and_bad_memory_limit() -> None:
    with pytest.raises(InvalidArgumentError, match="unknown engine"):
        get_engine("oracle")
    with pytest.raises(InvalidArgumentError, match="cannot configure DuckDB"):
        DuckDBEngine(memory_limit="lots").connect()


def test_spark_without_pyspark_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs whether pyspark is installed or not: a ``None`` entry in ``sys.modules`` makes
    ``importlib.util.find_spec("pyspark")`` return None and ``import pyspark`` raise, i.e.
    pyspark is missing for this test."""
    monkeypatch.setitem(sys.modules, "pyspark", None)
    assert not spark_available()
    with pytest.raises(SndslabError, match=r"pip install 'sndslab\[spark\]'"):
        get_engine("spark")
    with pytest.raises(SndslabError, match=r"pip install 'sndslab\[spark\]'"):
        SparkEngine()
