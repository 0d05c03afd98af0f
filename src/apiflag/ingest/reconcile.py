"""The night's counts: messages in = parsed + quarantined, travellers per flight, links.

:func:`reconcile` computes what ``warehouse/night=<D>/reconciliation.json`` holds;
:class:`IngestReport` carries it and renders it for ``apiflag ingest``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from apiflag import provenance
from apiflag.edifact.rows import PASSENGER_ROLES
from apiflag.ingest.assemble import AssembledNight, NightMessages
from apiflag.ingest.pool import ParsedNight
from apiflag.linking import LEVELS
from apiflag.record_quarantine import NightLosses

__all__ = ["QUALITY", "IngestReport", "reconcile"]

QUALITY = ("clean", "degraded", "quarantined")
"""The per-carrier traveller-record counts the report sums."""


@dataclass(frozen=True)
class IngestReport:
    """What one night's ingest did; ``reconciliation`` is what ``reconciliation.json`` holds.

    Attributes:
        night: the arrival night.
        source: the night folder read.
        warehouse: the night's warehouse folder.
        reconciliation: the counts (see :func:`apiflag.ingest.ingest_night`).
    """

    night: dt.date
    source: Path
    warehouse: Path
    reconciliation: dict[str, Any]

    @property
    def balanced(self) -> bool:
        """Whether every distinct message was either parsed or quarantined."""
        return bool(self.reconciliation["messages"]["balanced"])

    def to_json(self) -> str:
        """Return the reconciliation as indented JSON (what ``--format json`` prints)."""
        return json.dumps(self.reconciliation, indent=2, sort_keys=False, default=str) + "\n"

    def render(self) -> str:
        """Return the reconciliation as a few lines for a person."""
        r = self.reconciliation
        m, t, links = r["messages"], r["travellers"], r["links"]
        lines = [
            f"night {r['night']}: {r['source']}",
            f"messages in {m['arrived']} = distinct {m['distinct']} + resends {m['resends']}; "
            f"distinct {m['distinct']} = parsed {m['parsed']} + quarantined {m['quarantined']}"
            f" ({'balanced' if m['balanced'] else 'NOT BALANCED'})",
            f"messages about other nights (parsed, not loaded): {m['other_night']}",
            f"flights {r['flights']['count']}: travellers {t['total']} "
            f"(passengers {t['passengers']}, crew {t['crew']}); "
            f"flights whose CNT differs from the parsed count: {r['flights']['cnt_mismatches']}",
            f"travellers named again by a later list: replaced {t['replaced']}, "
            f"cancelled (XR) {t['cancelled']}",
            f"PNR pushes {r['bookings']['pushes']}: current {r['bookings']['current']}, "
            f"superseded {r['bookings']['superseded']}",
            f"passengers linked to a PNR {links['passengers_linked']}, "
            f"unlinked {links['passengers_unlinked']}; by level "
            + ", ".join(f"{k} {v}" for k, v in links["by_level"].items()),
        ]
        per_carrier = r.get("carriers", [])
        lines.append(
            f"carriers {len(per_carrier)}: traveller records "
            + ", ".join(f"{k} {sum(c[k] for c in per_carrier)}" for k in QUALITY)
        )
        lines += NightLosses.render(r)
        for q in r["quarantine"]:
            lines.append(
                f"quarantined {q['file']}: segment {q['segment']}: {q['code']}: {q['message']}"
            )
        for f in r["flights"]["per_flight"]:
            if not f["cnt_ok"]:
                lines.append(
                    f"CNT mismatch {f['flight_id']}: passengers {f['passengers_parsed']} parsed"
                    f" / {f['passengers_declared']} declared, crew {f['crew_parsed']} parsed"
                    f" / {f['crew_declared']} declared"
                )
        lines.append(f"warehouse: {self.warehouse}")
        return "\n".join(lines) + "\n"


def _per_flight(
    chosen: NightMessages, travellers: pd.DataFrame, removed: dict[str, tuple[str, str]]
) -> tuple[dict[str, dict[str, Any]], int]:
    """Per flight: messages, parsed against declared counts, loaded, replaced, linked."""
    per_flight: dict[str, dict[str, Any]] = {
        fid: {
            "flight_id": fid,
            "messages": [],
            "passengers_parsed": 0,
            "passengers_declared": None,
            "crew_parsed": 0,
            "crew_declared": None,
        }
        for fid in sorted(chosen.flights)
    }
    for m in chosen.manifests:
        f = per_flight[m["flight_id"]]
        f["messages"].append({"file": m["file"], "sha256": m["sha256"], "index": m["index"]})
        f["passengers_parsed"] += m["passengers"]
        f["crew_parsed"] += m["crew"]
        for kind in ("passengers", "crew"):
            declared = m[f"declared_{kind}"]
            if declared is not None:
                f[f"{kind}_declared"] = (f[f"{kind}_declared"] or 0) + declared
    gone: Counter[tuple[str, str]] = Counter((fid, why) for why, fid in removed.values())
    linked = _linked(travellers)
    by_flight = travellers.assign(_linked=linked).groupby("flight_id")["_linked"]
    linked_per_flight = by_flight.sum().to_dict()
    size_per_flight = by_flight.size().to_dict()
    mismatches = 0
    for fid, f in per_flight.items():
        ok = all(
            f[f"{kind}_declared"] is None or f[f"{kind}_declared"] == f[f"{kind}_parsed"]
            for kind in ("passengers", "crew")
        )
        f["cnt_ok"] = ok
        mismatches += not ok
        f["loaded"] = int(size_per_flight.get(fid, 0))
        f["replaced"] = gone[(fid, "replaced")]
        f["cancelled"] = gone[(fid, "cancelled")]
        f["linked"] = int(linked_per_flight.get(fid, 0))
        f["unlinked"] = f["loaded"] - f["linked"]
    return per_flight, mismatches


def _linked(travellers: pd.DataFrame) -> pd.Series:
    return travellers["link_level"].notna() & (travellers["link_level"] != "ambiguous")


def reconcile(
    night: dt.date,
    folder: Path,
    arrivals: list[dict[str, Any]],
    parsed: ParsedNight,
    chosen: NightMessages,
    assembled: AssembledNight,
) -> dict[str, Any]:
    """Return the night's reconciliation (without the per-carrier and lost-record parts)."""
    travellers, removed, bookings = assembled.travellers, assembled.removed, assembled.bookings
    distinct = len({a["sha256"] for a in arrivals})
    per_flight, mismatches = _per_flight(chosen, travellers, removed)
    linked = _linked(travellers)
    is_pax = travellers["role"].isin(sorted(PASSENGER_ROLES))
    levels = travellers["link_level"].value_counts().to_dict()
    superseded = (
        int(bookings["superseded"].fillna(False).astype(bool).sum()) if len(bookings) else 0
    )
    code = provenance.stage_code_digest("ingest")
    quarantined = parsed.quarantined
    return {
        "night": night.isoformat(),
        "source": str(folder),
        "parser_version": provenance.display_version(code),
        "parser_code_digest": code,
        "messages": {
            "arrived": len(arrivals),
            "resends": len(arrivals) - distinct,
            "distinct": distinct,
            "parsed": parsed.parsed_files,
            "quarantined": len(quarantined),
            "balanced": distinct == parsed.parsed_files + len(quarantined),
            "by_kind": dict(sorted(parsed.kinds.items())),
            "unh_messages": parsed.unh,
            "other_night": len(chosen.other_night),
        },
        "quarantine": quarantined,
        "other_night": chosen.other_night,
        "flights": {
            "count": len(per_flight),
            "cnt_mismatches": mismatches,
            "per_flight": list(per_flight.values()),
        },
        "travellers": {
            "total": len(travellers),
            "replaced": sum(1 for why, _ in removed.values() if why == "replaced"),
            "cancelled": sum(1 for why, _ in removed.values() if why == "cancelled"),
            "passengers": int(is_pax.sum()),
            "crew": int((~is_pax).sum()),
        },
        "bookings": {
            "pushes": len(bookings),
            "current": len(bookings) - superseded,
            "superseded": superseded,
        },
        "links": {
            "linked": int(linked.sum()),
            "unlinked": int((~linked).sum()),
            "passengers_linked": int((linked & is_pax).sum()),
            "passengers_unlinked": int((~linked & is_pax).sum()),
            "by_level": {level.name: int(levels.get(level.name, 0)) for level in LEVELS}
            | {"ambiguous": int(levels.get("ambiguous", 0))},
        },
        "sensitive_dropped": dict(sorted(parsed.dropped.items())),
        "parser_warnings": dict(sorted(parsed.warnings.items())),
    }
