"""Causes of death calibrated on the CépiDc distribution, and realistic death certificates."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest

from sndslab.synth import SynthConfig
from sndslab.synth import _refdata as rd
from sndslab.synth._covid import covid_dead
from sndslab.synth._deaths import cause_model, encode_group, group_of, underlying_causes
from sndslab.synth._generate import _make_chunk
from sndslab.synth._ids import day_of
from sndslab.synth._reference import Reference
from sndslab.synth._world import build_territories, build_world


def one(db: duckdb.DuckDBPyConnection, sql: str) -> object:
    row = db.execute(sql).fetchone()
    assert row is not None
    return row[0]


@pytest.fixture(scope="module")
def many_deaths() -> tuple[object, np.ndarray, np.ndarray, list[object]]:
    """Persons, conditions and deaths only (no care) of 150,000 persons over 2019–2021, in
    chunks of 50,000: (model, encoded causes of the dead, cancer flag of the dead, chunks)."""
    cfg = SynthConfig(patients=150_000, first_year=2019, last_year=2021, seed=5, chunk_size=50_000)
    ref = Reference()
    world = build_world(cfg, build_territories(ref.departements()))
    ref.bind_world(world)
    pyramid = ref.pyramid()
    start, end = day_of(2019, 1, 1), day_of(2021, 12, 31)
    causes, cancer, chunks = [], [], []
    for ci in range(3):
        chunk = _make_chunk(cfg, ci, ci * 50_000, 50_000, world, ref, pyramid, start, end)
        # COVID-19 deaths (2020-2021, _covid) take the covid group at certification; the
        # CépiDc 2016-2019 targets are those of the other deaths
        dead = np.flatnonzero((chunk.persons.death <= end) & ~covid_dead(chunk))
        causes.append(chunk.death_cause[dead])
        cancer.append(chunk.cond.has("cancer")[dead])
        chunks.append((chunk, dead))
    model = cause_model(chunks[0][0].cond.names)
    return model, np.concatenate(causes), np.concatenate(cancer), chunks


def test_cause_groups_follow_the_cepidc_distribution(many_deaths: tuple) -> None:
    """Each group's share of deaths is within 1.5 points of its CépiDc target (tumours 28 %,
    circulatory 21.5 %, respiratory 6.5 %, external 6.5 %, nervous system 7 %, …); before the
    calibration circulatory causes were 36 % and tumours 21 %."""
    model, cause, _, _ = many_deaths
    assert len(cause) > 3000
    group = group_of(model, cause)
    assert (group >= 0).all()
    share = np.bincount(group, minlength=len(model.groups)) / len(group)
    targets = rd.causes_of_death()["cause_groups"]
    for g, name in enumerate(model.groups):
        assert abs(share[g] - float(targets[name]["share"])) < 0.015, (name, share[g])
    assert 0.265 <= share[model.group("tumours")] <= 0.295
    assert 0.20 <= share[model.group("circulatory")] <= 0.23


def test_conditions_tilt_the_cause(many_deaths: tuple) -> None:
    """Persons with cancer mostly die of a tumour, persons without much less often; a death
    attributed to a condition is in that condition's group. (Only ~20 % of the dead carry the
    cancer condition, fewer than the 28 % who die of a tumour, so some tumour deaths must fall
    on persons without it: cancers found at death.)"""
    model, cause, cancer, _ = many_deaths
    tumours = group_of(model, cause) == model.group("tumours")
    assert tumours[cancer].mean() > 0.6
    assert tumours[~cancer].mean() < 0.2
    assert tumours[cancer].mean() > 4 * tumours[~cancer].mean()
    attributed = cause >= 0
    assert 0.1 < attributed.mean() < 0.6
    assert (model.condition_group[cause[attributed]] == group_of(model, cause)[attributed]).all()


def test_underlying_codes_belong_to_their_group_and_respect_age_and_sex(
    many_deaths: tuple,
) -> None:
    model, _, _, chunks = many_deaths
    rng = np.random.default_rng(0)
    codes_of = {g: set(cl.codes) for g, cl in enumerate(model.codes)}
    for chunk, dead in chunks:
        persons = chunk.persons
        age = persons.age_of(dead, persons.death[dead]).astype(float)
        sex = persons.sex[dead]
        cause = chunk.death_cause[dead]
        code, group = underlying_causes(rng, model, cause, age, sex, chunk.cond.subtype[dead])
        default = cause < 0
        assert all(c in codes_of[g] for c, g in zip(code[default], group[default], strict=True))
        assert not np.isin(code[sex == 1], ["C509", "C56"]).any()
        assert not np.isin(code[sex == 2], ["C61"]).any()
        assert not np.isin(code[age < 80], ["R54"]).any()
        # ICD-10 chapter of the group (tumours C/D, circulatory I, external V-Y, ...)
        letters = {"tumours": "CD", "circulatory": "I", "external": "VWXY", "respiratory": "J"}
        for name, first in letters.items():
            sel = group == model.group(name)
            assert all(str(c)[0] in first for c in code[sel]), name


def test_a_scenario_can_force_covid_deaths() -> None:
    """The COVID-19 group has share 0 by default; a scenario encodes its deaths itself."""
    model = cause_model(list(rd.conditions()))
    covid = encode_group(model, "covid")
    cause = np.array([covid, covid, -1])
    code, group = underlying_causes(
        np.random.default_rng(1),
        model,
        cause,
        np.array([80.0, 70, 60]),
        np.array([1, 2, 1]),
        np.full(3, -1),
    )
    assert list(code[:2]) == ["U071", "U071"]
    assert group[2] != model.group("covid")
    assert rd.causes_of_death()["cause_groups"]["covid"]["share"] == 0


def test_certificate_part_one_is_a_causal_chain(db: duckdb.DuckDBPyConnection) -> None:
    """KI_ECD_R: immediate cause on line 1, the underlying cause (KI_CCI_R) on the last line of
    part I, other conditions in part II (line 5); ranks number the causes in the order
    written. Rank 1 is the underlying cause only when part I has a single line."""
    db.execute(
        """CREATE OR REPLACE TEMP VIEW ecd AS SELECT DCD_IDT_ENC AS cert,
           CAST(CER_LIG_NUM AS INT) AS line, CAST(ECD_CAU_RNG AS INT) AS rank,
           ECD_CIM_COD AS code FROM KI_ECD_R"""
    )
    certificates = one(db, "SELECT count(*) FROM KI_CCI_R")
    assert certificates > 100
    last_is_underlying = one(
        db,
        """SELECT count(*) FROM (SELECT cert, arg_max(code, line) AS last FROM ecd WHERE line < 5
           GROUP BY cert) e JOIN KI_CCI_R c ON c.DCD_IDT_ENC = e.cert
           WHERE e.last = c.DCD_CIM_COD""",
    )
    assert last_is_underlying == certificates
    rank1_is_underlying = one(
        db,
        """SELECT avg(CAST(e.code = c.DCD_CIM_COD AS INT)) FROM ecd e
           JOIN KI_CCI_R c ON c.DCD_IDT_ENC = e.cert WHERE e.rank = 1""",
    )
    assert 0.15 < float(rank1_is_underlying) < 0.5  # type: ignore[arg-type]
    # ranks are 1..n in line order, part I lines are 1..k without gaps
    bad_rank = one(
        db,
        """SELECT count(*) FROM (SELECT rank, row_number() OVER (PARTITION BY cert
           ORDER BY line, rank) AS expected FROM ecd) WHERE rank <> expected""",
    )
    assert bad_rank == 0
    gaps = one(
        db,
        """SELECT count(*) FROM (SELECT cert, max(line) AS k, count(*) AS n FROM ecd
           WHERE line < 5 GROUP BY cert) WHERE k <> n""",
    )
    assert gaps == 0
    assert one(db, "SELECT count(*) FROM ecd WHERE line = 5") > 0
    assert one(db, "SELECT count(*) FROM ecd WHERE line NOT IN (1, 2, 3, 4, 5)") == 0
    # an external cause (V-Y) is underlying, the injury (S/T) is written above it
    injuries = one(
        db,
        """SELECT count(*) FROM ecd e JOIN KI_CCI_R c ON c.DCD_IDT_ENC = e.cert
           WHERE c.DCD_CIM_COD >= 'V' AND c.DCD_CIM_COD < 'Z' AND e.line = 1
           AND e.code NOT SIMILAR TO '[ST].*'""",
    )
    assert injuries == 0
    bad_codes = one(db, "SELECT count(*) FROM ecd WHERE code NOT IN (SELECT CIM_COD FROM IR_CIM_V)")
    assert bad_codes == 0


def test_death_cause_shares_on_the_extract(db: duckdb.DuckDBPyConnection, extract: Path) -> None:
    """On the 10,000-person extract the underlying causes are dominated by tumours, then
    circulatory diseases (loose bounds: ~170 deaths)."""
    rows = db.execute(
        """SELECT avg(CAST(DCD_CIM_COD < 'D5' AND DCD_CIM_COD >= 'C' AS INT)),
                  avg(CAST(DCD_CIM_COD LIKE 'I%' AS INT)) FROM KI_CCI_R"""
    ).fetchone()
    assert rows is not None
    tumours, circulatory = (float(x) for x in rows)
    assert 0.18 < tumours < 0.38 and 0.12 < circulatory < 0.31, (tumours, circulatory)
