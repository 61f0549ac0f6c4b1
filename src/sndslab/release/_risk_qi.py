"""Quasi-identifiers of a row-level export, one row per person, computed in DuckDB SQL.

Sources (detected from the directory): a **MEDS** export (``data/`` + ``metadata/dataset.json``),
an **OMOP CDM** export (``person/`` + ``visit_occurrence/``) or a **lake** (``events.patients`` and
``events.events``, read through :mod:`sndslab.lake`). Each gives the base table ``_risk_base``,
one row per person and no identifier: ``birth_year``, ``sex``, ``dpt`` (residence département),
``region``, ``stays`` (start date of every hospital stay) and ``codes`` (the distinct codes of
the person). What an export does not carry is NULL and reported as *not in the source*: the
MEDS export has no sex and no residence, the OMOP export no residence (no ``location``).

The format strings below mirror :mod:`sndslab.events` (``MEDS_BIRTH``, the paired
``HOSPITAL_ADMISSION//<stay code>`` rows of the MEDS export, the OMOP inpatient and home visit
concepts 9201 / 581476); the release layer may not import the events layer, so a test checks
that they agree.

Generalisation hierarchies (full-domain, each level a function of the one below, so that
coarsening can only merge equivalence classes): :data:`HIERARCHIES`.
"""

from __future__ import annotations

from pathlib import Path

from sndslab.engines import Connection
from sndslab.errors import SndslabError
from sndslab.lake import open_lake, relation

__all__ = [
    "ATTRIBUTES",
    "HIERARCHIES",
    "LAKE_STAY",
    "MEDS_ADMISSION",
    "MEDS_BIRTH",
    "MEDS_DEATH",
    "OMOP_STAY_VISITS",
    "RiskSourceError",
    "available",
    "base_sql",
    "detect_source",
    "qi_sql",
]

MEDS_BIRTH, MEDS_DEATH = "MEDS_BIRTH", "MEDS_DEATH"
#: Prefix of the MEDS rows marking a hospital stay start (sndslab's MEDS export).
MEDS_ADMISSION = "HOSPITAL_ADMISSION"
#: ``category`` of a hospital stay in the lake's ``events.events``.
LAKE_STAY = "stay"
#: OMOP visit concepts of a hospital stay: Inpatient Visit, Home Visit (HAD).
OMOP_STAY_VISITS = (9201, 581476)
#: OMOP clinical tables whose ``<prefix>_source_concept_id`` gives a person's codes.
_OMOP_CODE_TABLES = {
    "visit_occurrence": "visit",
    "condition_occurrence": "condition",
    "drug_exposure": "drug",
    "procedure_occurrence": "procedure",
    "measurement": "measurement",
}


class RiskSourceError(SndslabError):
    """The directory is neither a MEDS export, an OMOP export nor a lake."""


def _band(width: int) -> str:
    return f"CAST(birth_year - (birth_year % {width}) AS VARCHAR) || '-' || CAST(birth_year - (birth_year % {width}) + {width - 1} AS VARCHAR)"  # noqa: E501


def _pooled() -> str:
    """10-year bands, the bands of persons aged 90 or more and of those under 10 at the
    reference year pooled (top- and bottom-coding: a function of the 10-year band)."""
    old = "(ref_year - 90 - (ref_year - 90) % 10)"
    young = "(ref_year - 10 - (ref_year - 10) % 10)"
    start = "(birth_year - (birth_year % 10))"
    return (
        f"CASE WHEN {start} <= {old} THEN 'before ' || CAST({old} + 10 AS VARCHAR) "
        f"WHEN {start} >= {young} THEN 'from ' || CAST({young} AS VARCHAR) "
        f"ELSE {_band(10)} END"
    )


def _first(unit: str) -> str:
    return f"CAST(date_trunc('{unit}', list_min(stays)) AS DATE)"


def _all(unit: str) -> str:
    return f"list_sort(list_distinct(list_transform(stays, lambda d: CAST(date_trunc('{unit}', d) AS DATE))))"  # noqa: E501


#: attribute → its levels, finest first: (level name, SQL over ``_risk_base`` + ``rare``).
#: The last level of every attribute is ``suppressed`` (the attribute is left out).
HIERARCHIES: dict[str, tuple[tuple[str, str | None], ...]] = {
    "birth_year": (
        ("year", "birth_year"),
        ("5-year band", _band(5)),
        ("10-year band", _band(10)),
        ("10-year band, <10 and 90+ pooled", _pooled()),
        ("suppressed", None),
    ),
    "sex": (("sex", "sex"), ("suppressed", None)),
    "residence": (("département", "dpt"), ("région", "region"), ("suppressed", None)),
    "first_stay": (
        ("day", _first("day")),
        ("month", _first("month")),
        ("quarter", _first("quarter")),
        ("year", _first("year")),
        ("suppressed", None),
    ),
    "stay_dates": (
        ("day", _all("day")),
        ("month", _all("month")),
        ("quarter", _all("quarter")),
        ("year", _all("year")),
        ("suppressed", None),
    ),
    "n_stays": (
        ("exact", "len(stays)"),
        ("top-coded 0/1/2/3+", "least(len(stays), 3)"),
        ("suppressed", None),
    ),
    "rare_codes": (
        ("codes", "rare"),
        ("count top-coded 0/1/2+", "least(len(rare), 2)"),
        ("suppressed", None),
    ),
}
#: The quasi-identifiers, in report order, with what each one is.
ATTRIBUTES: dict[str, str] = {
    "birth_year": "year of birth",
    "sex": "sex",
    "residence": "département (then région) of residence",
    "first_stay": "start date of the first hospital stay",
    "stay_dates": "start dates of every hospital stay (the set)",
    "n_stays": "number of hospital stays",
    "rare_codes": "codes held by fewer than k persons (the set)",
}
#: attribute → the base columns it needs (absent from the source when all are NULL).
_NEEDS = {
    "birth_year": ("birth_year",),
    "sex": ("sex",),
    "residence": ("dpt",),
    "first_stay": ("stays",),
    "stay_dates": ("stays",),
    "n_stays": ("stays",),
    "rare_codes": ("codes",),
}


def detect_source(path: Path | str) -> str:
    """``"meds"``, ``"omop"`` or ``"lake"``; a one-line :class:`RiskSourceError` otherwise.

    >>> detect_source("/nonexistent")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sndslab.release._risk_qi.RiskSourceError: /nonexistent: not a MEDS export, ... nor a lake
    """
    p = Path(path)
    if (p / "data").is_dir() and (p / "metadata" / "dataset.json").is_file():
        return "meds"
    if (p / "person").is_dir() and (p / "visit_occurrence").is_dir():
        return "omop"
    if (p / "_lake.json").is_file():
        return "lake"
    raise RiskSourceError(f"{path}: not a MEDS export, an OMOP export nor a lake")


def _meds_sql(con: Connection, path: Path) -> str:
    data = con.dataset(str(path / "data"))
    return f"""SELECT
        max(year(time)) FILTER (WHERE code = '{MEDS_BIRTH}') AS birth_year,
        CAST(NULL AS VARCHAR) AS sex, CAST(NULL AS VARCHAR) AS dpt,
        CAST(NULL AS VARCHAR) AS region,
        coalesce(list(CAST(time AS DATE)) FILTER (WHERE code LIKE '{MEDS_ADMISSION}//%'),
                 CAST([] AS DATE[])) AS stays,
        coalesce(list(DISTINCT code) FILTER (WHERE code NOT IN ('{MEDS_BIRTH}', '{MEDS_DEATH}')
                 AND code NOT LIKE 'HOSPITAL\\_%//%' ESCAPE '\\'), CAST([] AS VARCHAR[])) AS codes
        FROM {data} GROUP BY subject_id"""


def _omop_sql(con: Connection, path: Path) -> str:
    def ds(name: str) -> str:
        return con.dataset(str(path / name))

    visits = ds("visit_occurrence")
    codes = [
        f"SELECT person_id, {prefix}_source_concept_id AS cid FROM {ds(table)}"
        for table, prefix in _OMOP_CODE_TABLES.items()
        if (path / table).is_dir()
    ]
    concept = (
        f"(SELECT concept_id, vocabulary_id || '//' || concept_code AS code FROM {ds('concept')})"
        if (path / "concept").is_dir()
        else "(SELECT CAST(NULL AS INTEGER) AS concept_id, CAST(NULL AS VARCHAR) AS code)"
    )
    stays = ", ".join(str(v) for v in OMOP_STAY_VISITS)
    return f"""SELECT p.year_of_birth AS birth_year,
        CASE WHEN p.gender_concept_id = 0 THEN NULL ELSE CAST(p.gender_concept_id AS VARCHAR)
        END AS sex,
        CAST(NULL AS VARCHAR) AS dpt, CAST(NULL AS VARCHAR) AS region,
        coalesce(s.stays, CAST([] AS DATE[])) AS stays,
        coalesce(c.codes, CAST([] AS VARCHAR[])) AS codes
    FROM {ds("person")} p
    LEFT JOIN (SELECT person_id, list(CAST(visit_start_date AS DATE)) AS stays FROM {visits}
               WHERE visit_concept_id IN ({stays}) GROUP BY person_id) s USING (person_id)
    LEFT JOIN (SELECT x.person_id, list(DISTINCT k.code) AS codes
               FROM ({" UNION ALL ".join(codes)}) x JOIN {concept} k ON k.concept_id = x.cid
               GROUP BY x.person_id) c USING (person_id)"""


def _lake_sql(con: Connection, path: Path) -> str:
    lake = open_lake(path, con=con)
    patients = relation(con, lake.paths, "events.patients")
    events = relation(con, lake.paths, "events.events")
    return f"""SELECT year(p.birth_date) AS birth_year, CAST(p.sex AS VARCHAR) AS sex,
        p.residence_dpt AS dpt, p.residence_region AS region,
        coalesce(e.stays, CAST([] AS DATE[])) AS stays,
        coalesce(e.codes, CAST([] AS VARCHAR[])) AS codes
    FROM {patients} p
    LEFT JOIN (SELECT person_id,
                      list(CAST(start AS DATE)) FILTER (WHERE category = '{LAKE_STAY}') AS stays,
                      list(DISTINCT code) AS codes
               FROM {events} GROUP BY person_id) e USING (person_id)"""


def base_sql(con: Connection, path: Path | str, kind: str | None = None) -> tuple[str, str]:
    """(source kind, SQL of the base table: one row per person, no identifier)."""
    kind = kind or detect_source(path)
    build = {"meds": _meds_sql, "omop": _omop_sql, "lake": _lake_sql}[kind]
    return kind, build(con, Path(path))


def available(con: Connection, base: str) -> dict[str, bool]:
    """attribute → whether the source carries it (some person has a value)."""
    cols = ["birth_year", "sex", "dpt", "stays", "codes"]
    checks = ", ".join(
        f"count({c})" if c not in ("stays", "codes") else f"count(*) FILTER (WHERE len({c}) > 0)"
        for c in cols
    )
    row = con.fetchone(f"SELECT {checks} FROM {base}")
    assert row is not None
    has = dict(zip(cols, (bool(v) for v in row), strict=True))
    # a source without any stay still carries the attribute (everyone has none)
    has["stays"] = has["stays"] or has["codes"]
    return {a: all(has[c] for c in needs) for a, needs in _NEEDS.items()}


def qi_sql(base: str, rare_threshold: int, reference: str | None = None) -> str:
    """SQL of the quasi-identifier table: the base columns plus ``rare`` (the sorted codes of
    the person held by fewer than ``rare_threshold`` persons of ``reference``, by default the
    source itself) and ``ref_year`` (the reference year of ages: the latest stay year of
    ``reference``, else its latest birth year). A population is prepared with the sample as
    ``reference``, so that both share the rare codes and the age bands."""
    return f"""WITH b AS (SELECT row_number() OVER () AS rid, * FROM {base}),
    rb AS (SELECT * FROM {reference or base}),
    n AS (SELECT code, count(*) AS persons
          FROM (SELECT unnest(list_distinct(codes)) AS code FROM rb) GROUP BY code),
    pc AS (SELECT rid, unnest(list_distinct(codes)) AS code FROM b),
    r AS (SELECT pc.rid, list_sort(list(pc.code)) AS rare FROM pc JOIN n USING (code)
          WHERE n.persons < {int(rare_threshold)} GROUP BY pc.rid),
    y AS (SELECT coalesce(max(year(list_max(stays))), max(birth_year)) AS ref_year FROM rb)
    SELECT b.birth_year, b.sex, b.dpt, b.region, b.stays,
           coalesce(r.rare, CAST([] AS VARCHAR[])) AS rare, y.ref_year
    FROM b LEFT JOIN r USING (rid) CROSS JOIN y"""
