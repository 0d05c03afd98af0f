"""Ingest one arrival night: archive, parse or quarantine, warehouse, push order, links, counts.

:func:`ingest_night` is the stage; ``apiflag ingest`` is a thin shell over it. It guarantees:

- **Nothing lost.** Every file that arrived (``paxlst/`` and ``pnrgov/`` of the night folder)
  is stored once, by SHA-256, under ``$APIFLAG_HOME/archive/<sha[:2]>/<sha>`` (identical
  resends share one copy) and every arrival is logged in
  ``archive/arrivals/night=<D>.jsonl`` (file, hash, size). Each distinct message is either
  parsed or quarantined: a row in the ``quarantine`` table with the parser's stable error code
  and segment number, plus a copy under ``warehouse/night=<D>/quarantine/``. A quarantined file
  never stops the night.
- **Night-level rows.** The warehouse holds the travellers of flights arriving that night (local
  arrival date; a manifest without an arrival time belongs to the folder's night) and the PNR
  bookings for those flights. Parsed messages about other nights are counted, not loaded.
- **PNR push order.** Pushes of the same record locator for the same flight are ordered by the
  message's prepared time (the booking's last transaction when the message has none), then push
  type (a full push before a changed-PNRs push prepared at the same minute), then file order;
  every push is kept, all but the last get ``superseded = true``.
- **Links.** Each API traveller is linked to a PNR traveller by :mod:`apiflag.linking`.
- **Reconciliation.** ``messages in = parsed + quarantined``; per flight, travellers parsed
  against the message's own CNT; linked and unlinked counts. Printed by the CLI and stored as
  ``warehouse/night=<D>/reconciliation.json``.
- **Idempotent.** Ids derive from the message hash, message index and segment number, inputs are
  read in sorted order, and outputs are rewritten whole: a rerun of the same night gives the
  same bytes and leaves the archive as it was.

The package, in the order the data flows:

- :mod:`.sources`: which files a night folder holds (:func:`message_files`), the archive;
- :mod:`.pool`: the parsing pool, files to warehouse column batches
  (:class:`apiflag.edifact.rows.RowBatch`, filled by both readers) or quarantine;
- :mod:`.assemble`: which messages belong to the night, push order, replaced lists, links;
- :mod:`.reconcile`: the counts and :class:`IngestReport`;
- :mod:`.stage`: :func:`ingest_night`, which runs the above and writes the night;
- :mod:`.cli`: ``apiflag ingest``.
"""

from __future__ import annotations

from apiflag.edifact.rows import flight_id_of
from apiflag.ingest import assemble, pool, reconcile, sources, stage
from apiflag.ingest.cli import ingest_command
from apiflag.ingest.pool import BATCH_FILES, E_EMPTY, E_INTERNAL, PARALLEL_MIN_BYTES
from apiflag.ingest.reconcile import IngestReport
from apiflag.ingest.sources import FOLDERS, archive_path, message_files, night_source
from apiflag.ingest.stage import ingest_night
from apiflag.normalise import normalise_contact as normalize_contact

__all__ = [
    "BATCH_FILES",
    "E_EMPTY",
    "E_INTERNAL",
    "FOLDERS",
    "PARALLEL_MIN_BYTES",
    "IngestReport",
    "archive_path",
    "assemble",
    "flight_id_of",
    "ingest_command",
    "ingest_night",
    "message_files",
    "night_source",
    "normalize_contact",
    "pool",
    "reconcile",
    "sources",
    "stage",
]
