"""DCIR and PMSI families derived from the registry's foreign keys."""

from __future__ import annotations

from sndslab.registry import PmsiFamily, dcir_satellites, list_tables, pmsi_families

#: The hand-written copy sndslab.ingest._rules held before the derivation (expected truth).
HAND_WRITTEN_DCIR_SATELLITES: dict[str, str | None] = {
    "ER_PHA_F": "PHA_PRS_C13",
    "ER_CAM_F": "CAM_PRS_IDE",
    "ER_BIO_F": "BIO_PRS_IDE",
    "ER_UCD_F": "UCD_UCD_COD",
    "ER_ETE_F": None,
    "ER_ARO_F": None,
    "ER_TIP_F": None,
}

HAND_WRITTEN_PMSI_FAMILIES: dict[str, PmsiFamily] = {
    "mco": PmsiFamily(
        parent="T_MCOaaB",
        deciders=("T_MCOaaB", "T_MCOaaC"),
        children=("T_MCOaaC", "T_MCOaaD", "T_MCOaaA", "T_MCOaaUM"),
        key=("ETA_NUM", "RSA_NUM"),
    ),
    "ace": PmsiFamily(
        parent="T_MCOaaFASTC",
        deciders=("T_MCOaaFASTC", "T_MCOaaCSTC"),
        children=("T_MCOaaCSTC", "T_MCOaaFBSTC", "T_MCOaaFCSTC", "T_MCOaaFMSTC"),
        key=("ETA_NUM", "SEQ_NUM"),
    ),
    "ssr": PmsiFamily(
        parent="T_SSRaaB",
        deciders=("T_SSRaaB", "T_SSRaaC"),
        children=("T_SSRaaC", "T_SSRaaD", "T_SSRaaCSARR", "T_SSRaaCCAM"),
        key=("ETA_NUM", "RHA_NUM"),
    ),
    "had": PmsiFamily(
        parent="T_HADaaB",
        deciders=("T_HADaaB", "T_HADaaC"),
        children=("T_HADaaC", "T_HADaaD", "T_HADaaA"),
        key=("ETA_NUM_EPMSI", "RHAD_NUM"),
    ),
    "rip": PmsiFamily(
        parent="T_RIPaaRSA",
        deciders=("T_RIPaaRSA", "T_RIPaaC"),
        children=("T_RIPaaC",),
        key=("ETA_NUM_EPMSI", "RIP_NUM"),
    ),
}


def test_dcir_satellites_equal_the_hand_written_copy() -> None:
    """Equal on every registry table; ER_ARO_F and ER_TIP_F have no registry spec, so they
    could never be staged (and never reached the rules) and drop out of the derivation."""
    known = set(list_tables())
    assert {"ER_ARO_F", "ER_TIP_F"}.isdisjoint(known)
    expected = {t: c for t, c in HAND_WRITTEN_DCIR_SATELLITES.items() if t in known}
    assert dict(dcir_satellites()) == expected
    assert list(dcir_satellites()) == sorted(expected)


def test_pmsi_families_equal_the_hand_written_copy() -> None:
    """Keyed by parent table and sorted (children sorted by name); otherwise identical."""
    expected = {
        f.parent: f.model_copy(update={"children": tuple(sorted(f.children))})
        for f in HAND_WRITTEN_PMSI_FAMILIES.values()
    }
    derived = pmsi_families()
    assert list(derived) == sorted(expected)
    assert dict(derived) == expected


def test_families_are_cached_and_read_only() -> None:
    assert dcir_satellites() is dcir_satellites()
    assert pmsi_families() is pmsi_families()
    try:
        dcir_satellites()["X"] = None  # type: ignore[index]
    except TypeError:
        pass
    else:  # pragma: no cover
        raise AssertionError("dcir_satellites() is writable")
