"""Orchestration of a generator run: world, then persons chunk by chunk, then referentials.

Memory is bounded by ``chunk_size``: each chunk's persons, care and rows are generated,
projected, appended to the per-(table, year) CSV files and dropped before the next chunk.
The output directory appears only when the run completes (``atomic_output_dir``).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

import sndslab
from sndslab._atomic import atomic_output_dir
from sndslab._faults import failpoint
from sndslab.synth import _time
from sndslab.synth._abuse import abuse_manifest, practitioner_truth
from sndslab.synth._arrays import text_array as _text
from sndslab.synth._biology import biology_and_imaging
from sndslab.synth._care import CATEGORIES, claim_lines
from sndslab.synth._conditions import draw_conditions, draw_deaths
from sndslab.synth._config import SynthConfig
from sndslab.synth._context import Chunk
from sndslab.synth._covid import draw_covid
from sndslab.synth._dcir import project_dcir
from sndslab.synth._drugs import care_manifest, dispensings, ucd_dispensings
from sndslab.synth._falls import drop_after_death, falls
from sndslab.synth._falls_care import (
    drug_effects_section,
    fall_care_dispensings,
    record_falls_truth,
)
from sndslab.synth._frame import Frame
from sndslab.synth._geography import residence_truth, supply_manifest
from sndslab.synth._hospital import (
    READMISSION_COEFFICIENTS,
    STAY_KINDS,
    draw_stays,
    pmsi_structure_manifest,
)
from sndslab.synth._hospital_other import (
    ald_declarations,
    deaths,
    had_stays,
    hospital_claim_lines,
    outpatient_hospital,
    psy_stays,
    ssr_stays,
)
from sndslab.synth._ids import NO_DAY, day_of
from sndslab.synth._numbering import RecordNumbering, identifier_manifest
from sndslab.synth._pmsi import project_pmsi, write_mco_establishments
from sndslab.synth._population import (
    Identities,
    fictitious_keys,
    identity_truth,
    inject_identity_difficulties,
    make_identities,
    make_persons,
    manifest_section,
    open_cohort,
    settle_entrants,
    share_family_psa,
)
from sndslab.synth._providers import Providers
from sndslab.synth._quality import ucd_information_lines
from sndslab.synth._reference import Reference
from sndslab.synth._tables import (
    beneficiaries,
    causes_of_death,
    copy_nomenclatures,
    drug_referential,
    establishments,
    ghm_referential,
    long_term_diseases,
    practitioners,
)
from sndslab.synth._truth import Truth
from sndslab.synth._visits import collusive_dispensings, phantom_patients, visits
from sndslab.synth._world import GP, build_territories, build_world
from sndslab.synth._writer import FileStats, RawTableWriter

Progress = Callable[[str, int, int], None]

#: Fictitious-NIR lines are drawn among visits of persons of these ages (IVG, STI, contraception).
FICTITIOUS_AGE = (15, 45)


@dataclass
class SynthResult:
    """What a run produced."""

    out_dir: Path
    files: dict[str, FileStats]
    manifest: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> list[tuple[str, str]]:
        m = self.manifest
        cal = m.get("calibration", {})
        rows = sum(f.rows for f in self.files.values())
        size = sum(f.bytes for f in self.files.values())
        out = [
            ("persons", f"{m['config']['patients']:,}"),
            ("years", f"{m['config']['first_year']}–{m['config']['last_year']}"),
            ("raw files", f"{len(self.files)}"),
            ("raw rows", f"{rows:,}"),
            ("raw size", f"{size / 1e6:,.1f} MB"),
            ("seconds", f"{self.seconds:,.1f}"),
        ]
        for key in (
            "hospitalised_share",
            "treated_diabetes_share",
            "gp_per_100k",
            "readmission_30d_share",
            "deaths_per_1000_per_year",
        ):
            if key in cal:
                value = f"{cal[key]:.4g}"
                if key == "gp_per_100k" and m["config"]["patients"] < GP_DENSITY_MIN_PERSONS:
                    value += f" (meaningful above ~{GP_DENSITY_MIN_PERSONS:,} persons only)"
                out.append((key.replace("_", " "), value))
        return out


#: Below this many persons the GP density is not a calibration figure: every region has at least
#: one GP group, so a small population has far too many GPs per 100,000.
GP_DENSITY_MIN_PERSONS = 20_000


class _Calibration:
    """Accumulates the figures compared with national statistics."""

    def __init__(self, years: list[int]) -> None:
        self.years = years
        self.population = np.zeros(len(years))
        self.hospitalised = np.zeros(len(years))
        self.diabetes = np.zeros(len(years))
        self.deaths = 0
        self.person_years = 0.0
        self.stays = 0
        self.readmitted = 0

    def add(self, chunk: Chunk, stays: Frame, other_stays: list[Frame], disp: Frame) -> None:
        persons = chunk.persons
        for i, y in enumerate(self.years):
            y0, y1 = day_of(y, 1, 1), day_of(y, 12, 31)
            alive = (persons.death >= y0) & (persons.entry <= y0)
            self.population[i] += alive.sum()
            hosp = np.zeros(len(persons), bool)
            for f in [stays, *other_stays]:
                if len(f):
                    in_year = (f["exit"] >= y0) & (f["entry"] <= y1)
                    hosp[f["person"][in_year]] = True
            self.hospitalised[i] += (hosp & alive).sum()
            # treated diabetes (BEH definition): ≥ 3 antidiabetic dispensings in the year
            sel = (disp["day"] >= y0) & (disp["day"] <= y1) & disp["antidiabetic"]
            counts = np.bincount(disp["person"][sel], minlength=len(persons))
            self.diabetes[i] += (counts >= 3).sum()
        end = chunk.study_end
        self.deaths += int((persons.death <= end).sum())
        self.person_years += float(
            (np.minimum(persons.death, end + 1) - chunk.care_start).clip(0).sum() / 365.25
        )
        eligible = stays["readmission_index"]  # alive, not a session, not transferred out
        self.stays += int(eligible.sum())
        self.readmitted += int((stays["readmitted_30d"] & eligible).sum())

    def result(self, world: Any, n_persons: int) -> dict[str, Any]:
        prac = world.practitioners
        n_gp = int((prac.kind == GP).sum())
        return {
            "definition": {
                "hospitalised_share": "persons with ≥ 1 MCO/SSR/HAD/RIM-P stay overlapping the "
                "year / persons alive on 1 January (mean over years)",
                "treated_diabetes_share": "persons with ≥ 3 antidiabetic (ATC A10) dispensings "
                "in the year / persons alive on 1 January (mean over years)",
                "gp_per_100k": "general practitioners in DA_PRA_R per 100,000 persons (each "
                "region has at least one GP, so the figure is only meaningful above ~20,000 "
                "persons)",
            },
            "by_year": {
                str(y): {"population": int(p), "hospitalised": int(h), "treated_diabetes": int(d)}
                for y, p, h, d in zip(
                    self.years, self.population, self.hospitalised, self.diabetes, strict=True
                )
            },
            "hospitalised_share": float(self.hospitalised.sum() / self.population.sum()),
            "treated_diabetes_share": float(self.diabetes.sum() / self.population.sum()),
            "gp_per_100k": n_gp / n_persons * 1e5,
            "deaths_per_1000_per_year": 1000 * self.deaths / max(self.person_years, 1e-9),
            "readmission_30d_share": self.readmitted / max(self.stays, 1),
        }


def generate(
    config: SynthConfig,
    out: Path,
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> SynthResult:
    """Generate a synthetic SNDS extract with its truth manifest into ``out``.

    ``out/raw/`` holds the CNAM-like export files, ``out/truth/`` the injected truth and
    ``out/manifest.json`` the run description. Nothing appears at ``out`` unless the run
    completes.
    """
    t0 = time.perf_counter()
    out = Path(out)
    with atomic_output_dir(out, overwrite=overwrite, kind="synth") as tmp:
        raw = tmp / "raw"
        raw.mkdir()
        ref = Reference()
        terr = build_territories(ref.departements())
        world = build_world(config, terr)
        ref.bind_world(world)
        pyramid = ref.pyramid()
        writer = RawTableWriter(raw, compress=config.compress, background=True)
        try:
            truth = Truth(tmp / "truth")
            study_start = day_of(config.first_year, 1, 1)
            study_end = day_of(config.last_year, 12, 31)
            calibration = _Calibration(config.years)
            providers: Providers | None = None
            n_chunks = math.ceil(config.patients / config.chunk_size)
            report = progress or (lambda _d, _c, _t: None)
            report("persons", 0, config.patients)
            done = 0
            numbering = RecordNumbering(config.seed)  # identifiers numbered across chunks
            for ci in range(n_chunks):
                n = min(config.chunk_size, config.patients - done)
                chunk = _make_chunk(
                    config, ci, done, n, world, ref, pyramid, study_start, study_end
                )
                chunk.numbering = numbering
                if providers is None:
                    providers = Providers(chunk)
                _generate_chunk(chunk, providers, writer, truth, calibration)
                failpoint("synth.chunk")
                del chunk
                _release_memory()
                done += n
                report("persons", done, config.patients)
            _write_referentials(config, world, ref, writer, truth, raw)
        except BaseException:
            with contextlib.suppress(Exception):  # stop the writer thread, keep the cause
                writer.close()
            raise
        files = writer.close()
        for name, size in copy_nomenclatures(raw).items():
            files[name] = FileStats(table=name.removesuffix(".csv"), year=None, rows=-1, bytes=size)
        manifest = _manifest(config, world, ref, calibration, files)
        manifest = truth.close(manifest)
        failpoint("synth.commit")
        (tmp / "manifest.json").write_text(
            json.dumps({k: manifest[k] for k in ("sndslab_version", "config", "files")}, indent=2)
            + "\n",
            "utf-8",
        )
    return SynthResult(
        out_dir=out, files=files, manifest=manifest, seconds=time.perf_counter() - t0
    )


def _release_memory() -> None:
    """Return freed heap memory to the OS between chunks (keeps the peak RSS flat)."""
    pa.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):  # not glibc
            ctypes.CDLL("libc.so.6").malloc_trim(0)


def _make_chunk(
    config: SynthConfig,
    ci: int,
    start_pid: int,
    n: int,
    world: Any,
    ref: Reference,
    pyramid: Any,
    study_start: int,
    study_end: int,
) -> Chunk:
    rng = np.random.default_rng([config.seed, 2, ci])
    twins = config.artefacts.twin_share_of_minors
    moves = (config.truth.move_rate_per_year, config.truth.move_within_departement)
    persons = make_persons(rng, start_pid, n, study_start, world, pyramid, twins, study_end, moves)
    persons = open_cohort(config, ci, persons, world, study_start, study_end)
    cond = draw_conditions(rng, persons, ref.conditions, world.territories, study_start, study_end)
    death_cause = draw_deaths(
        rng, persons, cond, ref.conditions, ref.annual_death_prob, study_start, study_end
    )
    settle_entrants(persons, cond, death_cause, study_start, study_end)
    ident = make_identities(rng, persons, study_start, study_end)
    chunk = Chunk(
        index=ci,
        rng=rng,
        config=config,
        world=world,
        ref=ref,
        study_start=study_start,
        study_end=study_end,
        persons=persons,
        ident=ident,
        cond=cond,
        death_cause=death_cause,
    )
    chunk.covid = draw_covid(chunk)  # COVID-19 waves: stays and deaths (brings deaths forward)
    share = config.artefacts.family_rank_share_of_minors
    share_family_psa(chunk.artefact_rng, persons, ident, study_start, share)
    chunk.key_quirks = inject_identity_difficulties(
        chunk.identity_rng, persons, ident, config.artefacts, study_start
    )
    return chunk


def _generate_chunk(
    chunk: Chunk, providers: Providers, writer: Any, truth: Truth, calibration: _Calibration
) -> None:
    rng = chunk.rng
    ald = ald_declarations(chunk)  # before care: 100 % rates follow the ALD (IR_IMB_R)
    visit_lines = visits(chunk, providers)
    disp_lines, exposures = dispensings(chunk, providers, visit_lines, ald)
    bio_lines = biology_and_imaging(chunk, providers, visit_lines)
    ucd_lines = ucd_dispensings(chunk)
    ucd_lines = Frame.concat([ucd_lines, ucd_information_lines(chunk, ucd_lines)])
    fall_rows = falls(chunk, exposures)  # may move deaths earlier (hip fractures)
    visit_lines, disp_lines, bio_lines, ucd_lines, exposures = drop_after_death(
        chunk, visit_lines, disp_lines, bio_lines, ucd_lines, exposures
    )
    fall_care_lines, fall_care_exposures = fall_care_dispensings(
        chunk, providers, fall_rows, exposures, ald
    )
    disp_lines = Frame.concat([disp_lines, fall_care_lines])
    exposures = Frame.concat([exposures, fall_care_exposures])
    # falls neither hospitalised nor seen in the emergency department are seen by the GP
    gp_fall = fall_rows.filter(fall_rows["channel"] == 0)
    fall_visits = claim_lines(
        chunk,
        gp_fall["person"],
        gp_fall["day"],
        category="gp_visit",
        nat=1111,
        paid=25.0,
        rate=70.0,
        exe=chunk.persons.gp[gp_fall["person"]].astype(np.int64),
    )
    stays, das, acts = draw_stays(chunk, fall_rows)
    ssr, csarr = ssr_stays(chunk, stays)
    had = had_stays(chunk)
    psy = psy_stays(chunk)
    ace = outpatient_hospital(chunk, fall_rows)
    hosp_lines = hospital_claim_lines(chunk, stays, ace)
    antidiabetic = np.char.startswith(chunk.ref.drug_atc[disp_lines["code"]].astype(str), "A10")
    dispensed = Frame(person=disp_lines["person"], day=disp_lines["day"], antidiabetic=antidiabetic)
    lines = Frame.concat([visit_lines, fall_visits, disp_lines, bio_lines, ucd_lines, hosp_lines])
    del visit_lines, fall_visits, disp_lines, bio_lines, ucd_lines, hosp_lines  # bound memory
    used = np.zeros(len(chunk.persons), bool)
    used[lines["person"]] = True
    for f in (stays, ssr, had, psy, ace):
        if len(f):
            used[f["person"]] = True
    lines = _fictitious_nir(chunk, lines)
    phantom = phantom_patients(chunk, used, lines, truth)
    lines = Frame.concat([lines, phantom, collusive_dispensings(chunk, ald)])
    consumers = np.zeros(len(chunk.persons), bool)
    consumers[lines["person"]] = True
    phantom_lines = len(phantom)
    _time.record_care(chunk, truth, lines)  # flu vaccines, teleconsultations per year
    project_dcir(chunk, lines, writer, truth)
    del lines
    project_pmsi(chunk, (stays, das, acts), (ssr, csarr), had, psy, ace, writer, truth)
    long_term_diseases(chunk, ald, writer, truth)
    cert, listed = deaths(chunk, stays)
    causes_of_death(chunk, cert, listed, writer, truth)
    _time.record_covid(chunk, truth, stays, cert)  # COVID-19 stays, deaths, truth table
    beneficiaries(chunk, consumers, writer, truth)
    for name, f in (
        ("mco_stays", stays),
        ("ssr_stays", ssr),
        ("had_stays", had),
        ("psy_stays", psy),
        ("ace_visits", ace),
        ("falls", fall_rows),
        ("ald", ald),
        ("deaths", cert),
        ("das", das),
        ("mco_acts", acts),
        ("csarr_acts", csarr),
        ("exposures", exposures),
    ):
        truth.count(f"events.{name}", len(f))
    truth.count("events.phantom_patient_lines", phantom_lines)
    _append_truth_tables(chunk, truth, stays, fall_rows, ssr, had, psy)
    record_falls_truth(chunk, truth, fall_rows)
    residence_truth(chunk, truth)
    calibration.add(chunk, stays, [ssr, had, psy], dispensed)
    del rng


def _fictitious_nir(chunk: Chunk, lines: Frame) -> Frame:
    """Bill a few visits of young adults under fictitious NIRs (new keys, no person link)."""
    rng = chunk.rng
    age = chunk.persons.age_of(lines["person"], lines["day"])
    visit = (lines["category"] == CATEGORIES["gp_visit"]) | (
        lines["category"] == CATEGORIES["specialist_visit"]
    )
    eligible = np.flatnonzero(
        visit & (age >= FICTITIOUS_AGE[0]) & (age <= FICTITIOUS_AGE[1]) & ~lines["surcharge"]
    )
    share = chunk.config.artefacts.fictitious_nir_share
    total_visits = int(visit.sum())
    k = min(len(eligible), rng.binomial(total_visits, share) if total_visits else 0)
    chosen = rng.choice(eligible, k, replace=False) if k else np.zeros(0, np.int64)
    fict = fictitious_keys(rng, k, chunk.study_start)
    fict.pid[:] = -1
    ident = chunk.ident
    chunk.fictitious_truth = (chunk.persons.pid[lines["person"][chosen]], len(ident))
    chunk.ident = Identities(
        pid=np.concatenate([ident.pid, fict.pid]),
        psa=np.concatenate([ident.psa, fict.psa]),
        rng_gem=np.concatenate([ident.rng_gem, fict.rng_gem]),
        valid_from=np.concatenate([ident.valid_from, fict.valid_from]),
        valid_to=np.concatenate([ident.valid_to, fict.valid_to]),
        cdi_nir=np.concatenate([ident.cdi_nir, fict.cdi_nir]),
        role=np.concatenate([ident.role, fict.role]),
    )
    lines["key"][chosen] = len(ident) + np.arange(k)
    return lines


def _append_truth_tables(
    chunk: Chunk,
    truth: Truth,
    stays: Frame,
    fall_rows: Frame,
    ssr: Frame,
    had: Frame,
    psy: Frame,
) -> None:
    persons = chunk.persons
    ident = chunk.ident
    ref = chunk.ref
    dead = persons.death <= chunk.study_end
    cause = np.where(chunk.death_cause >= 0, chunk.death_cause, 0)
    truth.append(
        "persons",
        {
            "person_id": persons.pid,
            "sex": persons.sex.astype(np.int64),
            "birth_date": truth.dates(persons.birth),
            "death_date": truth.dates(np.where(dead, persons.death, 0), ~dead),
            "death_condition": np.where(
                chunk.death_cause >= 0,
                np.array(chunk.cond.names, dtype=object)[cause],
                np.full(len(cause), None, dtype=object),
            ),
            "residence_dep": chunk.world.territories.dep[persons.dep],
            "region": chunk.world.territories.region[persons.dep],
            "community": persons.community.astype(np.int64),
            "gp": persons.gp.astype(np.int64),
            "ben_nir_ano": persons.nir_ano.astype(object),
            "cmu": persons.cmu,
            "frailty": persons.frailty,
            **identity_truth(chunk, truth, "persons"),
        },
    )
    fict_pid, fict_start = chunk.fictitious_truth or (np.zeros(0, np.int64), len(ident))
    pid = ident.pid.copy()
    pid[fict_start:] = fict_pid
    absent = chunk.absent_keys if chunk.absent_keys is not None else np.zeros(len(ident), bool)
    truth.count("identity.family_rank_keys", int((ident.role == "family_rank").sum()))
    truth.append(
        "identities",
        {
            "person_id": pid,
            "ben_nir_psa": ident.psa.astype(object),
            "ben_rng_gem": ident.rng_gem.astype(np.int64),
            "role": ident.role,
            "ben_cdi_nir": ident.cdi_nir,
            "in_ir_ben_r": ~absent,
            **identity_truth(chunk, truth, "identities"),
            "valid_from": truth.dates(ident.valid_from),
            "valid_to": truth.dates(
                np.where(ident.valid_to >= NO_DAY, 0, ident.valid_to), ident.valid_to >= NO_DAY
            ),
        },
    )
    rows, cols = np.nonzero(chunk.cond.onset < NO_DAY)
    subtype = chunk.cond.subtype[rows]
    truth.append(
        "conditions",
        {
            "person_id": persons.pid[rows],
            "condition": np.array(chunk.cond.names, dtype=object)[cols],
            "onset_date": truth.dates(chunk.cond.onset[rows, cols]),
            "prevalent_at_start": chunk.cond.prevalent[rows, cols],
            "cancer_subtype": np.array(
                [s.key for s in ref.conditions["cancer"].subtypes] + [None], dtype=object
            )[np.where(subtype >= 0, subtype, -1)],
        },
    )
    cause_atc = np.where(
        fall_rows["cause"] >= 0, ref.atc_codes[np.maximum(fall_rows["cause"], 0)], None
    )
    truth.append(
        "falls",
        {
            "person_id": persons.pid[fall_rows["person"]],
            "date": truth.dates(fall_rows["day"]),
            "caused_by_atc": cause_atc,
            "channel": np.array(["gp", "emergency", "hospital"], dtype=object)[
                fall_rows["channel"]
            ],
        },
    )
    windows = chunk.truth_windows
    if windows is not None and len(windows):
        truth.append(
            "exposure_windows",
            {
                "person_id": persons.pid[windows["person"]],
                "atc": ref.atc_codes[windows["atc"]],
                "start": truth.dates(windows["start"]),
                "end": truth.dates(np.maximum(windows["end"], windows["start"])),
                "empty": windows["end"] < windows["start"],
            },
        )
    kinds = np.array(list(STAY_KINDS), dtype=object)
    truth.append(
        "stays",
        {
            "stay_id": stays["stay"],
            "eta_num": _text(chunk.world.establishments.finess[stays["est"]]),
            "rsa_num": np.char.zfill(stays["number"].astype(str), 10).astype(object),
            "person_id": persons.pid[stays["person"]],
            "entry": truth.dates(stays["entry"]),
            "exit": truth.dates(stays["exit"]),
            "kind": kinds[stays["kind"]],
            "dp": stays["dp"],
            "ghm": stays["ghm"],
            "finess": chunk.world.establishments.finess[stays["est"]],
            "died_in_stay": stays["died"],
            "p_readmit_model": stays["p_readmit"],
            "readmitted_30d": stays["readmitted_30d"],
            "index_stay_key": stays["index_stay"],
            "stay_key": stays["stay_key"],  # PMSI realism (issue 10): target of index_stay_key
            "readmission_index": stays["readmission_index"],  # PMSI realism (issue 10)
        },
    )
    for name, f in (("ssr", ssr), ("had", had), ("psy", psy)):
        if len(f):
            truth.count(f"events.{name}_days", int((f["exit"] - f["entry"]).sum()))


def _write_referentials(
    config: SynthConfig, world: Any, ref: Reference, writer: Any, truth: Truth, raw: Path
) -> None:
    truth.count("rows.DA_PRA_R", practitioners(world, config.last_year, writer))
    truth.count("rows.BE_IDE_R", establishments(world, writer))
    truth.count("rows.IR_PHA_R", drug_referential(ref, writer))
    truth.count("rows.XX_GHM_R", ghm_referential(ref, writer))
    write_mco_establishments(world, writer, config.years)
    practitioner_truth(world, truth)
    truth.sections["abusive_providers"] = abuse_manifest(world)
    truth.sections["supply_effect"] = supply_manifest(config, world)


def _manifest(
    config: SynthConfig,
    world: Any,
    ref: Reference,
    calibration: _Calibration,
    files: dict[str, FileStats],
) -> dict[str, Any]:
    return {
        "sndslab_version": sndslab.__version__,
        "config": json.loads(config.model_dump_json()),
        "files": {
            name: {"table": f.table, "year": f.year, "rows": f.rows, "bytes": f.bytes}
            for name, f in sorted(files.items())
        },
        # completed with this run's power figures by record_falls_truth (truth.sections)
        "drug_effects": drug_effects_section(ref, config.patients, {}, warn=True),
        "readmission_model": {
            "outcome": "new MCO stay starting 1-30 days after the exit of an index stay "
            "(index stays: not ended by death, not CMD 28 sessions, not transferred out; "
            "sessions and transfers in are never readmissions)",
            "link": "logit",
            "intercept": config.truth.readmission_intercept,
            "coefficients": READMISSION_COEFFICIENTS,
            "note": "background stays can also fall within 30 days; truth/stays.parquet gives "
            "p_readmit_model and the observed readmitted_30d flag per stay",
        },
        "pmsi_structure": pmsi_structure_manifest(),
        "communities": {
            "n_communities": len(world.community_region),
            "loyalty": config.truth.community_loyalty,
            "definition": "practitioners of a département split into groups of ~4 GPs; "
            "specialists, nurses, physiotherapists and dentists of the département join one; "
            "each residence commune belongs to one community (patients of a département "
            "without GP join one of their region); patients choose providers in their "
            "community with probability `loyalty`, else in their département, region, France",
            "n_communities_by_departement": {
                str(world.territories.dep[d]): int(c)
                for d, c in zip(*np.unique(world.community_dep, return_counts=True), strict=True)
            },
        },
        "care": care_manifest(ref),
        "regional_differences": {
            "diabetes_rr": "departements.csv column diabetes_rr multiplies diabetes prevalence",
            "cardio_rr": "multiplies cardiovascular and respiratory prevalence",
            "gp_per_100k": "GP density per département",
        },
        "calibration": calibration.result(world, config.patients),
        "identifiers": identifier_manifest(),
        **manifest_section(config),
        "calendar": _time.manifest(config),
    }
