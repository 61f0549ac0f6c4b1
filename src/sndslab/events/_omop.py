"""OMOP CDM 5.4 export of the ``events`` layer: one dataset directory per CDM table
(``<out>/person/part-*.parquet``...), written by the engine's writer (DuckDB or Spark).

Clinical tables (person, observation_period, visit_occurrence, condition_occurrence,
drug_exposure, procedure_occurrence, measurement, death) and vocabulary tables for the SNDS
source vocabularies (concept, vocabulary, concept_relationship, source_to_concept_map), plus
``_manifest.json`` (sndslab version, git revision, lake generation, row accounting). The
events are read through the lake (``events.events``, ``events.patients``, ``events.codes``).
A local output is written atomically and validated against the CDM 5.4 DDL
(:func:`sndslab.events.validate_omop`) before it appears (see :mod:`sndslab.events._export`).

- **Identifiers.** ``person_id`` is the salted surrogate of :mod:`sndslab.events._ids` (the
  SNDS person id never leaves the lake; ``person_source_value`` is NULL). Every other id is a
  row number in (person, date, code) order. Provider, establishment (FINESS) and source-row
  keys are not exported.
- **Concepts.** No Athena vocabulary is available offline: every standard ``*_concept_id`` of
  an SNDS code is 0 ("no matching concept"); ``*_source_value`` keeps the SNDS code and
  ``*_source_concept_id`` points to a local concept (id ≥ 2,000,000,000, OHDSI's range for
  site-specific concepts) of ``concept.parquet``, whose vocabularies are ``SNDS_<VOCAB>``.
  Local ids are assigned in code order: stable for a given lake, not across lakes (the key is
  ``vocabulary_id`` + ``concept_code``). ``source_to_concept_map`` lists every source code with
  target 0, ready to be filled from Athena; the sex codes map to the Gender concepts.
- **What maps** (standard OHDSI concepts): sex 1/2 → 8507 MALE / 8532 FEMALE; visits: MCO, SSR
  and RIM-P stays → 9201 Inpatient Visit, HAD → 581476 Home Visit, emergency passages → 9203
  Emergency Room Visit, consultations → 9202 Outpatient Visit; type concepts 32810 Claim (SNDS
  claims and PMSI), 32815 Death Certificate (CépiDc causes), 32812 Claim discharge record (death
  at MCO discharge), 32813 Claim enrolment record (IR_BEN_R death, observation periods);
  condition status DP → 32902 Primary diagnosis, DAS/DR → 32908 Secondary diagnosis. Race and
  ethnicity are 0 (not collected in the SNDS).
- **Observation periods.** The SNDS covers the whole insured population, so each person is
  observed over the extract window (calendar years of the non-ALD events, or ``window``) while
  alive (from the earliest possible birth date to death); records outside it (ALD exemptions
  that started earlier, data errors) add one-day periods, so every record lies in a period.
  Overlapping or adjacent periods are merged.
- **Accounting.** Every event lands in exactly one CDM table or is counted as not exported with
  a reason (its person is not exported: no year of birth, or absent from ``patients``).

See ``docs/events.md`` ("OMOP CDM 5.4 export") for the mapping table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sndslab import __version__
from sndslab._faults import failpoint
from sndslab.engines import Connection, Engine, is_local_path, quote_literal
from sndslab.errors import SndslabError
from sndslab.events._codes import Nomenclatures, codes_sql, nomenclatures
from sndslab.events._export import events_relations, open_export
from sndslab.events._ids import create_subject_map, new_salt
from sndslab.events._omop_cdm import CDM_TABLES, CDM_VERSION, validate_omop
from sndslab.events._schema import Category
from sndslab.events._vocabularies import vocabularies

__all__ = ["CATEGORY_TABLE", "CUSTOM_CONCEPT_BASE", "OmopResult", "to_omop"]

#: First local concept id (OHDSI: concept ids > 2,000,000,000 are reserved for local use).
CUSTOM_CONCEPT_BASE = 2_000_000_000
INT32_MAX = 2_147_483_647

#: OMOP standard concepts used by the export (ids checked against OHDSI documentation).
MALE, FEMALE = 8507, 8532
INPATIENT_VISIT, OUTPATIENT_VISIT, ER_VISIT, HOME_VISIT = 9201, 9202, 9203, 581476
TYPE_CLAIM, TYPE_CLAIM_DISCHARGE, TYPE_ENROLMENT = 32810, 32812, 32813
TYPE_DEATH_CERTIFICATE = 32815
PRIMARY_DIAGNOSIS, SECONDARY_DIAGNOSIS = 32902, 32908
VALID_START, VALID_END = "1970-01-01", "2099-12-31"

#: The CDM table each event category lands in.
CATEGORY_TABLE: dict[Category, str] = {
    Category.STAY: "visit_occurrence",
    Category.EMERGENCY: "visit_occurrence",
    Category.VISIT: "visit_occurrence",
    Category.DIAGNOSIS: "condition_occurrence",
    Category.ALD: "condition_occurrence",
    Category.DEATH_CAUSE: "condition_occurrence",
    Category.DISPENSING: "drug_exposure",
    Category.HOSPITAL_DISPENSING: "drug_exposure",
    Category.ACT: "procedure_occurrence",
    Category.REHABILITATION: "procedure_occurrence",
    Category.BIOLOGY: "measurement",
}

#: OMOP domain of the local concepts, by SNDS vocabulary (the ``VOCAB`` of ``VOCAB//value``):
#: domain → vocabularies, from the ``omop_domain`` of ``vocabularies.yaml``.
_DOMAINS: dict[str, tuple[str, ...]] = {
    domain: tuple(v.name for v in vocabularies().values() if v.omop_domain == domain)
    for domain in dict.fromkeys(v.omop_domain for v in vocabularies().values())
}


@dataclass
class OmopResult:
    """What :func:`to_omop` wrote: rows per CDM table and the accounting of every event."""

    out_dir: Path | str
    rows: dict[str, int] = field(default_factory=dict)
    #: category → {CDM table or ``not_exported:<reason>``: events}
    events_by_category: dict[str, dict[str, int]] = field(default_factory=dict)
    #: reason → events not exported
    not_exported: dict[str, int] = field(default_factory=dict)
    #: reason → persons of ``patients`` not in ``person``
    persons_not_exported: dict[str, int] = field(default_factory=dict)
    events: int = 0
    window: tuple[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["out_dir"] = str(self.out_dir)
        return d


#: Temp tables and views of one export (dropped at the end).
_TEMP = ("_cause", "_x", "_x0", "_concept", "_codes", "_cip", "_op", "_ev", "_persons", "_subject")


def _select(table: str, exprs: dict[str, str]) -> str:
    """``SELECT`` list of ``table``'s CDM columns in DDL order, each cast to its DDL type; a
    column absent from ``exprs`` is NULL."""
    unknown = set(exprs) - {c.name for c in CDM_TABLES[table]}
    if unknown:  # pragma: no cover - programming error
        raise ValueError(f"{table}: unknown columns {sorted(unknown)}")
    parts = []
    for c in CDM_TABLES[table]:
        sql_type = "VARCHAR" if c.duckdb_type == "VARCHAR" else c.duckdb_type
        parts.append(f"CAST({exprs.get(c.name, 'NULL')} AS {sql_type}) AS {c.name}")
    return ",\n       ".join(parts)


def _domain_case(vocab: str) -> str:
    whens = " ".join(
        f"WHEN {vocab} IN ({', '.join(quote_literal(v) for v in vocabs)}) THEN '{domain}'"
        for domain, vocabs in _DOMAINS.items()
    )
    return f"CASE {whens} ELSE 'Observation' END"


def _stage_events(con: Connection, rels: dict[str, str], refs: Nomenclatures) -> None:
    """Temp tables ``_persons``, ``_ev`` (every event, with its table or reason), ``_codes``
    (the codes, the CIP13 packs dispensed and the parent codes)."""
    events, patients = rels["events"], rels["patients"]
    con.create_table(
        "_persons",
        f"""SELECT s.subject_id AS pid, p.sex, p.birth_date, p.birth_date_min, p.birth_precision,
               p.death_date, p.death_source
        FROM {patients} p JOIN _subject s USING (person_id)
        WHERE p.birth_date IS NOT NULL""",
    )
    tables = " ".join(f"WHEN '{c.value}' THEN '{t}'" for c, t in CATEGORY_TABLE.items())
    con.create_table(
        "_ev",
        f"""SELECT p.pid, e.category, CASE e.category {tables} END AS tbl, e.start, e."end",
               e.code, split_part(e.code, '//', 1) AS vocab,
               substr(e.code, strpos(e.code, '//') + 2) AS value, e.modifier, e.quantity,
               e.stay_id, e.source_table, e.source_key,
               CASE WHEN s.subject_id IS NULL THEN 'person_not_in_patients'
                    WHEN p.pid IS NULL THEN 'person_without_birth_year'
                    WHEN CASE e.category {tables} END IS NULL THEN 'category_not_mapped'
               END AS reason
        FROM {events} e
        LEFT JOIN _subject s USING (person_id)
        LEFT JOIN _persons p ON p.pid = s.subject_id""",
    )
    # local concepts: the codes table, the CIP13 packs dispensed (modifiers), parent codes
    con.create_view(
        "_cip",
        """SELECT DISTINCT modifier AS code FROM _ev
        WHERE reason IS NULL AND starts_with(modifier, 'CIP13//')""",
    )
    con.create_table(
        "_codes",
        f"""WITH base AS (
            SELECT code, description, parent_codes FROM {rels["codes"]}
            UNION ALL SELECT code, description, parent_codes FROM ({codes_sql(refs, "_cip")}) k),
        b AS (SELECT code, any_value(description) AS description,
                     any_value(parent_codes) AS parent_codes FROM base GROUP BY code),
        parents AS (SELECT DISTINCT unnest(parent_codes) AS code FROM b)
        SELECT code, description, parent_codes FROM b
        UNION ALL
        SELECT code, CAST(NULL AS VARCHAR), CAST([] AS VARCHAR[]) FROM parents WHERE code NOT IN
            (SELECT code FROM b)""",
    )


def _stage(
    con: Connection, rels: dict[str, str], refs: Nomenclatures, window: tuple[date, date] | None
) -> tuple[str, str] | None:
    """Temp tables: ``_persons``, ``_ev``, ``_codes`` (:func:`_stage_events`), ``_x``
    (exported events with ids and concepts), ``_concept``, ``_op``; returns the window."""
    _stage_events(con, rels, refs)
    con.create_table(
        "_concept",
        f"""WITH c AS (
            SELECT 0 AS kind, code, split_part(code, '//', 1) AS vocab,
                   substr(code, strpos(code, '//') + 2) AS value, description FROM _codes
            UNION ALL
            SELECT DISTINCT 1, 'SNDS_' || split_part(code, '//', 1), 'Vocabulary',
                   'SNDS_' || split_part(code, '//', 1), NULL FROM _codes)
        SELECT {CUSTOM_CONCEPT_BASE} + row_number() OVER (ORDER BY kind, code) AS concept_id,
               kind, code, vocab, value, description,
               CASE WHEN kind = 1 THEN 'Metadata' ELSE {_domain_case("vocab")} END AS domain_id
        FROM c""",
    )
    n_concepts = int(con.scalar("SELECT count(*) FROM _concept") or 0)
    if CUSTOM_CONCEPT_BASE + n_concepts > INT32_MAX:
        raise SndslabError(f"{n_concepts:,} local concepts do not fit the integer concept ids")
    con.create_table(
        "_x0",
        """SELECT e.*, c.concept_id AS code_concept_id, m.concept_id AS modifier_concept_id,
               row_number() OVER (PARTITION BY e.tbl ORDER BY e.pid, e.start, e.code,
                   e.source_table, e.source_key, e.modifier, e.stay_id) AS id
        FROM _ev e LEFT JOIN _concept c ON c.kind = 0 AND c.code = e.code
        LEFT JOIN _concept m ON m.kind = 0 AND m.code = e.modifier
        WHERE e.reason IS NULL""",
    )
    big = con.fetchall(f"SELECT tbl, count(*) FROM _x0 GROUP BY tbl HAVING count(*) > {INT32_MAX}")
    if big:
        raise SndslabError(f"table {big[0][0]}: {big[0][1]:,} rows overflow the integer ids")
    # diagnoses and acts of a PMSI stay point to the visit of that stay
    con.create_table(
        "_x",
        """WITH sv AS (SELECT pid, stay_id, min(id) AS visit_id FROM _x0
                    WHERE tbl = 'visit_occurrence' AND stay_id IS NOT NULL GROUP BY pid, stay_id)
        SELECT x.*, sv.visit_id FROM _x0 x
        LEFT JOIN sv ON sv.pid = x.pid AND sv.stay_id = x.stay_id""",
    )
    con.create_table(
        "_cause",
        f"""SELECT k.pid, k.code, c.concept_id FROM (
            SELECT pid, min(code) AS code FROM _x
            WHERE category = '{Category.DEATH_CAUSE.value}' AND modifier = 'initial' GROUP BY pid) k
        LEFT JOIN _concept c ON c.kind = 0 AND c.code = k.code""",
    )
    return _observation_periods(con, window)


def _observation_periods(
    con: Connection, window: tuple[date, date] | None
) -> tuple[str, str] | None:
    if window is None:
        row = con.fetchone(
            f"""SELECT make_date(CAST(min(year(start)) AS INTEGER), 1, 1),
                       make_date(CAST(max(year(start)) AS INTEGER), 12, 31)
            FROM _x WHERE category <> '{Category.ALD.value}'"""
        )
        window = (row[0], row[1]) if row is not None and row[0] is not None else None
    ws, we = (f"DATE '{window[0]}'", f"DATE '{window[1]}'") if window else ("NULL", "NULL")
    con.create_table(
        "_op",
        f"""WITH main AS (
            SELECT pid, greatest({ws}, birth_date_min) AS s,
                   least({we}, coalesce(death_date, {we})) AS e FROM _persons),
        iv AS (
            SELECT pid, s, e FROM main WHERE s <= e
            UNION ALL
            SELECT DISTINCT x.pid, x.start, x.start FROM _x x LEFT JOIN main m USING (pid)
            WHERE m.s IS NULL OR m.e IS NULL OR m.s > m.e OR x.start NOT BETWEEN m.s AND m.e),
        o AS (SELECT pid, s, e, max(e) OVER (PARTITION BY pid ORDER BY s, e
                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_e FROM iv),
        g AS (SELECT pid, s, e, sum(CASE WHEN prev_e IS NULL OR s > prev_e + 1 THEN 1 ELSE 0 END)
                  OVER (PARTITION BY pid ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS grp FROM o)
        SELECT row_number() OVER (ORDER BY pid, min(s)) AS id, pid, min(s) AS s, max(e) AS e
        FROM g GROUP BY pid, grp""",
    )
    return (str(window[0]), str(window[1])) if window else None


def _table_sql() -> dict[str, str]:
    """``SELECT`` of every CDM table over the staged temp tables."""
    visit = "x.visit_id"
    cip = "starts_with(x.modifier, 'CIP13//')"

    def ev(table: str, exprs: dict[str, str]) -> str:
        return f"SELECT {_select(table, exprs)} FROM _x x WHERE x.tbl = '{table}' ORDER BY x.id"

    ent = "nullif(regexp_extract(x.modifier, 'ENT_MOD=([^;]*)', 1), '')"
    sor = "nullif(regexp_extract(x.modifier, 'SOR_MOD=([^;]*)', 1), '')"
    visit_concept = (
        f"CASE WHEN x.vocab = 'GHM' OR x.code IN ('STAY//SSR', 'STAY//RIP') THEN {INPATIENT_VISIT}"
        f" WHEN x.code = 'STAY//HAD' THEN {HOME_VISIT}"
        f" WHEN x.category = '{Category.EMERGENCY.value}' THEN {ER_VISIT}"
        f" WHEN x.category = '{Category.VISIT.value}' THEN {OUTPATIENT_VISIT} ELSE 0 END"
    )
    death_type = (
        f"CASE p.death_source WHEN 'KI_CCI_R' THEN {TYPE_DEATH_CERTIFICATE} "
        f"WHEN 'PMSI_MCO' THEN {TYPE_CLAIM_DISCHARGE} WHEN 'IR_BEN_R' THEN {TYPE_ENROLMENT} END"
    )
    exported = "p.pid IN (SELECT pid FROM _op)"
    source_concepts = "FROM _concept c WHERE c.kind = 0"
    return {
        "person": f"""SELECT {_select("person", {
            "person_id": "p.pid",
            "gender_concept_id": f"CASE p.sex WHEN 1 THEN {MALE} WHEN 2 THEN {FEMALE} ELSE 0 END",
            "year_of_birth": "year(p.birth_date)",
            "month_of_birth": "CASE WHEN p.birth_precision = 'month' THEN month(p.birth_date) END",
            "race_concept_id": "0", "ethnicity_concept_id": "0",
            "gender_source_value": "CAST(p.sex AS VARCHAR)", "gender_source_concept_id": "0",
        })} FROM _persons p WHERE {exported} ORDER BY p.pid""",
        "observation_period": f"""SELECT {_select("observation_period", {
            "observation_period_id": "o.id", "person_id": "o.pid",
            "observation_period_start_date": "o.s", "observation_period_end_date": "o.e",
            "period_type_concept_id": str(TYPE_ENROLMENT),
        })} FROM _op o ORDER BY o.id""",
        "visit_occurrence": ev("visit_occurrence", {
            "visit_occurrence_id": "x.id", "person_id": "x.pid", "visit_concept_id": visit_concept,
            "visit_start_date": "x.start", "visit_end_date": 'coalesce(x."end", x.start)',
            "visit_type_concept_id": str(TYPE_CLAIM), "visit_source_value": "x.value",
            "visit_source_concept_id": "x.code_concept_id",
            "admitted_from_concept_id": f"CASE WHEN {ent} IS NOT NULL THEN 0 END",
            "admitted_from_source_value": ent,
            "discharged_to_concept_id": f"CASE WHEN {sor} IS NOT NULL THEN 0 END",
            "discharged_to_source_value": sor,
            "preceding_visit_occurrence_id": "lag(x.id) OVER (PARTITION BY x.pid ORDER BY x.id)",
        }),
        "condition_occurrence": ev("condition_occurrence", {
            "condition_occurrence_id": "x.id", "person_id": "x.pid", "condition_concept_id": "0",
            "condition_start_date": "x.start", "condition_end_date": 'x."end"',
            "condition_type_concept_id": f"CASE x.category WHEN '{Category.DEATH_CAUSE.value}' "
            f"THEN {TYPE_DEATH_CERTIFICATE} ELSE {TYPE_CLAIM} END",
            "condition_status_concept_id": f"CASE WHEN x.modifier = 'DP' THEN {PRIMARY_DIAGNOSIS}"
            f" WHEN x.modifier IN ('DAS', 'DR') THEN {SECONDARY_DIAGNOSIS}"
            " WHEN x.modifier IS NOT NULL THEN 0 END",
            "condition_status_source_value": "x.modifier", "visit_occurrence_id": visit,
            "condition_source_value": "x.value", "condition_source_concept_id": "x.code_concept_id",
        }),
        "drug_exposure": ev("drug_exposure", {
            "drug_exposure_id": "x.id", "person_id": "x.pid", "drug_concept_id": "0",
            "drug_exposure_start_date": "x.start",
            "drug_exposure_end_date": 'coalesce(x."end", x.start)', "verbatim_end_date": 'x."end"',
            "drug_type_concept_id": str(TYPE_CLAIM), "quantity": "x.quantity",
            "visit_occurrence_id": visit,
            "drug_source_value": f"CASE WHEN {cip} THEN substr(x.modifier, 8) ELSE x.value END",
            "drug_source_concept_id": f"CASE WHEN {cip} THEN x.modifier_concept_id "
            "ELSE x.code_concept_id END",
        }),
        "procedure_occurrence": ev("procedure_occurrence", {
            "procedure_occurrence_id": "x.id", "person_id": "x.pid", "procedure_concept_id": "0",
            "procedure_date": "x.start", "procedure_end_date": 'x."end"',
            "procedure_type_concept_id": str(TYPE_CLAIM),
            "modifier_concept_id": "CASE WHEN x.modifier IS NOT NULL THEN 0 END",
            "quantity": "round(x.quantity)", "visit_occurrence_id": visit,
            "procedure_source_value": "x.value", "procedure_source_concept_id": "x.code_concept_id",
            "modifier_source_value": "x.modifier",
        }),
        "measurement": ev("measurement", {
            "measurement_id": "x.id", "person_id": "x.pid", "measurement_concept_id": "0",
            "measurement_date": "x.start", "measurement_type_concept_id": str(TYPE_CLAIM),
            "visit_occurrence_id": visit, "measurement_source_value": "x.value",
            "measurement_source_concept_id": "x.code_concept_id",
        }),
        "death": f"""SELECT {_select("death", {
            "person_id": "p.pid", "death_date": "p.death_date",
            "death_type_concept_id": death_type,
            "cause_concept_id": "CASE WHEN k.code IS NOT NULL THEN 0 END",
            "cause_source_value": "substr(k.code, strpos(k.code, '//') + 2)",
            "cause_source_concept_id": "k.concept_id",
        })} FROM _persons p LEFT JOIN _cause k ON k.pid = p.pid
        WHERE p.death_date IS NOT NULL AND {exported} ORDER BY p.pid""",
        "concept": f"""SELECT {_select("concept", {
            "concept_id": "c.concept_id",
            "concept_name": "left(coalesce(c.description, CASE WHEN c.kind = 1 THEN 'SNDS ' || "
            "substr(c.value, 6) || ' (sndslab local vocabulary)' ELSE c.code END), 255)",
            "domain_id": "c.domain_id",
            "vocabulary_id": "CASE WHEN c.kind = 1 THEN 'Vocabulary' ELSE 'SNDS_' || c.vocab END",
            "concept_class_id": "CASE WHEN c.kind = 1 THEN 'Vocabulary' "
            "ELSE left(c.vocab || ' code', 20) END",
            "concept_code": "c.value", "valid_start_date": f"DATE '{VALID_START}'",
            "valid_end_date": f"DATE '{VALID_END}'",
        })} FROM _concept c ORDER BY c.concept_id""",
        "vocabulary": f"""SELECT {_select("vocabulary", {
            "vocabulary_id": "c.value",
            "vocabulary_name": "'SNDS ' || substr(c.value, 6) || ' (sndslab local vocabulary)'",
            "vocabulary_reference": "'sndslab lake/events/codes.parquet (SNDS nomenclatures)'",
            "vocabulary_version": f"'sndslab {__version__}'",
            "vocabulary_concept_id": "c.concept_id",
        })} FROM _concept c WHERE c.kind = 1 ORDER BY c.value""",
        "concept_relationship": f"""WITH r AS (
            SELECT c.concept_id AS child, p.concept_id AS parent
            FROM (SELECT code, unnest(parent_codes) AS parent FROM _codes) k
            JOIN _concept c ON c.kind = 0 AND c.code = k.code
            JOIN _concept p ON p.kind = 0 AND p.code = k.parent)
        SELECT {_select("concept_relationship", {
            "concept_id_1": "a", "concept_id_2": "b", "relationship_id": "rel",
            "valid_start_date": f"DATE '{VALID_START}'", "valid_end_date": f"DATE '{VALID_END}'",
        })} FROM (SELECT child AS a, parent AS b, 'Is a' AS rel FROM r
                  UNION ALL SELECT parent, child, 'Subsumes' FROM r) ORDER BY 1, 3, 2""",
        "source_to_concept_map": f"""SELECT {_select("source_to_concept_map", {
            "source_code": "src", "source_concept_id": "sid", "source_vocabulary_id": "svoc",
            "source_code_description": "left(descr, 255)", "target_concept_id": "tid",
            "target_vocabulary_id": "tvoc", "valid_start_date": f"DATE '{VALID_START}'",
            "valid_end_date": f"DATE '{VALID_END}'",
        })} FROM (
            SELECT c.value AS src, c.concept_id AS sid, 'SNDS_' || c.vocab AS svoc,
                   coalesce(c.description, c.code) AS descr, 0 AS tid, 'None' AS tvoc
            {source_concepts}
            UNION ALL SELECT '1', 0, 'SNDS_SEX', 'Masculin', {MALE}, 'Gender'
            UNION ALL SELECT '2', 0, 'SNDS_SEX', 'Féminin', {FEMALE}, 'Gender'
            ) ORDER BY svoc, src""",
    }  # fmt: skip


def _accounting(con: Connection, result: OmopResult) -> None:
    rows = con.fetchall(
        """SELECT category, coalesce(tbl_out, 'not_exported:' || reason), count(*)
        FROM (SELECT category, CASE WHEN reason IS NULL THEN tbl END AS tbl_out, reason
              FROM _ev) t GROUP BY 1, 2 ORDER BY 1, 2"""
    )
    for category, where, n in rows:
        result.events_by_category.setdefault(category, {})[where] = int(n)
        if where.startswith("not_exported:"):
            reason = where.split(":", 1)[1]
            result.not_exported[reason] = result.not_exported.get(reason, 0) + int(n)
    result.events = int(con.scalar("SELECT count(*) FROM _ev") or 0)
    no_birth, no_op = con.fetchone(
        """SELECT (SELECT count(*) FROM _subject) - (SELECT count(*) FROM _persons),
                  (SELECT count(*) FROM _persons WHERE pid NOT IN (SELECT pid FROM _op))"""
    ) or (0, 0)
    result.persons_not_exported = {
        "no_year_of_birth": int(no_birth),
        "no_observation_period": int(no_op),
    }


def to_omop(
    lake: Path | str,
    out_dir: Path | str,
    *,
    overwrite: bool = False,
    salt: str | None = None,
    window: tuple[date, date] | None = None,
    validate: bool = True,
    con: Connection | None = None,
    engine: str | Engine = "duckdb",
    progress: Callable[[int, int, str], None] | None = None,
) -> OmopResult:
    """Write the OMOP CDM 5.4 tables of the lake's ``events`` layer to ``out_dir``: one dataset
    directory per table, written by ``engine`` (or ``con``).

    ``salt`` seeds the surrogate ``person_id`` order (random by default; the same salt as
    :func:`~sndslab.events.to_meds` gives the same ids as MEDS ``subject_id``). ``window`` is
    the extract's observation window (default: the calendar years of the non-ALD events). With
    ``validate`` (default) a local output is checked by :func:`validate_omop` before it
    appears (a URI output is not: the validator reads local files with DuckDB).
    ``progress(done, total, step)`` is called as each step starts (``events``, then every CDM
    table, then ``validation``) and once at the end (``done == total``).
    """
    salt = new_salt() if salt is None else salt
    tables = _table_sql()
    steps = len(tables) + 2

    def step(done: int, name: str) -> None:
        if progress is not None:
            progress(done, steps, name)

    options = {"window": window, "validate": validate}
    with open_export(
        lake, out_dir, "omop", overwrite=overwrite, con=con, engine=engine, options=options
    ) as (c, paths, target):
        rels = events_relations(c, paths)
        step(0, "events")
        try:
            create_subject_map(c, rels["patients"], salt)
            result = OmopResult(
                out_dir=out_dir, window=_stage(c, rels, nomenclatures(c, paths), window)
            )
            _accounting(c, result)
            failpoint("export.omop.write")
            rows = {}
            for i, (t, q) in enumerate(tables.items(), start=1):
                step(i, t)
                rows[t] = c.write_dataset(q, target.join(t))
        finally:
            for name in _TEMP:
                c.drop(name)
        local = is_local_path(target.root)
        step(steps - 1, "validation")
        result.rows = (
            validate_omop(Path(target.root.removeprefix("file://"))) if validate and local else rows
        )
        target.manifest.update({"cdm_version": CDM_VERSION, "etl": f"sndslab {__version__}"})
        target.manifest.update(
            {k: v for k, v in result.to_dict().items() if k not in ("out_dir", "rows")}
        )
        target.counts.update(result.rows)
    step(steps, "")
    return result
