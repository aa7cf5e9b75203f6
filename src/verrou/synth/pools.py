"""Pools of French names, streets and communes, built once per seed (Faker ``fr_FR`` plus
hand-written lists for what Faker lacks: compound given names, particles, Œ/Æ, real communes)."""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

_COMPOUND_MALE = (
    "Jean-François",
    "Jean-Pierre",
    "Jean-Marc",
    "Jean-Luc",
    "Jean-Claude",
    "Jean-Michel",
    "Jean-Baptiste",
    "Pierre-Yves",
    "Marc-Antoine",
    "Paul-Henri",
    "Jean-Noël",
    "Louis-Émile",
)
_COMPOUND_FEMALE = (
    "Marie-Claire",
    "Marie-Christine",
    "Anne-Sophie",
    "Marie-Laure",
    "Anne-Marie",
    "Marie-Hélène",
    "Marie-Noëlle",
    "Marie-Thérèse",
    "Marie-Ève",
    "Lætitia",
    "Cœlie",
    "Anne-Lætitia",
)
_LIGATURE_FAMILY = ("Cœur", "Lœuillet", "Le Bœuf", "Cœurdevey", "Œillet", "Sœur", "Lætitia-Roux")
_PARTICLE_FAMILY = ("de La Fontaine", "de Villiers", "du Pont", "de Gaulle", "d'Estaing", "d'Arc")

_STREET_NAMES = (
    "Victor Hugo",
    "Jean Jaurès",
    "de la République",
    "du Général de Gaulle",
    "Pasteur",
    "de la Gare",
    "des Lilas",
    "du Moulin",
    "de l'Église",
    "Émile Zola",
    "Jean Moulin",
    "Gambetta",
    "Voltaire",
    "de la Paix",
    "Nationale",
    "des Écoles",
    "du Château",
    "Anatole France",
    "Georges Clemenceau",
    "du Maréchal Foch",
    "de Verdun",
    "Saint-Exupéry",
    "des Tilleuls",
    "Pierre et Marie Curie",
    "Aristide Briand",
    "de la Libération",
    "du 8 Mai 1945",
    "Louis Pasteur",
    "de Bretagne",
    "des Acacias",
)
#: (full word, abbreviation or the full word again, weight)
_STREET_TYPES = (
    ("rue", "rue", 50),
    ("avenue", "av.", 14),
    ("boulevard", "bd", 8),
    ("place", "pl.", 5),
    ("allée", "all.", 5),
    ("chemin", "chem.", 6),
    ("impasse", "imp.", 5),
    ("route", "rte", 5),
    ("quai", "quai", 2),
)
#: Real communes (postcode, name), overseas included.
_COMMUNES = (
    ("75011", "Paris"),
    ("75015", "Paris"),
    ("75018", "Paris"),
    ("13008", "Marseille"),
    ("69003", "Lyon"),
    ("31000", "Toulouse"),
    ("06000", "Nice"),
    ("44000", "Nantes"),
    ("67000", "Strasbourg"),
    ("34000", "Montpellier"),
    ("33000", "Bordeaux"),
    ("59000", "Lille"),
    ("35000", "Rennes"),
    ("51100", "Reims"),
    ("42000", "Saint-Étienne"),
    ("83000", "Toulon"),
    ("38000", "Grenoble"),
    ("21000", "Dijon"),
    ("49000", "Angers"),
    ("30000", "Nîmes"),
    ("63000", "Clermont-Ferrand"),
    ("72000", "Le Mans"),
    ("29200", "Brest"),
    ("37000", "Tours"),
    ("80000", "Amiens"),
    ("87000", "Limoges"),
    ("74000", "Annecy"),
    ("66000", "Perpignan"),
    ("57000", "Metz"),
    ("25000", "Besançon"),
    ("45000", "Orléans"),
    ("76000", "Rouen"),
    ("14000", "Caen"),
    ("54000", "Nancy"),
    ("93200", "Saint-Denis"),
    ("92100", "Boulogne-Billancourt"),
    ("68100", "Mulhouse"),
    ("95100", "Argenteuil"),
    ("64000", "Pau"),
    ("17000", "La Rochelle"),
    ("20000", "Ajaccio"),
    ("20200", "Bastia"),
    ("97400", "Saint-Denis"),
    ("97410", "Saint-Pierre"),
    ("97110", "Pointe-à-Pitre"),
    ("97200", "Fort-de-France"),
    ("97300", "Cayenne"),
    ("97600", "Mamoudzou"),
    ("22000", "Saint-Brieuc"),
    ("56000", "Vannes"),
    ("85000", "La Roche-sur-Yon"),
    ("62100", "Calais"),
    ("71100", "Chalon-sur-Saône"),
    ("26000", "Valence"),
    ("84000", "Avignon"),
    ("11100", "Narbonne"),
    ("40100", "Dax"),
    ("02100", "Saint-Quentin"),
    ("08000", "Charleville-Mézières"),
    ("90000", "Belfort"),
    ("41000", "Blois"),
    ("12000", "Rodez"),
    ("24000", "Périgueux"),
    ("50100", "Cherbourg-en-Cotentin"),
    ("73000", "Chambéry"),
    ("88000", "Épinal"),
    ("28000", "Chartres"),
    ("60200", "Compiègne"),
    ("77100", "Meaux"),
    ("94000", "Créteil"),
)
_EMAIL_DOMAINS = (
    ("gmail.com", 30),
    ("orange.fr", 18),
    ("free.fr", 10),
    ("laposte.net", 7),
    ("sfr.fr", 7),
    ("hotmail.fr", 10),
    ("wanadoo.fr", 7),
    ("yahoo.fr", 8),
    ("outlook.fr", 3),
)
#: French banks (code banque) for IBANs.
_BANK_CODES = (
    30004,
    30003,
    30002,
    20041,
    10278,
    11306,
    16006,
    30066,
    10107,
    18206,
    13807,
    17515,
    30056,
    14505,
    12548,
)
#: Countries of birth (INSEE codes) for people born abroad (NIR department 99).
_BIRTH_COUNTRIES = (350, 352, 351, 139, 134, 127, 109, 212, 330, 341, 243, 135, 132)

#: Phone number ranges, as national significant numbers (no trunk 0) whose remaining digits up to
#: nine are free, per phonenumbers' metadata: (prefix, region, weight). Overseas numbers are written
#: in national format, so they must be parsed with their own region.
_PHONE_RANGES: tuple[tuple[str, str, float], ...] = (
    *((f"6{d}", "FR", 5.0) for d in "01245678"),
    *((f"7{d}", "FR", 2.8) for d in "3456789"),
    ("1", "FR", 9.0),
    *((f"2{d}", "FR", 1.0) for d in "01234578"),
    ("3", "FR", 8.0),
    *((f"4{d}", "FR", 0.9) for d in "123456789"),
    *((f"5{d}", "FR", 0.9) for d in "012345678"),
    *((f"262{d}", "RE", 0.1) for d in "23456789"),
    ("692", "RE", 1.2),
    ("5909", "GP", 0.4),
    ("690", "GP", 0.8),
    *((f"596{d}", "MQ", 0.1) for d in "034567"),
    ("696", "MQ", 0.4),
    ("697", "MQ", 0.4),
    *((f"594{d}", "GF", 0.08) for d in "02349"),
    *((f"694{d}", "GF", 0.1) for d in "01249"),
    ("2696", "YT", 0.2),
    *((f"639{d}", "YT", 0.1) for d in "267"),
)

_EMAIL_SEPARATORS = (".", "", "_")
#: Email local-part layouts: (first: 0 given / 1 initial / 2 family, separator index,
#: second: same codes, suffix: 0 none / 1 birth year yy / 2 random number / 3 ".yyyy", weight).
_EMAIL_LAYOUTS = (
    (0, 0, 2, 0, 35),  # jean.dupont
    (0, 0, 2, 1, 12),  # jean.dupont84
    (1, 1, 2, 0, 12),  # jdupont
    (0, 1, 2, 0, 8),  # jeandupont
    (2, 0, 0, 0, 5),  # dupont.jean
    (0, 0, 2, 2, 13),  # jean.dupont212
    (1, 0, 2, 2, 5),  # j.dupont7
    (0, 2, 2, 0, 5),  # jean_dupont
    (0, 0, 2, 3, 5),  # jean.dupont.1984
)

_ALNUM = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", dtype=np.uint8)
_LETTERS = _ALNUM[:26]


def fold_accents(text: str) -> str:
    """Drop diacritics and expand ligatures (Œ→OE, æ→ae): how a careless export respells names."""
    text = (
        text.replace("œ", "oe").replace("Œ", "OE").replace("æ", "ae").replace("Æ", "AE")
    ).replace("ß", "ss")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _email_part(name: str) -> str:
    """Lower-case ASCII form of a name for an email local part (letters and hyphens only)."""
    folded = fold_accents(name).lower()
    return "".join(ch for ch in folded if ch.isascii() and (ch.isalnum() or ch == "-"))


@dataclass(frozen=True)
class _Pool:
    """Display strings with their email-ready folded form and initial."""

    display: pa.Array
    folded: pa.Array
    initial: pa.Array
    size: int

    @classmethod
    def of(cls, names: Sequence[str]) -> _Pool:
        folded = [_email_part(n) for n in names]
        return cls(
            display=pa.array(list(names), pa.string()),
            folded=pa.array(folded, pa.string()),
            initial=pa.array([f[0] for f in folded], pa.string()),
            size=len(names),
        )


@dataclass(frozen=True)
class _Pools:
    given: _Pool  # male names first, then female
    male_count: int
    female_count: int
    family: _Pool
    streets: pa.Array
    street_count: int
    postcodes: pa.Array
    cities: pa.Array
    domains: pa.Array
    domain_p: npt.NDArray[np.float64]


def _unique(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _build_pools(seed: int) -> _Pools:
    """Name, street and commune pools, built once per seed."""
    from faker import Faker
    from faker.providers.person.fr_FR import Provider as PersonProvider

    fake = Faker("fr_FR")
    fake.seed_instance(seed)
    pick = random.Random(seed)

    male = _unique(list(PersonProvider.first_names_male) * 3 + list(_COMPOUND_MALE) * 2)
    female = _unique(
        [n for n in PersonProvider.first_names_female if n not in {"Alex", "Nath", "Maggie"}]
    )
    # Weight compounds and ligatures up by repeating them (pools are sampled uniformly).
    male_pool = male + list(_COMPOUND_MALE) * 3
    female_pool = female + list(_COMPOUND_FEMALE) * 3

    base_family = _unique(PersonProvider.last_names)
    family = list(base_family) * 2
    family += list(_LIGATURE_FAMILY) * 2 + list(_PARTICLE_FAMILY) * 2
    family += [f"de {n}" for n in pick.sample(base_family, 40)]
    family += [f"d'{n}" for n in base_family if n[0] in "AEIOUÉ" and " " not in n][:15]
    family += [f"Le {n}" for n in pick.sample(base_family, 20) if " " not in n]
    family += [
        f"{a}-{b}"
        for a, b in zip(pick.sample(base_family, 60), pick.sample(base_family, 60), strict=True)
    ]
    family += [
        f"{a} {b}"
        for a, b in zip(pick.sample(base_family, 20), pick.sample(base_family, 20), strict=True)
    ]
    pick.shuffle(family)

    streets: list[str] = []
    names = list(_STREET_NAMES) + [f"de {fake.last_name()}" for _ in range(40)]
    names += [fake.name() for _ in range(30)]
    type_weights = [w for _, _, w in _STREET_TYPES]
    for _ in range(3000):
        full, abbr, _w = pick.choices(_STREET_TYPES, weights=type_weights)[0]
        word = abbr if pick.random() < 0.25 else full
        streets.append(f"{word} {pick.choice(names)}")

    domain_w = np.array([w for _, w in _EMAIL_DOMAINS], dtype=np.float64)
    return _Pools(
        given=_Pool.of(male_pool + female_pool),
        male_count=len(male_pool),
        female_count=len(female_pool),
        family=_Pool.of(family),
        streets=pa.array(streets, pa.string()),
        street_count=len(streets),
        postcodes=pa.array([p for p, _ in _COMMUNES], pa.string()),
        cities=pa.array([c for _, c in _COMMUNES], pa.string()),
        domains=pa.array([d for d, _ in _EMAIL_DOMAINS], pa.string()),
        domain_p=domain_w / domain_w.sum(),
    )
