"""Window boundaries, precedence and the lost/home fallbacks, property-based: the states the
SQL gives every person equal those of a plain-Python reference of the rules of
``sndslab.pathways._spec`` on random persons (index stay, later events, death)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import duckdb
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sndslab.pathways import load_pathways
from sndslab.pathways._sql import cohort_sql, merged_sql, states_sql

SPEC = load_pathways(["hip_fracture_65"])[0]
DATA = (dt.date(2019, 1, 1), dt.date(2020, 12, 31))
#: one representative event per event state: (code, category) by state name
CODES = {
    "mco": ("GHM//08M20", "stay"),
    "ssr": ("STAY//SSR", "stay"),
    "had": ("STAY//HAD", "stay"),
    "specialist": ("SPECIALTY//41", "visit"),
    "gp": ("SPECIALTY//1", "visit"),
    "nurse_physio": ("NGAP//AMK", "act"),
    "drugs": ("ATC//M05BA04", "dispensing"),
    "care": ("ATC//A02BC01", "dispensing"),  # care that is none of the states
}

#: days after the discharge, window boundaries (and their neighbours) drawn often
BOUNDARIES = sorted(
    {d + e for w in SPEC.windows for d in (w.from_day, w.to_day) for e in (-1, 0, 1)}
)
day = st.one_of(st.sampled_from(BOUNDARIES), st.integers(-10, 420))
event = st.tuples(
    st.sampled_from(sorted(CODES)),
    day,  # start, days after the discharge
    st.integers(0, 45),  # duration (stays only)
)
person = st.tuples(
    st.integers(0, 364),  # admission, days after 1 January 2019
    st.integers(0, 20),  # length of the index stay
    st.one_of(st.none(), day),  # death, days after the discharge
    st.lists(event, max_size=6),
)


def _reference(adm: dt.date, dis: dt.date, death: dt.date | None, events: list) -> list[str]:
    """The states of the three windows by the rules, in Python."""
    rank = {s.name: i for i, s in enumerate(SPEC.states)}
    out = []
    for w in SPEC.windows:
        lo, hi = dis + dt.timedelta(w.from_day), dis + dt.timedelta(w.to_day)
        if death is not None and death <= hi:
            out.append("death")
            continue
        seen = [
            name
            for name, start, stop in events
            if name in rank and start <= hi and min(stop, DATA[1]) >= lo and start <= DATA[1]
        ]
        if seen:
            out.append(min(seen, key=rank.__getitem__))
        elif not any(start <= DATA[1] and min(stop, DATA[1]) >= lo for _, start, stop in events):
            out.append("lost")
        else:
            out.append("home")
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(person, min_size=1, max_size=12))
def test_states_match_the_rules(people: list) -> None:
    pat: dict[str, list] = {k: [] for k in
                            ("person_id", "sex", "birth_date", "death_date", "residence_dpt",
                             "residence_region")}  # fmt: skip
    ev: dict[str, list] = {k: [] for k in
                           ("person_id", "start", "end", "code", "category", "modifier",
                            "stay_id", "source_key")}  # fmt: skip
    want = {}
    for i, (adm_day, los, death_day, events) in enumerate(people):
        pid = f"X{i}"
        adm = DATA[0] + dt.timedelta(adm_day)
        dis = adm + dt.timedelta(los)
        death = None if death_day is None else dis + dt.timedelta(death_day)
        pat["person_id"].append(pid)
        pat["sex"].append(1 + i % 2)
        pat["birth_date"].append(dt.date(1930, 1, 1))
        pat["death_date"].append(death)
        pat["residence_dpt"].append("075")
        pat["residence_region"].append("11")
        rows = [("ICD10//S720", "diagnosis", "DP", adm, dis, "IDX"),
                ("GHM//08C47", "stay", None, adm, dis, "IDX")]  # fmt: skip
        timeline = []
        for k, (name, off, dur) in enumerate(events):
            code, cat = CODES[name]
            start = dis + dt.timedelta(off)
            stop = start + dt.timedelta(dur if cat == "stay" else 0)
            rows.append((code, cat, None, start, stop if cat == "stay" else None, f"E{k}"))
            if stop >= adm:  # the SQL follows events ending on or after the admission
                timeline.append((name, start, stop))
        for code, cat, mod, start, end, stay in rows:
            ev["person_id"].append(pid)
            ev["start"].append(start)
            ev["end"].append(end)
            ev["code"].append(code)
            ev["category"].append(cat)
            ev["modifier"].append(mod)
            ev["stay_id"].append(f"{pid}|{stay}")
            ev["source_key"].append(f"{pid}|{stay}|{code}")
        if dis + dt.timedelta(SPEC.windows[-1].to_day) <= DATA[1]:
            want[pid] = _reference(adm, dis, death, timeline)
    con = duckdb.connect()
    con.register("pat", pa.table(pat))
    con.register("ev", pa.table(ev))
    con.execute(f"CREATE TABLE coh AS {cohort_sql('ev', 'pat', SPEC, [2019, 2020], DATA)}")
    con.execute(f"CREATE TABLE sta AS {states_sql('ev', 'coh', SPEC, DATA[1])}")
    rows = con.execute("SELECT person_id, s1, s2, s3 FROM sta").fetchall()
    got = {r[0]: list(r[1:]) for r in rows}
    assert got == want
    # the merge relabels only, and only branches under the threshold
    merged = con.execute(
        f"SELECT s1, s2, s3, m1, m2, m3 FROM ({merged_sql('sta', 3, 2)}) m"
    ).fetchall()
    assert len(merged) == len(want)
    for row in merged:
        assert all(row[j] == row[j + 3] or row[j + 3] == "other" for j in range(3))
    # every branch kept under its own name holds at least the threshold (2 here)
    for j in range(3):
        branches = Counter(tuple(r[3 : 4 + j]) for r in merged)
        assert all(n >= 2 for b, n in branches.items() if b[-1] != "other")
