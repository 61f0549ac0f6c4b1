"""Reading a released folder (the output of ``sndslab release``) for the dashboard.

Only the folder's own files are read, and only those the release's ``audit.json`` lists (with
their SHA-256 checked): the dashboard never opens a lake, never follows a path it is given
at run time, and serves nothing but these aggregates.

>>> from sndslab.dashboard._folder import parse_about
>>> about = parse_about("d by period | title_fr: Diabète | source: CNAM")
>>> about["title_fr"], about["source"]
('Diabète', 'CNAM')
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from sndslab.errors import SndslabError

__all__ = [
    "DashboardError",
    "IndicatorData",
    "ReleasedFolder",
    "load_released",
    "parse_about",
]

#: Columns every ``<indicator>__territory_sex`` table must carry to be shown.
TERRITORY_COLUMNS = (
    "period",
    "region",
    "departement",
    "sex",
    "numerator_persons",
    "numerator",
    "denominator",
    "rate",
    "rate_lower",
    "rate_upper",
    "status",
)
#: Columns of ``<indicator>__region_age_sex`` (the age–sex pyramid).
AGE_COLUMNS = ("period", "region", "age_band", "sex", "numerator", "rate", "status")
#: Columns of the pathway tables (docs/pathways.md).
PATHWAY_COLUMNS: dict[str, tuple[str, ...]] = {
    "pathways__transitions": ("pathway", "period", "region", "departement", "status"),
    "pathways__sequences": ("pathway", "period", "region", "departement", "status"),
}
_HOW = "build one with `sndslab release LAKE --out DIR` (or `sndslab demo`)"


class DashboardError(SndslabError):
    """The dashboard cannot serve this folder (no audit, files missing or altered, an older
    layout), or was asked something it does not serve."""


def parse_about(description: str) -> dict[str, str]:
    """The ``key: value`` segments of a released table's description (``" | "``-separated,
    written by :mod:`sndslab.indicators._release`); the first segment is ``summary``."""
    parts = [p.strip() for p in description.split(" | ")]
    out = {"summary": parts[0]} if parts else {}
    for part in parts[1:]:
        key, sep, value = part.partition(": ")
        if sep and re.fullmatch(r"[a-z_]+", key):
            out[key] = value
    return out


@dataclass(frozen=True)
class IndicatorData:
    """One released indicator: its territory × sex table, its région × age × sex table (when
    released), what the release says about it, and the periods it covers."""

    name: str
    territory: pd.DataFrame
    age: pd.DataFrame | None
    about: dict[str, str]
    files: dict[str, str]
    columns: dict[str, str] = field(default_factory=dict)

    @property
    def periods(self) -> list[str]:
        return sorted(self.territory["period"].unique().tolist())

    @property
    def years(self) -> list[str]:
        return sorted({p[:4] for p in self.periods})

    @property
    def monthly(self) -> bool:
        return any(len(p) == 7 for p in self.periods)

    @property
    def standardised(self) -> bool:
        return "std_rate" in self.territory.columns

    def title(self, lang: str) -> str:
        return self.about.get(f"title_{lang}") or self.name


@dataclass(frozen=True)
class ReleasedFolder:
    """A released folder loaded in memory (tables as pandas frames, keyed by file stem)."""

    path: Path
    release_id: str
    created: str
    threshold: int
    indicators: dict[str, IndicatorData]
    pathways: dict[str, pd.DataFrame]
    warnings: list[str]
    csv_lines: dict[str, list[str]] = field(default_factory=dict, repr=False)
    descriptions: dict[str, str] = field(default_factory=dict, repr=False)


def _read_checked(folder: Path, name: str, digest: str | None) -> bytes:
    body = (folder / name).read_bytes()
    if digest is not None and hashlib.sha256(body).hexdigest() != digest:
        raise DashboardError(
            f"{folder}: {name} differs from the release's audit.json (altered after the "
            f"release): rebuild the folder; {_HOW}"
        )
    return body


def _frame(body: bytes) -> pd.DataFrame:
    return pq.read_table(io.BytesIO(body)).to_pandas()


def _missing(frame: pd.DataFrame, needed: tuple[str, ...]) -> list[str]:
    return [c for c in needed if c not in frame.columns]


def load_released(path: str | Path) -> ReleasedFolder:
    """Load and check a released folder; a clear :class:`DashboardError` names what is missing.

    >>> load_released("/nonexistent")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sndslab.dashboard._folder.DashboardError: /nonexistent: not a released folder ...
    """
    folder = Path(path)
    audit_path = folder / "audit.json"
    if not folder.is_dir() or not audit_path.is_file():
        raise DashboardError(
            f"{folder}: not a released folder (no audit.json, the release audit log): "
            f"the dashboard serves released aggregates only; {_HOW}"
        )
    try:
        audit = json.loads(audit_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DashboardError(f"{audit_path}: unreadable audit ({exc}); {_HOW}") from None
    if not isinstance(audit, dict) or audit.get("format") != "sndslab-release-audit":
        raise DashboardError(f"{audit_path}: not an sndslab release audit; {_HOW}")
    lacking = [k for k in ("release_id", "threshold", "files", "requested") if k not in audit]
    if lacking:
        raise DashboardError(
            f"{audit_path}: a release from an older version: audit.json lacks "
            f"{', '.join(lacking)}; rebuild it with this version ({_HOW})"
        )
    files: dict[str, str] = dict(audit["files"])
    absent = sorted(
        n for n in [*files, "data_dictionary.csv", "README.md"] if not (folder / n).is_file()
    )
    if absent:
        raise DashboardError(f"{folder}: incomplete release, missing {', '.join(absent)}; {_HOW}")
    specs = {t.get("file") or t["name"]: t for t in audit["requested"].get("tables", [])}
    dictionary = list(
        csv.DictReader(
            io.StringIO(
                _read_checked(
                    folder, "data_dictionary.csv", files.get("data_dictionary.csv")
                ).decode()
            ),
            delimiter=";",
        )
    )
    warnings: list[str] = []
    tables: dict[str, pd.DataFrame] = {}
    csv_lines: dict[str, list[str]] = {}
    for name in sorted(files):
        if name.endswith(".parquet"):
            stem = name.removesuffix(".parquet")
            tables[stem] = _frame(_read_checked(folder, name, files[name]))
            if f"{stem}.csv" not in files:
                raise DashboardError(f"{folder}: incomplete release, missing {stem}.csv; {_HOW}")
            lines = _read_checked(folder, f"{stem}.csv", files[f"{stem}.csv"]).decode().splitlines()
            if len(lines) != len(tables[stem]) + 1:
                raise DashboardError(
                    f"{folder}: {stem}.csv and {stem}.parquet differ in rows; {_HOW}"
                )
            csv_lines[stem] = lines
    indicators: dict[str, IndicatorData] = {}
    pathways: dict[str, pd.DataFrame] = {}
    for stem, frame in tables.items():
        if stem in PATHWAY_COLUMNS:
            lack = _missing(frame, PATHWAY_COLUMNS[stem])
            if lack:
                warnings.append(f"{stem}: older layout, lacks column(s) {', '.join(lack)}")
            else:
                pathways[stem] = frame
            continue
        if not stem.endswith("__territory_sex"):
            continue
        name = stem.removesuffix("__territory_sex")
        lack = _missing(frame, TERRITORY_COLUMNS)
        if lack:
            warnings.append(f"{stem}: older layout, lacks column(s) {', '.join(lack)}")
            continue
        age = tables.get(f"{name}__region_age_sex")
        if age is not None and _missing(age, AGE_COLUMNS):
            warnings.append(
                f"{name}__region_age_sex: older layout, lacks column(s) "
                f"{', '.join(_missing(age, AGE_COLUMNS))}"
            )
            age = None
        about = parse_about(str(specs.get(stem, {}).get("description", "")))
        described = {"definition_fr", "source", "population", "standardisation"}
        if not described <= set(about):
            warnings.append(
                f"{name}: this release predates the indicator metadata (lacks "
                f"{', '.join(sorted(described - set(about)))}); see its README.md"
            )
        columns = {r["column"]: r["description"] for r in dictionary if r.get("table") == stem}
        stems = [stem] + ([f"{name}__region_age_sex"] if age is not None else [])
        indicators[name] = IndicatorData(
            name,
            frame,
            age,
            about,
            {s: f"{s}.csv" for s in stems},
            columns,
        )
    if not indicators:
        raise DashboardError(
            f"{folder}: no indicator table (<indicator>__territory_sex) usable in this release"
            + (f" ({'; '.join(warnings)})" if warnings else "")
            + f"; {_HOW}"
        )
    return ReleasedFolder(
        folder,
        str(audit["release_id"]),
        str(audit.get("created", "")),
        int(audit["threshold"]),
        indicators,
        pathways,
        warnings,
        csv_lines,
        {stem: str(spec.get("description", "")) for stem, spec in specs.items()},
    )
