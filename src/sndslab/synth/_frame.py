"""A tiny columnar container (dict of equal-length numpy arrays) used between generator steps.

>>> import numpy as np
>>> f = Frame(a=np.arange(4), b=np.array([1.0, 2.0, 3.0, 4.0]))
>>> len(f.filter(f["a"] % 2 == 0))
2
>>> Frame.concat([f, f])["a"].tolist()
[0, 1, 2, 3, 0, 1, 2, 3]
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class Frame(dict[str, np.ndarray]):
    """Equal-length named numpy columns; row operations are vectorised."""

    def __init__(self, **columns: np.ndarray) -> None:
        super().__init__(**{k: np.asarray(v) for k, v in columns.items()})
        lengths = {len(v) for v in self.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of unequal length: { {k: len(v) for k, v in self.items()} }")

    def __len__(self) -> int:  # number of rows, not of columns
        for v in self.values():
            return len(v)
        return 0

    @property
    def n_columns(self) -> int:
        return dict.__len__(self)

    def take(self, index: np.ndarray) -> Frame:
        return Frame(**{k: v[index] for k, v in self.items()})

    def filter(self, mask: np.ndarray) -> Frame:
        return Frame(**{k: v[mask] for k, v in self.items()})

    def with_columns(self, **columns: np.ndarray) -> Frame:
        out = Frame(**self)
        for k, v in columns.items():
            out[k] = np.asarray(v)
        Frame(**out)  # validates lengths
        return out

    @staticmethod
    def concat(frames: Iterable[Frame]) -> Frame:
        frames = [f for f in frames if f.n_columns]
        if not frames:
            return Frame()
        keys = list(frames[0])
        for f in frames[1:]:
            if list(f) != keys:
                raise ValueError(f"cannot concatenate frames with columns {keys} and {list(f)}")
        return Frame(**{k: np.concatenate([f[k] for f in frames]) for k in keys})
