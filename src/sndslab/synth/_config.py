"""Configuration of the synthetic SNDS generator.

Every knob that changes the synthetic data lives here, with its default and meaning, so that a
run is fully described by one ``SynthConfig`` (its JSON is written to the output manifest).

>>> cfg = SynthConfig(patients=1000, first_year=2019, last_year=2020, seed=7)
>>> cfg.n_years
2
>>> cfg.artefacts.dpn_qlf_71_share
0.8
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

MIN_YEAR = 2010
MAX_YEAR = 2030


class ArtefactRates(BaseModel):
    """Rates of the documented SNDS data-quality artefacts injected into the raw tables.

    Each rate is a probability per eligible unit (line, stay, person); the realised counts are
    written to the truth manifest, so ingestion rules can be checked against them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    dpn_qlf_71_share: float = Field(
        0.8,
        ge=0,
        le=1,
        description="Share of public-hospital outpatient (ACE) visits that also reach DCIR as "
        "information-only lines (DPN_QLF = 71).",
    )
    ete_ind_taa_share: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Share of public-hospital MCO stays also billed directly in DCIR "
        "(ER_ETE_F.ETE_IND_TAA = 1 lines, duplicates of PMSI activity).",
    )
    regularisation_rate: float = Field(
        0.02,
        ge=0,
        le=1,
        description="Share of DCIR prestation lines cancelled by a later negative line "
        "(BSE_REM_SGN = 2); half of them are re-issued with a corrected amount.",
    )
    surcharge_share: float = Field(
        0.12,
        ge=0,
        le=1,
        description="Share of practitioner visits with a complement/surcharge line "
        "(CPL_MAJ_TOP = 2).",
    )
    pmsi_ret_error_rate: float = Field(
        0.01,
        ge=0,
        le=1,
        description="Share of PMSI stays/ACE bills with at least one chaining return code "
        "(NIR_RET, NAI_RET, SEX_RET, SEJ_RET, ...) different from '0'.",
    )
    ghm_error_rate: float = Field(
        0.003, ge=0, le=1, description="Share of MCO stays grouped in error (GRG_GHM '90…')."
    )
    finess_duplicate_rate: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Share of AP-HP / AP-HM / HCL PMSI records duplicated under a geographic "
        "FINESS of the same group.",
    )
    fictitious_nir_share: float = Field(
        0.004,
        ge=0,
        le=1,
        description="Share of outpatient visits billed under a fictitious NIR "
        "(BEN_CDI_NIR in 01/05/06/08/09/11, birth year often 1955).",
    )
    invalid_date_rate: float = Field(
        0.001,
        ge=0,
        le=1,
        description="Share of DCIR prestation lines with a missing or impossible care date "
        "(EXE_SOI_DTD empty, or after the flow date).",
    )
    late_flow_share: float = Field(
        0.015,
        ge=0,
        le=1,
        description="Share of DCIR décomptes processed late (rights regularised after the "
        "care, disputes, late invoices: 3 to 24 months after the care); the others are "
        "processed within days (electronic) or weeks (paper). FLX_DIS_DTD is the month after "
        "processing (sndslab.synth._quality.flow_lag_months).",
    )
    occupational_imb_share: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Extra IR_IMB_R rows for occupational accident/disease or invalidity "
        "(IMB_ETM_NAT 11/12/13), as a share of ALD rows.",
    )
    orphan_satellite_rate: float = Field(
        0.0005,
        ge=0,
        le=1,
        description="Share of DCIR prestation lines carrying a satellite (ER_PHA_F, ER_CAM_F, "
        "ER_BIO_F, ER_UCD_F) whose ER_PRS_F line is missing from the extract: their satellite "
        "rows (and ER_ETE_F row) are orphans. Regularised lines are never chosen.",
    )
    inter_establishment_rate: float = Field(
        0.01,
        ge=0,
        le=1,
        description="Share of MCO stays of one night or more during which the patient is sent "
        "to another establishment for an act or a session and comes back (prestation "
        "inter-établissements): the provider sends an extra record with ENT_MOD = SOR_MOD = "
        "'0' and SEJ_TYP = 'B', the requesting stay gets SEJ_TYP = 'A'.",
    )
    inter_establishment_session_share: float = Field(
        0.35,
        ge=0,
        le=1,
        description="Share of those inter-establishment records that are sessions (CMD 28: "
        "dialysis, chemotherapy, radiotherapy, transfusion, apheresis, hyperbaric oxygen).",
    )
    typ_gen_rsa_rate: float = Field(
        0.002,
        ge=0,
        le=1,
        description="Share of MCO and RIM-P records (from 2015, when TYP_GEN_RSA exists) "
        "generated automatically instead of from a discharge summary (TYP_GEN_RSA 1-3); "
        "chosen among records without another PMSI artefact.",
    )
    ir_ben_r_missing_rate: float = Field(
        0.005,
        ge=0,
        le=1,
        description="Share of persons with a single pseudonymous key whose key is absent from "
        "IR_BEN_R (their DCIR lines and PMSI records still carry it).",
    )
    family_rank_share_of_minors: float = Field(
        0.03,
        ge=0,
        le=1,
        description="Share of minors insured by a scheme where BEN_RNG_GEM is the rank in the "
        "family (MSA...): they share the BEN_NIR_PSA of an older or other-sex sibling, with "
        "rank 2. PMSI, which has no rank, can only tell them apart by sex and birth year.",
    )
    # --- standard ingest filters (issue 10 item 10; sndslab.synth._quality) -------------------
    bse_prs_nat_zero_share: float = Field(
        0.03,
        ge=0,
        le=1,
        description="Share of complement lines (CPL_MAJ_TOP = 2) written without a base "
        "prestation nature (BSE_PRS_NAT = 0; SCALPEL excludes them).",
    )
    cpl_aff_cod_16_share: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Share of the other complement lines carrying the refined complement "
        "code CPL_AFF_COD = 16 (excluded by sndsTools when counting consultations).",
    )
    dpn_qlf_72_share: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Share of retroceded-drug lines (ER_UCD_F) followed by an information "
        "copy with DPN_QLF = PRS_DPN_QLP = 72 (excluded by sndsTools for UCD).",
    )
    placeholder_nir_rate: float = Field(
        0.003,
        ge=0,
        le=1,
        description="Share of MCO records (without another artefact) whose NIR_ANO_17 is a "
        "placeholder (xxxxxxxxxxxxxxxxx or XXXXXXXXXXXXXXXXD).",
    )
    ghs_not_billed_rate: float = Field(
        0.003,
        ge=0,
        le=1,
        description="Share of MCO records (without another artefact) with the non-billed GHS 9999.",
    )
    abortion_ghm_rate: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Share of MCO records of women aged 15-49 of at most one night (without "
        "another artefact) that are abortions (GHM 14Z08Z, DP O04.9); SCALPEL excludes them.",
    )
    imb_missing_start_rate: float = Field(
        0.03,
        ge=0,
        le=1,
        description="Share of ALD rows of IR_IMB_R with an end date written without a start "
        "date (IMB_ALD_DTD empty; SCALPEL excludes them).",
    )
    # -- identity difficulties (issue 10 item 8; _population.inject_identity_difficulties) --
    nir_ano_missing_rate: float = Field(
        0.01,
        ge=0,
        le=1,
        description="Share of the regular-NIR keys of persons that carry no BEN_NIR_ANO in "
        "IR_BEN_R (BEN_IDT_ANO then falls back to BEN_NIR_PSA || BEN_RNG_GEM): such a key cannot "
        "be linked to the person's other keys.",
    )
    birth_sex_disagreement_rate: float = Field(
        0.03,
        ge=0,
        le=1,
        description="Share of persons with several keys whose non-main key records another "
        "birth year (±1, two thirds of cases) or the other sex (one third) in IR_BEN_R.",
    )
    psa_reused_rate: float = Field(
        0.004,
        ge=0,
        le=1,
        description="Share of adults whose main key reuses the BEN_NIR_PSA of another adult "
        "(a dependant on the rights-opener's PSA before the 2016 PUMa reform) with rank 2: two "
        "persons, two BEN_NIR_ANO, one PSA; PMSI, which has no rank, sees one NIR_ANO_17.",
    )
    pmsi_nir_unlinked_rate: float = Field(
        0.005,
        ge=0,
        le=1,
        description="Share of PMSI records whose NIR_ANO_17 (computed by the hospital from the "
        "insured's NIR, birth date and sex) matches no DCIR key although every return code is "
        "'0' (a typo in the hospital's identity data).",
    )
    pmsi_nir_wrong_key_rate: float = Field(
        0.003,
        ge=0,
        le=1,
        description="Share of PMSI records whose NIR_ANO_17 is the key of another person (the "
        "mother's for a newborn, another person of the same département otherwise).",
    )
    twin_share_of_minors: float = Field(
        0.022,
        ge=0,
        le=0.5,
        description="Share of minors present at the start who are same-sex twins sharing a "
        "BEN_NIR_PSA (ranks 1 and 2). About 1.7 % of births are twin births (INSEE), so ~3.3 % "
        "of children are twins, two thirds of them of the same sex.",
    )
    twin_birth_share: float = Field(
        0.017,
        ge=0,
        le=0.5,
        description="Share of births during the study that are twin deliveries (INSEE, état "
        "civil: ~17 per 1,000); a pair is of the same sex (same PSA, ranks 1 and 2) with "
        "probability 2/3.",
    )


class TruthSettings(BaseModel):
    """Injected ground truth that analyses are later scored against."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_communities_per_region: int = Field(
        0,
        ge=0,
        description="Practitioner communities per region; 0 = about one per 4 GPs.",
    )
    community_loyalty: float = Field(
        0.9,
        ge=0,
        le=1,
        description="Probability that a patient's GP or specialist is chosen inside the "
        "patient's community.",
    )
    abusive_provider_share: float = Field(
        0.01,
        ge=0,
        le=0.5,
        description="Share of eligible providers turned into abusive providers, per abuse "
        "type (upcoding: GPs; excess volume: GPs, nurses, physiotherapists; phantom "
        "patients: GPs, nurses; collusive GP-pharmacy pairs: GPs), at least one per type.",
    )
    readmission_intercept: float = Field(
        -3.8, description="Intercept of the logistic 30-day readmission model."
    )
    # -- open cohort (issue 10 items 3 and 8; _population.add_entrants) --
    births_per_1000: float = Field(
        11.0,
        ge=0,
        le=100,
        description="Births per 1,000 persons per year (INSEE, Bilan démographique 2019: "
        "753,000 births, 11.2 per 1,000). Mothers are women aged 15-49 of the chunk, weighted "
        "by age-specific fertility; the newborn enters the SNDS on its birth day.",
    )
    arrivals_per_1000: float = Field(
        4.0,
        ge=0,
        le=100,
        description="New affiliates per 1,000 persons per year (immigration and returns from "
        "abroad; INSEE estimates ~270,000 immigrant entries in 2019, ~4 per 1,000). They enter "
        "on their arrival day, with conditions already present.",
    )
    # -- geography, supply and demand (issue 10 items 2 and 7; _geography.py) --------------
    move_rate_per_year: float = Field(
        0.05,
        ge=0,
        le=0.5,
        description="Yearly probability that a person changes residence commune (at most one "
        "move over the period; INSEE: ~11 % change dwelling a year, a third within their "
        "commune).",
    )
    move_within_departement: float = Field(
        0.75,
        ge=0,
        le=1,
        description="Share of moves that stay in the département (the others go to another "
        "département of the same region).",
    )
    supply_gp_visits_per_100_gps: float = Field(
        0.5,
        ge=-5,
        le=5,
        description="Supply-induced demand: extra GP consultations per person per year per "
        "+100 GPs per 100,000 in the département (2015 Open DAMIR hackathon, 2013 data: "
        "about +0.5 once age is controlled).",
    )


class SynthConfig(BaseModel):
    """Parameters of one generator run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    patients: int = Field(..., ge=1, le=100_000_000, description="Number of persons.")
    first_year: int = Field(..., ge=MIN_YEAR, le=MAX_YEAR)
    last_year: int = Field(..., ge=MIN_YEAR, le=MAX_YEAR)
    seed: int = Field(0, ge=0, le=2**63 - 1)
    chunk_size: int = Field(
        10_000, ge=100, le=5_000_000, description="Persons generated per chunk (memory bound)."
    )
    compress: bool = Field(False, description="Write .csv.gz instead of .csv.")
    artefacts: ArtefactRates = Field(default_factory=lambda: ArtefactRates())
    truth: TruthSettings = Field(default_factory=lambda: TruthSettings())

    @model_validator(mode="after")
    def _years_ordered(self) -> SynthConfig:
        if self.first_year > self.last_year:
            raise ValueError(f"first year {self.first_year} is after last year {self.last_year}")
        return self

    @property
    def n_years(self) -> int:
        """Number of calendar years of care simulated."""
        return self.last_year - self.first_year + 1

    @property
    def years(self) -> list[int]:
        """The calendar years of care simulated."""
        return list(range(self.first_year, self.last_year + 1))
