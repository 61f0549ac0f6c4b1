"""Generations and manifests: a layer is published by one new manifest file, never half."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sndslab.engines import get_engine
from sndslab.errors import SndslabError
from sndslab.lake import (
    LakeLayoutError,
    LakePaths,
    has_manifest,
    open_lake,
    read_manifest,
    relation,
    write_generation,
)


@pytest.fixture
def lake(tmp_path: Path) -> tuple[LakePaths, object]:
    con = get_engine("duckdb", threads=1).connect()
    paths = LakePaths(str(tmp_path / "lake"), con.storage)
    paths.ensure_marker()
    yield paths, con
    con.close()


def _write(paths: LakePaths, con: object, value: int, **kw: object) -> None:
    with write_generation(paths, "marts", con, validate=False, **kw) as w:  # type: ignore[arg-type]
        w.write("t", f"SELECT {value} AS v", internal=True)


def test_commit_makes_the_generation_visible(lake: tuple[LakePaths, object]) -> None:
    paths, con = lake
    assert not has_manifest(paths, "marts")
    _write(paths, con, 1)
    m = read_manifest(paths, "marts")
    assert m.generation == 1 and m.tables["t"].rows == 1 and m.tables["t"].path == "g00000001/t"
    assert m.sndslab_version and m.engine == "duckdb" and len(m.config_hash) == 16
    assert con.scalar(f"SELECT v FROM {relation(con, paths, 'marts.t')}") == 1  # type: ignore[attr-defined]


def test_a_failed_run_leaves_the_previous_generation(lake: tuple[LakePaths, object]) -> None:
    paths, con = lake
    _write(paths, con, 1)
    with (
        pytest.raises(RuntimeError),
        write_generation(paths, "marts", con, validate=False) as w,  # type: ignore[arg-type]
    ):
        w.write("t", "SELECT 2 AS v", internal=True)
        raise RuntimeError("boom")
    assert read_manifest(paths, "marts").generation == 1
    assert con.scalar(f"SELECT v FROM {relation(con, paths, 'marts.t')}") == 1  # type: ignore[attr-defined]
    names = sorted(p.name for p in Path(paths.root, "marts").iterdir())
    assert names == ["_manifests", "g00000001"]


def test_leftovers_of_a_killed_run_are_removed_and_said(lake: tuple[LakePaths, object]) -> None:
    paths, con = lake
    _write(paths, con, 1)
    Path(paths.root, "marts", "g00000002", "t").mkdir(parents=True)  # a run killed mid-write
    notes: list[str] = []
    _write(paths, con, 3, notes=notes)
    assert any("g00000002" in n for n in notes)
    m = read_manifest(paths, "marts")
    assert m.generation == 2 and m.notes == notes


def test_carry_keeps_an_older_table_and_gc_keeps_what_is_referenced(
    lake: tuple[LakePaths, object],
) -> None:
    paths, con = lake
    with write_generation(paths, "marts", con, validate=False) as w:  # type: ignore[arg-type]
        w.write("a", "SELECT 1 AS v", internal=True)
        w.write("b", "SELECT 10 AS v", internal=True)
    for value in (2, 3, 4):
        with write_generation(paths, "marts", con, validate=False, keep=2) as w:  # type: ignore[arg-type]
            w.write("a", f"SELECT {value} AS v", internal=True)
            assert w.carry("b") and not w.carry("missing")
            assert con.scalar(f"SELECT v FROM {w.relation('b')}") == 10  # type: ignore[attr-defined]
    m = read_manifest(paths, "marts")
    assert m.generation == 4 and m.tables["b"].generation == 1
    layer = Path(paths.root, "marts")
    # generations 3 and 4 are kept, 1 still holds b, 2 is gone
    assert sorted(p.name for p in layer.iterdir()) == [
        "_manifests", "g00000001", "g00000003", "g00000004",
    ]  # fmt: skip
    assert sorted(p.name for p in (layer / "_manifests").iterdir()) == [
        "00000003.json", "00000004.json",
    ]  # fmt: skip
    assert read_manifest(paths, "marts", 3).tables["a"].rows == 1
    with pytest.raises(SndslabError, match="no generation 2"):
        read_manifest(paths, "marts", 2)


def test_unknown_table_lists_the_known_ones(lake: tuple[LakePaths, object]) -> None:
    paths, con = lake
    with write_generation(paths, "marts", con, validate=False) as w:  # type: ignore[arg-type]
        w.write("known", "SELECT 1 AS v")
    with pytest.raises(SndslabError, match=r"no table 'marts.nope'; known tables: marts.known"):
        relation(con, paths, "marts.nope")  # type: ignore[arg-type]


def test_layout_versions(tmp_path: Path) -> None:
    with pytest.raises(LakeLayoutError, match="not an sndslab lake"):
        open_lake(tmp_path)
    legacy = tmp_path / "old"
    (legacy / "int").mkdir(parents=True)
    (legacy / "int" / "persons.parquet").write_bytes(b"")
    with pytest.raises(LakeLayoutError, match=r"layout version 1.*rebuild it with `sndslab ingest"):
        open_lake(legacy)
    future = tmp_path / "future"
    future.mkdir()
    (future / "_lake.json").write_text(json.dumps({"layout_version": 99}))
    with pytest.raises(LakeLayoutError, match="layout version 99"):
        open_lake(future)
    fresh = open_lake(tmp_path / "new", create=True)
    assert (
        fresh.tables() == []
        and json.loads((tmp_path / "new" / "_lake.json").read_text())["layout_version"] == 3
    )
    fresh.close()


def test_lake_sql_resolves_layer_tables(tmp_path: Path) -> None:
    lake = open_lake(tmp_path / "l", create=True)
    with write_generation(lake.paths, "marts", lake.con, validate=False) as w:
        w.write("t", "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) v(k, s)", internal=True)
    got = lake.sql("SELECT x.s FROM marts.t x JOIN marts.t y USING (k) WHERE k > 1").to_arrow()
    assert got.to_pylist() == [{"s": "b"}]
    with pytest.raises(SndslabError, match=r"no table 'marts\.missing'"):
        lake.sql("SELECT * FROM marts.missing")
    lake.close()
