"""The study's data, built in the engine: population, outcome events, cases, purchases and
exposure eras, as temporary tables of one connection (``_sig_*``), with an attrition count
for every rule that drops rows (nothing silent).

The population is a pluggable step: any callable ``(lake, study) -> Relation`` whose relation
has exactly the columns ``person_id, index_date, observation_start, observation_end`` (the
output of a :mod:`sndslab.cohorts` cohort, for instance); :func:`default_population` is the
built-in one (persons aged ``min_age``+ observed over the study period).

Exposure eras follow SCALPEL3's exposure transformer (Bacry et al., "SCALPEL3: a scalable
open-source library for healthcare claims databases", Int J Med Inform 2020;141:104203;
X-DataInitiative/SCALPEL-Extraction ``etl/transformers/exposures``): start/end delays, a grace
period between purchases, a minimum number of purchases in a window. Its known defects are
avoided on purpose: the number of boxes is used (coverage = packs × days per pack), eras are
clipped to the observation period and observation ends at the earlier of death and the study
end (SCALPEL-Extraction PR #182), the end delay is applied.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from sndslab.engines import Relation
from sndslab.errors import SndslabError
from sndslab.lake import Lake, relation
from sndslab.signals._spec import StudySpec, code_predicate

__all__ = [
    "POPULATION_COLUMNS",
    "Population",
    "StudyData",
    "default_population",
]

#: The columns (and order) a population step returns.
POPULATION_COLUMNS: tuple[str, ...] = (
    "person_id",
    "index_date",
    "observation_start",
    "observation_end",
)

Population = Callable[[Lake, StudySpec], Relation]

_counter = itertools.count()


def default_population(lake: Lake, study: StudySpec) -> Relation:
    """Persons of ``events.patients`` aged ``population.min_age``+ during the study period:
    observed from the later of the study start and their ``min_age``-th birthday to the
    earlier of their death and the study end; ``index_date`` = observation start. With
    ``population.cohort``, the persons and observation of that cohort (:mod:`sndslab.cohorts`)."""
    if study.population.cohort is not None:
        from sndslab.cohorts import population_step

        return population_step(study.population.cohort)(lake, study)
    patients = relation(lake.con, lake.paths, "events.patients")
    p = study.period
    age = study.population.min_age
    return lake.con.sql(
        f"""
        WITH o AS (
            SELECT person_id,
                   greatest(DATE '{p.start}',
                            CAST(birth_date + INTERVAL {age} YEAR AS DATE)) AS observation_start,
                   least(DATE '{p.end}', coalesce(death_date, DATE '{p.end}')) AS observation_end
            FROM {patients} WHERE birth_date IS NOT NULL)
        SELECT person_id, observation_start AS index_date, observation_start, observation_end
        FROM o WHERE observation_end >= observation_start
        """
    )


@dataclass
class StudyData:
    """Temporary tables of one study on one connection; ``attrition`` counts each rule.

    Tables (after :meth:`build`): ``population`` (one row per person), ``outcomes`` (one row
    per outcome episode of a population person inside observation), ``cases`` (persons with
    at least one outcome: their observation and birth date), ``purchases`` (one row per case ×
    drug × dispensing day: ATC, packs, days covered).
    """

    lake: Lake
    study: StudySpec
    population_step: Population = default_population
    created: list[str] = field(default_factory=list)
    tables: dict[str, str] = field(default_factory=dict)
    attrition: list[dict[str, Any]] = field(default_factory=list)

    # ---- plumbing --------------------------------------------------------------------------
    def _table(self, key: str, query: str) -> str:
        name = f"_sig_{key}_{next(_counter)}"
        self.lake.con.create_table(name, query)
        self.created.append(name)
        self.tables[key] = name
        return name

    def count(self, key: str, what: str = "*") -> int:
        return int(self.lake.con.scalar(f"SELECT count({what}) FROM {self.tables[key]}") or 0)

    def _step(self, step: str, kept: int, dropped: int, rule: str) -> None:
        self.attrition.append({"step": step, "kept": kept, "dropped": dropped, "rule": rule})

    def drop_all(self) -> None:
        for name in reversed(self.created):
            with contextlib.suppress(Exception):  # temporary tables only: never hides an error
                self.lake.con.drop(name)
        self.created.clear()

    # ---- build -----------------------------------------------------------------------------
    def build(self) -> StudyData:
        self._population()
        self._outcomes()
        self._cases()
        self._purchases()
        return self

    def _population(self) -> None:
        rel = self.population_step(self.lake, self.study)
        cols = list(rel.columns)
        if cols != list(POPULATION_COLUMNS):
            raise SndslabError(
                f"population step returned columns {cols}; expected exactly "
                f"{list(POPULATION_COLUMNS)}"
            )
        table: pa.Table = rel.to_arrow()
        name = f"_sig_pop_in_{next(_counter)}"
        self.lake.con.register_arrow(name, table)
        self.created.append(name)
        p = self.study.period
        self._table(
            "population",
            f"""SELECT CAST(person_id AS VARCHAR) AS person_id,
                       CAST(index_date AS DATE) AS index_date,
                       greatest(CAST(observation_start AS DATE), DATE '{p.start}')
                           AS observation_start,
                       least(CAST(observation_end AS DATE), DATE '{p.end}') AS observation_end
                FROM {name}
                WHERE person_id IS NOT NULL
                  AND greatest(CAST(observation_start AS DATE), DATE '{p.start}')
                      <= least(CAST(observation_end AS DATE), DATE '{p.end}')""",
        )
        kept = self.count("population")
        dup = kept - self.count("population", "DISTINCT person_id")
        if dup:
            raise SndslabError(f"population step returned {dup} duplicate person_id row(s)")
        self._step(
            "population",
            kept,
            table.num_rows - kept,
            "observation outside the study period or no person_id",
        )

    def _outcomes(self) -> None:
        o = self.study.outcome
        events = relation(self.lake.con, self.lake.paths, "events.events")
        parts = [
            f"""SELECT d.person_id, d.start AS day, coalesce(d."end", d.start) AS day_end
                FROM {events} d
                WHERE d.category = 'diagnosis' AND d.source_table = 'mco_diagnoses'
                  AND d.modifier = 'DP' AND {code_predicate("d.code", o.diagnoses)}
                  AND NOT EXISTS (
                      SELECT 1 FROM {events} x
                      WHERE x.stay_id = d.stay_id AND x.person_id = d.person_id
                        AND x.category = 'diagnosis' AND x.modifier = 'DAS'
                        AND {code_predicate("x.code", o.exclude_das)})"""
        ]
        if o.acts:
            parts.append(
                f"""SELECT person_id, start AS day, start AS day_end FROM {events}
                    WHERE category = 'act' AND {code_predicate("code", o.acts)}"""
            )
        if o.emergency:
            parts.append(
                f"SELECT person_id, start AS day, start AS day_end FROM {events} "
                "WHERE category = 'emergency'"
            )
        raw = self._table("outcome_raw", " UNION ".join(parts))
        n_raw = self.count("outcome_raw")
        pop = self.tables["population"]
        gap = o.episode_gap_days
        self._table(
            "outcomes",
            f"""WITH inside AS (
                    SELECT r.person_id, r.day, r.day_end FROM {raw} r JOIN {pop} p USING (person_id)
                    WHERE r.day BETWEEN p.observation_start AND p.observation_end),
                ordered AS (
                    SELECT person_id, day,
                           max(day_end) OVER (PARTITION BY person_id ORDER BY day, day_end
                               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS previous_end
                    FROM inside)
                SELECT DISTINCT person_id, day FROM ordered
                WHERE previous_end IS NULL OR datediff('day', previous_end, day) > {gap}""",
        )
        inside = int(
            self.lake.con.scalar(
                f"SELECT count(*) FROM {raw} r JOIN {pop} p USING (person_id) "
                "WHERE r.day BETWEEN p.observation_start AND p.observation_end"
            )
            or 0
        )
        kept = self.count("outcomes")
        self._step(
            "outcome events",
            inside,
            n_raw - inside,
            "person not in the population or event outside observation",
        )
        self._step(
            "outcome episodes",
            kept,
            inside - kept,
            f"starts within {gap} days of the end of an earlier outcome event (readmission, "
            "transfer, same episode)",
        )

    def _cases(self) -> None:
        pop = self.tables["population"]
        patients = relation(self.lake.con, self.lake.paths, "events.patients")
        self._table(
            "cases",
            f"""SELECT p.person_id, p.observation_start, p.observation_end, pt.birth_date,
                       (SELECT count(*) FROM {self.tables["outcomes"]} o
                        WHERE o.person_id = p.person_id) AS n_events
                FROM {pop} p JOIN {patients} pt USING (person_id)
                WHERE EXISTS (SELECT 1 FROM {self.tables["outcomes"]} o
                              WHERE o.person_id = p.person_id)""",
        )
        kept = self.count("cases")
        self._step("cases", kept, self.count("population") - kept, "no outcome during observation")

    def _purchases(self) -> None:
        """Dispensings of the screened drugs to the cases (one row per case × ATC × day)."""
        e = self.study.exposures
        d = e.duration
        events = relation(self.lake.con, self.lake.paths, "events.events")
        by_atc = sorted(d.by_atc.items(), key=lambda kv: -len(kv[0]))
        days = (
            "CASE "
            + " ".join(f"WHEN starts_with(atc, '{k}') THEN {v}" for k, v in by_atc)
            + f" ELSE {d.default_days} END"
            if by_atc
            else str(d.default_days)
        )
        self._table(
            "purchases",
            f"""WITH raw AS (
                    SELECT e.person_id, e.start AS day, substr(e.code, 6) AS atc,
                           least(greatest(coalesce(e.quantity, 1), 0), {d.max_packs}) AS packs
                    FROM {events} e JOIN {self.tables["cases"]} c USING (person_id)
                    WHERE e.category = 'dispensing' AND {code_predicate("e.code", e.atc)}
                      AND length(e.code) = 12)
                SELECT person_id, day, atc, sum(packs) AS packs,
                       CAST(greatest(sum(packs), 1) * ({days}) AS INTEGER) AS days_covered
                FROM raw GROUP BY person_id, day, atc""",
        )
        n = self.count("purchases")
        self._step("case purchases", n, 0, "dispensings of screened drugs, one per day and ATC")

    # ---- exposure eras ---------------------------------------------------------------------
    def eras(self, atc: str | None = None) -> str:
        """Exposure eras of the cases (one row per case × ATC × era: ``era_start``,
        ``era_end``, ``purchases``) that touch observation (or whose pre-exposure window does);
        not clipped, so that risk windows count from the true era start: days outside
        observation are never used (:mod:`sndslab.signals._sccs`). A temporary table."""
        e = self.study.exposures
        where = f"WHERE atc = '{atc}'" if atc else ""
        q = f"""
        WITH p AS (
            SELECT person_id, atc, day,
                   day + {e.start_delay} AS s,
                   day + CAST(days_covered AS INTEGER) - 1 + {e.end_delay} AS f
            FROM {self.tables["purchases"]} {where}),
        marked AS (
            SELECT *, CASE WHEN s > max(f) OVER (PARTITION BY person_id, atc ORDER BY day, s
                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                                + {e.grace_days} + 1 THEN 1 ELSE 0 END AS new_era
            FROM p),
        numbered AS (
            SELECT *, sum(new_era) OVER (PARTITION BY person_id, atc ORDER BY day, s
                                         ROWS UNBOUNDED PRECEDING) AS era
            FROM marked),
        counted AS (
            SELECT *, count(*) OVER (PARTITION BY person_id, atc, era ORDER BY day
                        RANGE BETWEEN INTERVAL {e.purchases_window_days - 1} DAY PRECEDING
                        AND CURRENT ROW) AS in_window,
                   row_number() OVER (PARTITION BY person_id, atc, era ORDER BY day) AS k
            FROM numbered),
        eras AS (
            SELECT person_id, atc, era,
                   min(CASE WHEN in_window >= {e.min_purchases} THEN s END) AS era_start,
                   max(f) AS era_end, count(*) AS purchases
            FROM counted GROUP BY person_id, atc, era)
        SELECT x.person_id, x.atc, x.era_start, x.era_end, x.purchases
        FROM eras x JOIN {self.tables["cases"]} c USING (person_id)
        WHERE x.era_start IS NOT NULL
          AND x.era_start <= c.observation_end + {self.study.sccs.pre_exposure_days}
          AND x.era_end >= c.observation_start
        """
        return self._table(f"eras_{atc or 'all'}", q)
