"""Retention: mask every store after the masking period, delete everything after the maximum.

``apply_retention(as_of)`` decides, night by night (a night is the local arrival date):

- **deleted** (older than ``max_years``): the warehouse partition, its masked-date sidecar, the
  queue rows of its flags (every table with a ``flag_id``), its vault rows and holds, its reports,
  its raw messages and their tombstones, and its input folders under ``$APIFLAG_HOME/world``. The
  audit log keeps its events (they carry ids and counts, never values) so the chain still verifies.
- **masked** (older than ``masking_days``): names, contacts, addresses, payment details,
  frequent-flyer numbers, document numbers, record locators, seats and birth dates become keyed
  pseudonyms (:func:`apiflag.privacy.keys.pseudonym`) in the warehouse Parquet and stage outputs
  (rewritten atomically, each column keeping its type: dates become null and their pseudonyms
  go to ``$APIFLAG_HOME/privacy/night=<D>/masked_dates.parquet``), in the queue database (flag
  rows and every row hanging off them; explanation ``observed`` values and notes are emptied),
  in reports, in MLflow artifacts and in every other text or Parquet file under the home. Raw
  messages are deleted and replaced by a tombstone ``<sha>.masked`` (hash, size, night: no
  content), so reconciliation by SHA-256 still adds up. The originals go first, encrypted, to
  the vault (:mod:`apiflag.privacy.store`); no plain copy survives anywhere else.
- **held**: a flag decided ``hearing`` or ``victim_support`` that carries a case reference
  (``apiflag retention hold``) keeps its traveller's rows readable until the case is closed; the
  next run after closing masks them. Holds postpone masking, never deletion: at the maximum the
  case's own file, kept by the authority that opened it, is the record (EU PNR Directive
  Art. 12(4)).

Every night masked or deleted is one audit event with counts per store. Re-running is safe: a
pseudonym is never masked twice, and a masked night without holds is not read again.

The package, store by store: :mod:`.night` (a warehouse partition and its masked dates),
:mod:`.archive` (raw messages and their tombstones), :mod:`.queue` (flag rows, holds),
:mod:`.sweep` (every other file under the home) and :mod:`.run` (:func:`apply_retention`, which
decides the nights and runs the others).
"""

from __future__ import annotations

from apiflag.privacy.retention.queue import HELD_STATUSES, close_case, place_hold
from apiflag.privacy.retention.run import RetentionReport, apply_retention

__all__ = ["HELD_STATUSES", "RetentionReport", "apply_retention", "close_case", "place_hold"]
