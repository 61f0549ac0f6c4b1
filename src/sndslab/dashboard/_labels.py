"""French (default) and English labels of the dashboard, and territory names.

>>> t("map", "fr"), t("map", "en")
('Carte', 'Map')
>>> to_geo_code("departement", "02A"), to_geo_code("departement", "075")
('2A', '75')
>>> to_geo_code("region", "11")
'11'
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "LANGS",
    "OVERSEAS",
    "SUPPRESSED",
    "VIEWS",
    "geojson",
    "t",
    "territory_name",
    "to_geo_code",
]

LANGS = ("fr", "en")
VIEWS = ("map", "series", "pyramid", "funnel", "ranking", "pathways")

#: How a suppressed cell is shown, everywhere (never as 0).
SUPPRESSED = {"fr": "secret statistique", "en": "statistical secrecy (secret statistique)"}

_TEXT: dict[str, tuple[str, str]] = {
    "title": ("Indicateurs territoriaux de santé", "Territorial health indicators"),
    "lang": ("Langue", "Language"),
    "indicator": ("Indicateur", "Indicator"),
    "level": ("Niveau géographique", "Geographic level"),
    "departement": ("Départements", "Départements"),
    "region": ("Régions", "Régions"),
    "period": ("Année", "Year"),
    "sex": ("Sexe", "Sex"),
    "sex_all": ("Ensemble", "Both sexes"),
    "sex_1": ("Hommes", "Men"),
    "sex_2": ("Femmes", "Women"),
    "territory": ("Territoire", "Territory"),
    "france": ("France entière", "France"),
    "measure": ("Mesure", "Measure"),
    "rate": ("Taux brut", "Crude rate"),
    "std_rate": ("Taux standardisé", "Age-standardised rate"),
    "view": ("Vue", "View"),
    "map": ("Carte", "Map"),
    "series": ("Évolution", "Time series"),
    "pyramid": ("Pyramide âge-sexe", "Age-sex pyramid"),
    "funnel": ("Entonnoir", "Funnel plot"),
    "ranking": ("Classement", "Ranking"),
    "pathways": ("Parcours de soins", "Care pathways"),
    "pathway": ("Parcours", "Pathway"),
    "download": ("Télécharger les données affichées (CSV)", "Download the data shown (CSV)"),
    "permalink": ("Lien permanent vers cette sélection", "Permalink to this selection"),
    "definition": ("Définition", "Definition"),
    "source": ("Source", "Source"),
    "population": ("Population", "Population"),
    "standardisation": ("Standardisation", "Standardisation"),
    "unit": ("Unité", "Unit"),
    "release": ("Publication", "Release"),
    "not_given": ("non renseigné dans cette publication", "not given in this release"),
    "suppressed_cells": (
        "cellule(s) sous le seuil ou masquée(s) : « secret statistique » (jamais 0)",
        "cell(s) below the threshold or hidden: « secret statistique » (never 0)",
    ),
    "per": ("pour", "per"),
    "attribution": (
        "Fond de carte : IGN Admin Express, via gregoiredavid/france-geojson (Licence Ouverte)",
        "Base map: IGN Admin Express, via gregoiredavid/france-geojson (Licence Ouverte)",
    ),
    "overseas": (
        "Les départements et régions d'outre-mer ne sont pas dessinés (fond de carte "
        "métropolitain) ; leurs valeurs sont dans le classement :",
        "Overseas départements and régions are not drawn (metropolitan base map only); "
        "their values are in the ranking:",
    ),
    "no_pathway": (
        "Aucun parcours de soins publié dans ce dossier (pas de table pathways__transitions).",
        "No care pathway released in this folder (no pathways__transitions table).",
    ),
    "no_pathway_here": (
        "Ce parcours n'est pas publié pour ce territoire et cette année.",
        "This pathway is not released for this territory and year.",
    ),
    "pathway_cohort_secret": (
        "Secret statistique : la cohorte de ce territoire compte moins de personnes que le "
        "seuil ; aucune branche n'est publiée.",
        "Statistical secrecy (secret statistique): this territory's cohort is below the "
        "threshold; no branch is released.",
    ),
    "pathway_wider": (
        "Choisir un territoire plus large (région, France).",
        "Choose a wider territory (région, France).",
    ),
    "pathway_secret": (
        "{n} branche(s) sous {label} : regroupées en gris (la branche moins ses sous-branches "
        "publiées), jamais affichées comme 0.",
        "{n} branch(es) under {label}: grouped in grey (the branch minus its released "
        "sub-branches), never shown as 0.",
    ),
    "pathway_year": (
        "Parcours non publié pour {asked} : dernière année publiée ({year}) affichée.",
        "Pathway not released for {asked}: latest released year ({year}) shown.",
    ),
    "no_age": (
        "Pas de table âge-sexe publiée pour cet indicateur.",
        "No age-sex table released for this indicator.",
    ),
    "no_std": (
        "Pas de taux standardisé pour cet indicateur : taux brut affiché.",
        "No standardised rate for this indicator: crude rate shown.",
    ),
    "pyramid_region": (
        "Pyramide de la région {region} (les tables âge-sexe sont publiées par région).",
        "Pyramid of région {region} (age-sex tables are released by région).",
    ),
    "france_ref": ("France (référence)", "France (reference)"),
    "limit95": ("Limites à 95 %", "95 % limits"),
    "limit998": ("Limites à 99,8 %", "99.8 % limits"),
    "its_break": ("Rupture (série interrompue)", "Break (interrupted time series)"),
    "its_level": (
        "Série interrompue au {date} : rapport de taux au niveau {rr} [{lo} ; {hi}]",
        "Interrupted time series at {date}: level rate ratio {rr} [{lo}; {hi}]",
    ),
    "its_not": (
        "Série interrompue non calculée : des mois sont sous secret statistique.",
        "Interrupted time series not computed: some months are under statistical secrecy.",
    ),
    "unknown": (
        "{what} inconnu(e) dans l'adresse : « {value} » ; {fallback} affiché(e) à la place.",
        "Unknown {what} in the URL: “{value}”; {fallback} shown instead.",
    ),
    "rank": ("Rang", "Rank"),
    "name": ("Territoire", "Territory"),
    "code": ("Code", "Code"),
    "value": ("Valeur", "Value"),
    "ci": ("IC 95 %", "95 % CI"),
    "numerator": ("Numérateur", "Numerator"),
    "denominator": ("Dénominateur", "Denominator"),
    "persons": ("Personnes", "Persons"),
    "men": ("Hommes", "Men"),
    "women": ("Femmes", "Women"),
    "skip": ("Aller au contenu", "Skip to content"),
    "warning": ("Avertissement", "Warning"),
}


def t(key: str, lang: str) -> str:
    """The label ``key`` in ``lang`` (``fr`` or ``en``)."""
    fr, en = _TEXT[key]
    return en if lang == "en" else fr


_OVERSEAS_DEPTS = {
    "971": "Guadeloupe",
    "972": "Martinique",
    "973": "Guyane",
    "974": "La Réunion",
    "975": "Saint-Pierre-et-Miquelon",
    "976": "Mayotte",
}
_OVERSEAS_REGIONS = {
    "1": "Guadeloupe",
    "2": "Martinique",
    "3": "Guyane",
    "4": "La Réunion",
    "6": "Mayotte",
}
#: Codes (as released) of the territories the vendored base map does not draw.
OVERSEAS = {"departement": set(_OVERSEAS_DEPTS), "region": set(_OVERSEAS_REGIONS)}


def to_geo_code(level: str, code: str) -> str:
    """The GeoJSON ``code`` of a released territory code (départements are released on three
    characters, ``075``; the base map uses the INSEE code, ``75``)."""
    if level == "departement" and len(code) == 3 and code.startswith("0"):
        return code[1:]
    return code


@cache
def geojson(level: str) -> dict[str, Any]:
    """The vendored base map of ``level`` (département or région), metropolitan France."""
    name = "departements.geojson" if level == "departement" else "regions.geojson"
    text = resources.files("sndslab.referentials").joinpath("geo", name).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def _names(level: str) -> dict[str, str]:
    names = {f["properties"]["code"]: f["properties"]["nom"] for f in geojson(level)["features"]}
    names.update(_OVERSEAS_DEPTS if level == "departement" else _OVERSEAS_REGIONS)
    return names


def territory_name(level: str, code: str, lang: str = "fr") -> str:
    """``"Hérault (34)"``; ``ALL`` is France."""
    if code == "ALL":
        return t("france", lang)
    name = _names(level).get(to_geo_code(level, code)) or _names(level).get(code)
    return f"{name} ({code})" if name else code
