"""Patient identity: resolve pseudonymous keys (BEN_NIR_PSA, BEN_RNG_GEM) to one ``person_id``.

Algorithm (all in DuckDB SQL, no Python loop over rows):

1. **Keys.** One node per distinct (BEN_NIR_PSA, BEN_RNG_GEM) of IR_BEN_R (kept rows,
   ``clean__IR_BEN_R`` of the ``int`` generation being built), plus the keys of ER_PRS_F
   absent from IR_BEN_R (``key_type = 'dcir_only'``, demographics taken from their prestation
   lines).
2. **Links.** Two keys are linked when they share a non-null BEN_NIR_ANO (the individual,
   lifelong pseudonym) or a non-null BEN_IDT_ANO. Keys without BEN_NIR_ANO (provisional NIRs)
   link to nothing: each is its own person, flagged ``provisional_nir``. Keys of fictitious
   NIRs (BEN_CDI_NIR 01, 05, 06, 08, 09, 11; no BEN_NIR_ANO) identify no person (a care
   episode billed anonymously: abortion, STI screening, minors' contraception): as the SNDS
   documentation says, their care is kept as claims attached to no person: the key is in
   ``person_keys`` with ``key_type = 'fictitious'`` and a NULL ``person_id``, and it is not a
   person (so not an events patient nor an OMOP person). ``keep_fictitious=True`` makes each
   such key a pseudo-person flagged ``fictitious_nir`` instead. Either way the keys and their
   kept ER_PRS_F lines are counted (``fictitious_keys``, ``fictitious_claim_lines``).
3. **Connected components** by iterative label propagation in SQL: every key starts with its own
   label; at each round a key takes the smallest label among the keys sharing one of its
   tokens; the loop stops when no label changes (bounded by ``max_rounds``). ``person_id`` is
   ``'P' || md5(min BEN_IDT_ANO of the component)[:16]``: stable across runs and extracts.
4. **Person attributes**: sex, birth year/month (the value of most keys, ties to the most
   recently updated key, :func:`_pick`), earliest death
   date, residence of the most recent row; flags ``fictitious_nir``, ``provisional_nir`` (03/04
   or, for an IR_BEN_R key, no BEN_NIR_ANO: a ``dcir_only`` key's is unknown, not empty),
   ``twin_shared_psa`` (a PSA of the person is shared with another person,
   i.e. twins), ``multiple_psa`` (the person has several PSA), ``inconsistent_birth_or_sex``.

PMSI link (:func:`link_pmsi`): NIR_ANO_17 = BEN_NIR_PSA. A PSA of one person links when the
record's sex and birth year are coherent with one of the person's keys (birth year ±1 year of
tolerance), else the record is ``incoherent`` (the NIR_ANO_17 of another person); a PSA shared
by several persons (twins: same PSA, several BEN_RNG_GEM) is resolved by sex (COD_SEX) and
birth year (stay year − AGE_ANN) when exactly one candidate fits, otherwise the record is
``ambiguous_twin`` (person_id NULL). An unknown PSA is ``no_person_key``. Scores against a
generator truth: :mod:`sndslab.ingest._identity_score`.

Sources: ``snds-data-model.md`` §2.2 (``fiches/fiche_beneficiaire.md``; sndsTools
``retrieve_patient_id.R`` quality flags).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from sndslab.engines import Connection
from sndslab.ingest._rules import clean_name
from sndslab.lake import GenerationWriter

__all__ = ["FICTITIOUS_CDI_NIR", "IdentityResult", "link_pmsi", "resolve_persons"]

#: BEN_CDI_NIR codes of fictitious NIRs (snds-data-model.md §2.4.6).
FICTITIOUS_CDI_NIR = ("01", "05", "06", "08", "09", "11")
PROVISIONAL_CDI_NIR = ("03", "04")


class IdentityResult(BaseModel):
    """Summary of :func:`resolve_persons`."""

    persons: int
    keys: int
    keys_ir_ben_r: int
    keys_dcir_only: int
    rounds: int
    flags: dict[str, int] = Field(default_factory=dict)
    fictitious_keys: int = 0
    fictitious_claim_lines: int = 0
    fictitious_as_persons: bool = False
    persons_path: str = ""
    keys_path: str = ""


def _keys(con: Connection, writer: GenerationWriter) -> None:
    """Temp tables ``id_ben`` (IR_BEN_R kept rows) and ``id_keys`` (one row per key, with the
    ``dcir_only`` keys of ER_PRS_F absent from IR_BEN_R)."""
    con.create_table(
        "id_ben",
        f"""SELECT BEN_NIR_PSA, BEN_RNG_GEM, BEN_NIR_ANO, BEN_IDT_ANO, BEN_CDI_NIR, BEN_SEX_COD,
               BEN_NAI_ANN, BEN_NAI_MOI, BEN_DCD_DTE, BEN_RES_DPT, BEN_DTE_MAJ
        FROM {writer.relation(clean_name("IR_BEN_R"))}
        WHERE BEN_NIR_PSA IS NOT NULL""",
    )
    dcir_only = ""
    if writer.has(clean_name("ER_PRS_F")):
        dcir_only = f"""
        UNION ALL
        SELECT p.BEN_NIR_PSA, p.BEN_RNG_GEM, NULL, NULL, mode(p.BEN_CDI_NIR),
               mode(p.BEN_SEX_COD), mode(p.BEN_NAI_ANN), NULL, max(p.BEN_DCD_DTE),
               mode(p.BEN_RES_DPT), NULL, NULL, 'dcir_only'
        FROM {writer.relation(clean_name("ER_PRS_F"))} p
        ANTI JOIN id_ben b ON p.BEN_NIR_PSA = b.BEN_NIR_PSA AND p.BEN_RNG_GEM = b.BEN_RNG_GEM
        WHERE p.BEN_NIR_PSA IS NOT NULL
        GROUP BY p.BEN_NIR_PSA, p.BEN_RNG_GEM"""
    con.create_table(
        "id_keys",
        f"""SELECT *, row_number() OVER (ORDER BY BEN_NIR_PSA, BEN_RNG_GEM) AS kid FROM (
          SELECT BEN_NIR_PSA, BEN_RNG_GEM, any_value(BEN_NIR_ANO) AS BEN_NIR_ANO,
                 any_value(BEN_IDT_ANO) AS BEN_IDT_ANO, any_value(BEN_CDI_NIR) AS BEN_CDI_NIR,
                 mode(BEN_SEX_COD) AS sex, mode(BEN_NAI_ANN) AS birth_year,
                 mode(BEN_NAI_MOI) AS birth_month, min(BEN_DCD_DTE) AS death_date,
                 arg_max(BEN_RES_DPT, BEN_DTE_MAJ) AS residence_dpt,
                 count(DISTINCT BEN_SEX_COD) > 1 OR count(DISTINCT BEN_NAI_ANN) > 1 AS incons,
                 max(BEN_DTE_MAJ) AS updated, 'ir_ben_r' AS key_type
          FROM id_ben GROUP BY BEN_NIR_PSA, BEN_RNG_GEM
          {dcir_only}
        )""",
    )


def _components(con: Connection, max_rounds: int) -> int:
    """Label propagation over the keys' tokens (``id_lab``: key → component); the rounds."""
    fict = ", ".join(f"'{c}'" for c in FICTITIOUS_CDI_NIR)
    # tokens: only real individual identifiers link keys (not fictitious / provisional ones)
    con.create_table(
        "id_tok",
        f"""SELECT kid, 'N' || BEN_NIR_ANO AS tok FROM id_keys
        WHERE BEN_NIR_ANO IS NOT NULL AND COALESCE(BEN_CDI_NIR, '00') NOT IN ({fict})
        UNION
        SELECT kid, 'I' || BEN_IDT_ANO FROM id_keys
        WHERE BEN_IDT_ANO IS NOT NULL AND BEN_NIR_ANO IS NOT NULL
          AND COALESCE(BEN_CDI_NIR, '00') NOT IN ({fict})""",
    )
    con.create_table("id_lab", "SELECT kid, kid AS lab FROM id_keys")
    rounds = 0
    for rounds in range(1, max_rounds + 1):  # noqa: B007 - rounds reported
        con.create_table(
            "id_new",
            """WITH tl AS (SELECT t.tok, min(l.lab) AS lab FROM id_tok t JOIN id_lab l USING (kid)
                        GROUP BY t.tok),
                 kl AS (SELECT t.kid, min(tl.lab) AS lab FROM id_tok t JOIN tl USING (tok)
                        GROUP BY t.kid)
            SELECT l.kid, least(l.lab, COALESCE(kl.lab, l.lab)) AS lab
            FROM id_lab l LEFT JOIN kl USING (kid)""",
        )
        changed = con.scalar(
            "SELECT count(*) FROM id_new n JOIN id_lab l USING (kid) WHERE n.lab <> l.lab"
        )
        con.create_table("id_lab", "SELECT * FROM id_new")
        if changed == 0:
            break
    con.drop("id_new")
    return rounds


def _pick(attr: str) -> str:
    """CTE ``pick_<attr>``: one value of ``attr`` per person when its keys disagree (a
    mistyped birth year or sex on one key): the value of most keys, then that of the most
    recently updated key (IR_BEN_R holds the latest state, BEN_DTE_MAJ), then the smallest, so
    that the person table does not depend on row order."""
    return f"""pick_{attr} AS (
          SELECT person_id, {attr} AS picked_{attr} FROM (
            SELECT person_id, {attr}, row_number() OVER (
                     PARTITION BY person_id
                     ORDER BY count(*) DESC, max(updated) DESC NULLS LAST, {attr}) AS rk
            FROM id_resolved WHERE {attr} IS NOT NULL GROUP BY person_id, {attr}) ranked
          WHERE rk = 1)"""


def resolve_persons(
    con: Connection,
    writer: GenerationWriter,
    *,
    max_rounds: int = 50,
    keep_fictitious: bool = False,
) -> IdentityResult:
    """Write ``persons`` and ``person_keys`` into the ``int`` generation of ``writer``.

    ``persons``: one row per person. ``person_keys``: one row per (BEN_NIR_PSA, BEN_RNG_GEM).
    Reads the kept rows of IR_BEN_R and ER_PRS_F (``clean__IR_BEN_R``, ``clean__ER_PRS_F``)
    written in the same generation by :func:`sndslab.ingest.apply_rules`. Fictitious-NIR keys
    get no person unless ``keep_fictitious`` (module docstring, step 2).
    """
    fict = ", ".join(f"'{c}'" for c in FICTITIOUS_CDI_NIR)
    prov = ", ".join(f"'{c}'" for c in PROVISIONAL_CDI_NIR)
    _keys(con, writer)
    rounds = _components(con, max_rounds)
    con.create_table(
        "id_resolved",
        f"""WITH k AS (SELECT k.*, l.lab FROM id_keys k JOIN id_lab l USING (kid)),
        comp AS (
          SELECT lab,
                 min(COALESCE(BEN_IDT_ANO, BEN_NIR_PSA || CAST(BEN_RNG_GEM AS VARCHAR)))
                   AS group_idt_ano
          FROM k GROUP BY lab)
        SELECT k.*, c.group_idt_ano,
               CASE WHEN {"FALSE" if keep_fictitious else "TRUE"}
                         AND COALESCE(k.BEN_CDI_NIR, '00') IN ({fict}) THEN NULL
                    ELSE 'P' || substr(md5(c.group_idt_ano), 1, 16) END AS person_id,
               COALESCE(k.BEN_CDI_NIR, '00') IN ({fict}) AS is_fict,
               COALESCE(k.BEN_CDI_NIR, '00') IN ({prov})
                 OR (k.BEN_NIR_ANO IS NULL AND k.key_type = 'ir_ben_r'
                     AND COALESCE(k.BEN_CDI_NIR, '00') NOT IN ({fict}))
                 AS is_prov
        FROM k JOIN comp c USING (lab)""",
    )
    keys_sql = """SELECT BEN_NIR_PSA AS ben_nir_psa, BEN_RNG_GEM AS ben_rng_gem, person_id,
               CASE WHEN is_fict THEN 'fictitious' WHEN is_prov THEN 'provisional'
                    ELSE key_type END AS key_type,
               BEN_CDI_NIR AS ben_cdi_nir, sex, birth_year
        FROM id_resolved"""
    persons_sql = f"""WITH shared AS (
          SELECT BEN_NIR_PSA FROM id_resolved GROUP BY BEN_NIR_PSA
          HAVING count(DISTINCT person_id) > 1),
        {_pick("sex")}, {_pick("birth_year")}, {_pick("birth_month")}
        SELECT person_id, min(group_idt_ano) AS ben_idt_ano,
               any_value(picked_sex) AS sex, any_value(picked_birth_year) AS birth_year,
               any_value(picked_birth_month) AS birth_month,
               min(death_date) AS death_date, any_value(residence_dpt) AS residence_dpt,
               count(*) AS n_keys,
               bool_or(is_fict) AS fictitious_nir, bool_or(is_prov) AS provisional_nir,
               bool_or(BEN_NIR_PSA IN (SELECT BEN_NIR_PSA FROM shared)) AS twin_shared_psa,
               count(DISTINCT BEN_NIR_PSA) > 1 AS multiple_psa,
               bool_or(incons) OR count(DISTINCT sex) > 1 OR count(DISTINCT birth_year) > 1
                 AS inconsistent_birth_or_sex
        FROM id_resolved LEFT JOIN pick_sex USING (person_id)
        LEFT JOIN pick_birth_year USING (person_id) LEFT JOIN pick_birth_month USING (person_id)
        WHERE person_id IS NOT NULL
        GROUP BY person_id"""
    # persons first: person_keys.person_id is checked against it
    writer.write("persons", persons_sql, order_by=("person_id",))
    writer.write("person_keys", keys_sql, order_by=("ben_nir_psa", "ben_rng_gem"))
    persons = writer.relation("persons")
    row = con.fetchone(
        f"""SELECT count(*), count(*) FILTER (WHERE fictitious_nir),
                  count(*) FILTER (WHERE provisional_nir), count(*) FILTER (WHERE twin_shared_psa),
                  count(*) FILTER (WHERE multiple_psa),
                  count(*) FILTER (WHERE inconsistent_birth_or_sex) FROM {persons}"""
    ) or (0, 0, 0, 0, 0, 0)
    n_keys = int(writer.tables["person_keys"].rows)
    dcir_only_n = int(con.scalar("SELECT count(*) FROM id_resolved WHERE key_type = 'dcir_only'"))
    fict_keys, fict_lines = _fictitious_counts(con, writer)
    for name in ("id_ben", "id_keys", "id_tok", "id_lab", "id_resolved"):
        con.drop(name)
    return IdentityResult(
        persons=row[0],
        keys=n_keys,
        keys_ir_ben_r=n_keys - dcir_only_n,
        keys_dcir_only=dcir_only_n,
        rounds=rounds,
        flags={
            "fictitious_nir": row[1],
            "provisional_nir": row[2],
            "twin_shared_psa": row[3],
            "multiple_psa": row[4],
            "inconsistent_birth_or_sex": row[5],
        },
        fictitious_keys=fict_keys,
        fictitious_claim_lines=fict_lines,
        fictitious_as_persons=keep_fictitious,
        persons_path="int.persons",
        keys_path="int.person_keys",
    )


def _fictitious_counts(con: Connection, writer: GenerationWriter) -> tuple[int, int]:
    """Fictitious-NIR keys, and the kept ER_PRS_F lines billed under them."""
    keys = int(con.scalar("SELECT count(*) FROM id_resolved WHERE is_fict"))
    if not writer.has(clean_name("ER_PRS_F")):
        return keys, 0
    lines = con.scalar(
        f"""SELECT count(*) FROM {writer.relation(clean_name("ER_PRS_F"))} p
        SEMI JOIN (SELECT BEN_NIR_PSA, BEN_RNG_GEM FROM id_resolved WHERE is_fict) f
          ON p.BEN_NIR_PSA = f.BEN_NIR_PSA AND p.BEN_RNG_GEM = f.BEN_RNG_GEM"""
    )
    return keys, int(lines)


#: Birth-year tolerance of the PMSI coherence check (years on each side of the exact window).
BIRTH_YEAR_TOLERANCE = 1


def link_pmsi(relation: str, keys: str, *, stay_year: str) -> str:
    """SQL of ``relation`` plus ``person_id`` and ``link_status`` from NIR_ANO_17.

    ``relation`` must have NIR_ANO_17, COD_SEX and AGE_ANN; ``keys`` is the SQL relation of
    ``person_keys``; ``stay_year`` is the SQL of the stay year. Returns a SELECT statement (one
    row per input row). ``link_status``:

    - ``linked``: the PSA belongs to one person, coherent with the record;
    - ``twin_resolved``: the PSA is shared by several persons (twins, family ranks, a reused
      PSA) and exactly one fits the record's sex and birth year (stay year − AGE_ANN, exact);
    - ``ambiguous_twin``: shared, and none or several fit;
    - ``incoherent``: the PSA belongs to one person whose sex or birth year (±
      ``BIRTH_YEAR_TOLERANCE`` around the exact window), on every one of the person's keys,
      contradicts the record: the NIR_ANO_17 is another person's (the PMSI coherence checks
      COH_SEX_RET / COH_NAI_RET compare the same fields with the insured's referential,
      snds-data-model §2.3). Checking every key of the person keeps a record whose key
      carries a mistyped birth year or sex when another key of the person fits;
    - ``no_person_key``: the PSA is unknown.
    """
    tol = BIRTH_YEAR_TOLERANCE
    return f"""
    WITH r AS (SELECT *, row_number() OVER () AS _lk FROM {relation}),
    pk AS (SELECT DISTINCT ben_nir_psa, person_id, sex, birth_year FROM {keys}
           WHERE person_id IS NOT NULL),
    cand AS (
      SELECT r._lk, k.person_id,
             (TRY_CAST(r.COD_SEX AS INTEGER) IS NOT DISTINCT FROM k.sex
              AND ({stay_year}) - r.AGE_ANN - k.birth_year BETWEEN 0 AND 1) AS fits
      FROM r JOIN pk k ON r.NIR_ANO_17 = k.ben_nir_psa),
    agg AS (
      SELECT _lk, count(DISTINCT person_id) AS n,
             count(DISTINCT person_id) FILTER (WHERE fits) AS n_fit,
             any_value(person_id) AS any_p,
             any_value(person_id) FILTER (WHERE fits) AS fit_p
      FROM cand GROUP BY _lk),
    coh AS (
      SELECT a._lk,
             bool_or(k.sex IS NULL OR TRY_CAST(r.COD_SEX AS INTEGER) IS NULL
                     OR TRY_CAST(r.COD_SEX AS INTEGER) = k.sex) AS sex_ok,
             bool_or(k.birth_year IS NULL OR r.AGE_ANN IS NULL
                     OR ({stay_year}) - r.AGE_ANN - k.birth_year BETWEEN {-tol} AND {1 + tol})
               AS birth_ok
      FROM agg a JOIN r USING (_lk) JOIN pk k ON k.person_id = a.any_p
      WHERE a.n = 1 GROUP BY a._lk)
    SELECT r.* EXCLUDE (_lk),
           CASE WHEN a.n = 1 AND c.sex_ok AND c.birth_ok THEN a.any_p
                WHEN a.n > 1 AND a.n_fit = 1 THEN a.fit_p END AS person_id,
           CASE WHEN a.n IS NULL THEN 'no_person_key'
                WHEN a.n = 1 AND c.sex_ok AND c.birth_ok THEN 'linked'
                WHEN a.n = 1 THEN 'incoherent'
                WHEN a.n_fit = 1 THEN 'twin_resolved' ELSE 'ambiguous_twin' END AS link_status
    FROM r LEFT JOIN agg a USING (_lk) LEFT JOIN coh c USING (_lk)"""
