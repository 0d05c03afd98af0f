"""What each feature column means: :data:`FEATURE_SPEC`, its YAML rendering, and typing by it.

``models/features.yaml`` is generated from :data:`FEATURE_SPEC` by :func:`feature_spec_yaml`
(a test keeps the two in sync); :func:`typed_frame` assembles a feature frame in spec order with the
spec's dtypes, for the real night and for rule examples alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import pandas as pd

FeatureType = Literal["bool", "int", "float", "str", "date"]
FeatureUse = Literal["evidence", "protection_only", "companion_of_minor", "monitoring"]


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    """What one column of the feature table means.

    Attributes:
        name: dotted path, the column name (``booking.one_way``).
        type: ``bool``, ``int``, ``float``, ``str`` or ``date``.
        unit: unit of measure (``hours``, ``days``, ``count``, ``probability``) or ``""``.
        description: one sentence a person can read.
        use: ``evidence`` (any rule or model may read it), ``protection_only`` (derived from age:
            only protection-track rules may read it), ``companion_of_minor`` (a companion's minor
            status, the Palermo Protocol exception of :mod:`apiflag.features.relations`: only
            examination-track rules may read it, no model) or ``monitoring`` (a protected
            attribute, kept for fairness monitoring; no rule or model may read it).
    """

    name: str
    type: FeatureType
    unit: str
    description: str
    use: FeatureUse = "evidence"

    @property
    def protected(self) -> bool:
        """True for protected attributes and the features derived from them (age)."""
        return self.use != "evidence"


def _f(
    name: str, type_: FeatureType, unit: str, description: str, use: FeatureUse = "evidence"
) -> FeatureSpec:
    return FeatureSpec(name, type_, unit, description, use)


FEATURE_SPEC: tuple[FeatureSpec, ...] = (
    # traveller
    _f(
        "traveller.role",
        "str",
        "",
        "passenger, crew, transit_passenger or transit_crew (PAXLST NAD).",
    ),
    _f("traveller.is_crew", "bool", "", "True for crew and transit crew."),
    _f(
        "traveller.is_payer",
        "bool",
        "",
        "The booking's payer is this traveller (surname words and a given name agree); null when "
        "no payer is named.",
    ),
    _f(
        "traveller.is_minor",
        "bool",
        "",
        "Under 18 on the arrival night (API date of birth, else the PNR's), or of unknown age: "
        "may be a minor (apiflag.minors decides); the Protocol's child.",
        "protection_only",
    ),
    _f(
        "traveller.age_band",
        "str",
        "years",
        "Age band on the arrival night (0-11, 12-17, 18-24, 25-34, 35-49, 50-64, 65+).",
        "monitoring",
    ),
    _f("traveller.age", "int", "years", "Age in whole years on the arrival night.", "monitoring"),
    _f("traveller.sex", "str", "", "Sex as declared (M, F, X, U).", "monitoring"),
    _f("traveller.nationality", "str", "", "Nationality (ISO 3166 alpha-3).", "monitoring"),
    _f("traveller.date_of_birth", "date", "", "Date of birth.", "monitoring"),
    _f("traveller.place_of_birth", "str", "", "Place of birth as declared.", "monitoring"),
    _f("traveller.country_of_residence", "str", "", "Country of residence.", "monitoring"),
    _f(
        "traveller.case_match_probability",
        "float",
        "probability",
        "Highest case-database match probability for this traveller (0 when matching ran and "
        "found nothing; null when it did not run).",
    ),
    _f(
        "traveller.case_match_role",
        "str",
        "",
        "Role of the best-matching case person (perpetrator, broker, recruiter, employer, victim).",
    ),
    _f("traveller.case_match_case_id", "str", "", "Case id of the best match."),
    _f(
        "traveller.case_match_victim_probability",
        "float",
        "probability",
        "Highest match probability to a former-victim record (protection only).",
    ),
    _f(
        "traveller.case_match_offender_probability",
        "float",
        "probability",
        "Highest match probability to a case person who is not a victim (perpetrator, broker, "
        "recruiter, employer).",
    ),
    _f(
        "traveller.case_match_protection_only",
        "bool",
        "",
        "The best match may only raise a protection flag (a former victim record).",
    ),
    # booking
    _f(
        "booking.lead_time_hours",
        "float",
        "hours",
        "Hours from booking creation (RCI) to the flight's scheduled departure.",
    ),
    _f(
        "booking.one_way",
        "bool",
        "",
        "The booking's itinerary has no leg departing after this flight arrives (no onward or "
        "return travel booked); null without an itinerary.",
    ),
    _f(
        "booking.stay_days",
        "float",
        "days",
        "Days from this flight's arrival to the first later leg's departure; null if one-way.",
    ),
    _f("booking.payment_cash", "bool", "", "A form of payment is cash (FOP CA)."),
    _f("booking.payer_known", "bool", "", "A payer or card holder name is given (IFT 4:43)."),
    _f(
        "booking.payer_travelling",
        "bool",
        "",
        "The payer's name is one of the booking's travellers (surname and a given name agree); "
        "null when no payer is named.",
    ),
    _f(
        "booking.payer_same_surname",
        "bool",
        "",
        "The payer shares a surname word with this traveller (families paying for each other); "
        "never for an organisation's name (booking.payer_is_company: CHAN HUMAN RESOURCES CO is "
        "no relative of a CHAN it pays for); null when no payer is named.",
    ),
    _f(
        "booking.payer_is_company",
        "bool",
        "",
        "The payer's name is an organisation's (LTD, INC, CO, CORP, HOLDINGS, ...); null when no "
        "payer is named.",
    ),
    _f(
        "booking.party_unrelated_to_payer",
        "int",
        "count",
        "Travellers in the booking sharing no surname word with the payer; null when no payer is "
        "named.",
    ),
    _f("booking.party_size", "int", "count", "Travellers in the booking."),
    _f(
        "booking.party_seated_apart",
        "bool",
        "",
        "Two or more of the booking's travellers on this flight have a seat (API) and no two of "
        "them sit in the same row; null with fewer than two known seats.",
    ),
    _f(
        "booking.adults_in_party",
        "int",
        "count",
        "Travellers in the booking aged 18 or more (by date of birth).",
        "protection_only",
    ),
    _f(
        "booking.minors_in_party",
        "int",
        "count",
        "Travellers in the booking under 18 (date of birth, else infant/child passenger type).",
        "protection_only",
    ),
    _f(
        "booking.unrelated_minors_with_adult",
        "int",
        "count",
        "Minors in the booking sharing no surname word with any adult of the booking (0 without "
        "an adult).",
        "protection_only",
    ),
    _f(
        "booking.shared_contact_bookings",
        "int",
        "count",
        "Other bookings tonight and in the last 30 days sharing a phone, e-mail or address with "
        "this one, switchboard contacts excluded.",
    ),
    _f(
        "booking.switchboard_contacts",
        "int",
        "count",
        "This booking's contacts not counted as shared because they are an agency's or a "
        "corporate desk's switchboard (see SwitchboardPolicy).",
    ),
    _f(
        "booking.has_agency", "bool", "", "The booking was made by a travel agency (ORG agency id)."
    ),
    _f(
        "booking.agency_case_links",
        "int",
        "count",
        "Cases in the case database linked to the booking's travel agency.",
    ),
    _f(
        "booking.payer_case_links",
        "int",
        "count",
        "Cases linked to the booking's payment card or the payer's phone.",
    ),
    _f(
        "booking.contact_case_links",
        "int",
        "count",
        "Cases linked to the booking's phones, e-mails or addresses.",
    ),
    _f(
        "booking.victim_identifier_links",
        "int",
        "count",
        "Cases whose former-victim records hold an identifier of this booking or a document of "
        "this traveller (protection only: never counted in the other case links).",
    ),
    # document
    _f(
        "document.days_since_issue",
        "int",
        "days",
        "Days from the first travel document's issue date to the arrival night.",
    ),
    _f(
        "document.seen_under_other_identity",
        "bool",
        "",
        "The document number was seen tonight or in the last 30 days with another date of "
        "birth or with no surname word in common.",
    ),
    _f(
        "document.in_case_database",
        "bool",
        "",
        "A document number of this traveller (API or PNR) is recorded in the case database.",
    ),
    # flight, bags, link
    _f(
        "flight.route_case_links",
        "int",
        "count",
        "Cases linked tonight (and on history nights carrying matches) to other travellers or "
        "bookings on the same route (departure and arrival airport).",
    ),
    _f("bags.checked_count", "int", "count", "Checked bags declared in API (MEA CT)."),
    _f("bags.weight_kg", "float", "kg", "Checked bag weight declared in API (MEA WT)."),
    _f("api_pnr.linked", "bool", "", "The API traveller is linked to a PNR booking."),
    _f(
        "api_pnr.link_confidence",
        "float",
        "probability",
        "Confidence of the API-PNR link (from linking).",
    ),
    # relations beyond the surname, and the companion of a minor (apiflag.features.relations)
    _f(
        "booking.returning_together",
        "bool",
        "",
        "The booking's itinerary has an earlier leg leaving an airport tonight's flights arrive "
        "at: its travellers left the country together on this booking and come back (together "
        "since the booking was made); null without an itinerary. A relation beyond the surname.",
    ),
    _f(
        "traveller.companions_shared_contact",
        "int",
        "count",
        "Other travellers of this booking arriving tonight who were given a phone, e-mail or "
        "address (SSR DOCA, CTCM, CTCE) that was also given for this traveller, or the payer's "
        "phone when one of the two is the payer. A relation beyond the surname.",
    ),
    _f(
        "traveller.companions_travelled_before",
        "int",
        "count",
        "Other travellers of this booking arriving tonight who were booked together with this "
        "traveller on an earlier night in the history window (same names and birth dates). A "
        "relation beyond the surname.",
    ),
    _f(
        "traveller.companions_related",
        "int",
        "count",
        "Other travellers of this booking arriving tonight with a relation shown beyond the "
        "surname: a shared contact or address, booked together before, or returning together. "
        "Surnames, nationality and route are never read.",
    ),
    _f(
        "companion.minors",
        "int",
        "count",
        "Minors (by the companion's own birth date, apiflag.minors) booked with this adult or in "
        "a booking this adult pays for; null unless this traveller is known to be an adult. "
        "Palermo Protocol art. 3(c)-(d): examination track only.",
        "companion_of_minor",
    ),
    _f(
        "companion.unrelated_minors",
        "int",
        "count",
        "Of companion.minors, those with no relation to this adult shown beyond the surname (no "
        "shared contact or address, not booked together before, not returning together); null "
        "unless this traveller is known to be an adult. Examination track only.",
        "companion_of_minor",
    ),
)

FEATURES: Mapping[str, FeatureSpec] = {f.name: f for f in FEATURE_SPEC}


_DTYPES: Mapping[str, str] = {
    "bool": "boolean",
    "int": "Int64",
    "float": "float64",
    "str": "str",
    "date": "datetime64[us]",
}


def typed_frame(
    columns: Mapping[str, Any], n: int, names: Iterable[str] | None = None
) -> pd.DataFrame:
    """Assemble the frame in spec order with the spec's dtypes; absent features are all-null.

    ``names`` limits the frame to those features (in that order), e.g. a rule example's.
    """
    data: dict[str, Any] = {"traveller_id": pd.array(columns["traveller_id"], dtype="str")}
    specs = FEATURE_SPEC if names is None else tuple(FEATURES[x] for x in names)
    for spec in specs:
        raw = columns.get(spec.name)
        if raw is None:
            raw = [None] * n
        values = pd.Series(raw.to_numpy() if isinstance(raw, pd.Series) else raw)
        if spec.type == "float":
            data[spec.name] = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
        elif spec.type == "int":
            data[spec.name] = pd.to_numeric(values, errors="coerce").astype("Int64").array
        elif spec.type == "bool":
            data[spec.name] = values.astype("boolean").array
        elif spec.type == "date":
            data[spec.name] = pd.to_datetime(values, errors="coerce").astype("datetime64[us]").array
        else:
            data[spec.name] = values.astype(object).where(values.notna(), None).astype("str").array
    return pd.DataFrame(data)


def feature_spec_yaml() -> str:
    """Render :data:`FEATURE_SPEC` as the reviewable ``models/features.yaml`` text."""
    import yaml

    doc = {
        "description": "apiflag feature table specification (generated from "
        "apiflag.features.FEATURE_SPEC; a test keeps it in sync).",
        "features": [
            {
                "name": f.name,
                "type": f.type,
                "unit": f.unit,
                "use": f.use,
                "protected": f.protected,
                "description": f.description,
            }
            for f in FEATURE_SPEC
        ],
    }
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
