"""Identity resolution against the generator truth (int tables read through sndslab.lake)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sndslab.lake import open_lake

LakeReader = Any  # conftest.LakeReader (tests are not a package)


@pytest.fixture(scope="module")
def built(ingested_synth: tuple[Path, Path], synth_lake: LakeReader) -> tuple[Path, LakeReader]:
    return ingested_synth[0], synth_lake


def test_resolved_groups_match_truth_persons(built: tuple[Path, LakeReader]) -> None:
    """Nearly every key is resolved with exactly the keys of its true person; the others
    belong to persons split because a key has no BEN_NIR_ANO (no link exists in the SNDS)."""
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
    assert 0.98 <= ok / total < 1.0
    unexplained = r.one(f"""
        WITH j AS (
          SELECT k.person_id, t.person_id AS tp, t.difficulty, k.key_type
          FROM {r["int.person_keys"]} k JOIN '{out}/truth/identities.parquet' t
            ON k.ben_nir_psa = t.ben_nir_psa AND k.ben_rng_gem = t.ben_rng_gem
          WHERE t.role <> 'fictitious')
        SELECT count(*) FROM (SELECT tp FROM j GROUP BY tp
          HAVING count(DISTINCT person_id) > 1
             AND NOT bool_or(COALESCE(difficulty, '') LIKE '%nir_ano_missing%'
                             OR key_type IN ('provisional', 'dcir_only')))""")[0]
    assert unexplained == 0


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
        GROUP BY t.person_id HAVING count(DISTINCT k.person_id) > 1
           AND NOT bool_or(COALESCE(t.difficulty, '') LIKE '%nir_ano_missing%'))""")[0]
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
    """(link_status, record of a family-rank sibling, records, records linked to the right
    person) over every kept PMSI record, scored against the generator's ``pmsi_links``.

    A family-rank record carries a shared PSA that is a key of its true person. A record
    carrying another person's NIR_ANO_17 (identity difficulty) that happens to be a
    family-rank PSA is not one: no sibling fits its sex and birth year, so it is rightly
    ``ambiguous_twin`` (counted with the other wrong-key records)."""
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
        SELECT r.link_status,
               r.NIR_ANO_17 IN (SELECT ben_nir_psa FROM fam) AND EXISTS (
                 SELECT 1 FROM '{t}/identities.parquet' i
                 WHERE i.ben_nir_psa = l.nir_ano_17 AND i.person_id = l.person_id) AS family,
               count(*), count(*) FILTER (WHERE m.tp = l.person_id)
        FROM recs r JOIN '{t}/pmsi_links.parquet' l
          ON l.product = r.product AND l.eta_num = r.eta AND l.number = r.num
         AND l.year = r._year
        LEFT JOIN pmap m ON m.person_id = r.person_id
        GROUP BY ALL ORDER BY ALL""")


def test_pmsi_records_link_to_the_right_person(built: tuple[Path, LakeReader]) -> None:
    """NIR_ANO_17 → person: ≥ 98.5 % of kept PMSI records get their true person although
    ~0.8 % carry a NIR_ANO_17 matching no key or another person's key. Records of siblings
    sharing a PSA (family rank, different sex or birth year) are told apart by sex and birth
    year (``twin_resolved``) and always right; same-sex twins cannot be (ambiguous). The
    coherence check turns most records carrying another person's key into ``incoherent``:
    a linked record is right ≥ 99.9 % of the time."""
    out, r = built
    rows = _pmsi_link_scores(out, r)
    total = sum(int(str(row[2])) for row in rows)
    correct = sum(int(str(row[3])) for row in rows)
    assert total > 1000 and 0.985 <= correct / total < 1.0, rows
    family = [row for row in rows if row[1]]
    assert family and all(row[0] == "twin_resolved" and row[2] == row[3] for row in family), rows
    linked = [row for row in rows if row[0] in ("linked", "twin_resolved")]
    n_linked = sum(int(str(row[2])) for row in linked)
    assert sum(int(str(row[3])) for row in linked) >= 0.999 * n_linked, rows
    t = out / "truth"
    caught, wrong = r.one(f"""
        WITH recs AS (
          SELECT 'mco' AS product, ETA_NUM AS eta, RSA_NUM AS num, _year, link_status
          FROM {r["int.mco_stays"]}
          UNION ALL SELECT DISTINCT 'ace', ETA_NUM, SEQ_NUM, _year, link_status
          FROM {r["int.ace_visits"]}),
        wrong AS (
          SELECT l.* FROM '{t}/pmsi_links.parquet' l
          WHERE EXISTS (SELECT 1 FROM '{t}/identities.parquet' i
                        WHERE i.ben_nir_psa = l.nir_ano_17)
            AND NOT EXISTS (SELECT 1 FROM '{t}/identities.parquet' i
                            WHERE i.ben_nir_psa = l.nir_ano_17 AND i.person_id = l.person_id))
        SELECT count(*) FILTER (WHERE r.link_status NOT IN ('linked', 'twin_resolved')),
               count(*)
        FROM recs r JOIN wrong w ON w.product = r.product AND w.eta_num = r.eta
         AND w.number = r.num AND w.year = r._year""")
    assert isinstance(wrong, int) and isinstance(caught, int)
    assert wrong > 10 and caught >= 0.85 * wrong, (caught, wrong)


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


def test_identity_scored_in_the_ingest_report(built: tuple[Path, LakeReader]) -> None:
    """The raw folder sits next to ``truth/``: the report scores identity; with the injected
    difficulties the scores are below 100 % and the splits are counted."""
    out, r = built
    lake = Path(r.lake.root)
    report = open_lake(lake).report
    score = report["identity_score"]
    assert score["truth_dir"] == str((out / "truth").resolve())
    assert 0.99 <= score["pairwise_precision"] <= 1.0
    assert 0.9 <= score["pairwise_recall"] < 1.0
    assert score["split_persons"] > 0
    assert score["by_difficulty"]["nir_ano_missing"][0] > 0
    assert 0.98 <= score["pmsi"]["recall"] < 1.0
    assert score["pmsi"]["by_status"]["incoherent"][0] > 0
    md = open_lake(lake).report_markdown
    assert "## Identity score" in md and "pairwise recall" in md


def test_identity_score_exact_on_a_hand_made_case(tmp_path: Path) -> None:
    """Keys A, B, C of person 1 (C resolved apart: one split), D of person 2 and E of person 3
    resolved together (one merge), F fictitious (left out). Pairs resolved together: AB, DE;
    truly together: AB, AC, BC; both: AB → precision 1/2, recall 1/3. PMSI: 4 records, 3
    linked, 2 to the right person."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sndslab.engines import get_engine
    from sndslab.ingest._identity_score import score_relations

    pq.write_table(
        pa.table(
            {
                "person_id": pa.array([1, 1, 1, 2, 3, 4], pa.int64()),
                "ben_nir_psa": list("ABCDEF"),
                "ben_rng_gem": pa.array([1] * 6, pa.int64()),
                "role": ["main", "previous", "second_parent", "main", "main", "fictitious"],
                "difficulty": [None, None, "nir_ano_missing", None, "psa_reused", None],
            }
        ),
        tmp_path / "identities.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "product": ["mco"] * 4,
                "eta_num": ["E1"] * 4,
                "number": ["1", "2", "3", "4"],
                "year": pa.array([2020] * 4, pa.int64()),
                "nir_ano_17": ["A", "C", "Z", "A"],
                "person_id": pa.array([1, 1, 2, 2], pa.int64()),
            }
        ),
        tmp_path / "pmsi_links.parquet",
    )
    con = get_engine("duckdb").connect()
    try:
        keys = """(SELECT * FROM (VALUES ('A', 1, 'P1'), ('B', 1, 'P1'), ('C', 1, 'P2'),
                   ('D', 1, 'P3'), ('E', 1, 'P3'), ('F', 1, 'P4'))
                   t(ben_nir_psa, ben_rng_gem, person_id))"""
        mco = """(SELECT * FROM (VALUES ('E1', '1', 2020, 'P1', 'linked'),
                  ('E1', '2', 2020, 'P2', 'linked'), ('E1', '3', 2020, NULL, 'no_person_key'),
                  ('E1', '4', 2020, 'P1', 'linked'))
                  t(ETA_NUM, RSA_NUM, _year, person_id, link_status))"""
        score = score_relations(con, keys, {"mco": mco}, tmp_path)
    finally:
        con.close()
    assert (score.keys_scored, score.keys_fictitious) == (5, 1)
    assert (score.true_persons, score.resolved_persons) == (3, 3)
    assert score.pairwise_precision == 0.5
    assert score.pairwise_recall == 1 / 3
    assert (score.split_persons, score.merged_persons) == (1, 1)
    assert score.by_difficulty == {"nir_ano_missing": [1, 1], "psa_reused": [1, 0]}
    pmsi = score.pmsi
    assert (pmsi.records, pmsi.linked, pmsi.correct) == (4, 3, 2)
    assert pmsi.precision == 2 / 3 and pmsi.recall == 0.5
    assert pmsi.by_status == {"linked": [3, 2], "no_person_key": [1, 0]}


def test_find_truth(tmp_path: Path) -> None:
    """``raw/../truth`` is found when it holds identities.parquet; an explicit directory
    without it is an error; False turns scoring off."""
    from sndslab.errors import InvalidArgumentError
    from sndslab.ingest._identity_score import find_truth

    raw = tmp_path / "raw"
    raw.mkdir()
    assert find_truth(raw, None) is None
    (tmp_path / "truth").mkdir()
    (tmp_path / "truth" / "identities.parquet").write_bytes(b"")
    assert find_truth(raw, None) == (tmp_path / "truth").resolve()
    assert find_truth(raw, False) is None
    assert find_truth(raw, tmp_path / "truth") == tmp_path / "truth"
    with pytest.raises(InvalidArgumentError):
        find_truth(raw, tmp_path)
