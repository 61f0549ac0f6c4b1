"""At which population size is each injected drug effect recoverable? (power of an SCCS).

For a self-controlled case series with one risk window, conditionally on a case's number of
events, each event falls in the risk window with probability
``π = ρ r / (ρ r + 1 − r)`` where ``r`` is the share of the cases' observation time spent in
the window and ``ρ`` the relative incidence; under the null ``π = r``. The number of cases
needed to detect ``ρ`` with a two-sided test at level ``α`` and power ``1 − β`` is then the
binomial sample size (Musonda, Farrington & Whitaker, *Sample sizes for self-controlled case
series studies*, Stat Med 2006;25:2618–31, the "signed root" approximation)::

    n = (z(1 − α/2) √(r(1 − r)) + z(1 − β) √(π(1 − π)))² / (π − r)²

``r`` and the number of cases per person are measured on a generated extract (truth tables), so
the population needed is ``n × persons / cases``. Cases are persons with a fall while aged 65+;
observation runs from the later of the study start and the 65th birthday to the earlier of
death and the study end. The table is an approximation: it ignores the age and season terms an
SCCS adjusts for, and the biases injected on purpose (event-dependent exposure, confounding by
frailty), which a method must handle to reach it.

>>> round(needed_cases(r=0.01, irr=2.0, alpha=0.05, power=0.8))
1015
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import NormalDist

import duckdb


@dataclass(frozen=True)
class EffectPower:
    """Recoverability of one injected drug effect."""

    atc: str
    inn: str
    irr: float
    exposed_cases: int
    risk_share: float
    falls_in_windows: int
    cases_needed: float
    persons_needed_nominal: float
    persons_needed_screening: float


def needed_cases(r: float, irr: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Cases needed by an SCCS to detect relative incidence ``irr`` (see the module docstring).

    ``r`` is the share of observation time in the risk window; infinite when ``r`` is 0 or the
    effect is null.
    """
    if r <= 0 or r >= 1 or irr == 1:
        return math.inf
    pi = irr * r / (irr * r + 1 - r)
    z = NormalDist()
    num = z.inv_cdf(1 - alpha / 2) * math.sqrt(r * (1 - r)) + z.inv_cdf(power) * math.sqrt(
        pi * (1 - pi)
    )
    return num**2 / (pi - r) ** 2


def falls_power(
    extract: Path | str, *, alpha: float = 0.05, power: float = 0.8
) -> list[EffectPower]:
    """Power of an SCCS for each injected fall effect of a generated extract.

    ``persons_needed_screening`` uses a Bonferroni level ``alpha / number of drugs`` (a
    screening of every drug of the referential); ``persons_needed_nominal`` uses ``alpha``.
    """
    extract = Path(extract)
    truth = extract / "truth"
    manifest = json.loads((truth / "manifest.json").read_text("utf-8"))
    cfg = manifest["config"]
    persons = int(cfg["patients"])
    effects = manifest["drug_effects"]["effects"]
    n_drugs = len(effects) + int(manifest["drug_effects"].get("null_drugs", 0))
    start, end = f"{cfg['first_year']}-01-01", f"{cfg['last_year']}-12-31"
    con = duckdb.connect()
    for name in ("persons", "falls", "exposure_windows"):
        con.execute(
            f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{truth / (name + '.parquet')}')"
        )
    con.execute(
        f"""
        CREATE TEMP TABLE cases AS
        WITH obs AS (
            SELECT person_id,
                   greatest(DATE '{start}', CAST(birth_date + INTERVAL 65 YEAR AS DATE)) AS obs0,
                   least(DATE '{end}', coalesce(death_date, DATE '{end}')) AS obs1
            FROM persons)
        SELECT o.* FROM obs o
        WHERE o.obs1 >= o.obs0 AND EXISTS (
            SELECT 1 FROM falls f
            WHERE f.person_id = o.person_id AND f.date BETWEEN o.obs0 AND o.obs1)
        """
    )
    n_cases, case_days = con.execute(
        "SELECT count(*), coalesce(sum(obs1 - obs0 + 1), 0) FROM cases"
    ).fetchone() or (0, 0)
    rows = con.execute(
        """
        WITH w AS (
            SELECT w.atc, w.person_id,
                   greatest(w.start, c.obs0) AS s, least(w."end", c.obs1) AS e
            FROM exposure_windows w JOIN cases c USING (person_id)
            WHERE NOT w.empty)
        SELECT atc, count(DISTINCT person_id),
               sum(greatest(e - s + 1, 0)),
               (SELECT count(*) FROM falls f JOIN w w2 ON f.person_id = w2.person_id
                 AND w2.atc = w.atc AND f.date BETWEEN w2.s AND w2.e)
        FROM w GROUP BY atc
        """
    ).fetchall()
    measured = {atc: (int(c), int(d or 0), int(f)) for atc, c, d, f in rows}
    out = []
    for e in effects:
        exposed, risk_days, in_window = measured.get(e["atc"], (0, 0, 0))
        r = risk_days / case_days if case_days else 0.0
        scale = persons / n_cases if n_cases else math.inf
        nominal = needed_cases(r, float(e["irr"]), alpha, power)
        screening = needed_cases(r, float(e["irr"]), alpha / max(n_drugs, 1), power)
        out.append(
            EffectPower(
                atc=e["atc"],
                inn=str(e.get("inn", "")),
                irr=float(e["irr"]),
                exposed_cases=exposed,
                risk_share=r,
                falls_in_windows=in_window,
                cases_needed=screening,
                persons_needed_nominal=nominal * scale,
                persons_needed_screening=screening * scale,
            )
        )
    return out


def power_markdown(rows: list[EffectPower]) -> str:
    """A Markdown table of :func:`falls_power` rows (population sizes rounded up)."""

    def size(x: float) -> str:
        if not math.isfinite(x):
            return "never"
        magnitude = 10 ** max(int(math.log10(max(x, 1))) - 1, 0)
        return f"{math.ceil(x / magnitude) * magnitude:,.0f}"

    lines = [
        "| drug | ATC | IRR | share of cases' time at risk | persons needed (α = 0.05) "
        "| persons needed (screening, Bonferroni) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.inn} | {r.atc} | {r.irr:g} | {r.risk_share:.4%} | "
            f"{size(r.persons_needed_nominal)} | {size(r.persons_needed_screening)} |"
        )
    return "\n".join(lines) + "\n"


def as_dicts(rows: list[EffectPower]) -> list[dict[str, float | str | int | None]]:
    """JSON-ready rows (infinite sizes become ``None``)."""
    return [
        {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in asdict(r).items()
        }
        for r in rows
    ]
