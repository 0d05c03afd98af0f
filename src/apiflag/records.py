"""Data contracts: every record apiflag reads, writes or stores.

All records are frozen pydantic v2 models that refuse unknown fields. Parsers produce them,
the synthetic world's writer renders them, stores persist them, and `apiflag schemas export`
publishes one JSON Schema per record into ``schemas/``. A validation error names the field
and the value (see :func:`describe_validation_error`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "Address",
    "Agency",
    "ApiTraveller",
    "AuditEvent",
    "Bag",
    "Case",
    "CaseIdentifier",
    "CasePerson",
    "Contact",
    "Contribution",
    "Disposition",
    "Document",
    "Flag",
    "FlightLeg",
    "ItineraryLeg",
    "PaxlstManifest",
    "Payment",
    "PnrBooking",
    "PnrTraveller",
    "PnrgovMessage",
    "RECORDS",
    "Seat",
    "SourceRef",
    "Ticket",
    "describe_validation_error",
]


class Record(BaseModel):
    """Base of every contract: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


Alpha3 = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 3166-1 alpha-3 code")]
Airport = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="IATA airport code")]
Carrier = Annotated[str, Field(pattern=r"^[A-Z0-9]{2,3}$", description="IATA/ICAO carrier code")]
FlightNumber = Annotated[
    str,
    Field(pattern=r"^[1-9][0-9]{0,3}[A-Z]?$", description="without carrier or leading zeros"),
]
Sex = Literal["M", "F", "X", "U"]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

TravellerRole = Literal["passenger", "crew", "transit_passenger", "transit_crew"]
CaseRole = Literal["perpetrator", "broker", "recruiter", "employer", "victim"]
IdentifierKind = Literal["phone", "email", "agency", "card", "address", "document"]
#: The tracks a rule can put a traveller on, in the order that breaks a tie of summed weights.
RuleTrack = Literal["protection", "document_integrity", "examination"]
#: Every queue track: a case-database match, or a rule track.
Track = Literal["case_match", RuleTrack]
#: The track names as a tuple (the one vocabulary every module uses).
TRACKS: tuple[str, ...] = get_args(Track)
RULE_TRACKS: tuple[str, ...] = get_args(RuleTrack)
QueueStatus = Literal["new", "in_review", "hearing", "victim_support", "cleared"]
Outcome = Literal["hearing", "victim_support", "cleared"]


# --------------------------------------------------------------------------- flights and API


class FlightLeg(Record):
    """One scheduled flight leg; times are local to the airport, without a zone."""

    carrier: Carrier
    number: FlightNumber
    departure_airport: Airport | None = Field(
        default=None, description="null when the feed does not say or cannot be read"
    )
    arrival_airport: Airport | None = Field(
        default=None, description="null when the feed does not say or cannot be read"
    )
    scheduled_departure: dt.datetime | None = None
    scheduled_arrival: dt.datetime | None = None


class Document(Record):
    """A travel document (DOC in PAXLST, SSR DOCS/DOCO in PNRGOV)."""

    type: Annotated[str, Field(pattern=r"^[A-Z]{1,3}$")]
    number: Annotated[str, Field(min_length=1, max_length=35)]
    issuing_country: Alpha3 | None = None
    expiry_date: dt.date | None = None
    issue_date: dt.date | None = None


class Address(Record):
    """A postal address as EDIFACT carries it (NAD, SSR DOCA, ADD)."""

    street: str | None = None
    city: str | None = None
    subdivision: str | None = None
    postcode: str | None = None
    country: str | None = None


class SourceRef(Record):
    """Where a parsed record came from: file, message and the segment number that opened it."""

    file: str | None = None
    message_type: Literal["PAXLST", "PNRGOV"]
    version: str | None = None
    message_ref: str | None = None
    segment: Annotated[int, Field(ge=1)]


class ApiTraveller(Record):
    """A passenger or crew member as declared in a PAXLST message (NAD group)."""

    role: TravellerRole
    surname: Annotated[str, Field(min_length=1)]
    given_names: str | None = None
    sex: Sex | None = None
    date_of_birth: dt.date | None = None
    nationality: Alpha3 | None = None
    country_of_residence: str | None = None
    place_of_birth: str | None = None
    embarkation: str | None = None
    debarkation: str | None = None
    address: Address | None = None
    record_locator: str | None = None
    passenger_reference: str | None = None
    seat: str | None = None
    frequent_flyer: str | None = None
    checked_bags: Annotated[int, Field(ge=0)] | None = None
    bag_weight_kg: Annotated[float, Field(ge=0)] | None = None
    verified: bool | None = None
    documents: tuple[Document, ...] = ()
    segment: Annotated[int, Field(ge=1)] | None = None
    degraded: tuple[str, ...] = Field(
        default=(),
        description="fields whose value could not be read and are null (the reader's warnings say why)",
    )


class PaxlstManifest(Record):
    """One PAXLST message (multipart parts already joined): a flight and its travellers."""

    version: str
    message_ref: str
    interchange_ref: str | None = None
    sender: str | None = None
    recipient: str | None = None
    prepared: dt.datetime | None = None
    document_code: Annotated[str, Field(description="BGM 745 passengers, 250 crew, ...")]
    function: str | None = Field(default=None, description="BGM element 2: CP, XR, RP, CL, ...")
    transaction_ref: str | None = None
    reporting_party: str | None = None
    legs: Annotated[tuple[FlightLeg, ...], Field(min_length=1)]
    travellers: tuple[ApiTraveller, ...] = ()
    declared_passengers: Annotated[int, Field(ge=0)] | None = None
    declared_crew: Annotated[int, Field(ge=0)] | None = None
    common_access_ref: str | None = Field(
        default=None,
        description="UNH element 3: the key that joins the parts of a multipart message",
    )
    parts: tuple[int, ...] = Field(
        default=(),
        description="UNH part numbers joined here (01:C ... nn:F); empty if not multipart",
    )
    complete: bool = Field(
        default=True, description="False when a multipart message lacks a part or its final part"
    )


# --------------------------------------------------------------------------- PNR


class Contact(Record):
    """A phone, e-mail or address in a booking; ``traveller_ref`` None means booking level."""

    kind: Literal["phone", "email", "address"]
    value: Annotated[str, Field(min_length=1)]
    traveller_ref: str | None = None
    source: str | None = Field(default=None, description="ADD, CTCM, CTCE, CTCH, IFT, DOCA")


class Payment(Record):
    """A form of payment (FOP) with its card holder or payer (IFT 4:43)."""

    form: Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="CA cash, CC card, CK, MS")]
    amount: float | None = None
    currency: str | None = None
    card_vendor: str | None = None
    masked_card: str | None = None
    card_expiry: str | None = None
    payer_name: str | None = None
    payer_phone: str | None = None
    billing_address: Address | None = None


class Agency(Record):
    """The booking originator (ORG): a travel agency or an airline office."""

    agency_id: str | None = None
    airline: str | None = None
    location: str | None = None
    country: str | None = None
    currency: str | None = None
    kind: str | None = None


class Ticket(Record):
    """A ticket (TKT) for one traveller."""

    number: Annotated[str, Field(min_length=1)]
    traveller_ref: str | None = None
    type: str | None = None


class Bag(Record):
    """Checked bags (TBD) for one traveller on one leg."""

    traveller_ref: str | None = None
    count: Annotated[int, Field(ge=0)]
    weight_kg: Annotated[float, Field(ge=0)] | None = None
    leg: Annotated[int, Field(ge=0)] | None = None


class Seat(Record):
    """An assigned seat (SSD) for one traveller on one leg."""

    traveller_ref: str | None = None
    seat: Annotated[str, Field(min_length=1)]
    leg: Annotated[int, Field(ge=0)] | None = None


class ItineraryLeg(FlightLeg):
    """A flight in a booking's itinerary (TVL), with its check-in state when known."""

    booking_class: str | None = None
    status: str | None = None
    checked_in: bool | None = None


class PnrTraveller(Record):
    """A traveller in a booking (TIF group); DOCS names win over TIF names when present."""

    ref: str
    surname: Annotated[str, Field(min_length=1)]
    given_names: str | None = None
    title: str | None = None
    passenger_type: str | None = Field(default=None, description="A adult, IN infant, C child")
    sex: Sex | None = None
    date_of_birth: dt.date | None = None
    nationality: Alpha3 | None = None
    documents: tuple[Document, ...] = ()
    address: Address | None = None
    frequent_flyer: str | None = None
    segment: Annotated[int, Field(ge=1)] | None = None
    degraded: tuple[str, ...] = Field(
        default=(),
        description="fields whose value could not be read and are null (the reader's warnings say why)",
    )


class PnrBooking(Record):
    """One PNR (SRC group) as pushed for one flight."""

    record_locator: Annotated[str, Field(min_length=1)]
    carrier: str | None = None
    created: dt.datetime | None = None
    last_transaction: dt.datetime | None = None
    agency: Agency | None = None
    travellers: tuple[PnrTraveller, ...] = ()
    itinerary: tuple[ItineraryLeg, ...] = ()
    contacts: tuple[Contact, ...] = ()
    payments: tuple[Payment, ...] = ()
    tickets: tuple[Ticket, ...] = ()
    bags: tuple[Bag, ...] = ()
    seats: tuple[Seat, ...] = ()
    split_record_locators: tuple[str, ...] = ()
    segment: Annotated[int, Field(ge=1)] | None = None


class PnrgovMessage(Record):
    """One PNRGOV push for one flight."""

    version: str
    message_ref: str
    interchange_ref: str | None = None
    sender: str | None = None
    recipient: str | None = None
    prepared: dt.datetime | None = None
    push_type: Literal["full", "changed"] = "full"
    flight: FlightLeg
    bookings: tuple[PnrBooking, ...] = ()
    declared_bookings: Annotated[int, Field(ge=0)] | None = None
    common_access_ref: str | None = Field(
        default=None,
        description="UNH element 3: the key that joins the parts of a multipart message",
    )
    parts: tuple[int, ...] = Field(
        default=(),
        description="UNH part numbers joined here (01:C ... nn:F); empty if not multipart",
    )
    complete: bool = Field(
        default=True, description="False when a multipart message lacks a part or its final part"
    )


# --------------------------------------------------------------------------- case database


class Case(Record):
    """A trafficking-in-persons case."""

    case_id: Annotated[str, Field(min_length=1)]
    typology: Annotated[str, Field(min_length=1)]
    year: Annotated[int, Field(ge=1950, le=2100)]
    status: Literal["open", "closed"]


class CasePerson(Record):
    """A person named in a case, with the role they played and the names they used."""

    person_id: Annotated[str, Field(min_length=1)]
    case_id: Annotated[str, Field(min_length=1)]
    role: CaseRole
    surname: Annotated[str, Field(min_length=1)]
    given_names: str | None = None
    aliases: tuple[str, ...] = ()
    date_of_birth: dt.date | None = None
    nationality: Alpha3 | None = None
    document_numbers: tuple[str, ...] = ()


class CaseIdentifier(Record):
    """A phone, e-mail, agency, card, address or document linked to a case."""

    case_id: Annotated[str, Field(min_length=1)]
    person_id: str | None = None
    kind: IdentifierKind
    value: Annotated[str, Field(min_length=1)]


# --------------------------------------------------------------------------- flags and audit


EvidenceSource = Literal["match", "rule", "model"]
EvidenceTarget = Literal["identity", "outcome"]


class Evidence(Record):
    """One row of the night's evidence table, the one contract every evidence source emits.

    The matcher, the rule catalogue and the fitted model each emit rows of this shape; the
    combine stage reads nothing else to weigh a traveller. ``weight`` is on the natural
    log-odds scale of its ``target``: ``identity`` (is this traveller that case person?) or
    ``outcome`` (would an officer's review find indicators?). Rows of different targets are
    never summed together, and the rows of one source for one traveller sum exactly
    (:func:`math.fsum`) to that source's own total for the traveller.
    """

    traveller_id: Annotated[str, Field(min_length=1)]
    source: EvidenceSource = Field(description="match, rule or model")
    source_id: Annotated[str, Field(min_length=1)] = Field(
        description='"case:C-1/P-2/surname", "R-012@2", "feature:rule.R-012", "model:intercept"'
    )
    target: EvidenceTarget = Field(description="identity (match) or outcome (rules, model)")
    weight: float = Field(description="natural log-odds of the target", allow_inf_nan=False)
    sentence: Annotated[str, Field(min_length=1)]
    observed: str | None = Field(default=None, description="the values read (personal data)")


class Contribution(Record):
    """One row of an explanation, in one of three columns that are never summed together.

    ``column`` says which total the row belongs to: ``policy`` (the policy board's rule weights,
    which decide who is flagged and in which order), ``outcome`` (the fitted model's
    contributions to the outcome log-odds, whose sigmoid is the probability shown) or
    ``identity`` (the matcher's field weights: the log-odds that the traveller is the case
    person). The non-total rows of a column sum exactly to that column's total row.
    """

    flag_id: str
    order: Annotated[int, Field(ge=0)]
    source: Literal["prior", "case_match", "rule", "model", "total"]
    column: Literal["policy", "outcome", "identity"] = "policy"
    source_id: str = Field(description='"R-012@2", "feature:booking.one_way", "case:C-1/surname"')
    weight: float = Field(description="log-odds points of the row's column")
    sentence: str
    observed: str | None = Field(default=None, description="None once redacted for sharing")


class Flag(Record):
    """A queued traveller: track, policy score, fitted probability and the versions used."""

    flag_id: str
    night: dt.date
    traveller_id: str
    track: Track
    total: float = Field(
        description="the policy score: the sum of the policy board's rule weights that fired "
        "(it decides the order; it is not a probability's log-odds)"
    )
    outcome_log_odds: float | None = Field(
        default=None, description="log-odds of the fitted outcome model; None without a champion"
    )
    probability: Annotated[float, Field(ge=0.0, le=1.0)] | None = Field(
        default=None,
        description="outcome probability fitted on reviewed outcomes of flagged travellers; "
        "None without a champion model",
    )
    match_probability: Annotated[float, Field(ge=0.0, le=1.0)] | None = Field(
        default=None, description="identity: the chance the traveller is the best case person"
    )
    priority: Annotated[int, Field(ge=1)]
    status: QueueStatus = "new"
    rules_digest: str
    model_uri: str | None = None
    model_version: str | None = None
    matcher_version: str = Field(description="package version + the matching stage's code digest")
    parser_version: str = Field(description="package version + the ingest stage's code digest")
    code_digest: Sha256 = Field(
        description="SHA-256 over every stage's code digest (apiflag.provenance.combined_digest)"
    )
    input_messages: tuple[Sha256, ...] = ()


class Disposition(Record):
    """A human decision on a flag, with its reason code."""

    flag_id: str
    outcome: Outcome
    reason_code: Annotated[str, Field(min_length=1)]
    analyst: Annotated[str, Field(min_length=1)]
    note: str | None = None
    decided_at: dt.datetime


class AuditEvent(Record):
    """One event of the append-only, SHA-256 hash-chained audit log."""

    seq: Annotated[int, Field(ge=1)]
    time: dt.datetime
    actor: Annotated[str, Field(min_length=1)]
    action: Annotated[str, Field(min_length=1)]
    object: str
    details: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str
    hash: str


RECORDS: dict[str, type[Record]] = {
    "flight_leg": FlightLeg,
    "document": Document,
    "address": Address,
    "source_ref": SourceRef,
    "api_traveller": ApiTraveller,
    "paxlst_manifest": PaxlstManifest,
    "contact": Contact,
    "payment": Payment,
    "agency": Agency,
    "ticket": Ticket,
    "bag": Bag,
    "seat": Seat,
    "itinerary_leg": ItineraryLeg,
    "pnr_traveller": PnrTraveller,
    "pnr_booking": PnrBooking,
    "pnrgov_message": PnrgovMessage,
    "case": Case,
    "case_person": CasePerson,
    "case_identifier": CaseIdentifier,
    "contribution": Contribution,
    "evidence": Evidence,
    "flag": Flag,
    "disposition": Disposition,
    "audit_event": AuditEvent,
}


def describe_validation_error(exc: ValidationError, context: str = "") -> str:
    """Render a pydantic error as one line naming each field, its value and the reason.

    Args:
        exc: the error pydantic raised.
        context: prefix such as ``"persons.csv: row 7"``.

    Returns:
        ``"<context>: field 'x': value 'v': reason; ..."`` on a single line.
    """
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(record)"
        value = err.get("input")
        shown = repr(value) if not isinstance(value, dict) else "{...}"
        if len(shown) > 60:
            shown = shown[:57] + "..."
        parts.append(f"field '{field}': value {shown}: {err['msg']}")
    body = "; ".join(parts)
    return f"{context}: {body}" if context else body
