"""Identity resolution against the generator truth."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest


@pytest.fixture(scope="module")
def built(ingested_synth: tuple[Path, Path]) -> tuple[Path, Path]:
    return ingested_synth


def test_resolved_groups_match_truth_persons(built: tuple[Path, Path]) -> None:
    out, lake = built
    con = duckdb.connect()
    total, ok = con.execute(f"""
        WITH j AS (
          SELECT k.person_id, t.person_id AS tp, k.ben_nir_psa || k.ben_rng_gem AS kk
          FROM '{lake}/int/person_keys.parquet' k JOIN '{out}/truth/identities.parquet' t
            ON k.ben_nir_psa = t.ben_nir_psa AND k.ben_rng_gem = t.ben_rng_gem
          WHERE t.role <> 'fictitious'),
        s AS (SELECT list_sort(list(kk) OVER (PARTITION BY person_id)) AS a,
                     list_sort(list(kk) OVER (PARTITION BY tp)) AS b FROM j)
        SELECT count(*), count(*) FILTER (WHERE a = b) FROM s""").fetchall()[0]
    assert ok / total >= 0.995


def test_twins_separated_multi_psa_merged_fictitious_flagged(built: tuple[Path, Path]) -> None:
    out, lake = built
    con = duckdb.connect()
    keys = f"'{lake}/int/person_keys.parquet'"
    truth = f"'{out}/truth/identities.parquet'"
    twins = con.execute(f"""
        SELECT count(DISTINCT k.person_id), count(*) FROM {keys} k JOIN {truth} t
          ON k.ben_nir_psa = t.ben_nir_psa AND k.ben_rng_gem = t.ben_rng_gem
        WHERE k.ben_nir_psa IN (SELECT ben_nir_psa FROM {truth} WHERE role = 'twin')""").fetchall()[
        0
    ]
    assert twins[0] == twins[1] >= 2
    merged = con.execute(f"""
        SELECT count(*) FROM (SELECT t.person_id FROM {keys} k JOIN {truth} t
          ON k.ben_nir_psa = t.ben_nir_psa AND k.ben_rng_gem = t.ben_rng_gem
        WHERE t.role IN ('main', 'previous', 'second_parent') AND k.key_type = 'ir_ben_r'
        GROUP BY t.person_id HAVING count(DISTINCT k.person_id) > 1)""").fetchall()[0][0]
    assert merged == 0
    persons = f"'{lake}/int/persons.parquet'"
    n_fict = con.execute(f"SELECT count(*) FROM {persons} WHERE fictitious_nir").fetchall()[0][0]
    assert (
        n_fict
        == con.execute(f"SELECT count(*) FROM {truth} WHERE role = 'fictitious'").fetchall()[0][0]
    )
    assert con.execute(f"SELECT count(*) = count(DISTINCT person_id) FROM {persons}").fetchall()[0][
        0
    ]
    assert con.execute(
        f"SELECT count(*) = count(DISTINCT (ben_nir_psa, ben_rng_gem)) FROM {keys}"
    ).fetchall()[0][0]


def test_person_level_identifier_is_the_groups(built: tuple[Path, Path]) -> None:
    """persons.ben_idt_ano is the group's identifier (never a key's own, possibly NULL one)."""
    _, lake = built
    con = duckdb.connect()
    missing, differing = con.execute(f"""
        SELECT count(*) FILTER (WHERE p.ben_idt_ano IS NULL),
               count(*) FILTER (WHERE p.ben_idt_ano <> 'P' || '' AND
                                'P' || substr(md5(p.ben_idt_ano), 1, 16) <> p.person_id)
        FROM '{lake}/int/persons.parquet' p""").fetchone()
    assert missing == 0 and differing == 0


def _pmsi_link_scores(out: Path, lake: Path) -> list[tuple[str, bool, int, int]]:
    """(link_status, record under a family-rank PSA, records, records linked to the right
    person) over every kept PMSI record, scored against the generator's ``pmsi_links``."""
    t = out / "truth"
    i = lake / "int"
    return (
        duckdb.connect()
        .execute(f"""
        WITH pmap AS (
          SELECT k.person_id, mode(t.person_id) AS tp
          FROM '{i}/person_keys.parquet' k JOIN '{t}/identities.parquet' t
            ON k.ben_nir_psa = t.ben_nir_psa AND k.ben_rng_gem = t.ben_rng_gem GROUP BY 1),
        recs AS (
          SELECT 'mco' AS product, ETA_NUM AS eta, RSA_NUM AS num, _year, NIR_ANO_17,
                 person_id, link_status FROM '{i}/mco_stays.parquet'
          UNION ALL SELECT DISTINCT 'ace', ETA_NUM, SEQ_NUM, _year, NIR_ANO_17, person_id,
                 link_status FROM '{i}/ace_visits.parquet'
          UNION ALL SELECT 'ssr', ETA_NUM, RHA_NUM, _year, NIR_ANO_17, person_id, link_status
                 FROM '{i}/ssr_stays.parquet'
          UNION ALL SELECT 'had', ETA_NUM_EPMSI, RHAD_NUM, _year, NIR_ANO_17, person_id,
                 link_status FROM '{i}/had_stays.parquet'
          UNION ALL SELECT 'rip', ETA_NUM_EPMSI, RIP_NUM, _year, NIR_ANO_17, person_id,
                 link_status FROM '{i}/rip_stays.parquet'),
        fam AS (SELECT DISTINCT ben_nir_psa FROM '{t}/identities.parquet'
                WHERE role = 'family_rank')
        SELECT r.link_status, r.NIR_ANO_17 IN (SELECT ben_nir_psa FROM fam) AS family,
               count(*), count(*) FILTER (WHERE m.tp = l.person_id)
        FROM recs r JOIN '{t}/pmsi_links.parquet' l
          ON l.product = r.product AND l.eta_num = r.eta AND l.number = r.num
         AND l.year = r._year
        LEFT JOIN pmap m ON m.person_id = r.person_id
        GROUP BY ALL ORDER BY ALL""")
        .fetchall()
    )


def test_pmsi_records_link_to_the_right_person(built: tuple[Path, Path]) -> None:
    """NIR_ANO_17 → person: ≥ 99.5 % of kept PMSI records get their true person. Records of
    siblings sharing a PSA (family rank, different sex or birth year) are told apart by sex and
    birth year (``twin_resolved``) and always right; same-sex twins cannot be (ambiguous)."""
    out, lake = built
    rows = _pmsi_link_scores(out, lake)
    total = sum(r[2] for r in rows)
    correct = sum(r[3] for r in rows)
    assert total > 1000 and correct / total >= 0.995, rows
    family = [r for r in rows if r[1]]
    assert family and all(r[0] == "twin_resolved" and r[2] == r[3] for r in family), rows
    # a linked record is never linked to the wrong person
    assert all(r[2] == r[3] for r in rows if r[0] in ("linked", "twin_resolved")), rows


def test_keys_absent_from_ir_ben_r_become_dcir_only_persons(built: tuple[Path, Path]) -> None:
    out, lake = built
    con = duckdb.connect()
    truth = f"'{out}/truth/identities.parquet'"
    keys = f"'{lake}/int/person_keys.parquet'"
    prs = f"'{lake}/int/clean/ER_PRS_F/*.parquet'"
    absent = con.execute(f"SELECT count(*) FROM {truth} WHERE NOT in_ir_ben_r").fetchone()[0]
    manifest = json.loads((out / "truth" / "manifest.json").read_text())["counts"]
    assert absent == manifest["ir_ben_r.absent_keys"] > 0
    # exactly the absent keys that have kept DCIR lines are dcir_only keys, each its own person
    expected = {
        tuple(r)
        for r in con.execute(f"""
        SELECT DISTINCT t.ben_nir_psa, t.ben_rng_gem FROM {truth} t
        JOIN {prs} p ON p.BEN_NIR_PSA = t.ben_nir_psa AND p.BEN_RNG_GEM = t.ben_rng_gem
        WHERE NOT t.in_ir_ben_r""").fetchall()
    }
    got = {
        tuple(r)
        for r in con.execute(
            f"SELECT ben_nir_psa, ben_rng_gem FROM {keys} WHERE key_type = 'dcir_only'"
        ).fetchall()
    }
    assert got == expected and got
