"""Records quarantined while the rest of their file loaded, and the night's traveller balance.

The tolerant reader (:mod:`apiflag.edifact.loss`) loses a *record* (a traveller, a PNR booking,
or a message whose header cannot be read) without losing its file: the record becomes a
:class:`~apiflag.edifact.loss.RecordLoss` in ``ParsedFile.lost``. Ingest keeps each one as a
row of the night's ``record_quarantine`` table (a file refused whole is a row of the
``quarantine`` table instead, and the archived file is copied beside the warehouse):

========================= ====================================================================
column                    meaning
========================= ====================================================================
``file``                  the file's name in the night folder (``paxlst/QK21_NRT_pax.edi``)
``kind``                  ``traveller``, ``booking`` or ``message``
``message_ref``           the UNH reference of the message it came from (null when unknown)
``last_segment``          number of the record's last segment (``segment`` is its first)
``code``                  the reader's stable code (``E_BAD_VALUE``, ``E_TRUNCATED`` ...)
``message``               what could not be read, for a person; never a value (see below)
``travellers``            how many travellers the record held (a booking: its TIFs)
``message_sha256``        the SHA-256 of the archived file: the record's bytes are there
``segment``               number of the record's first segment
========================= ====================================================================

**No value in a message.** Some readers name the value they could not read (a pydantic error
repeats its input: a surname, a date). :func:`scrub` replaces every quoted or ``value ...``
part of a message by its class (``'6 digits'``), so the table holds codes, segment numbers and
field names only, and the privacy policy classifies none of its columns as personal.

**The balance.** Per carrier, the night's accounting (:mod:`apiflag.carrier_quality`, the same
code as ``apiflag conformance``) counts travellers ``declared`` (PAXLST: the CNT counts;
PNRGOV: the TIFs of each PNR), read ``clean``, read ``degraded`` (some values null) and
``quarantined`` (in a lost record). :func:`traveller_balance` adds those rows up for the
night, so ``reconciliation.json`` says whether ``declared = clean + degraded + quarantined``;
it never counts a traveller a second way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from apiflag import warehouse
from apiflag.edifact.loss import RecordLoss, value_class

__all__ = ["TABLE", "NightLosses", "loss_rows", "scrub", "traveller_balance"]

TABLE = "record_quarantine"
"""The warehouse table of quarantined records (schema in :data:`apiflag.warehouse.SCHEMAS`)."""

_QUOTED = re.compile(r"(?P<field>field '[^']*')|'[^']*'|\"[^\"]*\"")
_VALUE = re.compile(r"\bvalue (?!\()([^:;]*):")


def scrub(message: str) -> str:
    """Return ``message`` with every value it quotes replaced by the value's class.

    ``"field 'surname': value 'SMITH': too short"`` becomes
    ``"field 'surname': value (5 letters): too short"``: the field's name and the shape of
    what was sent, never its content.
    """
    text = _QUOTED.sub(lambda m: m.group("field") or f"({value_class(m.group(0)[1:-1])})", message)
    return _VALUE.sub(lambda m: f"value ({value_class(m.group(1))}):", text)


def loss_rows(file: str, sha: str, lost: Iterable[RecordLoss]) -> list[dict[str, Any]]:
    """The ``record_quarantine`` rows of one file's lost records, in file order.

    Args:
        file: the file's name in the night folder.
        sha: the SHA-256 of the archived file.
        lost: ``ParsedFile.lost`` of the file (empty on the fast path: nothing was lost).
    """
    return [
        {
            "file": file,
            "kind": loss.kind,
            "message_ref": loss.message_ref,
            "last_segment": loss.last_segment,
            "code": loss.code,
            "message": scrub(loss.message),
            "travellers": loss.travellers,
            "message_sha256": sha,
            "segment": loss.first_segment,
        }
        for loss in lost
    ]


def traveller_balance(carriers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The night's travellers declared against read clean, degraded and quarantined.

    Args:
        carriers: the night's per-carrier totals
            (:meth:`apiflag.carrier_quality.NightAccounts.summary`).

    Returns:
        ``declared`` (what the files with a count declare), ``files_without_count``
        (PAXLST files of which a manifest has no CNT, whose travellers ``declared`` leaves
        out), ``clean``, ``degraded``, ``quarantined``, ``found`` (their sum) and ``balanced``:
        true when every file declared a count and ``declared == found``.
    """
    total = {k: sum(int(c[k]) for c in carriers) for k in ("clean", "degraded", "quarantined")}
    declared = sum(int(c["declared"]) for c in carriers)
    without = sum(int(c["files_without_count"]) for c in carriers)
    found = sum(total.values())
    return {
        "declared": declared,
        "files_without_count": without,
        **total,
        "found": found,
        "balanced": without == 0 and declared == found,
    }


@dataclass
class NightLosses:
    """The quarantined records of every file of a night, gathered in file order by ingest."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        """Append one file's rows (:func:`loss_rows`)."""
        self.rows.extend(rows)

    def table(self) -> dict[str, list[Any]]:
        """The ``record_quarantine`` columns, for :func:`apiflag.warehouse.write_tables`."""
        return {f.name: [r[f.name] for r in self.rows] for f in warehouse.SCHEMAS[TABLE]}

    def reconciliation(self, carriers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """What ``reconciliation.json`` adds: the traveller balance and the records lost."""
        return {
            "traveller_records": traveller_balance(carriers),
            "record_quarantine": [
                {k: r[k] for k in ("file", "message_sha256", "message_ref", "segment")}
                | {k: r[k] for k in ("last_segment", "kind", "code", "message", "travellers")}
                for r in self.rows
            ],
        }

    @staticmethod
    def render(reconciliation: Mapping[str, Any]) -> list[str]:
        """The lines ``apiflag ingest`` prints about them."""
        b = reconciliation.get("traveller_records")
        if b is None:
            return []
        lines = [
            f"traveller records declared {b['declared']}"
            + (
                f" (+ {b['files_without_count']} files without a count)"
                if b["files_without_count"]
                else ""
            )
            + f" = clean {b['clean']} + degraded {b['degraded']} + quarantined {b['quarantined']}"
            + (" (balanced)" if b["balanced"] else f": found {b['found']}, NOT BALANCED")
        ]
        for r in reconciliation.get("record_quarantine", []):
            span = f"{r['segment']}-{r['last_segment']}"
            lines.append(
                f"record quarantined {r['file']}: segments {span}: {r['code']}: {r['kind']} "
                f"({r['travellers']} travellers): {r['message']}"
            )
        return lines
