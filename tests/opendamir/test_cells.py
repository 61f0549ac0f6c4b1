"""The mapping of DCIR claims onto the public axes is total: whatever a claim holds (absurd
ages, unknown départements, any specialty), it lands on a code of the Open DAMIR lexicon."""

from __future__ import annotations

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from sndslab.opendamir._cells import DETAILED, dimension_sql
from sndslab.opendamir._schema import codes

#: PRS_NAT is the claim's own nature (IR_NAT_V), passed through: not a mapping.
_CODED = [c for c in DETAILED if codes(c) and c != "PRS_NAT"]

claims = st.fixed_dictionaries(
    {
        "BEN_AMA_COD": st.one_of(st.none(), st.integers(-5, 130), st.integers(1000, 1023)),
        "BEN_SEX_COD": st.one_of(st.none(), st.integers(0, 9)),
        "BEN_RES_DPT": st.one_of(
            st.none(), st.sampled_from(["075", "02A", "972", "976", "999", "", "13"])
        ),
        "PSE_SPE_COD": st.one_of(st.none(), st.integers(0, 99)),
        "PSE_ACT_NAT": st.one_of(st.none(), st.integers(0, 99)),
        "PSP_SPE_COD": st.one_of(st.none(), st.integers(0, 99)),
        "PSP_ACT_NAT": st.one_of(st.none(), st.integers(0, 99)),
    }
)


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(claims, min_size=1, max_size=20))
def test_every_claim_lands_on_a_lexicon_code(rows: list[dict[str, object]]) -> None:
    table = pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [("BEN_AMA_COD", pa.int64()), ("BEN_SEX_COD", pa.int64()), ("BEN_RES_DPT", pa.string()),
             ("PSE_SPE_COD", pa.int64()), ("PSE_ACT_NAT", pa.int64()), ("PSP_SPE_COD", pa.int64()),
             ("PSP_ACT_NAT", pa.int64())]
        ),
    )  # fmt: skip
    con = duckdb.connect()
    con.register("c", table)
    exprs = dimension_sql()
    out = con.execute(f"SELECT {', '.join(f'{exprs[c]} AS {c}' for c in _CODED)} FROM c").fetchall()
    for values in out:
        for column, value in zip(_CODED, values, strict=True):
            allowed = {int(code) for code, _ in codes(column)}
            assert value in allowed, (column, value)
