"""PMSI realism (issue 10, item 3): CMD 28 sessions, minimum lengths of stay per severity
level, 0-night share, multi-unit stays, related diagnoses, anaesthesia acts, transfers,
deliveries and newborn stays, the readmission truth without sessions, ENT_PRV in int/events.

Checked on the raw files of the shared 10,000-person extract (``extract``), keyed by
(ETA_NUM, RSA_NUM, file year) since record numbers are unique per establishment and year.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from sndslab.synth import SynthConfig, generate
from sndslab.synth._hospital import MIN_NIGHTS_PER_LEVEL, ghm_suffix

SAS_DATE = "try_strptime({}, '%d%b%Y:%H:%M:%S')::DATE"
PRODUCTS = ("B", "C", "UM", "A")


def one(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


def _views(extract: Path) -> duckdb.DuckDBPyConnection:
    """MCO raw tables with the year of their file (``yr``) and the truth tables."""
    con = duckdb.connect()
    for t in PRODUCTS:
        files = sorted(str(f) for f in (extract / "raw").glob(f"T_MCO[0-9][0-9]{t}.csv"))
        assert files, t
        con.execute(
            f"CREATE VIEW {t} AS SELECT *, 2000 + regexp_extract(filename, 'T_MCO(\\d\\d)', 1)"
            f"::INT AS yr FROM read_csv({files!r}, delim=';', header=true, all_varchar=true, "
            "union_by_name=true, filename=true)"
        )
    for f in sorted((extract / "truth").glob("*.parquet")):
        con.execute(f"CREATE VIEW truth_{f.stem} AS SELECT * FROM read_parquet('{f}')")
    dtd, dtf = SAS_DATE.format("c.EXE_SOI_DTD"), SAS_DATE.format("c.EXE_SOI_DTF")
    con.execute(f"""
        CREATE VIEW stay AS
        SELECT b.*, {dtd} AS entry, {dtf} AS exit, l.person_id
        FROM B b JOIN C c USING (ETA_NUM, RSA_NUM, yr)
        JOIN truth_pmsi_links l ON l.product = 'mco' AND l.eta_num = b.ETA_NUM
         AND l.number = b.RSA_NUM AND l.year = b.yr
    """)
    return con


@pytest.fixture(scope="module")
def con(extract: Path) -> duckdb.DuckDBPyConnection:
    return _views(extract)


def test_sessions_are_one_day_records_with_z_ghm(con: duckdb.DuckDBPyConnection) -> None:
    sessions = "SELECT * FROM stay WHERE GRG_GHM LIKE '28%'"
    assert one(con, f"SELECT count(*) FROM ({sessions})") > 50
    # GHM ending in Z (non-segmented CMD 28 roots), no night, one session, entry = exit
    assert one(con, f"SELECT count(*) FROM ({sessions}) WHERE GRG_GHM NOT LIKE '28Z__Z'") == 0
    assert one(con, f"SELECT count(*) FROM ({sessions}) WHERE exit <> entry") == 0
    assert one(con, f"SELECT count(*) FROM ({sessions}) WHERE SEJ_NBJ IS NOT NULL") == 0
    assert one(con, f"SELECT count(*) FROM ({sessions}) WHERE NBR_SEA <> '1'") == 0
    # every session main diagnosis (dialysis, radio/chemotherapy, transfusion) groups in CMD 28
    # (inter-establishment provider records add apheresis and hyperbaric oxygen, DP Z51.8)
    z = "regexp_matches(DGN_PAL, '^Z(491|51[0-3])')"
    assert (
        one(
            con,
            f"SELECT count(*) FROM stay WHERE {z} AND GRG_GHM NOT LIKE '28%' "
            "AND GRG_GHM <> '90Z00Z'",
        )
        == 0
    )
    z_all = "regexp_matches(DGN_PAL, '^Z(491|51[0-38])')"
    assert one(con, f"SELECT count(*) FROM stay WHERE NOT {z_all} AND GRG_GHM LIKE '28%'") == 0


def test_minimum_length_of_stay_per_severity_level(con: duckdb.DuckDBPyConnection) -> None:
    for level, nights in MIN_NIGHTS_PER_LEVEL.items():
        letter = "ABCD"[level - 1]
        rows = f"""SELECT * FROM stay WHERE GRG_GHM NOT LIKE '28%' AND (right(GRG_GHM, 1) =
                   '{level}' OR (left(GRG_GHM, 2) IN ('14', '15') AND right(GRG_GHM, 1) =
                   '{letter}'))"""
        assert one(con, f"SELECT count(*) FROM ({rows})") > 20, level
        assert one(con, f"SELECT count(*) FROM ({rows}) WHERE SEJ_NBJ::INT < {nights}") == 0
    # 0-night stays are never grouped with a severity digit, and J/T suffixes are 0-night
    assert (
        one(
            con,
            "SELECT count(*) FROM stay WHERE SEJ_NBJ = '0' AND right(GRG_GHM, 1) IN "
            "('1', '2', '3', '4') AND ENT_MOD <> '0'",
        )
        == 0
    )
    assert (
        one(
            con,
            "SELECT count(*) FROM stay WHERE right(GRG_GHM, 1) IN ('J', 'T') AND SEJ_NBJ <> '0'",
        )
        == 0
    )


def test_ghm_suffix_rules() -> None:
    root = np.array(["28Z07", "05M09", "05M09", "08C48", "14Z14", "27Z02", "05M09"])
    severity = np.array([1, 3, 1, 1, 2, 1, 1])
    los = np.array([0, 6, 0, 0, 4, 9, 2])
    assert ghm_suffix(root, severity, los).tolist() == ["Z", "3", "T", "J", "B", "Z", "1"]


def test_zero_night_share_near_reality(con: duckdb.DuckDBPyConnection) -> None:
    """ATIH 2018: 8.1 M ambulatory (0-night) stays vs 10.7 M full hospitalisations outside
    sessions (43 %); with sessions about 40–50 % of the records have no night."""
    base = "SELECT * FROM stay WHERE ENT_MOD <> '0'"
    all_share = one(con, f"SELECT avg((coalesce(SEJ_NBJ, '0') = '0')::INT) FROM ({base})")
    stays_share = one(
        con, f"SELECT avg((SEJ_NBJ = '0')::INT) FROM ({base}) WHERE GRG_GHM NOT LIKE '28%'"
    )
    assert 0.40 <= all_share <= 0.52, all_share
    assert 0.35 <= stays_share <= 0.50, stays_share


def test_multi_unit_stays(con: duckdb.DuckDBPyConnection) -> None:
    per = """SELECT ETA_NUM, RSA_NUM, yr, count(*) AS n, sum(PAR_DUR_SEJ::INT) AS nights,
                    max(UM_ORD_NUM::INT) AS last FROM UM GROUP BY ALL"""
    joined = (
        f"SELECT b.*, u.n, u.nights, u.last FROM B b JOIN ({per}) u USING (ETA_NUM, RSA_NUM, yr)"
    )
    assert one(con, f"SELECT count(*) FROM ({joined})") == one(con, "SELECT count(*) FROM B")
    # NBR_RUM counts the unit rows, numbered 1..n, whose partial lengths add up to the stay's
    assert one(con, f"SELECT count(*) FROM ({joined}) WHERE NBR_RUM::INT <> n OR last <> n") == 0
    assert (
        one(
            con,
            f"SELECT count(*) FROM ({joined}) WHERE SEJ_NBJ IS NOT NULL AND nights <> SEJ_NBJ::INT",
        )
        == 0
    )
    share = one(con, "SELECT avg((NBR_RUM::INT > 1)::INT) FROM stay WHERE ENT_MOD <> '0'")
    assert 0.05 <= share <= 0.25, share
    assert one(con, "SELECT count(*) FROM stay WHERE NBR_RUM::INT > 1 AND GRG_GHM LIKE '28%'") == 0


def test_related_diagnosis_of_sessions(con: duckdb.DuckDBPyConnection) -> None:
    chemo = "SELECT * FROM stay WHERE DGN_PAL IN ('Z511', 'Z512', 'Z510') AND ENT_MOD <> '0'"
    assert one(con, f"SELECT count(*) FROM ({chemo})") > 30
    # the DR of a radio/chemotherapy session is a tumour, that of dialysis kidney failure
    assert (
        one(
            con,
            f"SELECT count(*) FROM ({chemo}) WHERE NOT regexp_matches(coalesce("
            "DGN_REL, ''), '^(C|D0)')",
        )
        == 0
    )
    assert (
        one(
            con,
            "SELECT count(*) FROM stay WHERE DGN_PAL = 'Z491' AND ENT_MOD <> '0' AND "
            "coalesce(DGN_REL, '') <> 'N185'",
        )
        == 0
    )
    # the DR is only filled when the DP is a Z code
    assert (
        one(con, "SELECT count(*) FROM stay WHERE DGN_REL IS NOT NULL AND DGN_PAL NOT LIKE 'Z%'")
        == 0
    )
    # unit rows carry the stay's DR
    assert (
        one(
            con,
            """SELECT count(*) FROM UM u JOIN B b USING (ETA_NUM, RSA_NUM, yr)
                       WHERE u.DGN_REL IS DISTINCT FROM b.DGN_REL""",
        )
        == 0
    )


def test_anaesthesia_act_rows(con: duckdb.DuckDBPyConnection) -> None:
    acts = "SELECT a.*, b.GRG_GHM FROM A a JOIN B b USING (ETA_NUM, RSA_NUM, yr)"
    assert set(r[0] for r in con.execute("SELECT DISTINCT ACV_ACT FROM A").fetchall()) == {"1", "4"}
    n4 = one(con, f"SELECT count(*) FROM ({acts}) WHERE ACV_ACT = '4'")
    assert n4 > 100
    # every anaesthesia row repeats a surgical/obstetric act (activity 1) of the same stay
    assert (
        one(
            con,
            f"""SELECT count(*) FROM ({acts}) x WHERE ACV_ACT = '4' AND NOT EXISTS (
                   SELECT 1 FROM A y WHERE y.ETA_NUM = x.ETA_NUM AND y.RSA_NUM = x.RSA_NUM
                   AND y.yr = x.yr AND y.CDC_ACT = x.CDC_ACT AND y.ACV_ACT = '1')""",
        )
        == 0
    )
    # surgical GHMs (C in third position) with a planned act have their anaesthesia row
    surgical = f"""SELECT DISTINCT ETA_NUM, RSA_NUM, yr FROM ({acts}) WHERE
                   substr(GRG_GHM, 3, 1) = 'C'"""
    with_4 = f"SELECT DISTINCT ETA_NUM, RSA_NUM, yr FROM ({acts}) WHERE ACV_ACT = '4'"
    share = one(
        con,
        f"""SELECT avg((w.RSA_NUM IS NOT NULL)::INT) FROM ({surgical}) s
                         LEFT JOIN ({with_4}) w USING (ETA_NUM, RSA_NUM, yr)""",
    )
    assert share > 0.5, share


def test_transfers_are_paired(con: duckdb.DuckDBPyConnection) -> None:
    into = "SELECT * FROM stay WHERE ENT_MOD = '7'"
    out = "SELECT * FROM stay WHERE SOR_MOD = '7' AND SOR_DES = '1'"
    assert one(con, f"SELECT count(*) FROM ({into})") > 20
    assert one(con, f"SELECT count(*) FROM ({into}) WHERE ENT_PRV IS DISTINCT FROM '1'") == 0
    # each transfer in follows, the same day, a stay of the same person in another
    # establishment that ends with a transfer to MCO; and the other way round
    unpaired_in = f"""SELECT count(*) FROM ({into}) i WHERE NOT EXISTS (SELECT 1 FROM ({out}) o
        WHERE o.person_id = i.person_id AND o.exit = i.entry AND o.ETA_NUM <> i.ETA_NUM)"""
    unpaired_out = f"""SELECT count(*) FROM ({out}) o WHERE NOT EXISTS (SELECT 1 FROM ({into}) i
        WHERE o.person_id = i.person_id AND o.exit = i.entry AND o.ETA_NUM <> i.ETA_NUM)"""
    assert one(con, unpaired_in) == 0
    assert one(con, unpaired_out) == 0
    # exit modes: 9 death, 7 transfer (destination 1 MCO or 2 SSR), 8 home without destination
    modes = set(
        con.execute("SELECT DISTINCT SOR_MOD, SOR_DES FROM stay WHERE ENT_MOD <> '0'").fetchall()
    )
    assert modes == {("9", None), ("7", "1"), ("7", "2"), ("8", None)}
    # emergency admissions keep their provenance
    assert one(con, "SELECT count(*) FROM stay WHERE ENT_PRV = '5' AND ENT_MOD = '8'") > 100
    assert one(con, "SELECT count(*) FROM stay WHERE ENT_PRV = '5' AND GRG_GHM LIKE '28%'") == 0


def test_readmission_truth_excludes_sessions(con: duckdb.DuckDBPyConnection) -> None:
    t = "truth_stays"
    sess = f"SELECT * FROM {t} WHERE ghm LIKE '28%'"
    assert one(con, f"SELECT count(*) FROM ({sess})") > 50
    assert (
        one(
            con,
            f"SELECT count(*) FROM ({sess}) WHERE readmitted_30d OR readmission_index "
            "OR p_readmit_model <> 0",
        )
        == 0
    )
    # readmissions are never sessions, and never follow a session
    assert one(con, f"SELECT count(*) FROM ({sess}) WHERE kind = 'readmission'") == 0
    assert (
        one(
            con,
            f"""SELECT count(*) FROM {t} r JOIN ({sess}) s
                        ON r.index_stay_key = s.stay_key AND r.person_id = s.person_id""",
        )
        == 0
    )
    assert one(con, f"SELECT count(*) FROM {t} WHERE kind = 'readmission'") > 50
    # the observed flag: index stays followed within 30 days by a stay that is neither a
    # session nor a transfer in (recomputed from the stays)
    recomputed = f"""
        WITH c AS (SELECT person_id, entry FROM {t} WHERE ghm NOT LIKE '28%' AND
                   kind <> 'transfer')
        SELECT s.stay_id, s.readmission_index AND EXISTS (SELECT 1 FROM c WHERE
               c.person_id = s.person_id AND c.entry > s.entry AND
               c.entry - s.exit BETWEEN 0 AND 30) AS flag, s.readmitted_30d FROM {t} s"""
    assert one(con, f"SELECT count(*) FROM ({recomputed}) WHERE flag <> readmitted_30d") == 0


def test_deliveries_of_women_15_49(con: duckdb.DuckDBPyConnection) -> None:
    deliveries = "SELECT * FROM stay WHERE left(GRG_GHM, 2) = '14' AND ENT_MOD <> '0'"
    n = one(con, f"SELECT count(*) FROM ({deliveries})")
    assert (
        one(
            con,
            f"SELECT count(*) FROM ({deliveries}) WHERE COD_SEX <> '2' OR "
            "AGE_ANN::INT NOT BETWEEN 15 AND 49",
        )
        == 0
    )
    # about 0.05 births per woman aged 15–49 per year (INSEE 2019), 10,000 persons over 2 years
    women_years = one(
        con,
        """SELECT sum(least(coalesce(death_date, DATE '2020-12-31'),
            DATE '2020-12-31') - DATE '2019-01-01') / 365.25 FROM truth_persons WHERE sex = 2
            AND date_diff('year', birth_date, DATE '2020-01-01') BETWEEN 15 AND 49""",
    )
    assert 0.035 <= n / women_years <= 0.07, (n, women_years)
    caesarean = one(con, f"SELECT avg((GRG_GHM LIKE '14C%')::INT) FROM ({deliveries})")
    assert 0.12 <= caesarean <= 0.30, caesarean


def test_newborn_stay_for_every_birth_in_the_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An open cohort: persons born during the study get their birth stay (CMD 15, entry on
    the birth day). Births are injected into the persons frame (the closed cohort has none)."""
    import sndslab.synth._generate as gen

    make = gen.make_persons

    def with_births(rng, start_pid, n, study_start, *args):  # type: ignore[no-untyped-def]
        persons = make(rng, start_pid, n, study_start, *args)
        born = np.arange(n) % 25 == 0
        persons.birth[born] = study_start + (np.arange(n)[born] * 7) % 700
        return persons

    monkeypatch.setattr(gen, "make_persons", with_births)
    out = tmp_path / "x"
    generate(SynthConfig(patients=2000, first_year=2019, last_year=2020, seed=5), out)
    con = _views(out)
    persons = pq.read_table(out / "truth" / "persons.parquet").to_pandas()
    born = persons[persons["birth_date"] >= np.datetime64("2019-01-01")]
    alive = born[born["death_date"].isna() | (born["death_date"] >= born["birth_date"])]
    assert len(alive) >= 70
    # (DP Z38.0 identifies them even under the error GHM artefact; geographic duplicates of a
    # record repeat its dates)
    newborn = con.execute("""SELECT person_id, entry, DGN_PAL, GRG_GHM, AGE_JOU, SEJ_NBJ
        FROM stay WHERE DGN_PAL = 'Z380' AND ENT_MOD <> '0'""").df()
    assert (newborn.groupby("person_id")["entry"].nunique() == 1).all()
    assert set(newborn["person_id"]) == set(alive["person_id"])
    assert not con.execute(
        "SELECT 1 FROM stay WHERE left(GRG_GHM, 2) = '15' AND DGN_PAL <> 'Z380'"
    ).fetchall()
    newborn = newborn[newborn["GRG_GHM"] != "90Z00Z"]
    merged = newborn.merge(persons, on="person_id")
    day = [str(x)[:10] for x in merged["entry"]]
    assert day == [str(x)[:10] for x in merged["birth_date"]]
    assert set(newborn["DGN_PAL"]) == {"Z380"} and (newborn["AGE_JOU"] == "0").all()
    assert newborn["GRG_GHM"].str.match(r"^15M05[A-D]$").all()
    assert newborn["SEJ_NBJ"].astype(int).between(0, 10).all()


def test_structure_counts_in_truth(extract: Path, con: duckdb.DuckDBPyConnection) -> None:
    """The manifest counts of the PMSI structure equal the raw rows (base records, geographic
    duplicates included, inter-establishment records ENT_MOD = '0' excluded)."""
    import json

    m = json.loads((extract / "truth" / "manifest.json").read_text())
    counts = m["counts"]
    base = "SELECT * FROM B WHERE ENT_MOD <> '0'"
    expected = {
        "pmsi.mco.sessions": f"SELECT count(*) FROM ({base}) WHERE NBR_SEA = '1'",
        "pmsi.mco.zero_night_stays": f"SELECT count(*) FROM ({base}) WHERE SEJ_NBJ = '0'",
        "pmsi.mco.multi_unit_stays": f"SELECT count(*) FROM ({base}) WHERE NBR_RUM <> '1'",
        "pmsi.mco.dgn_rel": f"SELECT count(*) FROM ({base}) WHERE DGN_REL IS NOT NULL",
        "pmsi.mco.transfers_in": f"SELECT count(*) FROM ({base}) WHERE ENT_MOD = '7'",
        "pmsi.mco.transfers_out": f"SELECT count(*) FROM ({base}) WHERE SOR_MOD = '7' AND "
        "SOR_DES = '1'",
        "pmsi.mco.emergency_admissions": f"SELECT count(*) FROM ({base}) WHERE ENT_PRV = '5'",
        "pmsi.mco.deliveries": f"SELECT count(*) FROM ({base}) WHERE regexp_matches(DGN_PAL, "
        "'^O8[02]')",
        "pmsi.mco.newborn_stays": f"SELECT count(*) FROM ({base}) WHERE DGN_PAL = 'Z380'",
        "pmsi.mco.anaesthesia_acts": "SELECT count(*) FROM A WHERE ACV_ACT = '4'",
    }
    for name, sql in expected.items():
        assert counts.get(name, 0) == one(con, sql), name
    assert counts["pmsi.mco.sessions"] > 0 and counts["pmsi.mco.transfers_in"] > 0
    assert m["pmsi_structure"]["min_nights_per_level"] == {"2": 3, "3": 4, "4": 5}
