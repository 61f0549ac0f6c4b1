"""Standard populations shipped with sndslab (vendored CSV files with their sources).

* ``"esp2013"``: the European Standard Population 2013 (Eurostat 2013 revision), 5-year
  bands 0-4 … 95+, total 100,000.
* ``"france_rp2018"``: the population of France (metropole + DROM) by sex and 5-year band,
  Insee census RP2018 (table POP1B), Licence Ouverte; its 95-99 and 100+ bands are merged into
  95+ so that its bands are those of ESP 2013.

The sources, URLs and licences are in the header of each CSV under
``sndslab/indicators/data/``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import numpy as np
import numpy.typing as npt

from sndslab.errors import InvalidArgumentError

__all__ = [
    "STANDARD_POPULATIONS",
    "StandardPopulation",
    "age_band_index",
    "standard_population",
]

#: Names accepted by :func:`standard_population`.
STANDARD_POPULATIONS: tuple[str, ...] = ("esp2013", "france_rp2018")

_FILES = {"esp2013": "esp2013.csv", "france_rp2018": "france_rp2018_sex_age5.csv"}


@dataclass(frozen=True)
class StandardPopulation:
    """A population by age band: lower bounds (``age_low``), labels and counts (``weights``).

    Band ``i`` covers ages ``age_low[i]`` to ``age_low[i + 1] - 1``; the last band is open.
    """

    name: str
    labels: tuple[str, ...]
    age_low: npt.NDArray[np.int64]
    weights: npt.NDArray[np.float64]
    source: str

    def band_index(self, age: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """The band index of each age (see :func:`age_band_index`)."""
        return age_band_index(age, self.age_low)


def _read(name: str) -> tuple[list[dict[str, str]], str]:
    text = (
        resources.files("sndslab.indicators")
        .joinpath("data", _FILES[name])
        .read_text(encoding="utf-8")
    )
    comments = [line[1:].strip() for line in text.splitlines() if line.startswith("#")]
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    return list(csv.DictReader(io.StringIO(body))), " ".join(comments)


def standard_population(
    name: str = "esp2013", sex: Literal["all", "1", "2"] = "all"
) -> StandardPopulation:
    """Load a shipped standard population by name (one of :data:`STANDARD_POPULATIONS`).

    ``sex`` selects men (``"1"``) or women (``"2"``) where the file has both (France); the
    default sums them.

    >>> esp = standard_population("esp2013")
    >>> len(esp.labels), int(esp.weights.sum()), esp.labels[-1]
    (20, 100000, '95+')
    >>> fr = standard_population("france_rp2018", sex="2")
    >>> fr.labels == esp.labels, int(fr.weights[-1])
    (True, 152542)
    """
    if name not in _FILES:
        raise InvalidArgumentError(
            f"unknown standard population {name!r}; known: {', '.join(STANDARD_POPULATIONS)}"
        )
    if sex not in ("all", "1", "2"):
        raise InvalidArgumentError(f"sex must be 'all', '1' or '2', got {sex!r}")
    rows, source = _read(name)
    if "sex" in rows[0]:
        rows = [r for r in rows if sex == "all" or r["sex"] == sex]
    elif sex != "all":
        raise InvalidArgumentError(f"standard population {name!r} is not split by sex")
    low = np.array([int(r["age_low"]) for r in rows], dtype=np.int64)
    count = np.array([float(r["population"]) for r in rows], dtype=np.float64)
    low = np.minimum(low, 95)  # the shipped bands stop at 95+ (France's 100+ merged into it)
    bands, inverse = np.unique(low, return_inverse=True)
    weights = np.bincount(inverse, weights=count).astype(np.float64)
    labels = tuple(f"{b}-{b + 4}" if b < 95 else "95+" for b in bands.tolist())
    return StandardPopulation(name, labels, bands.astype(np.int64), weights, source)


def age_band_index(age: npt.ArrayLike, age_low: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The index of the band holding each age, for bands starting at sorted ``age_low``.

    Vectorised (``numpy.searchsorted``); an age below the first bound is an error.

    >>> age_band_index([0, 4, 5, 97, 120], [0, 5, 10, 95]).tolist()
    [0, 0, 1, 3, 3]
    """
    ages = np.asarray(age, dtype=np.float64)
    bounds = np.asarray(age_low, dtype=np.float64)
    if np.any(np.diff(bounds) <= 0):
        raise InvalidArgumentError("age_low must be strictly increasing")
    if np.any(ages < bounds[0]) or not np.all(np.isfinite(ages)):
        raise InvalidArgumentError(f"ages must be finite and at least {bounds[0]:g}")
    return (np.searchsorted(bounds, ages, side="right") - 1).astype(np.int64)
