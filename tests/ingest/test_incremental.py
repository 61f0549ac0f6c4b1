"""Incremental ingest: new raw files rebuild only the int tables they touch; the lake equals a
clean ingest of the same raw folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from sndslab.ingest import ingest
from sndslab.ingest._intermediate import group_inputs
from sndslab.lake import known_tables, open_lake, read_manifest


def _rows(lake: Path, name: str) -> list[dict[str, object]]:
    with open_lake(lake) as opened:
        t = opened.table(name).to_arrow()
    keys = [(c, "ascending") for c in t.column_names if not pa.types.is_list(t[c].type)]
    return t.sort_by(keys).to_pylist() if t.num_rows else []


@pytest.fixture(scope="module")
def two_runs(synth_extract: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake ingested without the 2020 SSR files, then again with them."""
    raw = tmp_path_factory.mktemp("incr-raw") / "raw"
    shutil.copytree(synth_extract / "raw", raw)
    held = tmp_path_factory.mktemp("incr-held")
    for f in raw.glob("T_SSR20*"):
        f.rename(held / f.name)
    lake = tmp_path_factory.mktemp("incr-lake") / "lake"
    ingest(raw, lake)
    for f in held.iterdir():
        f.rename(raw / f.name)
    ingest(raw, lake)
    return lake


def test_only_the_touched_tables_are_rebuilt(two_runs: Path) -> None:
    from sndslab.lake import LakePaths

    m = read_manifest(LakePaths(str(two_runs)), "int")
    assert m.generation == 2
    inc = m.counts["incremental"]
    assert not inc["full"] and not inc["persons_changed"]
    assert set(inc["changed_stg_tables"]) == {"T_SSRaaB", "T_SSRaaC", "T_SSRaaCSARR", "T_SSRaaD"}
    carried = {n for n, e in m.tables.items() if e.generation == 1}
    rebuilt = {n for n, e in m.tables.items() if e.generation == 2}
    assert {
        "persons",
        "dcir_prestations",
        "mco_stays",
        "clean__ER_PRS_F",
        "ref_ir_pha_r",
    } <= carried
    assert {"ssr_stays", "ssr_diagnoses", "ssr_acts", "had_stays", "clean__T_SSRaaB"} <= rebuilt
    assert "clean__T_MCOaaB" in carried


def test_the_lake_equals_a_clean_ingest(two_runs: Path, ingested_synth: tuple[Path, Path]) -> None:
    _, clean = ingested_synth
    from sndslab.lake import LakePaths

    names = known_tables(LakePaths(str(clean)), internal=True)
    assert [n for n in known_tables(LakePaths(str(two_runs)), internal=True)] == names
    for name in names:
        if name.startswith("int."):
            assert _rows(two_runs, name) == _rows(clean, name), name
    with open_lake(two_runs) as a, open_lake(clean) as b:
        assert a.report["tables"] == b.report["tables"]


def test_groups_read_only_their_declared_inputs(ingested_synth: tuple[Path, Path]) -> None:
    from sndslab.lake import LakePaths

    groups = read_manifest(LakePaths(str(ingested_synth[1])), "int").counts["int_groups"]
    assert set(groups) == {"dcir", "mco", "ace", "other_pmsi", "referentials", "nomenclatures"}
    for name, g in groups.items():
        assert set(g["reads"]) <= group_inputs(name), name
        assert g["tables"], name
