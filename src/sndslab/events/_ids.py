"""Surrogate person identifiers shared by the exports (MEDS ``subject_id``, OMOP ``person_id``).

The SNDS ``person_id`` (derived from BEN_NIR_PSA / BEN_IDT_ANO) must never leave the lake. Each
export numbers the persons of ``events.patients`` 1..N in the order of ``md5(person_id || salt)``:
without the salt (random by default, never written) the numbering cannot be recomputed from the
SNDS identifiers, and with the same salt two exports of the same lake agree on the ids.
"""

from __future__ import annotations

import secrets

from sndslab.engines import Connection

__all__ = ["create_subject_map", "new_salt"]


def new_salt() -> str:
    """A random salt (128 bits, hex)."""
    return secrets.token_hex(16)


def create_subject_map(
    con: Connection, patients: str, salt: str, *, name: str = "_subject"
) -> None:
    """Create temp table ``name`` (``person_id`` VARCHAR, ``subject_id`` BIGINT 1..N) on ``con``
    from the relation ``patients`` (with a ``person_id`` column). The map stays in the engine;
    ``md5`` is the same function on DuckDB and Spark, so both engines number alike."""
    lit = "'" + salt.replace("'", "''") + "'"
    con.create_table(
        name,
        f"""SELECT person_id,
               CAST(row_number() OVER (ORDER BY md5(person_id || {lit})) AS BIGINT) AS subject_id
        FROM {patients} p""",
    )
