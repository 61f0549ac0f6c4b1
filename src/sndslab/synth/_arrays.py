"""numpy → Arrow column builders shared by the raw-table projections (``_pmsi``,
``_pmsi_extra``).

>>> import numpy as np
>>> str_array(np.array([b"A", b"B"]), np.array([False, True])).to_pylist()
['A', None]
>>> const_array("0", 2).to_pylist()
['0', '0']
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def text_array(values: np.ndarray) -> np.ndarray:
    """Object array of ``str`` (decodes numpy bytes)."""
    values = np.asarray(values)
    if values.dtype.kind == "S":
        return np.char.decode(values, "ascii").astype(object)
    return values.astype(str).astype(object)


def str_array(values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """String column (NULL where ``missing``)."""
    return pa.array(text_array(values), pa.string(), mask=missing)


def int_array(values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """int64 column (NULL where ``missing``)."""
    return pa.array(np.asarray(values, np.int64), pa.int64(), mask=missing)


def float_array(values: np.ndarray) -> pa.Array:
    """float64 column."""
    return pa.array(np.asarray(values, np.float64), pa.float64())


def const_array(value: str, n: int) -> pa.Array:
    """String column of ``n`` times ``value``."""
    return pa.array(np.full(n, value, dtype=object), pa.string())


def null_array(n: int) -> pa.Array:
    """String column of ``n`` NULLs."""
    return pa.nulls(n, pa.string())
