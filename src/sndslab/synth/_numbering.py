"""Record identifiers numbered as the producing systems number them, and raw row order.

Real SNDS identifiers are local sequences, not person-level ids:

- **PMSI record numbers** (MCO ``RSA_NUM``, ACE ``SEQ_NUM``, SSR ``RHA_NUM``, HAD ``RHAD_NUM``,
  RIM-P ``RIP_NUM``) are sequential numbers of the records an establishment (ETA_NUM) sends
  for a year: unique only within (ETA_NUM, year) and assigned by the establishment in the
  order of its activity, over all its patients (ATIH, *Format des RSA*; schema-snds, table
  T_MCOaaB: « N° séquentiel du RSA »). The generator numbers a record
  ``DDDDD`` × 100,000 + ``slot``: ``DDDDD`` the admission day (days since 2000-01-01, public
  in EXE_SOI_DTD), ``slot`` the establishment's day counter (carried across chunks in
  :class:`RecordNumbering`) sent through a keyed pseudo-random permutation of [0, 100,000).
  The numbers are therefore in admission order at day resolution, unique per ETA_NUM (hence
  per ETA_NUM and year), and the order of the persons admitted on one day is random. An
  extract holds a sample of the establishment's patients, so the numbers of a day have
  gaps, as in a real extract.
- **DCIR décompte numbers** (``DCT_ORD_NUM``) are numbers given by the paying organism
  (ORG_CLE_NUM) to the décomptes it processes in one batch (flow, FLX_DIS_DTD): unique per
  (ORG_CLE_NUM, FLX_DIS_DTD), random order inside a batch (a keyed permutation of the
  batch counter into [0, 10⁹)).

Neither depends on the person order of the generator, on chunk membership, nor on the order
in which records were drawn, so sorting by an identifier reveals nothing beyond the public
dates (checked by :mod:`sndslab.synth.leakcheck`).

**Raw row order** (:func:`order_rows`): each written batch (one chunk, one table, one year) is
sorted as the producing system would list it: DCIR by flow, organism, décompte and line;
PMSI by establishment and record number; referentials by their key (IR_BEN_R by PSA and rank,
IR_IMB_R by PSA and start, KI_CCI_R/KI_ECD_R by death date and certificate). What remains is
chunk membership: a file is the concatenation of its chunks' batches, so two rows of one
chunk are closer in the file than two rows of different chunks (documented in
``docs/synthetic-snds.md``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "DCIR_ROW_ORDER",
    "DCT_DOMAIN",
    "PMSI_SLOTS",
    "ROW_ORDER",
    "RecordNumbering",
    "dcir_line_order",
    "identifier_manifest",
    "merge_batches",
    "number_pmsi_records",
    "numbering_of",
    "order_rows",
    "permute",
    "row_order",
]

#: Record slots per establishment and admission day (the low 5 digits of a PMSI number).
PMSI_SLOTS = 100_000
#: Day numbers of PMSI record numbers count from this date (keeps them within 10 digits).
PMSI_EPOCH = (dt.date(2000, 1, 1) - dt.date(1970, 1, 1)).days
#: Décompte numbers of a batch are drawn in [0, DCT_DOMAIN) (a CPAM processes far fewer
#: décomptes in one flow).
DCT_DOMAIN = 10**9
#: Numbering namespaces (products whose numbers must not collide within one ETA_NUM).
NAMESPACES = {"mco": 1, "ace": 2, "ssr": 3, "had": 4, "rip": 5, "dct": 6}

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a well-mixed uint64 hash of uint64 values (vectorised)."""
    z = np.asarray(x, np.uint64).copy()
    with np.errstate(over="ignore"):
        z = (z + np.uint64(0x9E3779B97F4A7C15)) & _MASK64
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK64
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK64
    return z ^ (z >> np.uint64(31))


def _feistel(x: np.ndarray, half_bits: int, key: np.ndarray) -> np.ndarray:
    """A 4-round balanced Feistel network on ``2 * half_bits`` bits: a bijection per key."""
    mask = np.uint64((1 << half_bits) - 1)
    shift = np.uint64(half_bits)
    x = np.asarray(x, np.uint64)
    left, right = x >> shift, x & mask
    for r in range(4):
        with np.errstate(over="ignore"):
            f = _mix(right ^ key ^ np.uint64(0x51ED27 * (r + 1))) & mask
        left, right = right, left ^ f
    return (left << shift) | right


def permute(x: np.ndarray, domain: int, key: np.ndarray) -> np.ndarray:
    """Keyed pseudo-random permutation of ``[0, domain)`` applied to ``x`` (vectorised).

    For a fixed key, distinct inputs give distinct outputs (a Feistel network with cycle
    walking: values that leave the domain are permuted again until they fall inside it).

    >>> import numpy as np
    >>> out = permute(np.arange(1000), 1000, np.full(1000, 7, np.uint64))
    >>> sorted(out.tolist()) == list(range(1000))
    True
    """
    x = np.asarray(x, np.int64)
    if len(x) and (x.min() < 0 or x.max() >= domain):
        raise ValueError(f"values outside [0, {domain})")
    bits = max(int(np.ceil(np.log2(max(domain, 2)))), 2)
    half = (bits + 1) // 2
    key = np.broadcast_to(np.asarray(key, np.uint64), x.shape)
    out = _feistel(x.astype(np.uint64), half, key)
    todo = np.flatnonzero(out >= np.uint64(domain))
    while len(todo):  # cycle walking: ~1/(share of the 2^bits block inside the domain) rounds
        out[todo] = _feistel(out[todo], half, key[todo])
        todo = todo[out[todo] >= np.uint64(domain)]
    return out.astype(np.int64)


def _code_int(codes: np.ndarray) -> np.ndarray:
    """Stable integer of short alphanumeric codes (FINESS, organism codes): base 36."""
    text = np.asarray(codes).astype("U12")
    if len(text) == 0:
        return np.zeros(0, np.uint64)
    raw = np.char.upper(text).view(np.uint32).reshape(len(text), -1).astype(np.int64)
    digit = np.where(raw >= 65, raw - 55, raw - 48)  # 0-9 → 0-9, A-Z → 10-35
    digit = np.where(raw == 0, 0, digit + 1)  # padding → 0
    out = np.zeros(len(text), np.uint64)
    with np.errstate(over="ignore"):
        for col in range(digit.shape[1]):  # ≤ 12 character positions, vectorised over codes
            out = out * np.uint64(37) + digit[:, col].astype(np.uint64)
    return out


class RecordNumbering:
    """Numbering state of a run: one counter per (namespace, establishment or organism, day).

    Created once per run (``generate``) and reached through ``Chunk.numbering``, so that the
    counters carry over from chunk to chunk and numbers never repeat within their scope.
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._codes: dict[str, int] = {}
        self._keys = np.zeros(0, np.int64)  # sorted composite keys
        self._next = np.zeros(0, np.int64)  # next counter value of each key

    def _code_ids(
        self, codes: np.ndarray, index: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per row: a small run-local id and a stable integer of its establishment/organism
        code, ``codes[index]`` (``codes`` itself when ``index`` is None). Work is done on the
        distinct codes (a loop over them registers new ones)."""
        text = np.asarray(codes).astype(str)
        uniq, inv = np.unique(text, return_inverse=True)
        if index is not None:
            inv = inv[np.asarray(index, np.int64)]
        ids = np.array([self._codes.setdefault(u, len(self._codes)) for u in uniq], np.int64)
        if len(inv) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.uint64)
        return ids[inv], _code_int(uniq)[inv]

    def _counters(self, keys: np.ndarray) -> np.ndarray:
        """Next counter value of each row's key, rows of one key numbered consecutively."""
        n = len(keys)
        if n == 0:
            return np.zeros(0, np.int64)
        uniq, inv, counts = np.unique(keys, return_inverse=True, return_counts=True)
        pos = np.searchsorted(self._keys, uniq)
        known = pos < len(self._keys)
        known[known] = self._keys[pos[known]] == uniq[known]
        base = np.zeros(len(uniq), np.int64)
        base[known] = self._next[pos[known]]
        order = np.argsort(inv, kind="stable")
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        rank = np.empty(n, np.int64)
        rank[order] = np.arange(n) - np.repeat(starts, counts)
        self._next[pos[known]] = base[known] + counts[known]
        new = ~known
        if new.any():
            keys_all = np.r_[self._keys, uniq[new]]
            next_all = np.r_[self._next, counts[new]]
            o = np.argsort(keys_all, kind="stable")
            self._keys, self._next = keys_all[o], next_all[o]
        return base[inv] + rank

    def _batch_key(self, namespace: str, code_int: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Permutation key of each row's batch, from the seed and public values only."""
        ns = np.uint64(NAMESPACES[namespace])
        day_u = np.asarray(day, np.int64).astype(np.uint64)
        with np.errstate(over="ignore"):
            run = _mix(np.array([self.seed * 31 + int(ns)], np.uint64))
            k = _mix(code_int ^ run)
            return _mix(k ^ (day_u * np.uint64(0x2545F4914F6CDD1D)))

    def pmsi(
        self,
        namespace: str,
        finess: np.ndarray,
        day: np.ndarray,
        index: np.ndarray | None = None,
    ) -> np.ndarray:
        """Record numbers of PMSI records of ``namespace`` (mco, ace, ssr, had, rip) sent by
        the establishments ``finess`` (ETA_NUM; ``finess[index]`` when ``index`` is given)
        for admissions (visits) on ``day``.

        Unique per (namespace, ETA_NUM) over the whole run; in admission-day order; random
        order within a day. At most ``PMSI_SLOTS`` records per establishment and day.
        """
        day = np.asarray(day, np.int64)
        offset = day - PMSI_EPOCH
        if len(day) and (offset.min() < 0 or offset.max() >= 99_999):
            raise ValueError("PMSI admission days must fall between 2000 and 2273")
        ids, code_int = self._code_ids(finess, index)
        keys = (np.int64(NAMESPACES[namespace]) << 52) | (ids << 20) | offset
        counter = self._counters(keys)
        if len(counter) and counter.max() >= PMSI_SLOTS:
            raise ValueError(f"more than {PMSI_SLOTS} {namespace} records per establishment-day")
        slot = permute(counter, PMSI_SLOTS, self._batch_key(namespace, code_int, day))
        return offset * PMSI_SLOTS + slot

    def dct(
        self, organism: np.ndarray, flow_day: np.ndarray, index: np.ndarray | None = None
    ) -> np.ndarray:
        """DCT_ORD_NUM of décomptes processed by ``organism`` (ORG_CLE_NUM;
        ``organism[index]`` when ``index`` is given) in the flow of ``flow_day``
        (FLX_DIS_DTD): unique per (organism, flow), random order in the flow."""
        flow_day = np.asarray(flow_day, np.int64)
        ids, code_int = self._code_ids(organism, index)
        keys = (np.int64(NAMESPACES["dct"]) << 52) | (ids << 20) | (flow_day - PMSI_EPOCH)
        counter = self._counters(keys)
        if len(counter) and counter.max() >= DCT_DOMAIN:
            raise ValueError(f"more than {DCT_DOMAIN} décomptes in one batch")
        return permute(counter, DCT_DOMAIN, self._batch_key("dct", code_int, flow_day)) + 1


def numbering_of(chunk: Any) -> RecordNumbering:
    """The run's numbering state reached through the chunk (created on first use when the
    chunk has none, e.g. a hand-made test chunk: then numbers are unique within that chunk)."""
    state = getattr(chunk, "numbering", None)
    if state is None:
        config = getattr(chunk, "config", None)
        state = RecordNumbering(int(getattr(config, "seed", 0) or 0))
        chunk.numbering = state
    return state


# ---------------------------------------------------------------------------------------------
# raw row order
# ---------------------------------------------------------------------------------------------

#: Order of DCIR lines (every DCIR table of a chunk, sorted once in ``_dcir`` by
#: :func:`dcir_line_order`, before the rows are split by table and flow year).
DCIR_ROW_ORDER = ("FLX_DIS_DTD", "ORG_CLE_NUM", "DCT_ORD_NUM", "PRS_ORD_NUM")
#: Sort keys of each written batch, by registry table name. PMSI tables not listed are sorted
#: by their establishment column and record number (:func:`_pmsi_keys`).
ROW_ORDER: dict[str, tuple[str, ...]] = {
    "IR_BEN_R": ("BEN_NIR_PSA", "BEN_RNG_GEM"),
    "IR_IMB_R": ("BEN_NIR_PSA", "BEN_RNG_GEM", "IMB_ALD_DTD", "IMB_ALD_NUM"),
    "KI_CCI_R": ("BEN_DCD_DTE", "DCD_IDT_ENC"),
    "KI_ECD_R": ("BEN_DCD_DTE", "DCD_IDT_ENC", "CER_LIG_NUM", "ECD_CAU_RNG"),
}
_ETA_COLUMNS = ("ETA_NUM", "ETA_NUM_EPMSI")
_NUMBER_COLUMNS = ("RSA_NUM", "RHA_NUM", "RHAD_NUM", "RIP_NUM", "SEQ_NUM")
_SUB_COLUMNS = ("RHS_NUM", "UM_ORD_NUM", "DGN_ASS_NUM")


def _pmsi_keys(columns: list[str]) -> tuple[str, ...]:
    eta = [c for c in _ETA_COLUMNS if c in columns][:1]
    num = [c for c in _NUMBER_COLUMNS if c in columns][:1]
    if not eta or not num:
        return ()
    return (*eta, *num, *[c for c in _SUB_COLUMNS if c in columns])


def dcir_line_order(
    flow_day: np.ndarray, organism_rank: np.ndarray, dct: np.ndarray, prs_ord: np.ndarray
) -> np.ndarray:
    """Indices sorting DCIR lines by :data:`DCIR_ROW_ORDER` (``organism_rank``: the rank of
    the line's ORG_CLE_NUM among the organism codes)."""
    return np.lexsort((prs_ord, dct, organism_rank, flow_day))


def row_order(table: str, data: pa.Table) -> np.ndarray | None:
    """Indices putting ``data`` (one written batch of ``table``) in the order of the producing
    system, or ``None`` when the table has no known order.

    Stable: rows equal on the keys (the lines of one record, the causes of one certificate)
    keep their relative order.
    """
    keys = ROW_ORDER.get(table) or _pmsi_keys(data.column_names)
    keys = tuple(k for k in keys if k in data.column_names)
    if not keys or data.num_rows < 2:
        return None
    return np.asarray(pc.sort_indices(data, sort_keys=[(k, "ascending") for k in keys]))


def order_rows(table: str, data: pa.Table) -> pa.Table:
    """``data`` sorted by :func:`row_order` (unchanged when the table has no known order)."""
    order = row_order(table, data)
    return data if order is None else data.take(pa.array(order))


def identifier_manifest() -> dict[str, Any]:
    """Manifest section describing how identifiers and row order are generated."""
    return {
        "pmsi_record_numbers": "RSA_NUM/SEQ_NUM/RHA_NUM/RHAD_NUM/RIP_NUM = admission day "
        f"(days since 2000-01-01) x {PMSI_SLOTS} + a per-(ETA_NUM, day) counter carried "
        "across chunks, permuted pseudo-randomly within the day: unique per ETA_NUM and "
        "year, admission order across persons, random order within a day",
        "dct_ord_num": "per (ORG_CLE_NUM, FLX_DIS_DTD) batch counter carried across chunks, "
        f"permuted pseudo-randomly into [1, {DCT_DOMAIN}]: unique per organism and flow, "
        "random order inside a flow",
        "row_order": {"DCIR": list(DCIR_ROW_ORDER)}
        | {k: list(v) for k, v in ROW_ORDER.items()}
        | {"PMSI": "ETA_NUM (ETA_NUM_EPMSI), record number, sub-number"},
        "residual": "each file is the concatenation of per-chunk batches: rows of one chunk "
        "are contiguous (chunk membership; persons are not ordered within a chunk)",
    }


#: PMSI products: (namespace, frame column of the admission/visit day).
_PMSI_RECORDS = {"mco": "entry", "ace": "day", "ssr": "entry", "had": "entry", "rip": "entry"}


def number_pmsi_records(chunk: Any, **frames: Any) -> None:
    """Give every PMSI base record its record number, in place (column ``number``).

    ``frames`` maps a product (mco, ace, ssr, had, rip) to its ``Frame`` (columns ``est`` and
    the admission day ``entry``, or ``day`` for ACE). Frames without columns and frames
    already numbered are left alone. The numbers stay on the frames so that the truth tables
    written after the projection map to the raw records.
    """
    state = numbering_of(chunk)
    finess = np.asarray(chunk.world.establishments.finess)
    for product, frame in frames.items():
        if frame is None or frame.n_columns == 0 or "number" in frame:
            continue
        day = np.asarray(frame[_PMSI_RECORDS[product]], np.int64)
        est = np.asarray(frame["est"], np.int64)
        frame["number"] = state.pmsi(product, finess, day, index=est)


def merge_batches(
    year: np.ndarray,
    cols: dict[str, pa.Array],
    extra_year: np.ndarray,
    extra_cols: dict[str, pa.Array] | None,
) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """One written batch from two (e.g. a chunk's stays and its inter-establishment records),
    so that :func:`order_rows` orders them together (columns missing on one side: NULL)."""
    if not extra_cols:
        return year, cols
    table = pa.concat_tables([pa.table(cols), pa.table(extra_cols)], promote_options="default")
    merged = {name: table.column(name).combine_chunks() for name in table.column_names}
    return np.r_[np.asarray(year), np.asarray(extra_year)], merged
