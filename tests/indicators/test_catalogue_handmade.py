"""Hand-computed indicators on a tiny hand-made lake (6 persons): every count below is worked
out by hand from the rows written here, not by the code under test."""

from __future__ import annotations

from pathlib import Path

import pytest

import sndslab
from sndslab.indicators import compute_indicators
from sndslab.lake import write_generation

#: person, sex, birth (15th of the month), death, département, région
PATIENTS = [
    ("P1", 2, "1950-01-15", None, "075", "11"),
    ("P2", 1, "1980-06-15", None, "075", "11"),
    ("P3", 1, "1960-03-15", None, "013", "93"),
    ("P4", 2, "1990-09-15", None, "013", "93"),
    ("P5", 2, "1940-02-15", "2019-06-01", "013", "93"),
    ("P6", 1, "2000-11-15", None, "013", "93"),
]
#: person, start, end, code, category, modifier, source table
EVENTS = [
    # P1: 3 antidiabetic dispensings on 3 days of 2020 → diabetes case; 2 GP visits in 2020
    ("P1", "2020-01-10", None, "ATC//A10BA02", "dispensing", None, "dcir_pharmacy"),
    ("P1", "2020-02-10", None, "ATC//A10BA02", "dispensing", None, "dcir_pharmacy"),
    ("P1", "2020-03-10", None, "ATC//A10BB09", "dispensing", None, "dcir_pharmacy"),
    ("P1", "2020-04-01", None, "SPECIALTY//1", "visit", "NGAP//C", "dcir_prestations"),
    ("P1", "2020-05-01", None, "SPECIALTY//1", "visit", "NGAP//C", "dcir_prestations"),
    # P2: 1 dispensing in 2019, 2 in 2020: never 3 in one year → not a case; a cardiologist
    ("P2", "2019-05-10", None, "ATC//A10BA02", "dispensing", None, "dcir_pharmacy"),
    ("P2", "2020-05-10", None, "ATC//A10BA02", "dispensing", None, "dcir_pharmacy"),
    ("P2", "2020-06-10", None, "ATC//A10BA02", "dispensing", None, "dcir_pharmacy"),
    ("P2", "2020-06-11", None, "SPECIALTY//3", "visit", "NGAP//CS", "dcir_prestations"),
    # P3: open ALD for type 2 diabetes since 2015 → case; 1 GP visit (specialty 22) in 2020
    ("P3", "2015-04-01", None, "ICD10//E119", "ald", "ALD8", "ald"),
    ("P3", "2020-07-01", None, "SPECIALTY//22", "visit", "NGAP//C", "dcir_prestations"),
    # P4: an MCO stay in December 2019 with a diabetes DAS → case in 2020 (look-back n-1);
    # readmitted on 10 January 2020 (within 30 days of the 22 December discharge)
    ("P4", "2019-12-20", "2019-12-22", "GHM//10M02T", "stay", None, "mco_stays"),
    ("P4", "2019-12-20", "2019-12-22", "ICD10//E119", "diagnosis", "DAS", "mco_diagnoses"),
    ("P4", "2020-01-10", "2020-01-12", "GHM//10M02T", "stay", None, "mco_stays"),
    # P5: 3 dispensings in 2019, dead on 1 June 2019: a 2020 case outside the denominator
    ("P5", "2019-01-10", None, "ATC//A10BA02", "dispensing", None, "dcir_pharmacy"),
    ("P5", "2019-02-10", None, "ATC//A10BA02", "dispensing", None, "dcir_pharmacy"),
    ("P5", "2019-03-10", None, "ATC//A10BA02", "dispensing", None, "dcir_pharmacy"),
    # P6: stay A (1-5 March 2019) readmitted by stay B (20-22 March); a session (CMD 28) is
    # neither an index stay nor a readmission
    ("P6", "2019-03-01", "2019-03-05", "GHM//05M09T", "stay", None, "mco_stays"),
    ("P6", "2019-03-20", "2019-03-22", "GHM//05M09T", "stay", None, "mco_stays"),
    ("P6", "2019-04-01", "2019-04-01", "GHM//28Z07Z", "stay", None, "mco_stays"),
]


def _lit(v: object) -> str:
    return "NULL" if v is None else "'" + str(v) + "'"


@pytest.fixture(scope="module")
def tiny_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny") / "lake"
    lake = sndslab.open_lake(root, create=True)
    pat = " UNION ALL ".join(
        f"""SELECT CAST({_lit(p)} AS VARCHAR) AS person_id, CAST({s} AS BIGINT) AS sex,
        CAST({_lit(b)} AS DATE) AS birth_date, CAST({_lit(b[:8] + "01")} AS DATE) AS birth_date_min,
        CAST('month' AS VARCHAR) AS birth_precision, CAST({_lit(d)} AS DATE) AS death_date,
        CAST({_lit("KI_CCI_R" if d else None)} AS VARCHAR) AS death_source,
        CAST({_lit(dpt)} AS VARCHAR) AS residence_dpt,
        CAST({_lit(reg)} AS VARCHAR) AS residence_region,
        CAST(1 AS BIGINT) AS n_keys, FALSE AS fictitious_nir, FALSE AS provisional_nir,
        FALSE AS twin_shared_psa, FALSE AS multiple_psa, FALSE AS inconsistent_birth_or_sex"""
        for p, s, b, d, dpt, reg in PATIENTS
    )
    ev = " UNION ALL ".join(
        f"""SELECT CAST({_lit(p)} AS VARCHAR) AS person_id, CAST({_lit(s)} AS DATE) AS start,
        CAST({_lit(e)} AS DATE) AS "end", CAST({_lit(c)} AS VARCHAR) AS code,
        CAST({_lit(cat)} AS VARCHAR) AS category, CAST(1 AS DOUBLE) AS quantity,
        CAST(10 AS DOUBLE) AS amount_paid, CAST(7 AS DOUBLE) AS amount_reimbursed,
        CAST({_lit(m)} AS VARCHAR) AS modifier, CAST({_lit(t)} AS VARCHAR) AS source_table,
        CAST({_lit(f"{p}|{s}|{c}")} AS VARCHAR) AS source_key, CAST(NULL AS VARCHAR) AS stay_id,
        CAST(NULL AS VARCHAR) AS prescriber_id, CAST(NULL AS VARCHAR) AS executor_id,
        CAST(NULL AS VARCHAR) AS establishment_id, CAST('exact' AS VARCHAR) AS date_quality"""
        for p, s, e, c, cat, m, t in EVENTS
    )
    with write_generation(lake.paths, "events", lake.con) as w:
        w.write("patients", pat)
        w.write("events", ev)
    lake.close()
    compute_indicators(root, only=["diabetes", "gp_visits", "mortality", "rehospitalisation_30d"])
    return root


def _cell(root: Path, indicator: str, year: int, where: str = "") -> dict:
    """The one row of ``indicator`` in ``year`` matching ``where`` (default: the France,
    all ages, both sexes cell)."""
    where = where or "geo_level = 'france' AND age_level = 'all' AND sex = 'all'"
    with sndslab.open_lake(root) as lake:
        rows = (
            lake.sql(
                f"""SELECT * FROM marts.indicators WHERE indicator = '{indicator}'
            AND year = {year} AND {where}"""
            )
            .to_arrow()
            .to_pylist()
        )
    assert len(rows) == 1, rows
    return rows[0]


def test_diabetes_by_hand(tiny_lake: Path) -> None:
    top = _cell(tiny_lake, "diabetes", 2020)
    # denominator: P1-P4 and P6 (P5 died in 2019); cases: P1 (drugs), P3 (ALD), P4 (DAS n-1)
    assert (top["numerator_persons"], top["denominator"]) == (3, 5)
    assert top["rate"] == pytest.approx(60.0)
    # amounts: every event of the cases in 2020: P1 5 events, P3 1 visit, P4 1 stay
    assert top["amount_reimbursed"] == pytest.approx(7 * 7)
    assert top["amount_paid"] == pytest.approx(7 * 10)
    paris = _cell(
        tiny_lake,
        "diabetes",
        2020,
        "geo_level = 'region' AND geo_code = '11' AND age_level = 'all' AND sex = 'all'",
    )
    assert (paris["numerator_persons"], paris["denominator"], paris["rate"]) == (1, 2, 50.0)
    women = _cell(
        tiny_lake, "diabetes", 2020, "geo_level = 'france' AND age_level = 'all' AND sex = '2'"
    )
    assert (women["numerator_persons"], women["denominator"]) == (2, 2)
    # P1 is 70 in 2020: 5-year band 70-74, broad band 65-74
    band = _cell(
        tiny_lake,
        "diabetes",
        2020,
        "geo_level = 'departement' AND geo_code = '075' AND age_level = '5y' "
        "AND age_band = '70-74' AND sex = '2'",
    )
    assert (band["numerator_persons"], band["denominator"], band["age_broad"], band["region"]) == (
        1,
        1,
        "65-74",
        "11",
    )
    # an empty cell of the grid is a zero, not a missing row
    empty = _cell(
        tiny_lake,
        "diabetes",
        2020,
        "geo_level = 'departement' AND geo_code = '013' AND age_level = '5y' "
        "AND age_band = '00-04' AND sex = '1'",
    )
    assert (
        empty["numerator"],
        empty["numerator_persons"],
        empty["denominator"],
        empty["rate"],
    ) == (0, 0, 0, None)


def test_diabetes_2019_is_skipped_and_p5_is_outside(tiny_lake: Path) -> None:
    with sndslab.open_lake(tiny_lake) as lake:
        counts = lake.manifest("marts").counts["indicators"]
        years = lake.sql(
            "SELECT DISTINCT year FROM marts.indicators WHERE indicator = 'diabetes'"
        ).to_arrow()
    run = next(r for r in counts["indicators"] if r["name"] == "diabetes")
    assert run["periods"] == ["2020"] and run["skipped"][0].startswith(
        "2019: needs data from 2018-01-01"
    )
    assert (run["numerator_units"], run["outside_denominator"]) == (3, 1)
    assert years.column("year").to_pylist() == [2020]


def test_gp_visits_mortality_readmissions_by_hand(tiny_lake: Path) -> None:
    gp = _cell(
        tiny_lake, "gp_visits", 2020
    )  # P1 two visits, P3 one (specialty 22); P2's is a cardiologist
    assert (gp["numerator"], gp["numerator_persons"], gp["denominator"]) == (3, 2, 5)
    assert gp["rate"] == pytest.approx(0.6)
    dead = _cell(tiny_lake, "mortality", 2019)
    assert (dead["numerator_persons"], dead["denominator"]) == (1, 6)
    assert dead["rate"] == pytest.approx(1000 / 6)
    # 2019 index stays: P6 A (readmitted by B), P6 B, P4 December (readmitted 10 January)
    re = _cell(tiny_lake, "rehospitalisation_30d", 2019)
    assert (
        re["numerator"],
        re["numerator_persons"],
        re["denominator"],
        re["denominator_persons"],
    ) == (2, 2, 3, 2)
    # 2020 needs 30 days of follow-up after 31 December 2020: skipped
    with sndslab.open_lake(tiny_lake) as lake:
        years = lake.sql(
            "SELECT DISTINCT year FROM marts.indicators WHERE indicator = 'rehospitalisation_30d'"
        ).to_arrow()
    assert years.column("year").to_pylist() == [2019]


def test_recomputing_one_indicator_keeps_the_others(tiny_lake: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "lake"
    shutil.copytree(tiny_lake, root)
    with sndslab.open_lake(root) as lake:
        before = (
            lake.sql("SELECT indicator, count(*) AS n FROM marts.indicators GROUP BY 1 ORDER BY 1")
            .to_arrow()
            .to_pylist()
        )
    compute_indicators(root, only=["mortality"], years=[2020])
    with sndslab.open_lake(root) as lake:
        after = (
            lake.sql("SELECT indicator, count(*) AS n FROM marts.indicators GROUP BY 1 ORDER BY 1")
            .to_arrow()
            .to_pylist()
        )
        specs = (
            lake.sql("SELECT indicator FROM marts.indicator_specs ORDER BY 1")
            .to_arrow()
            .column(0)
            .to_pylist()
        )
        years = (
            lake.sql(
                "SELECT DISTINCT year FROM marts.indicators "
                "WHERE indicator = 'mortality' ORDER BY 1"
            )
            .to_arrow()
            .column(0)
            .to_pylist()
        )
    assert after == before
    assert specs == ["diabetes", "gp_visits", "mortality", "rehospitalisation_30d"]
    assert years == [2019, 2020]


def test_accounting_check_fires_when_cells_do_not_add_up(tiny_lake: Path) -> None:
    from sndslab.indicators import IndicatorAccountingError, load_indicators
    from sndslab.indicators._compute import _Run
    from sndslab.indicators._sql import periods

    (spec,) = load_indicators(names=["gp_visits"])
    items = periods(spec.time, [2020])
    with sndslab.open_lake(tiny_lake) as lake:
        run = _Run(lake.con, lake.paths)
        try:
            res, inside, outside = run.indicator(0, spec, items)
            assert (inside, outside) == (2, 0)  # P1 and P3 (person-periods)
            den = run.denominator(spec, items)
            lake.con.create_table(
                "_bad", f"SELECT * REPLACE (numerator_persons + 1 AS numerator_persons) FROM {res}"
            )
            run.created.append("_bad")
            with pytest.raises(IndicatorAccountingError, match="period 2020: cells give"):
                run._check(spec, "_bad", den, "_ind_num0", items)
        finally:
            run.drop_all()
