"""Coherence of the synthetic SNDS: what an analyst would check before trusting it."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from sndslab.registry import DCIR_JOIN_KEYS, get_table
from sndslab.synth._tables import EXPORTED_NOMENCLATURES

COPIED_NOMENCLATURES = {name.split("/")[1] for name in EXPORTED_NOMENCLATURES}

REQUIRED = [
    "IR_BEN_R",
    "IR_IMB_R",
    "ER_PRS_F",
    "ER_PHA_F",
    "ER_CAM_F",
    "ER_BIO_F",
    "ER_UCD_F",
    "ER_ETE_F",
    "DA_PRA_R",
    "BE_IDE_R",
    "IR_PHA_R",
    "XX_GHM_R",
    "T_MCOaaB",
    "T_MCOaaC",
    "T_MCOaaD",
    "T_MCOaaA",
    "T_MCOaaUM",
    "T_MCOaaE",
    "T_MCOaaCSTC",
    "T_MCOaaFASTC",
    "T_MCOaaFBSTC",
    "T_MCOaaFCSTC",
    "T_MCOaaFMSTC",
    "T_SSRaaB",
    "T_SSRaaC",
    "T_SSRaaCSARR",
    "T_HADaaB",
    "T_HADaaC",
    "T_RIPaaRSA",
    "T_RIPaaC",
    "KI_CCI_R",
    "KI_ECD_R",
]
NINE_KEYS = list(DCIR_JOIN_KEYS)
DCIR_DATE = "try_strptime({}, '%d/%m/%Y')::DATE"
SAS_DATE = "try_strptime({}, '%d%b%Y:%H:%M:%S')::DATE"


def one(db: duckdb.DuckDBPyConnection, sql: str) -> object:
    row = db.execute(sql).fetchone()
    assert row is not None
    return row[0]


def manifest(extract: Path) -> dict:
    return json.loads((extract / "truth" / "manifest.json").read_text())


def test_every_table_is_produced_with_registry_columns(extract: Path) -> None:
    raw = extract / "raw"
    stems = {f.stem for f in raw.glob("*.csv")}
    from sndslab.registry import resolve_file_stem

    produced = set()
    for stem in stems:
        try:
            produced.add(resolve_file_stem(stem)[0].name)
        except Exception:
            continue
    assert set(REQUIRED) <= produced, sorted(set(REQUIRED) - produced)
    # headers are exactly the registry columns, in order, ';'-separated
    for f in raw.glob("*.csv"):
        try:
            spec, _ = resolve_file_stem(f.stem)
        except Exception:
            continue
        if f.stem in COPIED_NOMENCLATURES:  # vendored CNAM files, copied byte for byte
            continue
        header = f.open(encoding="utf-8").readline().rstrip("\n").split(";")
        assert header == spec.column_names, f.name
    assert (extract / "truth" / "manifest.json").exists()
    assert (extract / "manifest.json").exists()


def test_dcir_satellites_all_match_a_prestation(
    db: duckdb.DuckDBPyConnection, extract: Path
) -> None:
    keys = " AND ".join(f"s.{k} = p.{k}" for k in NINE_KEYS)
    counts = manifest(extract)["counts"]
    orphans = 0
    for sat in ("ER_PHA_F", "ER_CAM_F", "ER_BIO_F", "ER_UCD_F", "ER_ETE_F"):
        n = one(db, f"SELECT count(*) FROM {sat} s ANTI JOIN ER_PRS_F p ON {keys}")
        assert n == counts.get(f"dcir.orphan_satellite_rows.{sat}", 0), sat
        orphans += int(n)  # type: ignore[arg-type]
    assert orphans == counts["dcir.orphan_satellite_rows"] > 0
    # the 9-column key is unique in ER_PRS_F
    dup = one(db, f"SELECT count(*) - count(DISTINCT ({', '.join(NINE_KEYS)})) FROM ER_PRS_F")
    assert dup == 0


def _person_dates(db: duckdb.DuckDBPyConnection) -> None:
    db.execute("""
        CREATE OR REPLACE TEMP VIEW key_person AS
        SELECT i.ben_nir_psa AS psa, i.ben_rng_gem::VARCHAR AS rng, p.person_id,
               p.birth_date, p.death_date
        FROM truth_identities i JOIN truth_persons p USING (person_id)
    """)


def test_no_outpatient_care_outside_life(db: duckdb.DuckDBPyConnection, extract: Path) -> None:
    _person_dates(db)
    care = DCIR_DATE.format("EXE_SOI_DTD")
    flow = DCIR_DATE.format("FLX_DIS_DTD")
    after_death = one(
        db,
        f"""
        SELECT count(*) FROM ER_PRS_F e JOIN key_person k
          ON e.BEN_NIR_PSA = k.psa AND e.BEN_RNG_GEM = k.rng
        WHERE {care} > k.death_date AND {care} <= {flow}""",
    )
    before_birth = one(
        db,
        f"""
        SELECT count(*) FROM ER_PRS_F e JOIN key_person k
          ON e.BEN_NIR_PSA = k.psa AND e.BEN_RNG_GEM = k.rng
        WHERE {care} < k.birth_date""",
    )
    assert after_death == 0
    assert before_birth == 0
    # the only impossible dates are the injected ones (missing, or after the flow date)
    invalid = one(db, f"SELECT count(*) FROM ER_PRS_F WHERE {care} IS NULL OR {care} > {flow}")
    assert invalid == manifest(extract)["counts"]["dcir.invalid_care_date_lines"]


def test_hospital_stays_are_consistent(db: duckdb.DuckDBPyConnection) -> None:
    _person_dates(db)
    dtd, dtf = SAS_DATE.format("c.EXE_SOI_DTD"), SAS_DATE.format("c.EXE_SOI_DTF")
    _mco_view(db)
    db.execute(f"""
        CREATE OR REPLACE TEMP VIEW mco AS
        SELECT b.*, {dtd} AS entry, {dtf} AS exit, p.birth_date, p.death_date
        FROM mco_person b JOIN T_MCOaaC c USING (ETA_NUM, RSA_NUM)
        JOIN truth_persons p USING (person_id)
    """)
    assert one(db, "SELECT count(*) FROM mco") > 100
    # every record is one of its person's (truth pmsi_links), under one of the person's keys
    # except the injected NIR_ANO_17 faults (unknown code, another person's key: < 1.5 %)
    assert one(db, "SELECT count(*) FROM mco") == one(db, "SELECT count(*) FROM T_MCOaaB")
    foreign = one(
        db,
        """SELECT count(*) FROM mco m ANTI JOIN truth_identities i
           ON i.person_id = m.person_id AND i.ben_nir_psa = m.NIR_ANO_17""",
    )
    faults = one(
        db,
        """SELECT count(*) FROM truth_pmsi_links l WHERE product = 'mco' AND NOT EXISTS
           (SELECT 1 FROM truth_identities i
            WHERE i.person_id = l.person_id AND i.ben_nir_psa = l.nir_ano_17)""",
    )
    assert 0 < foreign == faults < 0.015 * one(db, "SELECT count(*) FROM mco")
    assert one(db, "SELECT count(*) FROM mco WHERE exit < entry") == 0
    assert one(db, "SELECT count(*) FROM mco WHERE SEJ_NBJ::INT <> exit - entry") == 0
    assert one(db, "SELECT count(*) FROM mco WHERE SOR_ANN::INT <> year(exit)") == 0
    assert one(db, "SELECT count(*) FROM mco WHERE exit > death_date OR entry < birth_date") == 0
    # exit mode 9 (death) exactly when the stay ends on the death day
    assert one(db, "SELECT count(*) FROM mco WHERE (SOR_MOD = '9') <> (exit = death_date)") == 0
    # a person's stays do not overlap (geographic-FINESS duplicates excluded, and the records
    # of inter-establishment services, which lie inside the requesting stay by definition);
    # a transfer-in stay (ENT_MOD 7) starts on the exit day of the stay it comes from
    overlap = one(
        db,
        """
        WITH s AS (SELECT DISTINCT person_id, entry, exit, ENT_MOD FROM mco WHERE ENT_MOD <> '0')
        SELECT count(*) FROM (SELECT entry, ENT_MOD, lag(exit) OVER (PARTITION BY person_id
                              ORDER BY entry, exit) AS prev_exit FROM s)
        WHERE entry < prev_exit OR (entry = prev_exit AND ENT_MOD <> '7')""",
    )
    assert overlap == 0
    _inter_establishment_records_are_consistent(db)
    # every satellite row belongs to a stay
    for sat in ("T_MCOaaD", "T_MCOaaA", "T_MCOaaUM"):
        assert (
            one(db, f"SELECT count(*) FROM {sat} ANTI JOIN T_MCOaaB USING (ETA_NUM, RSA_NUM)") == 0
        )


def _mco_view(db: duckdb.DuckDBPyConnection) -> None:
    """``mco_person``: T_MCOaaB rows with their true person (truth ``pmsi_links``; a PSA alone
    is ambiguous for twins and family-rank siblings)."""
    db.execute("""
        CREATE OR REPLACE TEMP VIEW mco_person AS
        SELECT b.*, l.person_id, l.nir_ano_17 AS NIR_ANO_17 FROM T_MCOaaB b
        JOIN truth_pmsi_links l ON l.product = 'mco' AND l.eta_num = b.ETA_NUM
         AND l.number = b.RSA_NUM AND l.year = b.SOR_ANN::INT
    """)


def _inter_establishment_records_are_consistent(db: duckdb.DuckDBPyConnection) -> None:
    """Provider records (ENT_MOD = SOR_MOD = '0', SEJ_TYP = 'B'): one day inside a stay of the
    same person in another establishment, whose record says SEJ_TYP = 'A'."""
    pie = "SELECT * FROM mco WHERE ENT_MOD = '0'"
    assert one(db, f"SELECT count(*) FROM ({pie}) WHERE SOR_MOD <> '0' OR SEJ_TYP <> 'B'") == 0
    assert one(db, "SELECT count(*) FROM mco WHERE SEJ_TYP = 'B' AND ENT_MOD <> '0'") == 0
    assert one(db, f"SELECT count(*) FROM ({pie}) WHERE entry <> exit") == 0
    outside = one(
        db,
        f"""SELECT count(*) FROM ({pie}) x ANTI JOIN (SELECT * FROM mco WHERE SEJ_TYP = 'A') r
            ON r.person_id = x.person_id AND r.ETA_NUM <> x.ETA_NUM
           AND x.entry >= r.entry AND x.entry < r.exit""",
    )
    assert outside == 0
    sessions = one(db, f"SELECT count(*) FROM ({pie}) WHERE GRG_GHM LIKE '28%'")
    assert 0 < sessions < one(db, f"SELECT count(*) FROM ({pie})")  # type: ignore[operator]


def test_diagnoses_drugs_and_ald_match_conditions(db: duckdb.DuckDBPyConnection) -> None:
    _person_dates(db)
    _mco_view(db)
    db.execute("""
        CREATE OR REPLACE TEMP VIEW diabetics AS
        SELECT DISTINCT person_id FROM truth_conditions WHERE condition = 'diabetes'
    """)
    # antidiabetic dispensings go to diabetics only
    treated = db.execute("""
        SELECT count(*) FILTER (WHERE d.person_id IS NULL), count(*)
        FROM ER_PHA_F h JOIN ER_PRS_F p USING (DCT_ORD_NUM, FLX_DIS_DTD, FLX_EMT_NUM,
             FLX_EMT_ORD, FLX_EMT_TYP, FLX_TRT_DTD, ORG_CLE_NUM, PRS_ORD_NUM, REM_TYP_AFF)
        JOIN IR_PHA_R r ON r.PHA_CIP_C13 = h.PHA_PRS_C13
        JOIN key_person k ON p.BEN_NIR_PSA = k.psa AND p.BEN_RNG_GEM = k.rng
        LEFT JOIN diabetics d ON d.person_id = k.person_id
        WHERE r.PHA_ATC_C07 LIKE 'A10%'
    """).fetchone()
    assert treated is not None and treated[1] > 20 and treated[0] == 0
    # ALD 8 (diabetes) declared for diabetics only, with a valid ICD-10 reason
    ald = db.execute("""
        SELECT count(*) FILTER (WHERE d.person_id IS NULL), count(*)
        FROM IR_IMB_R i JOIN key_person k ON i.BEN_NIR_PSA = k.psa AND i.BEN_RNG_GEM = k.rng
        LEFT JOIN diabetics d ON d.person_id = k.person_id
        WHERE i.IMB_ALD_NUM = '8'
    """).fetchone()
    assert ald is not None and ald[1] > 20 and ald[0] == 0
    # stays with a diabetes main diagnosis (E10-E14) are diabetics' stays
    dp = db.execute("""
        SELECT count(*) FILTER (WHERE d.person_id IS NULL), count(*)
        FROM mco_person b LEFT JOIN diabetics d ON d.person_id = b.person_id
        WHERE regexp_matches(b.DGN_PAL, '^E1[0-4]')
    """).fetchone()
    assert dp is not None and dp[0] == 0
    # hip fractures (S72) under 65 are never falls (those are of persons 65+): they are
    # road/sport injuries or pathological fractures of the truth's non-fall fractures
    young = one(
        db,
        """
        SELECT count(*) FROM mco_person b ANTI JOIN truth_non_fall_fractures f USING (person_id)
        WHERE b.DGN_PAL LIKE 'S72%' AND b.AGE_ANN::INT < 65""",
    )
    assert young == 0


def test_codes_are_valid_nomenclature_codes(db: duckdb.DuckDBPyConnection) -> None:
    bad_cim = one(
        db,
        """
        SELECT count(*) FROM (SELECT DGN_PAL AS c FROM T_MCOaaB UNION ALL
                              SELECT ASS_DGN FROM T_MCOaaD UNION ALL
                              SELECT DCD_CIM_COD FROM KI_CCI_R) x
        WHERE c NOT IN (SELECT CIM_COD FROM IR_CIM_V)""",
    )
    assert bad_cim == 0
    bad_ccam = one(
        db,
        """
        SELECT count(*) FROM (SELECT CDC_ACT AS c FROM T_MCOaaA UNION ALL
                              SELECT CAM_PRS_IDE FROM ER_CAM_F) x
        WHERE c NOT IN (SELECT CAM_PRS_IDE_COD FROM IR_CCAM_V63)""",
    )
    assert bad_ccam == 0
    bad_cip = one(
        db,
        """
        SELECT count(*) FROM ER_PHA_F
        WHERE PHA_PRS_C13 NOT IN (SELECT PHA_CIP_C13 FROM IR_PHA_R)""",
    )
    assert bad_cip == 0
    bad_pra = one(
        db,
        """
        SELECT count(*) FROM ER_PRS_F WHERE PFS_EXE_NUM IS NOT NULL
          AND PFS_EXE_NUM NOT IN (SELECT PFS_PFS_NUM FROM DA_PRA_R)""",
    )
    assert bad_pra == 0


def test_identity_quirks_are_present(db: duckdb.DuckDBPyConnection) -> None:
    roles = dict(db.execute("SELECT role, count(*) FROM truth_identities GROUP BY 1").fetchall())
    assert roles.get("second_parent", 0) > 0 and roles.get("previous", 0) > 0
    # twins share a PSA with different ranks
    twins = one(
        db,
        """
        SELECT count(*) FROM (SELECT BEN_NIR_PSA FROM IR_BEN_R GROUP BY 1
                              HAVING count(DISTINCT BEN_RNG_GEM) > 1)""",
    )
    assert twins > 0
    # family-rank siblings share a PSA although their sex or birth year differ (twins do not)
    family = one(
        db,
        """
        SELECT count(*) FROM (SELECT BEN_NIR_PSA FROM IR_BEN_R GROUP BY 1
          HAVING count(DISTINCT BEN_SEX_COD) > 1
              OR max(BEN_NAI_ANN::INT) - min(BEN_NAI_ANN::INT) >= 2)""",
    )
    counts = db.execute("SELECT role, count(*) FROM truth_identities GROUP BY 1").fetchall()
    # adults reusing another adult's PSA (identity difficulty) also differ in sex or birth year
    reused = one(
        db,
        """SELECT count(*) FROM (SELECT i.ben_nir_psa FROM truth_identities i
             JOIN truth_persons p USING (person_id)
           WHERE i.ben_nir_psa IN (SELECT ben_nir_psa FROM truth_identities
                                   WHERE difficulty LIKE '%psa_reused%')
           GROUP BY 1 HAVING count(DISTINCT p.sex) > 1
              OR max(year(p.birth_date)) - min(year(p.birth_date)) >= 2)""",
    )
    assert family == dict(counts)["family_rank"] + reused and dict(counts)["family_rank"] > 0
    # keys left out of IR_BEN_R (the truth says which)
    absent = one(db, "SELECT count(*) FROM truth_identities WHERE NOT in_ir_ben_r")
    assert absent > 0
    assert one(db, "SELECT count(*) FROM IR_BEN_R") == one(
        db, "SELECT count(*) FROM truth_identities WHERE in_ir_ben_r"
    )
    # a person with several PSA: same BEN_NIR_ANO on several IR_BEN_R keys
    multi = one(
        db,
        """
        SELECT count(*) FROM (SELECT BEN_NIR_ANO FROM IR_BEN_R WHERE BEN_NIR_ANO IS NOT NULL
                              GROUP BY 1 HAVING count(*) > 1)""",
    )
    assert multi > 0
    fict = one(
        db, "SELECT count(*) FROM IR_BEN_R WHERE BEN_CDI_NIR IN ('01','05','06','08','09','11')"
    )
    assert fict > 0
    assert (
        one(
            db,
            "SELECT count(*) FROM IR_BEN_R WHERE BEN_CDI_NIR IN ('01','05','06','08','09','11') "
            "AND BEN_NIR_ANO IS NOT NULL",
        )
        == 0
    )


def test_artefact_rates_match_configuration(db: duckdb.DuckDBPyConnection, extract: Path) -> None:
    counts = manifest(extract)["counts"]
    prs = one(db, "SELECT count(*) FROM ER_PRS_F")
    neg = one(db, "SELECT count(*) FROM ER_PRS_F WHERE BSE_REM_SGN = '2' OR CPL_REM_SGN = '2'")
    assert neg == counts["dcir.regularisation_cancellations"]
    assert 0.01 < neg / prs < 0.03  # type: ignore[operator]
    info = one(db, "SELECT count(*) FROM ER_PRS_F WHERE DPN_QLF = '71'")
    assert info == counts["dcir.dpn_qlf_71_lines"]
    ace = one(db, "SELECT count(*) FROM T_MCOaaFASTC")
    assert 0.7 < info / ace < 0.9  # type: ignore[operator]
    ghm90 = one(db, "SELECT count(*) FROM T_MCOaaB WHERE GRG_GHM LIKE '90%'")
    assert ghm90 == counts["pmsi.mco.ghm_90"]
    pie = one(db, "SELECT count(*) FROM T_MCOaaB WHERE ENT_MOD = '0' OR SOR_MOD = '0'")
    stays = one(db, "SELECT count(*) FROM T_MCOaaB WHERE SEJ_NBJ::INT >= 1")
    assert pie == counts["pmsi.mco.inter_establishment"]
    assert 0.004 < pie / stays < 0.02  # type: ignore[operator]
    requesting = one(db, "SELECT count(*) FROM T_MCOaaB WHERE SEJ_TYP = 'A'")
    assert requesting == counts["pmsi.mco.sej_typ_a"] >= pie  # type: ignore[operator]
    gen = one(db, "SELECT count(*) FROM T_MCOaaB WHERE TYP_GEN_RSA <> '0'")
    assert gen == counts["pmsi.mco.typ_gen_rsa"] > 0
    rip_gen = one(db, "SELECT count(*) FROM T_RIPaaRSA WHERE TYP_GEN_RSA <> '0'")
    assert rip_gen == counts["pmsi.rip.typ_gen_rsa"]
    cpl = one(db, "SELECT count(*) FROM ER_PRS_F WHERE CPL_MAJ_TOP::INT >= 2")
    assert cpl == counts["dcir.surcharge_lines"] and cpl > 0
    sentinel = one(db, "SELECT count(*) FROM IR_IMB_R WHERE IMB_ALD_DTF = '01/01/1600'")
    assert sentinel == counts["ir_imb_r.open_ended_sentinel"] and sentinel > 0
    # late flows: after June of the year following the care year (the care-year window)
    late = one(
        db,
        f"""SELECT count(*) FROM ER_PRS_F
        WHERE {DCIR_DATE.format("FLX_DIS_DTD")}
              > make_date(year({DCIR_DATE.format("EXE_SOI_DTD")}) + 1, 6, 1)""",
    )
    assert late == counts["dcir.late_flow_lines"] > 0


def test_truth_manifest_is_complete(extract: Path, db: duckdb.DuckDBPyConnection) -> None:
    m = manifest(extract)
    assert len(m["drug_effects"]["effects"]) >= 10
    assert all(1.3 <= e["irr"] <= 3.0 for e in m["drug_effects"]["effects"])
    assert m["drug_effects"]["null_drugs"] >= 400
    atcs = {r[0] for r in db.execute("SELECT DISTINCT PHA_ATC_C07 FROM IR_PHA_R").fetchall()}
    assert {e["atc"] for e in m["drug_effects"]["effects"]} <= atcs
    assert set(m["readmission_model"]["coefficients"]) >= {"heart_failure", "emergency_admission"}
    providers = {p["pfs_pfs_num"] for p in m["abusive_providers"]["providers"]}
    assert providers
    listed = {r[0] for r in db.execute("SELECT PFS_PFS_NUM FROM DA_PRA_R").fetchall()}
    assert providers <= listed
    gp_deps = db.execute(
        "SELECT count(DISTINCT departement) FROM truth_practitioners WHERE kind = 'gp'"
    ).fetchone()[0]
    # communities are geographic: at least one per département that has a GP
    assert m["communities"]["n_communities"] >= gp_deps >= 13
    for name in ("persons", "identities", "conditions", "falls", "stays", "practitioners"):
        assert (extract / "truth" / f"{name}.parquet").exists()


def test_calibration_on_the_shared_extract(extract: Path) -> None:
    """The national figures of test_generate.py::test_calibration_targets (slow, 40 000
    persons) with the same bounds on the 10 000-person extract, GPs per 100 000 excepted
    (only meaningful above ~20 000 persons)."""
    cal = manifest(extract)["calibration"]
    assert 0.16 <= cal["hospitalised_share"] <= 0.22, cal
    assert 0.045 <= cal["treated_diabetes_share"] <= 0.065, cal
    assert 7.5 <= cal["deaths_per_1000_per_year"] <= 11.5, cal
    assert 0.08 <= cal["readmission_30d_share"] <= 0.20, cal


@pytest.mark.parametrize("table", ["ER_PRS_F", "T_MCOaaB", "IR_BEN_R"])
def test_registry_types_parse(db: duckdb.DuckDBPyConnection, table: str) -> None:
    """Every integer/number/date column of a few wide tables parses with its canonical type.

    One pass over the raw files: one ``count(*) FILTER`` per column in a single query."""
    spec = get_table(table)
    fmt = spec.date_format
    checks: dict[str, str] = {}
    for col in spec.columns:
        if table == "ER_PRS_F" and col.name == "EXE_SOI_DTD":
            continue
        if col.type == "integer":
            expr = f"try_cast({col.name} AS BIGINT)"
        elif col.type == "number":
            expr = f"try_cast({col.name} AS DOUBLE)"
        elif col.type in ("date", "datetime"):
            expr = f"try_strptime({col.name}, '{fmt}')"
        else:
            continue
        checks[col.name] = f"count(*) FILTER (WHERE {col.name} IS NOT NULL AND {expr} IS NULL)"
    assert checks, table
    counts = db.execute(f"SELECT {', '.join(checks.values())} FROM {table}").fetchone()
    assert counts is not None
    bad = {name: n for name, n in zip(checks, counts, strict=True) if n}
    assert not bad, (table, bad)


def test_treated_diabetes_rises_with_age(db: duckdb.DuckDBPyConnection) -> None:
    _person_dates(db)
    rows = db.execute(
        """
        WITH treated AS (
            SELECT k.person_id, count(*) AS n
            FROM ER_PHA_F h
            JOIN ER_PRS_F p USING (DCT_ORD_NUM, FLX_DIS_DTD, FLX_EMT_NUM, FLX_EMT_ORD,
                                   FLX_EMT_TYP, FLX_TRT_DTD, ORG_CLE_NUM, PRS_ORD_NUM,
                                   REM_TYP_AFF)
            JOIN IR_PHA_R r ON r.PHA_CIP_C13 = h.PHA_PRS_C13
            JOIN key_person k ON p.BEN_NIR_PSA = k.psa AND p.BEN_RNG_GEM = k.rng
            WHERE r.PHA_ATC_C07 LIKE 'A10%' AND p.EXE_SOI_DTD LIKE '%/2019'
            GROUP BY 1 HAVING count(*) >= 3
        )
        SELECT CASE WHEN date_diff('year', birth_date, DATE '2019-01-01') < 40 THEN 0
                    WHEN date_diff('year', birth_date, DATE '2019-01-01') < 65 THEN 1
                    ELSE 2 END AS band,
               avg((t.person_id IS NOT NULL)::INT) AS share
        FROM truth_persons p LEFT JOIN treated t USING (person_id)
        GROUP BY 1 ORDER BY 1
        """
    ).fetchall()
    shares = [r[1] for r in rows]
    assert shares[0] < shares[1] < shares[2], shares
    assert shares[2] > 0.08, shares


def test_death_certificates_and_groupings_link(db: duckdb.DuckDBPyConnection) -> None:
    # every listed cause belongs to a certificate; the underlying cause is listed on part I
    # of its certificate (the chain's last line: tests/synth/test_realism_deaths.py)
    assert one(db, "SELECT count(*) FROM KI_ECD_R ANTI JOIN KI_CCI_R USING (DCD_IDT_ENC)") == 0
    unlisted = one(
        db,
        """SELECT count(*) FROM KI_CCI_R c WHERE NOT EXISTS (SELECT 1 FROM KI_ECD_R e
           WHERE e.DCD_IDT_ENC = c.DCD_IDT_ENC AND e.ECD_CIM_COD = c.DCD_CIM_COD
           AND CAST(e.CER_LIG_NUM AS INT) < 5)""",
    )
    assert unlisted == 0
    # every stay's GHM comes from the GHM referential (or is the "90" error group)
    ungrouped = one(
        db,
        """SELECT count(*) FROM T_MCOaaB WHERE GRG_GHM NOT LIKE '90%'
           AND GRG_GHM NOT IN (SELECT GHM_COD FROM XX_GHM_R)""",
    )
    assert ungrouped == 0
