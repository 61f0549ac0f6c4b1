"""Plausible care in the synthetic SNDS (issue 10, item 2 and the reimbursement bullets).

Every check reads the raw files of the session extract (``db`` fixture: 10,000 persons,
2019–2020, seed 11). Persons' true sex and birth date come from the truth tables
(``identities`` → ``persons``) so that identity artefacts on the raw keys cannot blur the
checks; ages use the generator's convention (completed 365.25-day years).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from sndslab.registry import DCIR_JOIN_KEYS
from sndslab.synth import _refdata as rd

DCIR_JOIN = " AND ".join(f"p.{k} = s.{k}" for k in DCIR_JOIN_KEYS)
VISIT_NATURES = "(1111, 1112, 1211, 1212, 1157, 1191)"


def _d(col: str) -> str:
    return f"try_strptime({col}, '%d/%m/%Y')::DATE"


def build_views(con: duckdb.DuckDBPyConnection) -> None:
    """Helper views: ``person_of`` (key → person, sex, birth), ``lines`` (positive ER_PRS_F
    lines with the person), ``disp`` (pharmacy lines with ATC), ``visit`` (GP and specialist
    visits) and ``active_ald``."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE person_of AS
        SELECT i.ben_nir_psa AS psa, CAST(i.ben_rng_gem AS VARCHAR) AS rng,
               any_value(i.person_id) AS pid, any_value(p.sex) AS sex,
               any_value(p.birth_date)::DATE AS birth
        FROM truth_identities i JOIN truth_persons p USING (person_id)
        WHERE i.person_id >= 0
        GROUP BY 1, 2 HAVING count(DISTINCT i.person_id) = 1
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE lines AS
        SELECT p.*, o.pid, o.sex AS true_sex, o.birth,
               {_d("p.EXE_SOI_DTD")} AS care, {_d("p.PRE_PRE_DTD")} AS pre_date,
               {_d("p.FLX_TRT_DTD")} AS trt, {_d("p.FLX_DIS_DTD")} AS dis,
               floor(date_diff('day', o.birth, {_d("p.EXE_SOI_DTD")}) / 365.25) AS age
        FROM ER_PRS_F p JOIN person_of o
          ON o.psa = p.BEN_NIR_PSA AND o.rng = CAST(p.BEN_RNG_GEM AS VARCHAR)
        WHERE p.BSE_REM_SGN = '1' AND p.CPL_MAJ_TOP = '0'
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE disp AS
        SELECT p.*, r.PHA_ATC_C07 AS atc, r.PHA_TAU_COD AS drug_rate, s.PHA_ACT_QSN,
               s.PHA_SEQ_RNV
        FROM lines p JOIN ER_PHA_F s ON {DCIR_JOIN}
        JOIN IR_PHA_R r ON r.PHA_CIP_C13 = s.PHA_PRS_C13
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE visit AS
        SELECT DISTINCT pid, PFS_EXE_NUM AS doc, care AS day FROM lines
        WHERE CAST(PRS_NAT_REF AS INTEGER) IN {VISIT_NATURES}
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE active_ald AS
        SELECT o.pid, CAST(IMB_ALD_NUM AS INTEGER) AS ald, {_d("IMB_ALD_DTD")} AS dtd,
               CASE WHEN {_d("IMB_ALD_DTF")} < DATE '1700-01-01' THEN DATE '9999-12-31'
                    ELSE {_d("IMB_ALD_DTF")} END AS dtf
        FROM IR_IMB_R m JOIN person_of o
          ON o.psa = m.BEN_NIR_PSA AND o.rng = CAST(m.BEN_RNG_GEM AS VARCHAR)
        WHERE m.IMB_ETM_NAT = '41'
        """
    )


@pytest.fixture(scope="module")
def care_db(db: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    build_views(db)
    return db


def violations(con: duckdb.DuckDBPyConnection, prefix: str) -> tuple[int, int]:
    """(dispensings of drugs under ``prefix`` outside their indication, all such dispensings)."""
    rule = rd.indication_of(prefix)
    assert rule is not None and rule.atc == prefix
    bad = [f"age < {rule.min_age}", f"age > {rule.max_age}"]
    if rule.sex:
        bad.append(f"true_sex <> {rule.sex}")
    row = con.execute(
        f"SELECT count(*) FILTER (WHERE {' OR '.join(bad)}), count(*) FROM disp "
        f"WHERE atc LIKE '{prefix}%'"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


# --- impossible combinations ------------------------------------------------------------------
@pytest.mark.parametrize(
    "prefix",
    [
        "G03A",  # no pill to men or children
        "G04CA",  # no prostate alpha-blocker (alfuzosin, tamsulosin) to women or men < 45
        "G04CB",  # no 5-alpha-reductase inhibitor to women
        "J07CA09",  # no infant hexavalent vaccine to persons >= 2 y
        "J07BD52",  # MMR
        "N02AX02",  # no tramadol to children < 12
        "N02AJ06",  # no codeine to children < 12
        "L02BG",  # no aromatase inhibitor to men
        "L02BB",  # no anti-androgen to women
    ],
)
def test_no_dispensing_outside_indication(care_db: duckdb.DuckDBPyConnection, prefix: str) -> None:
    bad, total = violations(care_db, prefix)
    assert total > 0, f"{prefix}: never dispensed, the check would be empty"
    assert bad == 0, f"{prefix}: {bad} of {total} dispensings outside the indication"


def test_every_rule_holds(care_db: duckdb.DuckDBPyConnection) -> None:
    """All rules of drug_indications.yaml at once (longest prefix), none violated."""
    atcs = [r[0] for r in care_db.execute("SELECT DISTINCT atc FROM disp").fetchall()]
    checked = 0
    for atc in atcs:
        rule = rd.indication_of(atc)
        if rule is None:
            continue
        bad = [f"age < {rule.min_age}", f"age > {rule.max_age}"]
        if rule.sex:
            bad.append(f"true_sex <> {rule.sex}")
        row = care_db.execute(
            f"SELECT count(*) FROM disp WHERE atc = '{atc}' AND ({' OR '.join(bad)})"
        ).fetchone()
        assert row is not None and row[0] == 0, f"{atc}: {row} dispensings outside {rule}"
        checked += 1
    assert checked > 50


def test_alfuzosin_is_a_drug_of_older_men(care_db: duckdb.DuckDBPyConnection) -> None:
    row = care_db.execute(
        "SELECT count(DISTINCT pid), count(*) FILTER (WHERE age >= 65) / count(*) FROM disp "
        "WHERE atc = 'G04CA01'"
    ).fetchone()
    assert row is not None
    assert row[0] >= 20 and row[1] > 0.5


# --- within-class choice ----------------------------------------------------------------------
def _users(con: duckdb.DuckDBPyConnection, atc: str) -> int:
    row = con.execute(f"SELECT count(DISTINCT pid) FROM disp WHERE atc = '{atc}'").fetchone()
    return int(row[0]) if row else 0


def test_levothyroxine_dominates_liothyronine(care_db: duckdb.DuckDBPyConnection) -> None:
    levo, lio = _users(care_db, "H03AA01"), _users(care_db, "H03AA02")
    assert levo > 10 * max(lio, 1)


@pytest.mark.parametrize(
    ("major", "minor"),
    [("C10AA05", "C10AA04"), ("A10BA02", "A10BB12"), ("R03AC02", "R03BB07")],
)
def test_market_leaders_lead(care_db: duckdb.DuckDBPyConnection, major: str, minor: str) -> None:
    assert _users(care_db, major) > 3 * max(_users(care_db, minor), 1)


def test_ondansetron_is_not_a_top_drug(care_db: duckdb.DuckDBPyConnection) -> None:
    rank = care_db.execute(
        "SELECT rk FROM (SELECT atc, row_number() OVER (ORDER BY count(*) DESC) AS rk "
        "FROM disp GROUP BY atc) WHERE atc = 'A04AA01'"
    ).fetchone()
    assert rank is None or rank[0] > 50


# --- prescriptions tied to visits ---------------------------------------------------------------
def _matched_share(con: duckdb.DuckDBPyConnection, view: str) -> float:
    row = con.execute(
        f"""
        SELECT avg(CASE WHEN v.pid IS NULL THEN 0 ELSE 1 END)
        FROM {view} d LEFT JOIN visit v
          ON v.pid = d.pid AND v.doc = d.PFS_PRE_NUM AND v.day = d.pre_date
        WHERE d.PFS_PRE_NUM IS NOT NULL
        """
    ).fetchone()
    assert row is not None
    return float(row[0])


def test_dispensings_prescribed_at_a_visit(care_db: duckdb.DuckDBPyConnection) -> None:
    assert _matched_share(care_db, "disp") > 0.85


def test_lab_tests_prescribed_at_a_visit(care_db: duckdb.DuckDBPyConnection) -> None:
    care_db.execute(
        "CREATE OR REPLACE TEMP TABLE bio AS "
        f"SELECT p.* FROM lines p JOIN ER_BIO_F s ON {DCIR_JOIN}"
    )
    assert _matched_share(care_db, "bio") > 0.85


def test_prescription_precedes_dispensing_within_a_year(
    care_db: duckdb.DuckDBPyConnection,
) -> None:
    row = care_db.execute(
        "SELECT count(*) FILTER (WHERE pre_date > care OR care - pre_date > 365), "
        "count(*) FILTER (WHERE PHA_SEQ_RNV <> '0'), count(*) FROM disp "
        "WHERE care <= dis"
    ).fetchone()
    assert row is not None
    assert row[0] == 0
    assert 0.1 < row[1] / row[2] < 0.8  # renewals exist, first dispensings too


# --- reimbursement --------------------------------------------------------------------------
def test_full_rate_iff_ald(care_db: duckdb.DuckDBPyConnection) -> None:
    """A drug below 100 % is reimbursed at 100 % exactly when the person holds, that day, the
    ALD (IR_IMB_R) of a condition whose treatments include the drug. IR_IMB_R rows whose
    IMB_ALD_DTD is empty (the injected ``ir_imb_r.missing_start`` artefact: the right exists,
    its start is unknown in the extract) cannot date the right: the dispensings such a row
    could cover are set apart (a small share, asserted) and every other line must match."""
    conds = rd.conditions()
    table = rd.drugs()
    uses = list(zip(table.column("atc").to_pylist(), table.column("use").to_pylist(), strict=True))
    pairs = []
    for name, spec in conds.items():
        if spec.ald_number is None:
            continue
        pool = set(spec.drug_atc) | {s for st in spec.subtypes for s in st.drug_atc}
        pool |= {a for a, u in uses if u == name}
        pairs += [(a, int(spec.ald_number)) for a in sorted(pool)]
    care_db.execute("CREATE OR REPLACE TEMP TABLE drug_ald (atc VARCHAR, ald INTEGER)")
    care_db.executemany("INSERT INTO drug_ald VALUES (?, ?)", pairs)
    row = care_db.execute(
        """
        WITH d AS (
          SELECT d.*, EXISTS (
            SELECT 1 FROM active_ald a JOIN drug_ald x ON x.ald = a.ald
            WHERE a.pid = d.pid AND x.atc = d.atc AND d.care BETWEEN a.dtd AND a.dtf
          ) AS has_ald, EXISTS (
            SELECT 1 FROM active_ald a JOIN drug_ald x ON x.ald = a.ald
            WHERE a.pid = d.pid AND x.atc = d.atc AND a.dtd IS NULL AND d.care <= a.dtf
          ) AS undated
          FROM disp d JOIN IR_PHA_R r ON r.PHA_ATC_C07 = d.atc
          WHERE CAST(r.PHA_TAU_COD AS INTEGER) < 100 AND d.care <= d.dis
        )
        SELECT count(*) FILTER (WHERE (CAST(RGO_REM_TAU AS DOUBLE) >= 100) <> has_ald
                                  AND NOT undated),
               count(*) FILTER (WHERE has_ald), count(*) FILTER (WHERE undated), count(*)
        FROM d
        """
    ).fetchone()
    assert row is not None
    mismatch, exempt, undated, total = row
    assert exempt > 0.05 * total
    assert undated < 0.02 * total, "the undated-ALD exclusion would hide too much"
    assert mismatch == 0


def test_pharmacy_nature_follows_the_drug_class(care_db: duckdb.DuckDBPyConnection) -> None:
    """PRS_NAT_REF is the drug's class (3311 = PH1, drugs always at 100 %), not the ALD."""
    row = care_db.execute(
        "SELECT count(*) FILTER (WHERE (PRS_NAT_REF = '3311') <> (drug_rate = '100')), "
        "count(*) FILTER (WHERE CAST(RGO_REM_TAU AS DOUBLE) >= 100 AND drug_rate <> '100') "
        "FROM disp"
    ).fetchone()
    assert row is not None and row[0] == 0 and row[1] > 0


def test_processing_date_never_before_care(care_db: duckdb.DuckDBPyConnection) -> None:
    row = care_db.execute(
        f"SELECT count(*) FILTER (WHERE {_d('FLX_TRT_DTD')} < {_d('EXE_SOI_DTD')} "
        f"OR {_d('FLX_TRT_DTD')} >= {_d('FLX_DIS_DTD')}), count(*) FROM ER_PRS_F "
        f"WHERE {_d('EXE_SOI_DTD')} <= {_d('FLX_DIS_DTD')}"
    ).fetchone()
    assert row is not None and row[1] > 0 and row[0] == 0


def test_treatment_mode_follows_the_setting(care_db: duckdb.DuckDBPyConnection) -> None:
    rows = dict(
        care_db.execute(
            f"""
            SELECT CASE WHEN p.PRS_NAT_REF = '2211' THEN 'stay'
                        WHEN p.PRS_NAT_REF = '2238' THEN 'emergency' ELSE 'external' END,
                   string_agg(DISTINCT e.MDT_COD, ',' ORDER BY e.MDT_COD)
            FROM ER_PRS_F p JOIN ER_ETE_F e ON {DCIR_JOIN.replace("s.", "e.")}
            GROUP BY 1
            """
        ).fetchall()
    )
    assert rows["stay"] == "3,4"
    assert rows["emergency"] == "10"
    assert rows["external"] == "7"


def test_extra_fees_are_qualified(care_db: duckdb.DuckDBPyConnection) -> None:
    row = care_db.execute(
        "SELECT count(*) FILTER (WHERE DPN_QLF IS NULL), count(*) FROM ER_PRS_F "
        "WHERE CAST(PRS_DEP_MNT AS DOUBLE) <> 0"
    ).fetchone()
    assert row is not None and row[1] > 0 and row[0] == 0


# --- distributions ------------------------------------------------------------------------------
def _shares(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, float]:
    return {str(k): float(v) for k, v in con.execute(sql).fetchall()}


def test_nursing_and_physiotherapy_coefficients(care_db: duckdb.DuckDBPyConnection) -> None:
    nurse = _shares(
        care_db,
        "SELECT PRS_NAT_REF || ':' || CAST(CAST(PRS_ACT_COG AS DOUBLE) AS VARCHAR), "
        "count(*) / sum(count(*)) OVER () FROM lines "
        "WHERE PRS_NAT_REF IN ('3111', '3112') GROUP BY 1",
    )
    assert nurse["3111:1.0"] > nurse["3111:4.0"] > 0.02
    assert 0.15 < nurse["3112:3.0"] < 0.4  # AIS nursing-care sessions
    physio = _shares(
        care_db,
        "SELECT CAST(CAST(PRS_ACT_COG AS DOUBLE) AS VARCHAR), count(*) / sum(count(*)) OVER () "
        "FROM lines WHERE PRS_NAT_REF = '3122' GROUP BY 1",
    )
    assert max(physio, key=physio.__getitem__) == "7.5"
    assert "1.0" not in physio and "8.0" in physio


def test_boxes_per_dispensing(care_db: duckdb.DuckDBPyConnection) -> None:
    boxes = _shares(
        care_db,
        "SELECT LEAST(CAST(PHA_ACT_QSN AS INTEGER), 3), count(*) / sum(count(*)) OVER () "
        "FROM disp GROUP BY 1",
    )
    assert boxes["1"] > 0.7
    assert 0.05 < boxes["2"] < 0.25
    assert 0.01 < boxes["3"] < 0.15


# --- truth manifest -----------------------------------------------------------------------------
def test_manifest_records_the_care_rules_and_exact_counts(
    care_db: duckdb.DuckDBPyConnection, extract: Path
) -> None:
    manifest = json.loads((extract / "truth" / "manifest.json").read_text())
    care = manifest["care"]
    assert {r["atc"] for r in care["indications"]["rules"]} >= {"G03A", "G04CA", "J07CA09"}
    assert care["market_shares"]["weights"]["hypothyroidism"]["weights"]["H03AA01"] == 97
    counts = manifest["counts"]
    row = care_db.execute(
        "SELECT count(*) FROM ER_PRS_F WHERE BSE_REM_SGN = '1' AND CPL_MAJ_TOP = '0' "
        "AND PRS_NAT_REF IN ('3312', '3313', '3341') AND CAST(RGO_REM_TAU AS DOUBLE) >= 100"
    ).fetchone()
    assert row is not None and row[0] > 0
    assert counts["dcir.ald_exempt_pharmacy_lines"] == row[0]
    row = care_db.execute(
        "SELECT count(*) FROM ER_PRS_F WHERE DPN_QLF = '61' AND CAST(PRS_DEP_MNT AS DOUBLE) <> 0"
    ).fetchone()
    assert row is not None and counts["dcir.dpn_qlf_extra_fee_lines"] == row[0]
