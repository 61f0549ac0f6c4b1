"""Hand-computed pathways on a tiny hand-made lake: every sequence, exclusion and merge below
is worked out by hand from the rows written here, not by the code under test."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pytest

import sndslab
from sndslab.pathways import (
    OTHER,
    OUTCOMES,
    PathwayReleaseError,
    PathwaySpecError,
    cohort_outcomes,
    compute_pathways,
    load_pathways,
    pathway_tables,
)
from sndslab.release import release

from .conftest import Event, Patient, filler_events, write_lake

HIP = ("ICD10//S720", "diagnosis", "DP")

PATIENTS: list[Patient] = [
    ("H1", 2, "1940-01-15", None, "075", "11"),
    ("H2", 1, "1935-01-15", "2019-07-01", "013", "93"),
    ("H3", 2, "1945-01-15", None, "013", "93"),
    ("H4", 2, "1950-01-15", None, "075", "11"),
    ("H5", 1, "1970-01-15", None, "075", "11"),
    ("H6", 2, "1940-01-15", None, "075", "11"),
    ("H7", 2, "1940-01-15", None, "075", "11"),
    ("H8", 2, "1940-01-15", None, "075", "11"),
    ("H9", 2, "1940-01-15", None, None, None),
    ("H10", 1, "1941-01-15", None, "069", "84"),
]


def _hip(p: str, start: str, end: str, stay: str, role: str = "DP") -> list[Event]:
    """A hip-fracture MCO stay: its diagnosis and its stay event."""
    return [
        (p, start, end, HIP[0], HIP[1], role, stay),
        (p, start, end, "GHM//08C47", "stay", None, stay),
    ]


EVENTS: list[Event] = [
    *filler_events(),
    # H1: SSR from the discharge to day 41 (windows 1 and 2), a GP visit in window 3
    *_hip("H1", "2019-03-01", "2019-03-10", "S1"),
    ("H1", "2019-03-10", "2019-04-20", "STAY//SSR", "stay", None, "R1"),
    ("H1", "2019-05-01", None, "SPECIALTY//1", "visit", "NGAP//C", None),
    ("H1", "2019-09-01", None, "SPECIALTY//1", "visit", "NGAP//C", None),
    # H2: readmitted on day 15, dead on day 57 (window 2): mco > death > death
    *_hip("H2", "2019-05-01", "2019-05-05", "S2"),
    ("H2", "2019-05-20", "2019-05-25", "GHM//08M20", "stay", None, "S3"),
    # H3: nothing after the index stay: lost > lost > lost
    *_hip("H3", "2019-06-01", "2019-06-05", "S4"),
    # H4: a nurse act (window 1), nothing in window 2 but care later (home), an anticoagulant
    # in window 3: nurse_physio > home > drugs
    *_hip("H4", "2019-02-01", "2019-02-08", "S5"),
    ("H4", "2019-02-20", None, "NGAP//AMI", "act", "1", None),
    ("H4", "2019-12-01", None, "ATC//B01AB05", "dispensing", None, None),
    # H5: aged 49: under the minimum age
    *_hip("H5", "2019-04-01", "2019-04-03", "S6"),
    # H6: index in 2020, whose follow-up is not in the data: period not computed
    *_hip("H6", "2020-03-01", "2020-03-04", "S7"),
    # H7: a hip fracture as associated diagnosis only: not an index event
    *_hip("H7", "2019-03-01", "2019-03-04", "S8", role="DAS"),
    # H8: discharged on 5 January 2020: 365 days of follow-up end after the data
    *_hip("H8", "2019-12-20", "2020-01-05", "S9"),
    # H9: no residence
    *_hip("H9", "2019-07-01", "2019-07-03", "S10"),
    # H10: a specialist (window 1, above the GP of the same window), HAD (window 2), a second
    # hip-fracture stay in window 3 (a readmission, not a new index): specialist > had > mco
    *_hip("H10", "2019-01-10", "2019-01-15", "S11"),
    ("H10", "2019-02-01", None, "SPECIALTY//41", "visit", "NGAP//CS", None),
    ("H10", "2019-02-02", None, "SPECIALTY//1", "visit", "NGAP//C", None),
    ("H10", "2019-03-01", "2019-03-20", "STAY//HAD", "stay", None, "D1"),
    *_hip("H10", "2019-08-01", "2019-08-05", "S12"),
]

SEQUENCES = {
    "ssr > ssr > gp": ("11", "075"),
    "mco > death > death": ("93", "013"),
    "lost > lost > lost": ("93", "013"),
    "nurse_physio > home > drugs": ("11", "075"),
    "specialist > had > mco": ("84", "069"),
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_lake(tmp_path_factory.mktemp("pw-tiny") / "lake", PATIENTS, EVENTS)


def _rows(root: Path, table: str, where: str = "true") -> list[dict]:
    with sndslab.open_lake(root) as lake:
        return lake.sql(f"SELECT * FROM {table} WHERE {where}").to_arrow().to_pylist()


def test_sequences_by_hand(tiny: Path) -> None:
    result = compute_pathways(tiny, only=["hip_fracture_65"], min_persons=1)
    assert result.years == (2019,)
    leaves = _rows(tiny, "marts.pathways", "geo_level = 'france' AND depth = 3")
    assert {r["path"]: r["persons"] for r in leaves} == dict.fromkeys(SEQUENCES, 1)
    for path, (region, dpt) in SEQUENCES.items():
        cell = _rows(tiny, "marts.pathways", f"geo_level = 'departement' AND path = '{path}'")
        assert [(c["region"], c["geo_code"], c["persons"]) for c in cell] == [(region, dpt, 1)]
    # the tree adds up: each depth of France is the cohort, each région its départements
    tree = _rows(tiny, "marts.pathways", "geo_level = 'france'")
    for depth in range(4):
        assert sum(r["persons"] for r in tree if r["depth"] == depth) == 5
    step2 = {r["path"]: r["persons"] for r in tree if r["depth"] == 2}
    assert step2 == {"ssr > ssr": 1, "mco > death": 1, "lost > lost": 1,
                     "nurse_physio > home": 1, "specialist > had": 1}  # fmt: skip


def test_accounting_by_hand(tiny: Path) -> None:
    result = compute_pathways(tiny, only=["hip_fracture_65"], min_persons=1)
    run = result.run("hip_fracture_65")
    assert run.index_events == 9  # H1-H6, H8-H10 (H7 has no DP)
    assert run.cohort == 5
    assert run.excluded == {
        "no_birth_date_or_residence": 1,
        "under_min_age": 1,
        "period_not_computed": 1,
        "follow_up_beyond_data": 1,
    }
    acc = {(r["year"], r["item"]): r["persons"] for r in _rows(tiny, "marts.pathway_accounting")}
    assert acc[(2019, "index_events")] == 8 and acc[(2020, "index_events")] == 1
    assert acc[(2020, "period_not_computed")] == 1
    assert acc[(2019, "merged_branches")] == 0


def test_small_branches_merged_into_other_and_counted(tiny: Path) -> None:
    result = compute_pathways(tiny, only=["hip_fracture_65"], min_persons=2)
    run = result.run("hip_fracture_65")
    # every branch holds one person: 5 branches merged at each of the 3 windows
    assert (run.merged_branches, run.merged_person_windows) == (15, 15)
    tree = _rows(tiny, "marts.pathways", "geo_level = 'france'")
    assert {r["path"]: r["persons"] for r in tree} == {
        "ALL": 5,
        OTHER: 5,
        f"{OTHER} > {OTHER}": 5,
        f"{OTHER} > {OTHER} > {OTHER}": 5,
    }
    # a merge threshold of 1 merges nothing
    assert (
        compute_pathways(tiny, only=["hip_fracture_65"], min_persons=1)
        .run("hip_fracture_65")
        .merged_branches
        == 0
    )


def test_partial_merge_keeps_large_branches(tmp_path: Path) -> None:
    """Three persons to SSR then home, one to MCO: with a threshold of 2, the MCO branch is
    merged, the SSR branch kept."""
    patients: list[Patient] = [(f"Q{i}", 2, "1940-01-15", None, "075", "11") for i in range(4)]
    events: list[Event] = [*filler_events()]
    for i in range(4):
        events += _hip(f"Q{i}", "2019-03-01", "2019-03-10", f"T{i}")
        kind = ("STAY//SSR", "stay") if i < 3 else ("GHM//08M20", "stay")
        events.append((f"Q{i}", "2019-03-12", "2019-03-20", *kind, None, f"U{i}"))
        events.append((f"Q{i}", "2020-11-01", None, "ATC//A02BC01", "dispensing", None, None))
    root = write_lake(tmp_path / "lake", patients, events)
    run = compute_pathways(root, only=["hip_fracture_65"], min_persons=2).run("hip_fracture_65")
    tree = {r["path"]: r["persons"] for r in _rows(root, "marts.pathways",
                                                     "geo_level = 'france'")}  # fmt: skip
    assert tree["ssr"] == 3 and tree[OTHER] == 1
    assert tree["ssr > home > home"] == 3  # care after window 3: home, not lost
    assert tree[f"{OTHER} > {OTHER} > {OTHER}"] == 1
    assert run.merged_branches == 3  # mco, then home twice under "other"


def test_release_of_the_tiny_lake_hides_every_small_cell(tiny: Path, tmp_path: Path) -> None:
    compute_pathways(tiny, only=["hip_fracture_65"], min_persons=1)
    tables = pathway_tables(tiny)
    assert [s.stem for _, s in tables] == ["pathways__transitions", "pathways__sequences"]
    assert {s.name for _, s in tables} == {"pathways"}
    result = release(tables, tmp_path / "out", lake=tiny)
    assert result.audit["attack"]["passed"]
    for t in result.tables:
        out = t.released()
        small = pc.and_(pc.greater(out["persons"], 0), pc.less(out["persons"], 11))
        assert not pc.any(small).as_py()
        assert "person_id" not in out.column_names


def test_custom_spec_file_and_errors(tiny: Path, tmp_path: Path) -> None:
    spec = load_pathways(["hip_fracture_65"])[0]
    text = Path(spec.path).read_text("utf-8")
    custom = tmp_path / "hip_two_windows.yaml"
    custom.write_text(
        text.replace("name: hip_fracture_65", "name: hip_two_windows").replace(
            '  - {name: d91_365, label: {fr: "J91-J365", en: "Days 91-365"}, from_day: 91, '
            "to_day: 365}\n",
            "",
        ),
        "utf-8",
    )
    loaded = load_pathways(paths=[custom])
    assert [w.name for w in loaded[0].windows] == ["d0_30", "d31_90"]
    result = compute_pathways(tiny, specs=loaded, min_persons=1)
    assert result.years == (2019,)  # an index of December 2020 cannot be followed 90 days
    leaves = _rows(tiny, "marts.pathways", "pathway = 'hip_two_windows' AND depth = 2 "
                   "AND geo_level = 'france' AND year = 2019")  # fmt: skip
    assert "ssr > ssr" in {r["path"] for r in leaves}
    with pytest.raises(PathwaySpecError, match="unknown pathway"):
        load_pathways(["nope"])
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("name: hip_fracture_65", "name: bad").replace(
        "from_day: 31", "from_day: 20"), "utf-8")  # fmt: skip
    with pytest.raises(PathwaySpecError, match="starts on or before"):
        load_pathways(paths=[bad])


def test_cohort_outcomes_by_hand(tiny: Path) -> None:
    out = cohort_outcomes(tiny, load_pathways(["hip_fracture_65"])[0])
    # H1 to SSR on the discharge day; H2 readmitted on day 15 and dead on day 61 after the
    # admission (H10's second stay is on day 198: not a 30-day readmission)
    assert out["cohort"] == 5 and out["years"] == [2019]
    assert {k: out[k] for k in OUTCOMES} == {
        "transfer_to_ssr": 0.2,
        "ssr_within_30d": 0.2,
        "readmission_30d": 0.2,
        "death_in_stay": 0.0,
        "mortality_30d": 0.0,
        "mortality_1y": 0.2,
    }
    assert out["by_sex"]["men"]["cohort"] == 2 and out["by_sex"]["women"]["cohort"] == 3
    assert out["by_sex"]["men"]["mortality_1y"] == 0.5


def test_no_computable_year_excludes_every_index_event(tmp_path: Path) -> None:
    """One year of data cannot follow anyone 365 days: every index event is counted under
    period_not_computed, nothing is in the cohort, and the release says so in one line."""
    patients: list[Patient] = [("Z1", 2, "1940-01-15", None, "075", "11")]
    events = [*filler_events((2019,)), *_hip("Z1", "2019-02-01", "2019-02-08", "Z")]
    root = write_lake(tmp_path / "lake", patients, events)
    run = compute_pathways(root, only=["hip_fracture_65"]).run("hip_fracture_65")
    assert (run.years, run.index_events, run.cohort) == ((), 1, 0)
    assert run.excluded["period_not_computed"] == 1
    with pytest.raises(PathwayReleaseError, match="no pathway computed"):
        pathway_tables(root)
    assert pathway_tables(root, required=False) == []  # beside the indicators: no table
