"""release(): refusals (identifiers, dates, threshold, units), the written folder, the release
log of a lake, and a differencing attack between two releases."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sndslab
from sndslab.errors import OutputExistsError
from sndslab.release import (
    IdentifierError,
    ReleaseError,
    ReleaseLog,
    ReleaseRefusedError,
    TableSpec,
    attack,
    protect,
    release,
)

SEX = {"name": "sex", "levels": [{"column": "sex", "total": "0"}]}


def _spec(**extra: object) -> TableSpec:
    body = {"name": "t", "count": "n", "dimensions": [SEX], **extra}
    return TableSpec.model_validate(body)


def _sex_table(**extra: list[object]) -> pa.Table:
    return pa.table({"sex": ["1", "2", "0"], "n": [20, 30, 50], **extra})


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    sndslab.open_lake(root, create=True).close()
    return root


# ---- refusals ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "column",
    [
        "BEN_NIR_PSA",
        "person_id",
        "NIR",
        "PFS_EXE_NUM",
        "PSE_ACT_NUM",
        "ETA_NUM",
        "finess_geo",
        "BEN_IDT_ANO",
    ],
)
def test_identifier_columns_are_refused(column: str) -> None:
    t = _sex_table(**{column: ["a", "b", "c"]})
    with pytest.raises(IdentifierError, match=column):
        protect(t, _spec())


def test_identifier_shaped_values_are_refused() -> None:
    spec = TableSpec.model_validate(
        {
            "name": "t",
            "count": "n",
            "dimensions": [{"name": "who", "levels": [{"column": "who", "total": "ALL"}]}],
        }
    )
    t = pa.table({"who": ["1840275123456", "2750175123456", "ALL"], "n": [20, 30, 50]})
    with pytest.raises(IdentifierError, match="NIR"):
        protect(t, spec)
    t = pa.table({"who": ["9f86d081884c7d65", "ab86d081884c7d65", "ALL"], "n": [20, 30, 50]})
    with pytest.raises(IdentifierError):
        protect(t, spec)


def test_day_level_dates_are_refused() -> None:
    spec = TableSpec.model_validate(
        {
            "name": "t",
            "count": "n",
            "dimensions": [{"name": "time", "levels": [{"column": "day", "total": "ALL"}]}],
        }
    )
    t = pa.table({"day": ["2022-03-15", "2022-03-16", "ALL"], "n": [20, 30, 50]})
    with pytest.raises(ReleaseRefusedError, match="day precision"):
        protect(t, spec)
    import datetime as dt

    spec2 = TableSpec.model_validate(
        {"name": "t", "count": "n", "dimensions": [{"name": "time", "levels": [{"column": "day"}]}]}
    )
    t = pa.table({"day": [dt.date(2022, 3, 1)], "n": [20]})
    with pytest.raises(ReleaseRefusedError, match="month"):
        protect(t, spec2)
    # month precision is fine
    ok = pa.table({"day": ["2022-03", "2022-04", "ALL"], "n": [20, 30, 50]})
    assert protect(ok, spec).suppressed.sum() == 0


@pytest.mark.parametrize("threshold", [10, 5, 0])
def test_lowering_the_threshold_is_refused(threshold: int) -> None:
    with pytest.raises(ReleaseRefusedError, match="only be raised"):
        protect(_sex_table(), _spec(), threshold=threshold)


def test_undeclared_and_inconsistent_tables_are_refused() -> None:
    with pytest.raises(ReleaseRefusedError, match="not declared"):
        protect(_sex_table(extra=[1, 2, 3]), _spec())
    with pytest.raises(ReleaseError, match="sum to"):
        protect(pa.table({"sex": ["1", "2", "0"], "n": [20, 30, 40]}), _spec())
    with pytest.raises(ReleaseError, match="spec: dimensions"):
        TableSpec.parse({"name": "t", "count": "n", "dimensions": []})


def test_unit_level_outputs_need_the_flag_and_big_units() -> None:
    spec = TableSpec.model_validate(
        {
            "name": "t",
            "count": "n",
            "dimensions": [
                {
                    "name": "eta",
                    "unit": "establishment",
                    "levels": [{"column": "ETA_NUM", "total": "ALL"}],
                }
            ],
        }
    )
    big = pa.table({"ETA_NUM": ["E1", "E2", "ALL"], "n": [20, 30, 50]})
    with pytest.raises(IdentifierError):
        protect(big, spec)
    assert not protect(big, spec, allow_unit_level=True).suppressed.any()
    small = pa.table({"ETA_NUM": ["E1", "E2", "ALL"], "n": [4, 30, 34]})
    with pytest.raises(ReleaseRefusedError, match="1 establishment"):
        protect(small, spec, allow_unit_level=True)


def test_a_single_small_unit_hides_the_whole_table_or_is_refused() -> None:
    # one category and its total: the small cell equals the total
    t = pa.table({"sex": ["1", "0"], "n": [4, 4]})
    alone = protect(t, _spec())
    assert alone.suppressed.all() and attack([alone]).passed
    # once the total is public (an earlier table), nothing can protect the category
    public_total = protect(pa.table({"sex": ["0"], "n": [4]}), _spec(), zeros="publish")
    public_total.primary[:] = False  # released as if it were not small (a past mistake)
    with pytest.raises(ReleaseRefusedError, match=r"already released|unprotectable"):
        protect(t, _spec(), history=[public_total])


def test_spec_round_trips_through_yaml(tmp_path: Path, geo_spec: TableSpec) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(geo_spec.to_yaml())
    assert TableSpec.from_yaml(path) == geo_spec
    path.write_text("name: t\ncount: n\ndimensions:\n  - {name: s, levels: [{colum: x}]}\n")
    with pytest.raises(ReleaseError, match=r"spec.yaml: dimensions.0.levels.0"):
        TableSpec.from_yaml(path)


# ---- the released folder ---------------------------------------------------------------------
def test_release_writes_protected_files_and_an_audit(
    lake: Path, tmp_path: Path, realistic: pa.Table, geo_spec: TableSpec
) -> None:
    out = tmp_path / "out"
    res = release([(realistic, geo_spec)], out, lake=lake, decimal_comma=True)
    names = sorted(p.name for p in out.iterdir())
    stem = geo_spec.name
    assert {
        f"{stem}.parquet",
        f"{stem}.csv",
        "README.md",
        "audit.json",
        "data_dictionary.csv",
    } <= set(names)
    audit = json.loads((out / "audit.json").read_text())
    for name, digest in audit["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    assert audit["attack"]["passed"] and audit["threshold"] == 11
    t = audit["tables"][0]
    assert t["primary"] > 0 and t["secondary"] > 0
    released = pq.read_table(out / f"{stem}.parquet")
    n = released.column("n_persons").to_numpy(zero_copy_only=False)
    shown = n[~np.isnan(n.astype(float))]
    assert ((shown == 0) | (shown >= 11)).all()
    csv = (out / f"{stem}.csv").read_text("utf-8")
    header = csv.splitlines()[0]
    assert header.count(";") == 6 and "status" in header
    assert "," in csv.splitlines()[1] or "," in csv  # decimal comma in amounts
    assert "suppressed" in (out / "README.md").read_text()
    assert ReleaseLog(lake).releases() == [res.release_id]
    with pytest.raises(OutputExistsError):
        release([(realistic, geo_spec)], out, lake=lake)


# ---- the release log and differencing --------------------------------------------------------
def _geo_only(table: pa.Table, spec: TableSpec) -> tuple[pa.Table, TableSpec]:
    """The same counts by geography only: rows at the age and sex totals."""
    import pyarrow.compute as pc

    mask = pc.and_(pc.equal(table["age_band"], "ALL"), pc.equal(table["sex"], "0"))
    geo = table.filter(mask).select(["region", "departement", "n_persons", "amount"])
    body = spec.model_dump()
    body["dimensions"] = [d for d in body["dimensions"] if d["name"] == "geo"]
    return geo, TableSpec.model_validate(body)


GEO = TableSpec.model_validate(
    {
        "name": "g",
        "count": "n",
        "dimensions": [
            {
                "name": "geo",
                "levels": [
                    {"column": "region", "total": "ALL"},
                    {"column": "departement", "total": "ALL"},
                ],
            }
        ],
    }
)
GEO_TABLE = pa.table(
    {
        "region": ["R", "R", "R", "R", "ALL"],
        "departement": ["A", "B", "C", "ALL", "ALL"],
        "n": [4, 30, 60, 94, 94],
    }
)


def test_differencing_between_two_releases_is_caught(lake: Path, tmp_path: Path) -> None:
    first = release([(GEO_TABLE, GEO)], tmp_path / "r1", lake=lake)
    hidden = [
        k for k, s in zip(first.tables[0].cube.keys, first.tables[0].suppressed, strict=True) if s
    ]
    assert hidden == ["geo=R/A|", "geo=R/B|"]  # the 4 and its cheapest sibling
    # a second table protected on its own that hides the 4 with C instead of B: safe alone
    naive = protect(GEO_TABLE, GEO)
    naive.secondary[:] = [k == "geo=R/C|" for k in naive.cube.keys]
    assert attack([naive]).passed
    # but A + B = 34 (first release) and C = 60 (published there) give A = 4 away
    caught = attack([naive], history=ReleaseLog(lake))
    assert not caught.passed
    assert caught.failures[0]["key"] == "geo=R/A|"
    assert caught.failures[0]["lower"] == pytest.approx(4)
    # through the gate, the second table keeps the first release's pattern
    second = protect(GEO_TABLE, GEO, history=ReleaseLog(lake))
    assert attack([second], history=ReleaseLog(lake)).passed


def test_second_release_of_an_overlapping_table_is_protected_against_the_first(
    lake: Path, tmp_path: Path, make_geo_table: object, geo_spec: TableSpec
) -> None:
    full = make_geo_table(8_000, departements=8, bands=2, prevalence=0.01)  # type: ignore[operator]
    first = release([(full, geo_spec)], tmp_path / "r1", lake=lake)
    geo, geo_only = _geo_only(full, geo_spec)
    second = release([(geo, geo_only)], tmp_path / "r2", lake=lake)
    assert second.audit["attack"]["passed"]
    assert second.audit["previous_releases"] == [first.release_id]
    log = ReleaseLog(lake)
    assert len(log.releases()) == 2
    assert attack([first.tables[0], second.tables[0]], history=log).passed
    # cells shared by both releases: hidden in the second wherever hidden in the first
    # unless publishing them is safe (the attack above says so)
    assert int(second.tables[0].primary.sum()) >= 1


def test_release_refuses_a_lake_that_is_not_one(tmp_path: Path) -> None:
    (tmp_path / "notlake").mkdir()
    with pytest.raises(sndslab.lake.LakeLayoutError):
        release([(_sex_table(), _spec())], tmp_path / "out", lake=tmp_path / "notlake")


def test_an_analysis_release_candidate_goes_through_the_gate() -> None:
    from sndslab.analysis import ReleaseCandidate

    table = pa.table({"sex": ["1", "2", "0"], "persons": [4, 30, 34], "events": [9, 70, 79]})
    cand = ReleaseCandidate(table, ("sex",), "persons", ("events",), title="persons with X")
    spec = TableSpec.from_candidate(cand, name="x", totals={"sex": "0"}, kinds={"events": "events"})
    p = protect(cand.table, spec)
    assert p.suppressed.tolist() == [True, True, False] and attack([p]).passed
    # without a declared total, the cells are independent: only the small one is hidden
    flat = protect(cand.table.slice(0, 2), TableSpec.from_candidate(cand, name="y"))
    assert flat.suppressed.tolist() == [True, False]
