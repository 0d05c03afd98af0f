"""The traveller feature table: one row per arriving traveller per night.

Every column is named by its dotted path (``booking.one_way``) and described in
:data:`FEATURE_SPEC` (type, unit, description, and how it may be used). This module decides
what each feature means; the rules and the model only read it.

Guarantees:

* One row per row of the night's ``travellers`` table (passengers and crew), keyed by
  ``traveller_id``; a traveller without a linked booking keeps the row with booking features null.
* A missing input gives a null feature, never a guessed value: "unknown" is not evidence.
* Protected attributes (sex, nationality, date of birth, age, age band, place of birth, country of
  residence) are kept for fairness monitoring only, marked ``use="monitoring"``; the rule linter
  refuses them. Features derived from age (``traveller.is_minor`` and the party's minors and
  adults) are ``use="protection_only"``: only protection-track rules may read them. The
  companion of a minor (``companion.*``, :mod:`apiflag.relations`) is ``use="companion_of_minor"``:
  the companion's minor status, read by examination-track rules only, never by a model.
* Whether travellers are related is shown beyond the surname (shared contact or address, booked
  together before, returning together: :mod:`apiflag.relations`), never by nationality or route.
* Contacts shared by a booking agency's or a corporate travel desk's switchboard are not counted
  as shared contacts (see :class:`SwitchboardPolicy`), and the number excluded is itself a
  feature, so an analyst sees what was left out.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from anyascii import anyascii

from apiflag import atomic, config, relations, warehouse
from apiflag.errors import ApiflagError
from apiflag.normalise import normalise_document, normalise_email, normalise_phone
from apiflag.settings import Settings, load_settings

__all__ = [
    "FEATURE_SPEC",
    "FEATURES",
    "FeatureSpec",
    "NightTables",
    "SwitchboardPolicy",
    "TABLE_COLUMNS",
    "build_features",
    "build_night_features",
    "write_features",
    "feature_spec_yaml",
]

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
            status, the Palermo Protocol exception of :mod:`apiflag.relations`: only
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
        "Under 18 on the arrival night (API date of birth, else the PNR's); the Protocol's child.",
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
        "null when no payer is named.",
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
    # relations beyond the surname, and the companion of a minor (apiflag.relations)
    *(_f(n, t, u, d, u2) for n, t, u, d, u2 in relations.RELATION_SPEC),  # type: ignore[arg-type]
)

FEATURES: Mapping[str, FeatureSpec] = {f.name: f for f in FEATURE_SPEC}

CARD_KNOWN_DIGITS = 8
"""Known digits a masked card needs to identify one payer (last four alone would not)."""
ROUTE_MATCH_MIN_PROBABILITY = 0.5
MINOR_PASSENGER_TYPES = frozenset({"IN", "INF", "C", "CH", "CHD", "CNN"})
CREW_ROLES = frozenset({"crew", "transit_crew"})

TABLE_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "flights": (
        "flight_id",
        "carrier",
        "number",
        "departure_airport",
        "arrival_airport",
        "scheduled_departure",
        "scheduled_arrival",
    ),
    "travellers": (
        "traveller_id",
        "flight_id",
        "role",
        "surname",
        "given_names",
        "sex",
        "date_of_birth",
        "nationality",
        "country_of_residence",
        "place_of_birth",
        "record_locator",
        "seat",
        "frequent_flyer",
        "checked_bags",
        "bag_weight_kg",
        "document_number",
        "pnr_traveller_id",
        "booking_id",
        "link_confidence",
        "link_level",
    ),
    "documents": (
        "owner_kind",
        "owner_id",
        "seq",
        "doc_type",
        "number",
        "issuing_country",
        "expiry_date",
        "issue_date",
    ),
    "bookings": (
        "booking_id",
        "record_locator",
        "carrier",
        "flight_id",
        "created",
        "last_transaction",
        "agency_id",
        "agency_location",
        "agency_country",
        "push_type",
        "push_seq",
        "superseded",
        "n_travellers",
    ),
    "pnr_travellers": (
        "pnr_traveller_id",
        "booking_id",
        "record_locator",
        "ref",
        "surname",
        "given_names",
        "title",
        "passenger_type",
        "sex",
        "date_of_birth",
        "nationality",
        "frequent_flyer",
    ),
    "booking_contacts": ("booking_id", "pnr_traveller_id", "kind", "value", "normalized", "source"),
    "payments": (
        "booking_id",
        "form",
        "amount",
        "currency",
        "masked_card",
        "payer_name",
        "payer_phone",
    ),
    "itinerary": (
        "booking_id",
        "leg_seq",
        "carrier",
        "number",
        "departure_airport",
        "arrival_airport",
        "scheduled_departure",
        "scheduled_arrival",
    ),
}
MATCH_COLUMNS = ("traveller_id", "person_id", "case_id", "role", "probability", "protection_only")
IDENTIFIER_MATCH_COLUMNS = (
    "booking_id",
    "kind",
    "value",
    "case_id",
    "source",
    "owner_kind",
    "owner_id",
    "protection_only",
)


def _empty(columns: Iterable[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


def _conform(frame: pd.DataFrame | None, columns: Iterable[str]) -> pd.DataFrame:
    """Return ``frame`` with every expected column present (missing ones all-null)."""
    cols = tuple(columns)
    if frame is None:
        return _empty(cols)
    out = frame.copy()
    for c in cols:
        if c not in out.columns:
            out[c] = pd.Series([None] * len(out), index=out.index, dtype=object)
        elif isinstance(out[c].dtype, pd.StringDtype):
            # plain Python strings: row-wise name and contact logic iterates them fast
            values = out[c].to_numpy(dtype=object, na_value=None)
            out[c] = pd.Series(values, index=out.index, dtype=object)
    return out


@dataclasses.dataclass(frozen=True)
class NightTables:
    """The warehouse frames of one arrival night (current PNR pushes only).

    Attributes:
        night: the local arrival date, ``YYYY-MM-DD``.
        flights, travellers, documents, bookings, pnr_travellers, booking_contacts, payments,
        itinerary: the warehouse tables of docs/ARCHITECTURE.md "Warehouse".
        matches, identifier_matches: optional case-match output of that night; history nights
            that carry them contribute to ``flight.route_case_links``.
    """

    night: str
    flights: pd.DataFrame
    travellers: pd.DataFrame
    documents: pd.DataFrame
    bookings: pd.DataFrame
    pnr_travellers: pd.DataFrame
    booking_contacts: pd.DataFrame
    payments: pd.DataFrame
    itinerary: pd.DataFrame
    matches: pd.DataFrame | None = None
    identifier_matches: pd.DataFrame | None = None

    @classmethod
    def from_frames(cls, night: str, **frames: pd.DataFrame | None) -> NightTables:
        """Build from whichever tables are given; absent tables and columns become empty/null.

        Superseded PNR pushes (``bookings.superseded``) are dropped together with their contacts,
        payments, itinerary and PNR travellers.

        Args:
            night: the arrival night, ``YYYY-MM-DD``.
            **frames: tables by name (``travellers=...``), plus optional ``matches`` and
                ``identifier_matches``.

        Raises:
            ValueError: an unknown table name.
        """
        unknown = set(frames) - set(TABLE_COLUMNS) - {"matches", "identifier_matches"}
        if unknown:
            raise ValueError(f"unknown warehouse table(s): {', '.join(sorted(unknown))}")
        tables = {name: _conform(frames.get(name), cols) for name, cols in TABLE_COLUMNS.items()}
        bookings = tables["bookings"]
        if len(bookings):
            superseded = bookings["superseded"].astype("boolean").fillna(False).to_numpy(bool)
            bookings = bookings.loc[~superseded].reset_index(drop=True)
            tables["bookings"] = bookings
            current = set(bookings["booking_id"].dropna())
            for name in ("booking_contacts", "payments", "itinerary", "pnr_travellers"):
                t = tables[name]
                tables[name] = t.loc[t["booking_id"].isin(current)].reset_index(drop=True)
        matches = frames.get("matches")
        idm = frames.get("identifier_matches")
        return cls(
            night=str(pd.Timestamp(night).date()),
            matches=None if matches is None else _conform(matches, MATCH_COLUMNS),
            identifier_matches=None if idm is None else _conform(idm, IDENTIFIER_MATCH_COLUMNS),
            **tables,
        )

    @classmethod
    def from_warehouse(cls, night: str, *, with_matches: bool = False) -> NightTables:
        """Read one night's current tables from ``$APIFLAG_HOME/warehouse``.

        Args:
            night: the arrival night, ``YYYY-MM-DD``.
            with_matches: also read ``matches.parquet`` and ``identifier_matches.parquet`` when
                present (use for history nights).

        Raises:
            ApiflagError: the night has no warehouse partition.
        """
        part = config.warehouse_dir(night)
        if not part.is_dir():
            raise ApiflagError(f"{part}: no warehouse partition for night {night} (run ingest)")
        frames: dict[str, pd.DataFrame | None] = {}
        for name in TABLE_COLUMNS:
            frames[name] = warehouse.read_table(night, name, current=True)
        if with_matches:
            for name in ("matches", "identifier_matches"):
                path = part / f"{name}.parquet"
                frames[name] = pd.read_parquet(path) if path.exists() else None
        return cls.from_frames(night, **frames)


@dataclasses.dataclass(frozen=True)
class SwitchboardPolicy:
    """When a shared contact is a switchboard (an agency's or a corporate desk's) and not a link.

    A contact (phone, e-mail or address, normalised) is a switchboard, and is not counted in
    ``booking.shared_contact_bookings``, when either:

    1. it appears on more than ``max_bookings_per_night`` distinct bookings on a single night
       (a number a front office reaches and a controller hiding victims does not); or
    2. every booking sharing it (tonight and in the history window) is business-like (paid
       without cash, with return or onward travel booked, at most ``business_party_max``
       travellers) and one organisation stands behind all of them: the same travel agency (ORG
       agency id) or the same payer (the same card, else the same payer name).

    Choose a lower ``max_bookings_per_night`` at a small airport. Rule 2 is what lets a corporate
    travel desk (one phone, one company card, round trips for one or two employees) drop out,
    while a broker who pays one-way tickets for recruits from one card or one agency stays
    counted: one-way or cash bookings are never business-like. Its blind spot, said plainly: a
    network that buys round trips by card looks like a desk here, and is left to the case links.
    """

    max_bookings_per_night: int = 20
    same_agency_business: bool = True
    business_party_max: int = 2


COMPANY_WORDS = frozenset(
    {
        "LTD",
        "LIMITED",
        "INC",
        "CORP",
        "CORPORATION",
        "CO",
        "COMPANY",
        "LLC",
        "LLP",
        "PLC",
        "GMBH",
        "AG",
        "SA",
        "SAS",
        "BV",
        "NV",
        "KK",
        "PTE",
        "PVT",
        "BHD",
        "JSC",
        "HOLDINGS",
        "GROUP",
        "TRADING",
        "ENTERPRISES",
        "INDUSTRIES",
        "SERVICES",
        "AGENCY",
        "TRAVEL",
        "TOURS",
        "RESOURCES",
        "INTERNATIONAL",
        "FOUNDATION",
        "ASSOCIATION",
        "UNIVERSITY",
        "SCHOOL",
    }
)
"""Words that mark a payer name as an organisation's (``booking.payer_is_company``)."""

_TITLES = frozenset({"MR", "MRS", "MS", "MISS", "MSTR", "DR", "PROF", "CHD", "INF", "MX"})
_SPLIT = re.compile(r"[^A-Z]+")


def _name_tokens(name: object) -> frozenset[str]:
    if not isinstance(name, str) or not name.strip():
        return frozenset()
    return _tokens_of(name)


@functools.lru_cache(maxsize=1 << 17)
def _tokens_of(name: str) -> frozenset[str]:
    return frozenset(t for t in _SPLIT.split(anyascii(name).upper()) if t and t not in _TITLES)


def _payer_parts(payer: str) -> tuple[frozenset[str], frozenset[str]]:
    """Split a payer name into (surname words, all words); ``SURNAME/GIVEN`` when a slash is given."""
    if "/" in payer:
        surname, _, given = payer.partition("/")
        sur = _name_tokens(surname)
        return sur, sur | _name_tokens(given)
    words = _name_tokens(payer)
    return words, words


def _is_named(
    p_sur: frozenset[str], p_all: frozenset[str], sur: frozenset[str], given: frozenset[str]
) -> bool:
    """A payer name names this person: all surname words, and a given name word when known."""
    if not sur or not sur <= p_all or not (sur & p_sur or not p_sur):
        return False
    return not given or bool(given & (p_all - sur))


def _norm_doc(number: object) -> str | None:
    if not isinstance(number, str):
        return None
    return normalise_document(number) or None


def _norm_contact(kind: object, value: object, normalized: object) -> str | None:
    text = normalized if isinstance(normalized, str) and normalized.strip() else value
    if not isinstance(text, str) or not text.strip():
        return None
    k = str(kind).lower() if isinstance(kind, str) else "other"
    if k == "phone":
        e164 = normalise_phone(text)
        return f"phone:{e164.removeprefix('+')}" if e164 else None
    if k == "email":
        return f"email:{normalise_email(text)}"
    return f"{k}:{normalise_document(text)}"


def _first_documents(docs: pd.DataFrame) -> pd.DataFrame:
    """API documents, each owner's first document (``seq`` 0, else file order) first."""
    api = docs.loc[(docs["owner_kind"].astype(object) == "api").to_numpy(bool)]
    seq = pd.to_numeric(api["seq"], errors="coerce").fillna(0)
    return api.assign(_seq=seq.to_numpy()).sort_values("_seq", kind="stable").drop(columns="_seq")


def _ts(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, errors="coerce")


def _age_years(dob: pd.Series, night: pd.Timestamp) -> pd.Series:
    """Whole years on ``night``; null where the birth date is unknown."""
    dob = _ts(dob)
    years = night.year - dob.dt.year
    before_birthday = (dob.dt.month > night.month) | (
        (dob.dt.month == night.month) & (dob.dt.day > night.day)
    )
    age = (years - before_birthday.astype("Int64")).astype("Int64")
    return age.where(dob.notna(), pd.NA).astype("Int64")


def _age_band(age: pd.Series, settings: Settings) -> pd.Series:
    bands = settings.age_bands_of(pd.to_numeric(age, errors="coerce").to_numpy(dtype=float))
    out = pd.Series(bands, index=age.index, dtype=object)
    return out.where(out != "unknown", None)


def _bool(values: Iterable[Any], index: pd.Index) -> pd.Series:
    return pd.Series(list(values), index=index, dtype="boolean")


def _booking_facts(t: NightTables) -> pd.DataFrame:
    """Per current booking: record locator, agency, cash, payer, one-way/stay, party."""
    b = t.bookings[["booking_id", "record_locator", "flight_id", "created", "agency_id"]].copy()
    b = b.dropna(subset=["booking_id"]).drop_duplicates("booking_id").reset_index(drop=True)
    b["n_travellers"] = pd.to_numeric(
        t.bookings.drop_duplicates("booking_id")
        .set_index("booking_id")["n_travellers"]
        .reindex(b["booking_id"])
        .to_numpy(),
        errors="coerce",
    )
    pay = t.payments
    if len(pay):
        form = pay["form"].astype(object).where(pay["form"].notna(), None)
        cash = (
            pd.Series([isinstance(f, str) and f.upper() == "CA" for f in form], index=pay.index)
            .groupby(pay["booking_id"].to_numpy())
            .any()
        )
        payer = pay.loc[pay["payer_name"].notna()].groupby("booking_id")["payer_name"].first()
        pphone = pay.loc[pay["payer_phone"].notna()].groupby("booking_id")["payer_phone"].first()
        card = pay.loc[pay["masked_card"].notna()].groupby("booking_id")["masked_card"].first()
        paid = set(pay["booking_id"].dropna())
    else:
        cash, payer, pphone, card, paid = (
            pd.Series(dtype=bool),
            pd.Series(dtype=object),
            pd.Series(dtype=object),
            pd.Series(dtype=object),
            set(),
        )
    ids = b["booking_id"].tolist()
    cash_d, payer_d = cash.to_dict(), payer.to_dict()
    pphone_d, card_d = pphone.to_dict(), card.to_dict()
    b["payment_cash"] = _bool(
        (bool(cash_d.get(x, False)) if x in paid else None for x in ids), b.index
    )
    b["payer_name"] = [payer_d.get(x) for x in ids]
    b["payer_phone"] = [pphone_d.get(x) for x in ids]
    # who pays, for the switchboard test: the card if given, else the payer's name words
    keys: list[str | None] = []
    for x, name in zip(b["booking_id"].tolist(), b["payer_name"].tolist(), strict=True):
        c = re.sub(r"[^0-9X]", "", str(card_d.get(x) or "").upper())
        if sum(ch.isdigit() for ch in c) >= CARD_KNOWN_DIGITS:  # last four alone is not one card
            keys.append("card:" + c)
        elif isinstance(name, str) and _name_tokens(name):
            keys.append("name:" + " ".join(sorted(_name_tokens(name))))
        else:
            keys.append(None)
    b["payer_key"] = keys
    return b


def _booking_travel(t: NightTables, booking_ids: pd.Series, arrivals: pd.Series) -> pd.DataFrame:
    """one_way and stay_days for (booking_id, arrival time) pairs."""
    it = t.itinerary.loc[:, ["booking_id", "scheduled_departure"]].copy()
    it["dep"] = _ts(it["scheduled_departure"])
    has_it = set(it["booking_id"].dropna())
    q = pd.DataFrame({"booking_id": booking_ids.to_numpy(), "arr": _ts(arrivals).to_numpy()})
    q["row"] = np.arange(len(q))
    m = q.merge(it[["booking_id", "dep"]], on="booking_id", how="left")
    later = m.loc[m["dep"].notna() & m["arr"].notna() & (m["dep"] > m["arr"])]
    first_later = later.groupby("row")["dep"].min()
    known = q["booking_id"].isin(has_it).to_numpy(bool) & q["arr"].notna().to_numpy(bool)
    first = pd.Series(first_later.reindex(q["row"]).to_numpy(), dtype="datetime64[us]")
    arr = pd.Series(q["arr"].to_numpy(), dtype="datetime64[us]")
    has_later = first.notna().to_numpy(bool)
    one_way = pd.array(~has_later, dtype="boolean")
    one_way[~known] = pd.NA
    stay = ((first - arr) / pd.Timedelta(days=1)).to_numpy(dtype=float, na_value=np.nan).copy()
    stay[~(known & has_later)] = np.nan
    return pd.DataFrame({"one_way": one_way, "stay_days": stay})


def _contact_pool(t: NightTables, policy: SwitchboardPolicy) -> pd.DataFrame:
    """Rows (night, record_locator, key, agency_id, payer_key, business) per current booking."""
    facts = _booking_facts(t)
    flights = t.flights.drop_duplicates("flight_id").set_index("flight_id")
    arrivals = flights["scheduled_arrival"].reindex(facts["flight_id"]).reset_index(drop=True)
    travel = _booking_travel(t, facts["booking_id"], arrivals)
    party = (
        t.pnr_travellers.groupby("booking_id").size().reindex(facts["booking_id"]).to_numpy(float)
    )
    party = np.where(np.isnan(party), facts["n_travellers"].to_numpy(float), party)
    business = (
        (facts["payment_cash"].fillna(True) == False)  # noqa: E712 - nullable compare
        & (travel["one_way"].fillna(True) == False)  # noqa: E712
        & pd.Series(party <= policy.business_party_max).fillna(False)
    ).to_numpy(bool)
    ids = facts["booking_id"].tolist()
    locator = {
        b: str(rl if isinstance(rl, str) else b)
        for b, rl in zip(ids, facts["record_locator"].tolist(), strict=True)
    }
    agency_of = dict(zip(ids, facts["agency_id"].astype(object).tolist(), strict=True))
    payer_of = dict(zip(ids, facts["payer_key"].tolist(), strict=True))
    business_of = dict(zip(ids, business.tolist(), strict=True))
    rows: list[tuple[str, str, str, object, object, bool]] = []
    c = t.booking_contacts
    for bid, kind, value, norm in zip(
        c["booking_id"].tolist(),
        c["kind"].tolist(),
        c["value"].tolist(),
        c["normalized"].tolist(),
        strict=True,
    ):
        key = _norm_contact(kind, value, norm)
        if key is not None and bid in locator:
            rows.append(
                (t.night, locator[bid], key, agency_of[bid], payer_of[bid], business_of[bid])
            )
    for bid, phone in zip(ids, facts["payer_phone"].tolist(), strict=True):
        key = _norm_contact("phone", phone, None)
        if key is not None:
            rows.append(
                (t.night, locator[bid], key, agency_of[bid], payer_of[bid], business_of[bid])
            )
    pool = pd.DataFrame(
        rows, columns=["night", "record_locator", "key", "agency_id", "payer_key", "business"]
    )
    return pool.drop_duplicates(["night", "record_locator", "key"]).reset_index(drop=True)


def _switchboards(pool: pd.DataFrame, policy: SwitchboardPolicy) -> set[str]:
    if pool.empty:
        return set()
    per_night = pool.groupby(["key", "night"])["record_locator"].nunique()
    busy = set(per_night[per_night > policy.max_bookings_per_night].index.get_level_values("key"))
    desk: set[str] = set()
    if policy.same_agency_business:
        g = pool.groupby("key")
        n_rl = g["record_locator"].nunique()
        one_agency = (g["agency_id"].nunique(dropna=False) == 1) & pool[
            "agency_id"
        ].notna().groupby(pool["key"]).all()
        one_payer = (g["payer_key"].nunique(dropna=False) == 1) & pool["payer_key"].notna().groupby(
            pool["key"]
        ).all()
        all_business = pool["business"].astype(bool).groupby(pool["key"]).all()
        mask = (n_rl > 1) & (one_agency | one_payer) & all_business
        desk = set(mask[mask].index)
    return busy | desk


def _history_window(night: str, history: list[NightTables] | None, days: int) -> list[NightTables]:
    if not history:
        return []
    end = dt.date.fromisoformat(night)
    start = end - dt.timedelta(days=days)
    return [h for h in history if start <= dt.date.fromisoformat(h.night) < end]


def build_features(
    tables: NightTables,
    history: list[NightTables] | None = None,
    matches: pd.DataFrame | None = None,
    identifier_matches: pd.DataFrame | None = None,
    *,
    switchboard: SwitchboardPolicy | None = None,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Build the night's feature table: one row per arriving traveller.

    Args:
        tables: the night's warehouse tables.
        history: earlier nights; those within ``settings.history_days`` before ``tables.night`` feed
            ``booking.shared_contact_bookings`` and ``document.seen_under_other_identity``
            (others are ignored).
        matches: the night's case matches (``traveller_id, person_id, case_id, role,
            probability, protection_only``); None when matching did not run.
        identifier_matches: booking identifiers found in the case database (``booking_id, kind,
            value, case_id``); None when matching did not run.
        switchboard: when a shared contact is a switchboard; default :class:`SwitchboardPolicy`.
        settings: history window and age bands; default :func:`apiflag.settings.load_settings`.

    Returns:
        A frame with ``traveller_id`` and one column per :data:`FEATURE_SPEC` entry, in spec
        order, typed by the spec (nullable booleans and integers, float, str, datetime).
    """
    policy = switchboard or SwitchboardPolicy()
    settings = settings or load_settings()
    night = pd.Timestamp(tables.night)
    past = _history_window(tables.night, history, settings.history_days)
    tr = tables.travellers.reset_index(drop=True)
    idx = tr.index
    out: dict[str, Any] = {"traveller_id": tr["traveller_id"].astype(str).to_numpy()}

    # ---------------------------------------------------------------- traveller
    pnr_t = tables.pnr_travellers.drop_duplicates("pnr_traveller_id").set_index("pnr_traveller_id")
    pnr_dob = _ts(pnr_t["date_of_birth"]).reindex(tr["pnr_traveller_id"]).reset_index(drop=True)
    dob = _ts(tr["date_of_birth"]).fillna(pnr_dob)
    age = _age_years(dob, night)
    role = tr["role"].astype(object)
    out["traveller.role"] = role.to_numpy()
    out["traveller.is_crew"] = _bool(
        ((r in CREW_ROLES) if isinstance(r, str) else None for r in role), idx
    )
    out["traveller.is_minor"] = (age < 18).astype("boolean")
    out["traveller.age_band"] = _age_band(age, settings)
    out["traveller.age"] = age
    out["traveller.sex"] = tr["sex"].to_numpy()
    out["traveller.nationality"] = tr["nationality"].to_numpy()
    out["traveller.date_of_birth"] = dob
    out["traveller.place_of_birth"] = tr["place_of_birth"].to_numpy()
    out["traveller.country_of_residence"] = tr["country_of_residence"].to_numpy()

    m = _conform(matches, MATCH_COLUMNS) if matches is not None else None
    if m is not None:
        m = m.assign(probability=pd.to_numeric(m["probability"], errors="coerce"))
        best = (
            m.sort_values(["traveller_id", "probability", "case_id"], ascending=[True, False, True])
            .drop_duplicates("traveller_id")
            .set_index("traveller_id")
        )
        key = tr["traveller_id"]
        prob = best["probability"].reindex(key).to_numpy(float)
        out["traveller.case_match_probability"] = np.where(np.isnan(prob), 0.0, prob)
        out["traveller.case_match_role"] = best["role"].reindex(key).to_numpy()
        out["traveller.case_match_case_id"] = best["case_id"].reindex(key).to_numpy()
        out["traveller.case_match_protection_only"] = (
            best["protection_only"].astype("boolean").reindex(key).reset_index(drop=True)
        )
        is_victim = m["protection_only"].astype("boolean").fillna(False).to_numpy(bool)
        for name, part in (
            ("traveller.case_match_victim_probability", m.loc[is_victim]),
            ("traveller.case_match_offender_probability", m.loc[~is_victim]),
        ):
            top = part.groupby("traveller_id")["probability"].max().reindex(key).to_numpy(float)
            out[name] = np.where(np.isnan(top), 0.0, top)
    else:
        for name in (
            "traveller.case_match_probability",
            "traveller.case_match_victim_probability",
            "traveller.case_match_offender_probability",
        ):
            out[name] = np.full(len(tr), np.nan)

    # ---------------------------------------------------------------- booking
    facts = _booking_facts(tables).set_index("booking_id")
    bid = tr["booking_id"].astype(object)
    known = bid.isin(facts.index).to_numpy(bool)
    flights = tables.flights.drop_duplicates("flight_id").set_index("flight_id")
    t_dep = _ts(flights["scheduled_departure"]).reindex(tr["flight_id"]).reset_index(drop=True)
    t_arr = _ts(flights["scheduled_arrival"]).reindex(tr["flight_id"]).reset_index(drop=True)
    created = _ts(facts["created"]).reindex(bid).reset_index(drop=True)
    out["booking.lead_time_hours"] = ((t_dep - created) / pd.Timedelta(hours=1)).to_numpy(float)
    travel = _booking_travel(tables, bid.where(known, None), t_arr)
    out["booking.one_way"] = travel["one_way"].set_axis(idx)
    out["booking.stay_days"] = travel["stay_days"].to_numpy(float)
    out["booking.payment_cash"] = facts["payment_cash"].reindex(bid).reset_index(drop=True)

    # party: PNR travellers of the booking, with API birth dates where the PNR has none
    party = tables.pnr_travellers[
        ["pnr_traveller_id", "booking_id", "surname", "given_names", "passenger_type"]
    ].copy()
    api_dob = pd.Series(dob.to_numpy(), index=tr["pnr_traveller_id"].to_numpy()).loc[
        lambda s: s.index.notna()
    ]
    api_dob = api_dob[~api_dob.index.duplicated()]
    party_dob = _ts(tables.pnr_travellers["date_of_birth"]).fillna(
        pd.Series(api_dob.reindex(party["pnr_traveller_id"]).to_numpy(), index=party.index)
    )
    party_age = _age_years(party_dob, night)
    ptype = party["passenger_type"].astype(object)
    minor = (party_age < 18).astype("boolean")
    minor = minor.fillna(
        pd.Series(
            [
                True if isinstance(p, str) and p.upper() in MINOR_PASSENGER_TYPES else None
                for p in ptype
            ],
            index=party.index,
            dtype="boolean",
        )
    )
    party["minor"] = minor
    party["adult"] = (party_age >= 18).astype("boolean")
    party["sur"] = [_name_tokens(s) for s in party["surname"]]
    party["names"] = [
        (_name_tokens(s), _name_tokens(g))
        for s, g in zip(party["surname"], party["given_names"], strict=True)
    ]
    # API travellers of a booking that has no PNR traveller rows still count as its party
    api_party = tr.loc[known & ~bid.isin(set(party["booking_id"])).to_numpy(bool)]
    api_rows = pd.DataFrame(
        {
            "booking_id": api_party["booking_id"].to_numpy(),
            "minor": (age[api_party.index] < 18).astype("boolean").to_numpy(),
            "adult": (age[api_party.index] >= 18).astype("boolean").to_numpy(),
            "sur": [_name_tokens(s) for s in api_party["surname"]],
            "names": [
                (_name_tokens(s), _name_tokens(g))
                for s, g in zip(api_party["surname"], api_party["given_names"], strict=True)
            ],
        }
    )
    members = pd.concat(
        [party[["booking_id", "minor", "adult", "sur", "names"]], api_rows], ignore_index=True
    )
    size: dict[object, int] = {}
    adults: dict[object, int] = {}
    minors: dict[object, int] = {}
    unrelated: dict[object, int] = {}
    payer_trav: dict[object, bool | None] = {}
    groups: dict[object, list[tuple[bool, bool, frozenset[str], Any]]] = defaultdict(list)
    for b_id, ad, mi, sur, nm in zip(
        members["booking_id"].tolist(),
        members["adult"].astype("boolean").fillna(False).astype(bool).tolist(),
        members["minor"].astype("boolean").fillna(False).astype(bool).tolist(),
        members["sur"].tolist(),
        members["names"].tolist(),
        strict=True,
    ):
        groups[b_id].append((ad, mi, sur, nm))
    for b_id, group in groups.items():
        size[b_id] = len(group)
        adults[b_id] = sum(1 for ad, _, _, _ in group if ad)
        minors[b_id] = sum(1 for _, mi, _, _ in group if mi)
        adult_sur: frozenset[str] = frozenset().union(*(s for ad, _, s, _ in group if ad))
        unrelated[b_id] = (
            sum(1 for _, mi, s, _ in group if mi and not (s & adult_sur)) if adults[b_id] else 0
        )
    payer_company: dict[object, bool | None] = {}
    payer_unrelated: dict[object, int | None] = {}
    for b_id, payer in zip(facts.index.tolist(), facts["payer_name"].tolist(), strict=True):
        if not isinstance(payer, str) or not payer.strip():
            payer_trav[b_id] = payer_company[b_id] = payer_unrelated[b_id] = None
            continue
        p_sur, p_all = _payer_parts(payer)
        payer_company[b_id] = bool(_name_tokens(payer) & COMPANY_WORDS)
        payer_unrelated[b_id] = sum(1 for _, _, s, _ in groups.get(b_id, []) if not (s & p_sur))
        payer_trav[b_id] = any(
            _is_named(p_sur, p_all, s, g) for _, _, _, (s, g) in groups.get(b_id, [])
        )
    out["booking.payer_is_company"] = _bool(
        (payer_company.get(b) if k else None for b, k in zip(bid.tolist(), known, strict=True)),
        idx,
    )
    out["booking.party_unrelated_to_payer"] = pd.array(
        [payer_unrelated.get(b) if k else None for b, k in zip(bid.tolist(), known, strict=True)],
        dtype="Int64",
    )
    n_trav = {
        b: int(n)
        for b, n in zip(facts.index.tolist(), facts["n_travellers"].tolist(), strict=True)
        if n is not None and not (isinstance(n, float) and np.isnan(n))
    }
    bid_list = bid.tolist()
    out["booking.party_size"] = pd.array(
        [size.get(b, n_trav.get(b)) if k else None for b, k in zip(bid_list, known, strict=True)],
        dtype="Int64",
    )
    out["booking.adults_in_party"] = pd.array(
        [adults.get(b, 0) if k else None for b, k in zip(bid, known, strict=True)], dtype="Int64"
    )
    out["booking.minors_in_party"] = pd.array(
        [minors.get(b, 0) if k else None for b, k in zip(bid, known, strict=True)], dtype="Int64"
    )
    out["booking.unrelated_minors_with_adult"] = pd.array(
        [unrelated.get(b, 0) if k else None for b, k in zip(bid, known, strict=True)],
        dtype="Int64",
    )
    out["booking.party_seated_apart"] = _seated_apart(tr, known)
    payer_names = facts["payer_name"].reindex(bid).reset_index(drop=True)
    out["booking.payer_known"] = _bool(
        (
            (isinstance(p, str) and bool(p.strip())) if k else None
            for p, k in zip(payer_names, known, strict=True)
        ),
        idx,
    )
    out["booking.payer_travelling"] = _bool(
        (payer_trav.get(b) if k else None for b, k in zip(bid, known, strict=True)), idx
    )
    same: list[bool | None] = []
    is_payer: list[bool | None] = []
    for p, s, g in zip(
        payer_names.tolist(), tr["surname"].tolist(), tr["given_names"].tolist(), strict=True
    ):
        if not isinstance(p, str) or not p.strip():
            same.append(None)
            is_payer.append(None)
        else:
            p_sur, p_all = _payer_parts(p)
            sur, given = _name_tokens(s), _name_tokens(g)
            same.append(bool(p_sur & sur))
            is_payer.append(_is_named(p_sur, p_all, sur, given))
    out["booking.payer_same_surname"] = _bool(same, idx)
    out["traveller.is_payer"] = _bool(is_payer, idx)

    # shared contacts, tonight and in the history window
    pool_parts = [_contact_pool(tables, policy)] + [_contact_pool(h, policy) for h in past]
    pool = pd.concat(pool_parts, ignore_index=True)
    boards = _switchboards(pool, policy)
    tonight = pool.loc[pool["night"] == tables.night, ["record_locator", "key"]]
    linked = tonight.loc[~tonight["key"].isin(boards)]
    pairs = linked.merge(
        pool.loc[~pool["key"].isin(boards), ["record_locator", "key"]].rename(
            columns={"record_locator": "other"}
        ),
        on="key",
    )
    pairs = pairs.loc[pairs["record_locator"] != pairs["other"]]
    shared = pairs.groupby("record_locator")["other"].nunique()
    board_count = (
        tonight.loc[tonight["key"].isin(boards)].groupby("record_locator")["key"].nunique()
    )
    rl_of = facts["record_locator"].where(facts["record_locator"].notna(), facts.index.to_series())
    rl_list = rl_of.reindex(bid).tolist()
    shared_d, board_d = shared.to_dict(), board_count.to_dict()
    out["booking.shared_contact_bookings"] = pd.array(
        [int(shared_d.get(r, 0)) if k else None for r, k in zip(rl_list, known, strict=True)],
        dtype="Int64",
    )
    out["booking.switchboard_contacts"] = pd.array(
        [int(board_d.get(r, 0)) if k else None for r, k in zip(rl_list, known, strict=True)],
        dtype="Int64",
    )
    agency = facts["agency_id"].reindex(bid).reset_index(drop=True)
    out["booking.has_agency"] = _bool(
        (
            (isinstance(a, str) and bool(a.strip())) if k else None
            for a, k in zip(agency, known, strict=True)
        ),
        idx,
    )

    idm_all = (
        _conform(identifier_matches, IDENTIFIER_MATCH_COLUMNS)
        if identifier_matches is not None
        else None
    )
    idm = victim_idm = None
    if idm_all is not None:
        victim = idm_all["protection_only"].astype("boolean").fillna(False).to_numpy(bool)
        idm, victim_idm = idm_all.loc[~victim], idm_all.loc[victim]
    for name, kinds, payer_side in (
        ("booking.agency_case_links", {"agency"}, False),
        ("booking.payer_case_links", {"card"}, True),
        ("booking.contact_case_links", {"phone", "email", "address"}, False),
    ):
        if idm is None:
            out[name] = pd.array([None] * len(tr), dtype="Int64")
            continue
        kind = idm["kind"].astype(object).str.lower()
        chosen = kind.isin(kinds).to_numpy(bool).copy()
        source = idm["source"].astype(object)
        if payer_side:  # the card, and the payer's phone (from payments)
            pp = {
                b: _norm_contact("phone", p, None)
                for b, p in facts["payer_phone"].items()
                if isinstance(p, str)
            }
            chosen |= (source == "payments").to_numpy(bool)
            chosen |= np.asarray(
                [
                    k == "phone"
                    and pp.get(b) is not None
                    and _norm_contact("phone", v, None) == pp.get(b)
                    for b, k, v in zip(idm["booking_id"], kind, idm["value"], strict=True)
                ],
                dtype=bool,
            )
        elif "phone" in kinds:  # contacts of the booking, not the payer's phone
            chosen &= (source != "payments").to_numpy(bool)
        sel = idm.loc[chosen]
        counts = sel.dropna(subset=["case_id"]).groupby("booking_id")["case_id"].nunique().to_dict()
        out[name] = pd.array(
            [int(counts.get(b, 0)) if k else None for b, k in zip(bid_list, known, strict=True)],
            dtype="Int64",
        )

    # ---------------------------------------------------------------- documents
    docs = tables.documents
    api_docs = _first_documents(docs)
    first_doc = api_docs.drop_duplicates("owner_id").set_index("owner_id")
    issue = _ts(first_doc["issue_date"]).reindex(tr["traveller_id"]).reset_index(drop=True)
    days = (night - issue).dt.days
    out["document.days_since_issue"] = days.astype("Int64")
    numbers = first_doc["number"].reindex(tr["traveller_id"]).reset_index(drop=True)
    doc_norm = [_norm_doc(n) for n in numbers]

    def identities(t: NightTables) -> pd.DataFrame:
        d = _first_documents(t.documents).drop_duplicates("owner_id")[["owner_id", "number"]]
        who = t.travellers[["traveller_id", "surname", "date_of_birth"]].merge(
            d, left_on="traveller_id", right_on="owner_id"
        )
        return pd.DataFrame(
            {
                "traveller_id": who["traveller_id"].astype(str),
                "doc": [_norm_doc(n) for n in who["number"]],
                "sur": [_name_tokens(s) for s in who["surname"]],
                "dob": _ts(who["date_of_birth"]),
            }
        )

    seen = pd.concat([identities(tables)] + [identities(h) for h in past], ignore_index=True)
    seen = seen.dropna(subset=["doc"])
    by_doc: dict[str, list[tuple[str, frozenset[str], pd.Timestamp]]] = defaultdict(list)
    for tid, d, s, b in zip(
        seen["traveller_id"], seen["doc"], seen["sur"], seen["dob"], strict=True
    ):
        by_doc[d].append((tid, s, b))
    other_identity: list[bool | None] = []
    for tid, d, s, b in zip(
        out["traveller_id"], doc_norm, (_name_tokens(x) for x in tr["surname"]), dob, strict=True
    ):
        if d is None:
            other_identity.append(None)
            continue
        other_identity.append(
            any(
                (pd.notna(b) and pd.notna(ob) and ob != b)
                or (bool(s) and bool(os_) and not (s & os_))
                for otid, os_, ob in by_doc[d]
                if otid != tid
            )
        )
    out["document.seen_under_other_identity"] = _bool(other_identity, idx)

    if idm is None or victim_idm is None:
        out["document.in_case_database"] = pd.array([None] * len(tr), dtype="boolean")
        out["booking.victim_identifier_links"] = pd.array([None] * len(tr), dtype="Int64")
    else:

        def doc_values(frame: pd.DataFrame) -> set[str]:
            return {
                x
                for k, v in zip(frame["kind"].astype(object), frame["value"], strict=True)
                if isinstance(k, str) and k.lower() == "document" and (x := _norm_doc(v))
            }

        case_docs = doc_values(idm)
        victim_docs = doc_values(victim_idm)
        pnr_docs = docs.loc[docs["owner_kind"].astype(object) == "pnr"]
        mine: dict[str, set[str]] = defaultdict(set)
        for owner, n in zip(api_docs["owner_id"], api_docs["number"], strict=True):
            if (x := _norm_doc(n)) is not None:
                mine[str(owner)].add(x)
        pnr_owner = dict(zip(tr["pnr_traveller_id"], out["traveller_id"], strict=True))
        for owner, n in zip(pnr_docs["owner_id"], pnr_docs["number"], strict=True):
            if owner in pnr_owner and (x := _norm_doc(n)) is not None:
                mine[pnr_owner[owner]].add(x)
        out["document.in_case_database"] = _bool(
            (bool(mine.get(t, set()) & case_docs) for t in out["traveller_id"]), idx
        )
        # former-victim records: booking identifiers and this traveller's own documents
        vb = victim_idm.loc[
            (victim_idm["kind"].astype(object).str.lower() != "document").to_numpy(bool)
        ]
        by_booking = (
            vb.dropna(subset=["case_id"]).groupby("booking_id")["case_id"].agg(set).to_dict()
        )
        doc_case: dict[str, set[str]] = defaultdict(set)
        for k, v, c in zip(
            victim_idm["kind"].astype(object),
            victim_idm["value"],
            victim_idm["case_id"],
            strict=True,
        ):
            if (
                isinstance(k, str)
                and k.lower() == "document"
                and (x := _norm_doc(v))
                and isinstance(c, str)
            ):
                doc_case[x].add(c)
        victim_links: list[int | None] = []
        for t, b, k in zip(out["traveller_id"], bid, known, strict=True):
            cases = set(by_booking.get(b, set())) if k else set()
            for d in mine.get(t, set()) & victim_docs:
                cases |= doc_case[d]
            victim_links.append(len(cases))
        out["booking.victim_identifier_links"] = pd.array(victim_links, dtype="Int64")

    # ---------------------------------------------------------------- flight route
    out["flight.route_case_links"] = _route_case_links(tables, past, m, idm, tr, bid)

    # ---------------------------------------------------------------- relations, companions
    out.update(
        relations.relation_columns(
            tables,
            past,
            tr,
            bid.where(known, None),
            name_tokens=_name_tokens,
            contact_key=_norm_contact,
            names_payer=lambda p, s, g: _is_named(
                *_payer_parts(p), _name_tokens(s), _name_tokens(g)
            ),
        )
    )

    # ---------------------------------------------------------------- bags and link
    out["bags.checked_count"] = pd.to_numeric(tr["checked_bags"], errors="coerce").astype("Int64")
    out["bags.weight_kg"] = pd.to_numeric(tr["bag_weight_kg"], errors="coerce").to_numpy(float)
    out["api_pnr.linked"] = pd.array(known, dtype="boolean")
    out["api_pnr.link_confidence"] = pd.to_numeric(tr["link_confidence"], errors="coerce").to_numpy(
        float
    )
    return _typed(out, len(tr))


_SEAT = re.compile(r"^0*(\d{1,3})([A-Z])$")


def _seated_apart(tr: pd.DataFrame, known: np.ndarray) -> pd.Series:
    """Per traveller: the booking's seated travellers on this flight share no row."""
    rows: dict[tuple[object, object], list[str]] = defaultdict(list)
    keys = list(zip(tr["booking_id"].tolist(), tr["flight_id"].tolist(), strict=True))
    for key, k, seat in zip(keys, known, tr["seat"].tolist(), strict=True):
        m = _SEAT.match(seat.strip().upper()) if k and isinstance(seat, str) else None
        if m:
            rows[key].append(m.group(1))
    apart = {key: len(r) == len(set(r)) for key, r in rows.items() if len(r) >= 2}
    return pd.Series(
        pd.array(
            [apart.get(key) if k else None for key, k in zip(keys, known, strict=True)],
            dtype="boolean",
        )
    )


def _route_case_links(
    tables: NightTables,
    past: list[NightTables],
    matches: pd.DataFrame | None,
    idm: pd.DataFrame | None,
    tr: pd.DataFrame,
    bid: pd.Series,
) -> pd.Series:
    """Distinct cases linked to other travellers or bookings on each traveller's route."""
    if (
        matches is None
        and idm is None
        and not any(h.matches is not None or h.identifier_matches is not None for h in past)
    ):
        return pd.Series(pd.array([None] * len(tr), dtype="Int64"))
    links: list[tuple[tuple[object, object], str, str]] = []  # (route, case, source)

    def collect(t: NightTables, mm: pd.DataFrame | None, im: pd.DataFrame | None) -> None:
        fl = t.flights.drop_duplicates("flight_id").set_index("flight_id")
        route = {
            f: (d, a)
            for f, d, a in zip(
                fl.index, fl["departure_airport"], fl["arrival_airport"], strict=True
            )
        }
        t_route = {
            tid: route.get(f)
            for tid, f in zip(t.travellers["traveller_id"], t.travellers["flight_id"], strict=True)
        }
        b_route = {
            b: route.get(f)
            for b, f in zip(t.bookings["booking_id"], t.bookings["flight_id"], strict=True)
        }
        if mm is not None:
            p = pd.to_numeric(mm["probability"], errors="coerce").fillna(0.0)
            for tid, case in zip(
                mm["traveller_id"][p >= ROUTE_MATCH_MIN_PROBABILITY],
                mm["case_id"][p >= ROUTE_MATCH_MIN_PROBABILITY],
                strict=True,
            ):
                if (r := t_route.get(tid)) is not None and isinstance(case, str):
                    links.append((r, case, f"{t.night}/t/{tid}"))
        if im is not None:
            for b, case in zip(im["booking_id"], im["case_id"], strict=True):
                if (r := b_route.get(b)) is not None and isinstance(case, str):
                    links.append((r, case, f"{t.night}/b/{b}"))

    collect(tables, matches, idm)
    for h in past:
        collect(h, h.matches, h.identifier_matches)
    sources: dict[tuple[object, object], dict[str, set[str]]] = defaultdict(
        lambda: defaultdict(set)
    )
    for r, case, src in links:
        sources[r][case].add(src)
    fl = tables.flights.drop_duplicates("flight_id").set_index("flight_id")
    route = {
        f: (d, a)
        for f, d, a in zip(fl.index, fl["departure_airport"], fl["arrival_airport"], strict=True)
    }
    counts: list[int | None] = []
    for tid, f, b in zip(tr["traveller_id"], tr["flight_id"], bid, strict=True):
        here = route.get(f)
        if here is None:
            counts.append(None)
            continue
        own = {f"{tables.night}/t/{tid}", f"{tables.night}/b/{b}"}
        counts.append(sum(1 for srcs in sources.get(here, {}).values() if srcs - own))
    return pd.Series(pd.array(counts, dtype="Int64"))


_DTYPES: Mapping[str, str] = {
    "bool": "boolean",
    "int": "Int64",
    "float": "float64",
    "str": "str",
    "date": "datetime64[us]",
}


def _typed(columns: Mapping[str, Any], n: int, names: Iterable[str] | None = None) -> pd.DataFrame:
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


def write_features(features: pd.DataFrame, night: str) -> Path:
    """Write ``warehouse/night=<D>/features.parquet`` (temp file, then rename).

    Returns:
        The written path.
    """
    return atomic.write_parquet(config.warehouse_dir(night) / "features.parquet", features)


def build_night_features(
    night: str, *, write: bool = True, settings: Settings | None = None
) -> pd.DataFrame:
    """Build (and write) one night's features from the warehouse, with its history.

    Reads the night's tables, every earlier night partition within ``settings.history_days``
    (with their ``matches.parquet`` and ``identifier_matches.parquet`` when present), and the
    night's own case-match output when present.

    Args:
        night: the arrival night, ``YYYY-MM-DD``.
        write: also write ``features.parquet``.
        settings: history window and age bands; default :func:`apiflag.settings.load_settings`.

    Raises:
        ApiflagError: the night has no warehouse partition.
    """
    settings = settings or load_settings()
    tables = NightTables.from_warehouse(night, with_matches=True)
    history = [
        NightTables.from_warehouse(day, with_matches=True)
        for day in warehouse.nights_before(tables.night, settings.history_days)
    ]
    features = build_features(
        tables, history, tables.matches, tables.identifier_matches, settings=settings
    )
    if write:
        write_features(features, tables.night)
    return features
