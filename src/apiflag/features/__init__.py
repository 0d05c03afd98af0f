"""The traveller feature table: one row per arriving traveller per night.

Every column is named by its dotted path (``booking.one_way``) and described in
:data:`FEATURE_SPEC` (type, unit, description, and how it may be used). This package decides
what each feature means; the rules and the model only read it.

Where each part lives:

* :mod:`~apiflag.features.spec`: :data:`FEATURE_SPEC`, ``models/features.yaml``, typing by spec.
* :mod:`~apiflag.features.tables`: the warehouse tables a night is built from (:class:`NightTables`).
* :mod:`~apiflag.features.history`: the history window of earlier nights.
* one module per evidence family: :mod:`~apiflag.features.traveller` (age, minors, case
  matches), :mod:`~apiflag.features.booking` (travel, payer, party, identifier case links),
  :mod:`~apiflag.features.contacts` (shared contacts, switchboards),
  :mod:`~apiflag.features.relations` (relations beyond the surname, the companion of a minor),
  :mod:`~apiflag.features.documents`, :mod:`~apiflag.features.route`.
* :mod:`~apiflag.features.build`: the orchestration (:func:`build_features`,
  :func:`build_night_features`); :mod:`~apiflag.features.writer` writes the table.

Guarantees:

* One row per row of the night's ``travellers`` table (passengers and crew), keyed by
  ``traveller_id``; a traveller without a linked booking keeps the row with booking features null.
* A missing input gives a null feature, never a guessed value: "unknown" is not evidence.
* Protected attributes (sex, nationality, date of birth, age, age band, place of birth, country of
  residence) are kept for fairness monitoring only, marked ``use="monitoring"``; the rule linter
  refuses them. Features derived from age (``traveller.is_minor`` and the party's minors and
  adults) are ``use="protection_only"``: only protection-track rules may read them. The
  companion of a minor (``companion.*``) is ``use="companion_of_minor"``: the companion's minor
  status, read by examination-track rules only, never by a model.
* Whether travellers are related is shown beyond the surname (a shared contact or address, booked
  together before, returning together: :mod:`~apiflag.features.relations`), never by surname,
  nationality or route.
* Contacts shared by a booking agency's or a corporate travel desk's switchboard are not counted
  as shared contacts (see :class:`SwitchboardPolicy`), and the number excluded is itself a
  feature, so an analyst sees what was left out.
"""

from __future__ import annotations

from apiflag.features.build import build_features, build_night_features
from apiflag.features.common import _norm_contact, _norm_doc
from apiflag.features.contacts import SwitchboardPolicy
from apiflag.features.spec import (
    FEATURE_SPEC,
    FEATURES,
    FeatureSpec,
    feature_spec_yaml,
    typed_frame,
)
from apiflag.features.tables import (
    IDENTIFIER_MATCH_COLUMNS,
    MATCH_COLUMNS,
    TABLE_COLUMNS,
    NightTables,
)
from apiflag.features.writer import write_features

__all__ = [
    "FEATURE_SPEC",
    "FEATURES",
    "FeatureSpec",
    "IDENTIFIER_MATCH_COLUMNS",
    "MATCH_COLUMNS",
    "NightTables",
    "SwitchboardPolicy",
    "TABLE_COLUMNS",
    "_norm_contact",
    "_norm_doc",
    "typed_frame",
    "build_features",
    "build_night_features",
    "write_features",
    "feature_spec_yaml",
]
