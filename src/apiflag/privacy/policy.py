"""What is personal data, how each piece is masked, and for how long it is kept.

The masking policy is data: :data:`WAREHOUSE_COLUMNS` names every personal column of the
warehouse tables documented in ``docs/ARCHITECTURE.md`` with the *kind* of value it holds (the
kind picks the pseudonym's normalisation). Columns of any other table (stage outputs, features,
MLflow inputs) are recognised by name through :data:`COLUMN_KINDS`, and every remaining text
cell of a masked night is swept for the night's known personal values. Kept on purpose, because
fairness monitoring and statistics need them and they do not single anyone out on their own:
nationality, sex, country of residence, an age band, flight, airports, agency, amounts, bags.

The periods follow the EU PNR Directive (Art. 12): personal data is masked after
``masking_days`` (default 180) and everything is deleted after ``max_years`` (default 5).
Both come from ``$APIFLAG_HOME/config.yaml``::

    retention:
      masking_days: 180
      max_years: 5

and a CLI flag overrides the file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from apiflag.errors import UsageError
from apiflag.settings import RetentionPeriods, config_path, read_config
from apiflag.settings import load_settings as load_app_settings

#: The roles of the service (the README's Privacy section says what each may see and do).
ROLES: tuple[str, ...] = ("analyst", "supervisor", "auditor", "model_owner")

__all__ = [
    "COLUMN_KINDS",
    "RetentionSettings",
    "WAREHOUSE_COLUMNS",
    "column_kind",
    "config_path",
    "QUOTED_FIELD_KINDS",
    "kind_by_name",
    "load_settings",
    "read_config",
    "sweepable",
]

DEFAULT_MASKING_DAYS: int = RetentionPeriods.model_fields["masking_days"].default
DEFAULT_MAX_YEARS: int = RetentionPeriods.model_fields["max_years"].default

#: kind "contact" takes the real kind (phone, email, address) from the row's ``kind`` column.
CONTACT = "contact"
#: kind "redact" empties a free-text cell that may name anyone (explanations' observed values).
REDACT = "redact"

WAREHOUSE_COLUMNS: dict[str, dict[str, str]] = {
    "travellers": {
        "surname": "name",
        "given_names": "name",
        "date_of_birth": "dob",
        "place_of_birth": "place",
        "record_locator": "locator",
        "seat": "seat",
        "frequent_flyer": "ff",
        "document_number": "document",
    },
    "documents": {"number": "document", "issue_date": "date", "expiry_date": "date"},
    "bookings": {"record_locator": "locator"},
    "pnr_travellers": {
        "surname": "name",
        "given_names": "name",
        "date_of_birth": "dob",
        "record_locator": "locator",
        "frequent_flyer": "ff",
    },
    "booking_contacts": {"value": CONTACT, "normalized": CONTACT},
    "payments": {"masked_card": "card", "payer_name": "name", "payer_phone": "phone"},
    "quarantine": {"message": REDACT},
    # records lost in a file that loaded: codes, segment numbers, counts; the message names the
    # field and the value's class, never the value (apiflag.record_quarantine.scrub)
    "record_quarantine": {},
    "flights": {},
    "itinerary": {},
    # counts per file and carrier: carrier codes, segment tags, codes and field names only
    "carrier_quality": {},
    "carrier_deviations": {},
}

#: Personal columns of any other table, recognised by the last part of their (dotted) name.
COLUMN_KINDS: dict[str, str] = {
    "surname": "name",
    "given_names": "name",
    "given_name": "name",
    "full_name": "name",
    "payer_name": "name",
    "card_holder": "name",
    "date_of_birth": "dob",
    "dob": "dob",
    "birth_date": "dob",
    "place_of_birth": "place",
    "document_number": "document",
    "doc_number": "document",
    "passport_number": "document",
    "record_locator": "locator",
    "frequent_flyer": "ff",
    "seat": "seat",
    "phone": "phone",
    "payer_phone": "phone",
    "email": "email",
    "address": "address",
    "masked_card": "card",
    "observed": REDACT,
    "note": REDACT,
    "notes": REDACT,
    "remarks": REDACT,
    "comment": REDACT,
    "detail": REDACT,
    "free_text": REDACT,
}

#: The kind of the values an identity explanation row quotes in its ``observed`` pair
#: (:func:`apiflag.evidence.observed_pair`), by the matched field (``field`` in
#: ``match_fields``, the last part of ``source_id`` ``case:<case>/<field>`` in the queue). Its
#: ``sentence`` says the same values (the case person's too, which no warehouse column holds):
#: retention adds them to the night's dictionary before sweeping the sentence.
QUOTED_FIELD_KINDS: dict[str, str] = {
    "surname": "name",
    "given_names": "name",
    "date_of_birth": "dob",
    "document": "document",
}

#: Sources of a night's dictionary of personal values: table -> column -> kind (as above).
DICTIONARY_SOURCES = WAREHOUSE_COLUMNS

#: Columns never swept for personal values: identifiers, hashes, codes and versions.
SWEEP_SKIP_SUFFIXES = ("_id", "sha256", "_digest", "_uri", "_version", "_hash")
SWEEP_SKIP_NAMES = frozenset(
    {"night", "track", "status", "source", "code", "kind", "role", "outcome", "reason_code"}
)


def sweepable(column: str) -> bool:
    """Return whether free text in ``column`` is swept for the night's personal values."""
    name = column.rsplit(".", 1)[-1].lower()
    return name not in SWEEP_SKIP_NAMES and not name.endswith(SWEEP_SKIP_SUFFIXES)


def column_kind(table: str, column: str) -> str | None:
    """Return how ``column`` of ``table`` is masked, or None when it is not personal by itself.

    Args:
        table: a warehouse table or stage output name (``travellers``, ``match_fields`` ...).
        column: the column name, possibly dotted (``traveller.date_of_birth``).

    Returns:
        A pseudonym kind, :data:`CONTACT`, :data:`REDACT` or None.
    """
    if table in WAREHOUSE_COLUMNS:
        return WAREHOUSE_COLUMNS[table].get(column)
    return kind_by_name(column)


#: Prefixes that say whose value a column holds (``person_surname``, ``traveller.surname``).
OWNER_PREFIXES = ("person_", "traveller_", "pax_", "passenger_")


def kind_by_name(column: str) -> str | None:
    """Return the kind of a column of any table from its name (see :data:`COLUMN_KINDS`)."""
    name = column.rsplit(".", 1)[-1].lower()
    if name in COLUMN_KINDS:
        return COLUMN_KINDS[name]
    for prefix in OWNER_PREFIXES:
        if name.startswith(prefix) and name[len(prefix) :] in COLUMN_KINDS:
            return COLUMN_KINDS[name[len(prefix) :]]
    return None


@dataclass(frozen=True)
class RetentionSettings:
    """How long personal data stays readable, and how long anything is kept.

    Attributes:
        masking_days: nights older than this many days are masked (default 180).
        max_years: nights older than this many years are deleted (default 5).
    """

    masking_days: int = DEFAULT_MASKING_DAYS
    max_years: int = DEFAULT_MAX_YEARS

    def __post_init__(self) -> None:
        if self.masking_days < 1:
            raise UsageError(f"masking period: {self.masking_days} days: must be at least 1")
        if self.max_years < 1:
            raise UsageError(f"maximum period: {self.max_years} years: must be at least 1")
        if self.masking_days >= 365 * self.max_years:
            raise UsageError(
                f"masking period ({self.masking_days} days) must be shorter than the "
                f"maximum period ({self.max_years} years)"
            )

    def mask_before(self, as_of: dt.date) -> dt.date:
        """Return the first night that stays unmasked as of ``as_of``."""
        return as_of - dt.timedelta(days=self.masking_days)

    def delete_before(self, as_of: dt.date) -> dt.date:
        """Return the first night that is kept as of ``as_of`` (same day ``max_years`` earlier)."""
        try:
            return as_of.replace(year=as_of.year - self.max_years)
        except ValueError:  # 29 February
            return as_of.replace(year=as_of.year - self.max_years, day=28)


def load_settings(
    masking_days: int | None = None, max_years: int | None = None
) -> RetentionSettings:
    """Return the retention periods: CLI values, else ``config.yaml``, else the defaults.

    The periods are part of the one settings object (:func:`apiflag.settings.load_settings`),
    which validates them with the rest of the file.

    Args:
        masking_days: override of ``retention.masking_days``.
        max_years: override of ``retention.max_years``.

    Returns:
        The validated settings.

    Raises:
        ApiflagError: ``config.yaml`` is not YAML or not a mapping.
        UsageError: one line per bad value (unknown keys, not whole numbers, out of range,
            a masking period not shorter than the maximum).
    """
    periods = load_app_settings(masking_days=masking_days, max_years=max_years).retention
    return RetentionSettings(masking_days=periods.masking_days, max_years=periods.max_years)
