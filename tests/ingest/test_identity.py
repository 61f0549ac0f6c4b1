"""Identity resolution against the generator truth (int tables read through sndslab.lake)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

LakeReader = Any  # conftest.LakeReader (tests are not a package)


@pytest.fixture(scope="module")
def built(ingested_synth: tuple[Path, Path], synth_lake: LakeReader) -> tuple[Path, LakeReader]:
    return ingested_synth[0], synth_lake


def test_resolved_groups_match_truth_persons(built: tuple[Path, LakeReader]) -> None:
    out, r = built
    total, ok = r.one(f"""
        WITH j AS (
          SELECT k.person_id, t.person_id AS tp, k.ben_nir_psa || k.ben_rng_gem AS kk
          FROM {r["int.person_keys"]} k JOIN '{out}/truth/identities.parquet' t
            ON k.ben_nir_psa = t.ben_nir_psa AND k.ben_rng_gem = t.ben_rng_gem
          WHERE t.role <> 'fictitious'),
        s AS (SELECT list_sort(list(kk) OVER (PARTITION BY person_id)) AS a,
                     list_sort(list(kk) OVER (PARTITION BY tp)) AS b FROM j)
        SELECT count(*), count(*) FILTER (WHERE a = b) FROM s""")
    assert isinstance(total, int) and isinstance(ok, int)
    assert ok / total >= 0.995


def test_twins_separated_multi_psa_merged_fictitious_flagged(
    built: tuple[Path, LakeReader],
) -> None:
    out, r = built
    keys = r["int.person_keys"]
    truth = f"'{out}/truth/identities.parquet'"
    twins = r.one(f"""
        SELECT count(DISTINCT k.person_id), count(*) FROM {keys} k JOIN {truth} t
          ON k.ben_nir_psa = t.ben_nir_psa AND k.ben_rng_gem = t.ben_rng_gem
        WHERE k.ben_nir_psa IN (SELECT ben_nir_psa FROM {truth} WHERE role = 'twin')""")
    assert twins[0] == twins[1]
    assert isinstance(twins[0], int) and twins[0] >= 2
    merged = r.one(f"""
        SELECT count(*) FROM (SELECT t.person_id FROM {keys} k JOIN {truth} t
          ON k.ben_nir_psa = t.ben_nir_psa AND k.ben_rng_gem = t.ben_rng_gem
        WHERE t.role IN ('main', 'previous', 'second_parent') AND k.key_type = 'ir_ben_r'
        GROUP BY t.person_id HAVING count(DISTINCT k.person_id) > 1)""")[0]
    assert merged == 0
    persons = r["int.persons"]
    # fictitious-NIR keys are claims attached to no person (tests/ingest/test_realism_ingest.py)
    assert r.one(f"SELECT count(*) FROM {persons} WHERE fictitious_nir")[0] == 0
    n_fict = r.one(f"SELECT count(*) FROM {keys} WHERE key_type = 'fictitious'")[0]
    assert n_fict == r.one(f"SELECT count(*) FROM {truth} WHERE role = 'fictitious'")[0] > 0
    assert r.one(f"SELECT count(*) = count(DISTINCT person_id) FROM {persons}")[0]
    assert r.one(f"SELECT count(*) = count(DISTINCT (ben_nir_psa, ben_rng_gem)) FROM {keys}")[0]


def test_person_level_identifier_is_the_groups(built: tuple[Path, LakeReader]) -> None:
    """persons.ben_idt_ano is the group's identifier (never a key's own, possibly NULL one)."""
    _, r = built
    missing, differing = r.one(f"""
        SELECT count(*) FILTER (WHERE p.ben_idt_ano IS NULL),
               count(*) FILTER (WHERE p.ben_idt_ano <> 'P' || '' AND
                                'P' || substr(md5(p.ben_idt_ano), 1, 16) <> p.person_id)
        FROM {r["int.persons"]} p""")
    assert missing == 0 and differing == 0


def _pmsi_link_scores(out: Path, r: LakeReader) -> list[tuple[object, ...]]:
    """(link_status, record under a family-rank PSA, records, records linked to the right
    person) over every kept PMSI record, scored against the generator's ``pmsi_links``."""
    t = out / "truth"
    return r.rows(f"""
        WITH pmap AS (
          SELECT k.person_id, mode(t.person_id) AS tp
          FROM {r["int.person_keys"]} k JOIN '{t}/identities.parquet' t
            ON k.ben_nir_psa = t.ben_nir_psa AND k.ben_rng_gem = t.ben_rng_gem GROUP BY 1),
        recs AS (
          SELECT 'mco' AS product, ETA_NUM AS eta, RSA_NUM AS num, _year, NIR_ANO_17,
                 person_id, link_status FROM {r["int.mco_stays"]}
          UNION ALL SELECT DISTINCT 'ace', ETA_NUM, SEQ_NUM, _year, NIR_ANO_17, person_id,
                 link_status FROM {r["int.ace_visits"]}
          UNION ALL SELECT 'ssr', ETA_NUM, RHA_NUM, _year, NIR_ANO_17, person_id, link_status
                 FROM {r["int.ssr_stays"]}
          UNION ALL SELECT 'had', ETA_NUM_EPMSI, RHAD_NUM, _year, NIR_ANO_17, person_id,
                 link_status FROM {r["int.had_stays"]}
          UNION ALL SELECT 'rip', ETA_NUM_EPMSI, RIP_NUM, _year, NIR_ANO_17, person_id,
                 link_status FROM {r["int.rip_stays"]}),
        fam AS (SELECT DISTINCT ben_nir_psa FROM '{t}/identities.parquet'
                WHERE role = 'family_rank')
        SELECT r.link_status, r.NIR_ANO_17 IN (SELECT ben_nir_psa FROM fam) AS family,
               count(*), count(*) FILTER (WHERE m.tp = l.person_id)
        FROM recs r JOIN '{t}/pmsi_links.parquet' l
          ON l.product = r.product AND l.eta_num = r.eta AND l.number = r.num
         AND l.year = r._year
        LEFT JOIN pmap m ON m.person_id = r.person_id
        GROUP BY ALL ORDER BY ALL""")


def test_pmsi_records_link_to_the_right_person(built: tuple[Path, LakeReader]) -> None:
    """NIR_ANO_17 → person: ≥ 99.5 % of kept PMSI records get their true person. Records of
    siblings sharing a PSA (family rank, different sex or birth year) are told apart by sex and
    birth year (``twin_resolved``) and always right; same-sex twins cannot be (ambiguous)."""
    out, r = built
    rows = _pmsi_link_scores(out, r)
    total = sum(int(str(row[2])) for row in rows)
    correct = sum(int(str(row[3])) for row in rows)
    assert total > 1000 and correct / total >= 0.995, rows
    family = [row for row in rows if row[1]]
    assert family and all(row[0] == "twin_resolved" and row[2] == row[3] for row in family), rows
    # a linked record is never linked to the wrong person
    assert all(row[2] == row[3] for row in rows if row[0] in ("linked", "twin_resolved")), rows


def test_keys_absent_from_ir_ben_r_become_dcir_only_persons(built: tuple[Path, LakeReader]) -> None:
    out, r = built
    truth = f"'{out}/truth/identities.parquet'"
    keys = r["int.person_keys"]
    prs = r["int.clean__ER_PRS_F"]
    absent = r.one(f"SELECT count(*) FROM {truth} WHERE NOT in_ir_ben_r")[0]
    manifest = json.loads((out / "truth" / "manifest.json").read_text())["counts"]
    assert absent == manifest["ir_ben_r.absent_keys"]
    assert isinstance(absent, int) and absent > 0
    # exactly the absent keys that have kept DCIR lines are dcir_only keys, each its own person
    expected = set(
        r.rows(f"""
        SELECT DISTINCT t.ben_nir_psa, t.ben_rng_gem FROM {truth} t
        JOIN {prs} p ON p.BEN_NIR_PSA = t.ben_nir_psa AND p.BEN_RNG_GEM = t.ben_rng_gem
        WHERE NOT t.in_ir_ben_r""")
    )
    got = set(r.rows(f"SELECT ben_nir_psa, ben_rng_gem FROM {keys} WHERE key_type = 'dcir_only'"))
    assert got == expected and got
