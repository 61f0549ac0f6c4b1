"""Identity resolution against the generator truth."""

from __future__ import annotations

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
    assert ok / total >= 0.99


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
