"""Cohorts built on the session's synthetic lake: the rows equal independent queries (and a
pandas reference for windowed counts), the attrition adds up, set operations are set
operations, concept rules (prefix, descendants, exclusions, CIP13 packs) select what they say,
and empty intermediate results never crash."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from sndslab.cohorts import (
    COHORT_COLUMNS,
    CohortEmptyError,
    CohortResult,
    CohortSpec,
    CohortSpecError,
    build_cohort,
    builtin_cohorts,
    load_any,
    load_cohort,
    population_step,
)
from sndslab.cohorts._spec import parse_cohort
from sndslab.lake import Lake, relation

PERIOD = {"study_start": "2019-01-01", "study_end": "2020-12-31"}


def _spec(**body: Any) -> CohortSpec:
    spec = parse_cohort({"name": "t", "observation": PERIOD, **body})
    assert isinstance(spec, CohortSpec)
    return spec


def _persons(result: CohortResult) -> set[str]:
    return set(result.table.column("person_id").to_pylist())


def _check_attrition(att: pa.Table) -> None:
    rows = att.to_pylist()
    assert rows, "no attrition step"
    for i, r in enumerate(rows):
        assert r["step"] == i + 1
        assert r["persons_before"] - r["excluded"] == r["persons_after"]
        assert r["excluded"] >= 0
        if i:
            assert r["persons_before"] == rows[i - 1]["persons_after"]


@pytest.mark.parametrize("name", builtin_cohorts())
def test_builtin_cohorts_build_with_consistent_rows(opened: Lake, name: str) -> None:
    result = build_cohort(opened, name, allow_empty=True)
    try:
        table = result.table
        assert tuple(table.column_names) == COHORT_COLUMNS
        for col in COHORT_COLUMNS[1:]:
            assert table.schema.field(col).type == pa.date32()
        for r in table.to_pylist():
            assert r["observation_start"] <= r["index_date"] <= r["observation_end"]
        _check_attrition(result.attrition)
        assert result.attrition["persons_after"][-1].as_py() == len(set(table["person_id"]))
        assert result.attrition["rows_after"][-1].as_py() == table.num_rows
    finally:
        result.drop()


def test_population_equals_a_direct_count(opened: Lake) -> None:
    result = build_cohort(opened, "population_65_plus")
    pat = relation(opened.con, opened.paths, "events.patients")
    want = {
        p
        for (p,) in opened.con.fetchall(
            f"""SELECT person_id FROM {pat} WHERE birth_date <= DATE '1954-01-01'
            AND (death_date IS NULL OR death_date >= DATE '2019-01-01')"""
        )
    }
    assert len(want) > 100
    assert _persons(result) == want
    deaths = dict(opened.con.fetchall(f"SELECT person_id, death_date FROM {pat}"))
    rows = result.table.to_pylist()
    for r in rows:
        death = deaths[r["person_id"]]
        assert r["observation_end"] <= (death or dt.date(2020, 12, 31))
    # loss to follow-up ends some observations before the study end without a death
    end = dt.date(2020, 12, 31)
    lost = [r for r in rows if deaths[r["person_id"]] is None and r["observation_end"] < end]
    assert lost
    result.drop()


def test_hip_fracture_equals_a_direct_query(opened: Lake) -> None:
    result = build_cohort(opened, "hip_fracture_65_plus", allow_empty=True)
    ev = relation(opened.con, opened.paths, "events.events")
    pat = relation(opened.con, opened.paths, "events.patients")
    want = set(
        opened.con.fetchall(
            f"""WITH dp AS (SELECT person_id, min(start) AS d FROM {ev}
                    WHERE category = 'diagnosis' AND modifier = 'DP' AND (code LIKE 'ICD10//S720%'
                    OR code LIKE 'ICD10//S721%' OR code LIKE 'ICD10//S722%') GROUP BY person_id)
            SELECT dp.person_id, dp.d FROM dp JOIN {pat} p USING (person_id)
            WHERE dp.d BETWEEN DATE '2019-01-01' AND DATE '2020-12-31'
              AND (p.death_date IS NULL OR p.death_date >= dp.d)
              AND date_add(p.birth_date, INTERVAL 65 YEAR) <= dp.d
              AND NOT EXISTS (SELECT 1 FROM {ev} e WHERE e.person_id = dp.person_id
                  AND e.category = 'diagnosis' AND left(e.code, 11) IN
                  ('ICD10//S720', 'ICD10//S721', 'ICD10//S722')
                  AND e.start >= dp.d - INTERVAL 365 DAY AND e.start < dp.d)"""
        )
    )
    got = {(r["person_id"], r["index_date"]) for r in result.table.to_pylist()}
    assert len(want) >= 3
    assert got == want
    result.drop()


def test_windowed_count_matches_pandas(opened: Lake) -> None:
    """'at least 2 dispensings of N05 in [-180, 0]' against a pandas computation."""
    spec = _spec(
        concept_sets={"n05": {"codes": ["ATC//N05*"], "categories": ["dispensing"]},
                      "any_visit": {"categories": ["visit"]}},
        index={"concept_set": "any_visit", "occurrence": "all"},
        inclusion=[{"name": "two n05", "concept_set": "n05", "window": [-180, 0],
                    "min_count": 2}],
    )  # fmt: skip
    result = build_cohort(opened, spec)
    got = {(r["person_id"], r["index_date"]) for r in result.table.to_pylist()}
    ev = relation(opened.con, opened.paths, "events.events")
    pat = relation(opened.con, opened.paths, "events.patients")
    visits = opened.con.sql(
        f"""SELECT DISTINCT e.person_id, e.start FROM {ev} e JOIN {pat} p USING (person_id)
        WHERE e.category = 'visit' AND e.start BETWEEN DATE '2019-06-30' AND DATE '2020-12-31'
        AND (p.death_date IS NULL OR p.death_date >= e.start)"""
    ).to_pandas()
    n05 = opened.con.sql(
        f"SELECT person_id, start AS d FROM {ev} WHERE category = 'dispensing' "
        "AND code LIKE 'ATC//N05%'"
    ).to_pandas()
    merged = visits.merge(n05, on="person_id")
    lag = (merged["start"] - merged["d"]).map(lambda t: t.days)
    hits = merged[(lag >= 0) & (lag <= 180)].groupby(["person_id", "start"]).size()
    want = {(p, d) for (p, d), n in hits.items() if n >= 2}
    assert len(want) > 20
    assert got == want
    # prior_days defaults to the look-back: index from 2019-01-01 + 180 days
    assert min(d for _, d in got) >= dt.date(2019, 6, 30)
    result.drop()


def test_descendants_and_prefixes_select_the_same_events(opened: Lake) -> None:
    def persons(cs: dict[str, Any]) -> set[str]:
        spec = _spec(concept_sets={"c": cs}, index={"concept_set": "c"})
        r = build_cohort(opened, spec, allow_empty=True)
        out = _persons(r)
        r.drop()
        return out

    by_prefix = persons({"codes": ["ATC//N05BA*"]})
    assert len(by_prefix) > 50
    assert persons({"codes": ["ATC//N05BA"], "descendants": True}) == by_prefix
    assert persons({"codes": ["ATC//N05BA"]}) == set()  # exact: no event has this level-4 code
    injuries = persons({"codes": ["ICD10//S*", "ICD10//T0*", "ICD10//T1*"],
                        "categories": ["diagnosis"]})  # fmt: skip
    chapter = persons({"codes": ["ICD10_CHAPTER//XIX"], "descendants": True,
                       "exclude": ["ICD10//T2*", "ICD10//T3*", "ICD10//T4*", "ICD10//T5*",
                                   "ICD10//T6*", "ICD10//T7*", "ICD10//T8*", "ICD10//T9*"],
                       "categories": ["diagnosis"]})  # fmt: skip
    assert injuries and chapter == injuries


def test_cip13_packs_match_through_the_dispensing_modifier(opened: Lake) -> None:
    ev = relation(opened.con, opened.paths, "events.events")
    pack, n = opened.con.fetchone(
        f"""SELECT modifier, count(DISTINCT person_id) FROM {ev} WHERE category = 'dispensing'
        AND modifier LIKE 'CIP13//%' GROUP BY modifier ORDER BY 2 DESC, 1 LIMIT 1"""
    ) or ("", 0)
    r = build_cohort(
        opened, _spec(concept_sets={"c": {"codes": [pack]}}, index={"concept_set": "c"})
    )
    assert n > 10 and r.persons == n
    r.drop()


def test_exclusions_win(opened: Lake) -> None:
    r_all = build_cohort(opened, _spec(concept_sets={"c": {"codes": ["ATC//N05B*"]}},
                                       index={"concept_set": "c"}))  # fmt: skip
    r_ex = build_cohort(opened, _spec(concept_sets={"c": {"codes": ["ATC//N05B*"],
                                                          "exclude": ["ATC//N05BB*"]}},
                                      index={"concept_set": "c"}))  # fmt: skip
    r_bb = build_cohort(opened, _spec(concept_sets={"c": {"codes": ["ATC//N05BB*"]}},
                                      index={"concept_set": "c"}))  # fmt: skip
    assert _persons(r_ex) < _persons(r_all)
    assert _persons(r_all) - _persons(r_ex) <= _persons(r_bb)
    for r in (r_all, r_ex, r_bb):
        r.drop()


def test_set_operations_are_set_operations(opened: Lake, tmp_path: Path) -> None:
    pop = build_cohort(opened, "population_65_plus")
    users = build_cohort(opened, _spec(concept_sets={"c": {"codes": ["ATC//N05*"]}},
                                       index={"concept_set": "c"}))  # fmt: skip
    (tmp_path / "users.yaml").write_text(
        "name: users\nconcept_sets: {c: {codes: ['ATC//N05*']}}\nindex: {concept_set: c}\n"
        "observation: {study_start: 2019-01-01, study_end: 2020-12-31}\n",
        encoding="utf-8",
    )
    a, b = _persons(pop), _persons(users)
    for op, want in (("union", a | b), ("intersection", a & b), ("difference", a - b)):
        path = tmp_path / f"{op}.yaml"
        path.write_text(
            f"name: s_{op}\noperation: {op}\nof: [population_65_plus, users.yaml]\n",
            encoding="utf-8",
        )
        r = build_cohort(opened, load_cohort(path))
        got = r.table
        if op == "intersection":
            # the person enters at the later index and must still be observed then
            assert _persons(r) <= want
        else:
            assert _persons(r) == want
        assert [m.name for m in r.members] == ["population_65_plus", "users"]
        _check_attrition(r.attrition)
        assert got.num_rows == len(set(got["person_id"]))
        r.drop()
    pop.drop()
    users.drop()


def test_empty_intermediate_results_never_crash(opened: Lake) -> None:
    spec = _spec(
        concept_sets={"c": {"codes": ["ATC//N05*"]}},
        index={"concept_set": "c", "occurrence": "all"},
        demographics={"regions": ["00"]},
        observation={**PERIOD, "loss_after_days": 90},
        inclusion=[{"name": "two", "concept_set": "c", "window": [-30, 0], "min_count": 2}],
        exclusion=[{"name": "none", "concept_set": "c", "window": [-90, -31]}],
    )
    result = build_cohort(opened, spec, allow_empty=True)
    assert result.table.num_rows == 0
    assert result.table.column_names == list(COHORT_COLUMNS)
    _check_attrition(result.attrition)
    after = result.attrition.to_pylist()
    assert [r["persons_after"] for r in after][-3:] == [0, 0, 0]
    result.drop()
    with pytest.raises(
        CohortEmptyError, match=r"'t' .* is empty: .* step 'résidence in région 00'"
    ):
        build_cohort(opened, spec)


def test_a_concept_set_selecting_nothing_is_named(opened: Lake) -> None:
    spec = _spec(concept_sets={"unicorn": {"codes": ["ATC//Z99*"]}},
                 index={"concept_set": "unicorn"})  # fmt: skip
    with pytest.raises(CohortEmptyError, match=r"concept set 'unicorn' selects no event"):
        build_cohort(opened, spec)


def test_comparison_is_not_a_cohort() -> None:
    assert load_any("benzodiazepines_vs_zdrugs").name == "benzodiazepines_vs_zdrugs"
    with pytest.raises(CohortSpecError, match="no cohort"):
        load_cohort("benzodiazepines_vs_zdrugs")


def test_population_step_gives_one_row_per_person(opened: Lake) -> None:
    spec = _spec(concept_sets={"c": {"codes": ["ATC//N05*"]}},
                 index={"concept_set": "c", "occurrence": "all"})  # fmt: skip
    rel = population_step(spec)(opened, object())
    table = rel.to_arrow()
    assert table.column_names == list(COHORT_COLUMNS)
    assert table.num_rows == len(set(table["person_id"].to_pylist())) > 50
