"""Building a night's feature table: each evidence family in turn, typed by the spec."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from apiflag.features.booking import (
    BookingKeys,
    identifier_link_features,
    party_features,
    payer_features,
    travel_features,
)
from apiflag.features.contacts import (
    SwitchboardPolicy,
    _contact_pool,
    contact_features,
    contact_keys_of,
)
from apiflag.features.documents import (
    case_document_features,
    document_features,
    document_keys,
    tonight_documents,
)
from apiflag.features.history import (
    Tonight,
    WarehouseHistory,
    _history_window,
    gather,
    history_nights,
)
from apiflag.features.relations import relation_features
from apiflag.features.route import _route_case_links, _routes
from apiflag.features.spec import typed_frame
from apiflag.features.tables import IDENTIFIER_MATCH_COLUMNS, NightTables, _conform
from apiflag.features.traveller import case_match_features, traveller_features
from apiflag.features.writer import write_features
from apiflag.settings import Settings, load_settings


def _split_identifier_matches(
    identifier_matches: pd.DataFrame | None,
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """(offender-side, former-victim) identifier matches; (None, None) when matching did not run."""
    if identifier_matches is None:
        return None, None
    idm_all = _conform(identifier_matches, IDENTIFIER_MATCH_COLUMNS)
    victim = idm_all["protection_only"].astype("boolean").fillna(False).to_numpy(bool)
    return idm_all.loc[~victim], idm_all.loc[victim]


def build_features(
    tables: NightTables,
    history: list[NightTables] | WarehouseHistory | None = None,
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
            ``booking.shared_contact_bookings``, ``document.seen_under_other_identity`` and
            ``flight.route_case_links`` (others are ignored). A list is used whole; a
            :class:`~apiflag.features.history.WarehouseHistory` is read one night at a time and
            reduced to what can touch tonight (the same features, in flat memory).
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
    keys = BookingKeys.of(tables)
    tr = keys.tr
    out: dict[str, Any] = {"traveller_id": keys.traveller_id}

    traveller, dob, age = traveller_features(tables, tr, night, settings)
    out.update(traveller)
    case_matches, m = case_match_features(tr, matches)
    out.update(case_matches)
    idm, victim_idm = _split_identifier_matches(identifier_matches)

    out.update(travel_features(tables, keys))
    out.update(party_features(tables, keys, dob, age, night))
    out.update(payer_features(keys))
    contact_keys = contact_keys_of(tables)  # normalised once: the pool and relations read them
    pool = _contact_pool(tables, policy, keys.facts.reset_index(), contact_keys)
    doc_keys = document_keys(tables.documents)  # normalised once: four features read them
    docs = tonight_documents(tables, keys, doc_keys)
    if isinstance(history, WarehouseHistory):
        window = history.within(tables.night, settings.history_days)
        tonight = Tonight(
            keys=frozenset(pool["key"]),
            documents=frozenset(d for d in docs if d is not None),
            routes=frozenset(_routes(tables).values()),
        )
        past = gather(window, policy, tonight)
        nights: Iterable[NightTables] = window.only("travellers")  # the relations read only it
    else:
        nights = _history_window(tables.night, history, settings.history_days)
        past = gather(nights, policy)
    out.update(contact_features(tables, pool, past.pool, keys, policy))
    out.update(identifier_link_features(keys, idm))
    out.update(document_features(tables, past.identities, keys, docs, dob, night, doc_keys))
    out.update(case_document_features(tables, keys, idm, victim_idm, doc_keys))
    out["flight.route_case_links"] = _route_case_links(
        tables, past.links, past.with_matches, m, idm, tr, keys.bid
    )
    out.update(relation_features(tables, nights, keys, contact_keys))

    out["bags.checked_count"] = pd.to_numeric(tr["checked_bags"], errors="coerce").astype("Int64")
    out["bags.weight_kg"] = pd.to_numeric(tr["bag_weight_kg"], errors="coerce").to_numpy(float)
    out["api_pnr.linked"] = pd.array(keys.known, dtype="boolean")
    out["api_pnr.link_confidence"] = pd.to_numeric(tr["link_confidence"], errors="coerce").to_numpy(
        float
    )
    return typed_frame(out, len(tr))


def build_night_features(
    night: str, *, write: bool = True, settings: Settings | None = None
) -> pd.DataFrame:
    """Build (and write) one night's features from the warehouse, with its history.

    Reads the night's tables and its own case-match output when present, and every earlier
    night partition within ``settings.history_days`` (with their ``matches.parquet`` and
    ``identifier_matches.parquet`` when present) lazily: one night at a time, only the columns
    history features read (:class:`~apiflag.features.history.WarehouseHistory`).

    Args:
        night: the arrival night, ``YYYY-MM-DD``.
        write: also write ``features.parquet``.
        settings: history window and age bands; default :func:`apiflag.settings.load_settings`.

    Raises:
        ApiflagError: the night has no warehouse partition.
    """
    settings = settings or load_settings()
    tables = NightTables.from_warehouse(night, with_matches=True, features_only=True)
    history = history_nights(tables.night, settings.history_days)
    features = build_features(
        tables, history, tables.matches, tables.identifier_matches, settings=settings
    )
    if write:
        write_features(features, tables.night)
    return features
