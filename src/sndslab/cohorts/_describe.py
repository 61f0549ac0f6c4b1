"""A cohort, set operation or comparison spec as a readable Markdown description (what a
protocol's "study population" section says), from the spec alone: no data, no counts.

>>> from sndslab.cohorts import load_cohort
>>> text = describe(load_cohort("hip_fracture_65_plus"))
>>> print(text.splitlines()[0])
# Cohort `hip_fracture_65_plus`
>>> "excluded if at least 1 event(s) of hip_fracture_any_position in [-365, -1]" in text
True
"""

from __future__ import annotations

from sndslab.cohorts._spec import CohortSpec, ConceptSet, SetOperationSpec, Spec
from sndslab.cohorts._table_one import ComparisonSpec

__all__ = ["describe"]


def _concept(name: str, cs: ConceptSet) -> str:
    codes, exclude = cs.entries()
    what = ", ".join(f"`{c}`" for c in codes) or "any code"
    if cs.code_set is not None:
        what = f"code set `{cs.code_set}` ({what})"
    bits = [what]
    if cs.descendants:
        bits.append("and every code one of whose parents matches")
    if exclude:
        bits.append("except " + ", ".join(f"`{c}`" for c in exclude))
    if cs.categories:
        bits.append("events of category " + ", ".join(c.value for c in cs.categories))
    if cs.modifiers:
        bits.append("with modifier " + ", ".join(cs.modifiers))
    head = f"- **{name}**"
    if cs.description:
        head += f" ({cs.description})"
    return head + ": " + "; ".join(bits)


def _cohort(spec: CohortSpec, level: int) -> list[str]:
    h = "#" * level
    obs, dem = spec.observation, spec.demographics
    lines = [f"{h} Cohort `{spec.name}`", ""]
    if spec.description:
        lines += [spec.description.strip(), ""]
    if spec.source:
        lines += [f"*Source:* {spec.source.strip()}", ""]
    if spec.concept_sets:
        lines += [f"{h}# Concept sets", ""]
        lines += [_concept(n, cs) for n, cs in spec.concept_sets.items()] + [""]
    lines += [f"{h}# Entry", ""]
    if spec.index.date is not None:
        lines.append(f"- Index date: {spec.index.date} for every person of the lake.")
    else:
        which = "first (earliest in the lake)" if spec.index.occurrence == "first" else "every"
        lines.append(f"- Index: the {which} event of **{spec.index.concept_set}**.")
    lines.append(f"- The index date lies between {obs.study_start} and {obs.study_end}.")
    if spec.prior_days:
        lines.append(
            f"- At least {spec.prior_days} days of data before index (data from "
            f"{obs.first_data_day})."
        )
    lines.append("- Alive at index.")
    if dem.min_age is not None or dem.max_age is not None:
        lo = dem.min_age if dem.min_age is not None else 0
        hi = f"to {dem.max_age}" if dem.max_age is not None else "or more"
        lines.append(f"- Aged {lo} {hi} at index (full years).")
    if dem.sex:
        lines.append("- Sex: " + " or ".join({1: "male", 2: "female"}[s] for s in dem.sex) + ".")
    if dem.regions:
        lines.append(f"- Résidence in région {', '.join(dem.regions)}.")
    if dem.departements:
        lines.append(f"- Résidence in département {', '.join(dem.departements)}.")
    if spec.criteria():
        lines += ["", f"{h}# Criteria (in the order applied)", ""]
        for i, c in enumerate(spec.criteria(), start=1):
            lines.append(f"{i}. *{c.kind}* **{c.name}**: {c.describe()}.")
    lines += ["", f"{h}# Observation", ""]
    end = [f"the study end ({obs.study_end})", "the death"]
    if obs.loss_after_days is not None:
        end.append(
            f"the last care before {obs.loss_after_days} days without any care (lost to follow-up)"
        )
    lines.append(
        f"Observed from {obs.study_start} (or birth) until the earliest of {', '.join(end)}."
    )
    return [*lines, ""]


def _set(spec: SetOperationSpec, level: int) -> list[str]:
    h = "#" * level
    what = {
        "union": "persons in at least one of",
        "intersection": "persons in every one of",
        "difference": "persons of the first cohort in none of the others among",
    }[spec.operation]
    lines = [f"{h} Cohort `{spec.name}` ({spec.operation})", ""]
    if spec.description:
        lines += [spec.description.strip(), ""]
    lines += [f"The {what}: " + ", ".join(f"`{m}`" for m in spec.of) + ".", ""]
    for m in spec.members:
        lines += _render(m, level + 1)
    return lines


def _render(spec: Spec, level: int) -> list[str]:
    return _set(spec, level) if isinstance(spec, SetOperationSpec) else _cohort(spec, level)


def describe(spec: Spec | ComparisonSpec) -> str:
    """Markdown description of a cohort, a set operation (with its members) or a comparison
    (its groups and the characteristics of its Table 1)."""
    if isinstance(spec, ComparisonSpec):
        lines = [f"# Comparison `{spec.name}`", ""]
        if spec.description:
            lines += [spec.description.strip(), ""]
        lines += ["## Characteristics at index (Table 1)", ""]
        lines.append(
            "- Age (mean, SD; bands " + ", ".join(str(a) for a in spec.age_bands) + "), sex, "
            "région of résidence."
        )
        for c in spec.characteristics:
            lines.append(
                f"- **{c.name}**: at least one event of {c.concept_set} in "
                f"[{c.window[0]}, {c.window[1]}] days."
            )
        if spec.ald:
            lines.append("- An ALD (long-term condition) in force at index.")
        if spec.concept_sets:
            lines += ["", "## Concept sets", ""]
            lines += [_concept(n, cs) for n, cs in spec.concept_sets.items()]
        lines += ["", "Standardised mean differences: Austin, Stat Med 2009;28:3083-3107.", ""]
        for g in spec.group_specs():
            lines += _render(g, 2)
        return "\n".join(lines).rstrip() + "\n"
    return "\n".join(_render(spec, 1)).rstrip() + "\n"
