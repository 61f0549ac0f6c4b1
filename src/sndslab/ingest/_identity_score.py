"""Identity resolution scored against a generator truth (``truth/identities.parquet``,
``truth/pmsi_links.parquet`` of :mod:`sndslab.synth`).

Keys (DCIR / IR_BEN_R): every pseudonymous key (BEN_NIR_PSA, BEN_RNG_GEM) of ``int.person_keys``
that the truth gives to a real person. Fictitious-NIR keys are left out: by design the SNDS
cannot link them to anyone (they are counted in ``keys_fictitious``). Over the pairs of scored
keys:

- ``pairwise_precision`` = pairs in the same resolved person *and* the same true person / pairs
  in the same resolved person (1 when no pair is resolved together);
- ``pairwise_recall`` = the same pairs / pairs in the same true person (1 when none);
- ``split_persons``: true persons whose keys end in two or more resolved persons;
- ``merged_persons``: resolved persons holding keys of two or more true persons.

PMSI records (MCO, ACE, SSR, HAD, RIM-P stays kept in ``int``): a resolved person stands for
the true person owning most of its keys; a record is *correct* when its ``person_id`` stands
for the record's true person. ``precision`` = correct / records with a person, ``recall`` =
correct / all records; counts per ``link_status``.

The ingest scores identity when a truth directory is given (``ingest(..., truth=DIR)``,
``sndslab ingest --truth DIR``) or, by default, when the raw folder sits next to a ``truth``
folder holding ``identities.parquet`` (the layout ``sndslab synth`` writes: ``<out>/raw``,
``<out>/truth``). The score goes to the ingest report (``identity_score``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from sndslab.engines import Connection
from sndslab.lake import LakePaths, relation_or_none

__all__ = [
    "IdentityScore",
    "find_truth",
    "pairwise_counts",
    "score_identity",
    "score_lake",
    "score_relations",
]

#: PMSI int tables scored: (table, establishment column, record number column, distinct rows).
PMSI_RECORDS = (
    ("mco", "mco_stays", "ETA_NUM", "RSA_NUM"),
    ("ace", "ace_visits", "ETA_NUM", "SEQ_NUM"),
    ("ssr", "ssr_stays", "ETA_NUM", "RHA_NUM"),
    ("had", "had_stays", "ETA_NUM_EPMSI", "RHAD_NUM"),
    ("rip", "rip_stays", "ETA_NUM_EPMSI", "RIP_NUM"),
)


class PmsiScore(BaseModel):
    """PMSI record linkage against the truth."""

    records: int = 0
    linked: int = 0
    correct: int = 0
    precision: float = 1.0
    recall: float = 1.0
    #: link_status -> [records, correct]
    by_status: dict[str, list[int]] = Field(default_factory=dict)


class IdentityScore(BaseModel):
    """Resolved persons compared with the truth (see the module docstring)."""

    truth_dir: str
    keys_scored: int
    keys_fictitious: int
    true_persons: int
    resolved_persons: int
    pairwise_precision: float
    pairwise_recall: float
    split_persons: int
    merged_persons: int
    #: difficulty -> [keys, keys not resolved with all the other keys of their true person]
    by_difficulty: dict[str, list[int]] = Field(default_factory=dict)
    pmsi: PmsiScore = Field(default_factory=PmsiScore)


def find_truth(raw_dir: Path | str, truth: Path | str | bool | None) -> Path | None:
    """The truth directory to score against: ``truth`` itself (it must hold
    ``identities.parquet``), none when ``truth`` is False, else ``<raw_dir>/../truth`` when it
    holds ``identities.parquet``."""
    if truth is False:
        return None
    if truth is not None and truth is not True:
        path = Path(truth)
        if not (path / "identities.parquet").is_file():
            from sndslab.errors import InvalidArgumentError

            raise InvalidArgumentError(f"truth directory {path} has no identities.parquet")
        return path
    raw = str(raw_dir)
    if "://" in raw:
        return None
    candidate = Path(raw).resolve().parent / "truth"
    return candidate if (candidate / "identities.parquet").is_file() else None


def pairwise_counts(con: Connection, pairs: str) -> tuple[int, int, int]:
    """(pairs resolved together, pairs truly together, pairs both) over ``pairs``, a relation
    with one row per key and the columns ``resolved`` and ``truth``."""
    row = con.fetchone(
        f"""WITH r AS (SELECT count(*) AS n FROM {pairs} GROUP BY resolved),
                 t AS (SELECT count(*) AS n FROM {pairs} GROUP BY truth),
                 b AS (SELECT count(*) AS n FROM {pairs} GROUP BY resolved, truth)
        SELECT (SELECT COALESCE(sum(n * (n - 1) / 2), 0) FROM r),
               (SELECT COALESCE(sum(n * (n - 1) / 2), 0) FROM t),
               (SELECT COALESCE(sum(n * (n - 1) / 2), 0) FROM b)"""
    ) or (0, 0, 0)
    return int(row[0]), int(row[1]), int(row[2])


def _ratio(num: int, den: int) -> float:
    return num / den if den else 1.0


def score_identity(con: Connection, paths: LakePaths, truth_dir: Path) -> IdentityScore | None:
    """Score the ``int`` identity of the lake at ``paths`` against ``truth_dir`` (None when the
    lake has no ``int.person_keys``). Truth tables are registered on ``con`` as Arrow."""
    keys = relation_or_none(con, paths, "int.person_keys")
    if keys is None:
        return None
    records = {}
    for product, table, _, _ in PMSI_RECORDS:
        rel = relation_or_none(con, paths, f"int.{table}")
        if rel is not None:
            records[product] = rel
    return score_relations(con, keys, records, truth_dir)


def score_relations(
    con: Connection, keys: str, records: dict[str, str], truth_dir: Path
) -> IdentityScore:
    """:func:`score_identity` on SQL relations: ``keys`` has the columns of ``int.person_keys``
    (ben_nir_psa, ben_rng_gem, person_id); ``records`` maps a PMSI product (``mco``, ``ace``,
    ``ssr``, ``had``, ``rip``) to a relation with the columns of its int table (establishment
    and record number, ``_year``, ``person_id``, ``link_status``)."""
    ident = pq.read_table(
        truth_dir / "identities.parquet",
        columns=["person_id", "ben_nir_psa", "ben_rng_gem", "role", "difficulty"]
        if "difficulty" in pq.read_schema(truth_dir / "identities.parquet").names
        else ["person_id", "ben_nir_psa", "ben_rng_gem", "role"],
    )
    if "difficulty" not in ident.column_names:
        import pyarrow as pa

        ident = ident.append_column("difficulty", pa.nulls(ident.num_rows, pa.string()))
    con.register_arrow("score_truth_keys", ident)
    con.create_table(
        "score_keys",
        f"""SELECT k.person_id AS resolved, CAST(t.person_id AS VARCHAR) AS truth,
                   t.role, t.difficulty
        FROM {keys} k JOIN score_truth_keys t
          ON k.ben_nir_psa = t.ben_nir_psa AND CAST(k.ben_rng_gem AS BIGINT) = t.ben_rng_gem
        WHERE t.role <> 'fictitious'""",
    )
    resolved_pairs, true_pairs, both = pairwise_counts(con, "score_keys")
    row = con.fetchone(
        """SELECT count(*), count(DISTINCT truth), count(DISTINCT resolved),
                  (SELECT count(*) FROM (SELECT truth FROM score_keys GROUP BY truth
                                         HAVING count(DISTINCT resolved) > 1)),
                  (SELECT count(*) FROM (SELECT resolved FROM score_keys GROUP BY resolved
                                         HAVING count(DISTINCT truth) > 1))
        FROM score_keys"""
    ) or (0, 0, 0, 0, 0)
    n_fict = int(
        con.scalar(
            f"""SELECT count(*) FROM {keys} k JOIN score_truth_keys t
            ON k.ben_nir_psa = t.ben_nir_psa AND CAST(k.ben_rng_gem AS BIGINT) = t.ben_rng_gem
            WHERE t.role = 'fictitious'"""
        )
    )
    by_difficulty = {
        str(name): [int(n), int(bad)]
        for name, n, bad in con.fetchall(
            """WITH split AS (SELECT truth FROM score_keys GROUP BY truth
                              HAVING count(DISTINCT resolved) > 1),
                    d AS (SELECT unnest(string_split(difficulty, ';')) AS name, truth
                          FROM score_keys WHERE difficulty IS NOT NULL)
            SELECT name, count(*), count(*) FILTER (WHERE truth IN (SELECT truth FROM split))
            FROM d GROUP BY name ORDER BY name"""
        )
    }
    score = IdentityScore(
        truth_dir=str(truth_dir),
        keys_scored=int(row[0]),
        keys_fictitious=n_fict,
        true_persons=int(row[1]),
        resolved_persons=int(row[2]),
        pairwise_precision=_ratio(both, resolved_pairs),
        pairwise_recall=_ratio(both, true_pairs),
        split_persons=int(row[3]),
        merged_persons=int(row[4]),
        by_difficulty=by_difficulty,
        pmsi=_score_pmsi(con, records, truth_dir),
    )
    con.drop("score_keys")
    return score


def _score_pmsi(con: Connection, records: dict[str, str], truth_dir: Path) -> PmsiScore:
    """PMSI record linkage of the ``int`` stay tables against ``pmsi_links.parquet``."""
    links_file = truth_dir / "pmsi_links.parquet"
    parts = []
    for product, _, eta, num in PMSI_RECORDS:
        rel = records.get(product)
        if rel is not None:
            parts.append(
                f"SELECT DISTINCT '{product}' AS product, {eta} AS eta, {num} AS num, "
                f"_year AS year, person_id, link_status FROM {rel}"
            )
    if not parts or not links_file.is_file():
        return PmsiScore()
    links = pq.read_table(links_file, columns=["product", "eta_num", "number", "year", "person_id"])
    con.register_arrow("score_truth_links", links)
    rows = con.fetchall(
        f"""WITH recs AS ({" UNION ALL ".join(parts)}),
        pmap AS (SELECT resolved, mode(truth) AS truth FROM score_keys GROUP BY resolved)
        SELECT r.link_status, count(*),
               count(*) FILTER (WHERE m.truth = CAST(l.person_id AS VARCHAR)),
               count(*) FILTER (WHERE r.person_id IS NOT NULL)
        FROM recs r JOIN score_truth_links l
          ON l.product = r.product AND l.eta_num = r.eta AND l.number = r.num
         AND l.year = r.year
        LEFT JOIN pmap m ON m.resolved = r.person_id
        GROUP BY r.link_status ORDER BY r.link_status"""
    )
    n_records = sum(int(r[1]) for r in rows)
    correct = sum(int(r[2]) for r in rows)
    linked = sum(int(r[3]) for r in rows)
    return PmsiScore(
        records=n_records,
        linked=linked,
        correct=correct,
        precision=_ratio(correct, linked),
        recall=_ratio(correct, n_records),
        by_status={str(r[0]): [int(r[1]), int(r[2])] for r in rows},
    )


def score_lake(lake: Path | str, truth_dir: Path, commit: Any = None) -> dict[str, Any] | None:
    """JSON-ready :func:`score_identity` of the local lake ``lake`` (read on a DuckDB
    connection of its own, whatever engine built it), None without identity tables.
    ``commit`` (a :class:`sndslab.lake.LakeCommit`) scores that state instead of the latest
    published one: how an ingest scores what it is about to publish."""
    from sndslab.lake import open_lake

    opened = open_lake(lake)
    try:
        paths = opened.paths if commit is None else opened.paths.at(commit)
        score = score_identity(opened.con, paths, Path(truth_dir))
    finally:
        opened.close()
    return None if score is None else score.model_dump(mode="json")
