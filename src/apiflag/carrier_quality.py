"""Data quality per carrier, night after night: what ingest stores and what the report compares.

Ingest stores, for every file it read, each carrier's figures as ``apiflag conformance`` counts
them (the same code: :func:`apiflag.edifact.carriers.account_file`), in two warehouse tables
of the night:

* ``carrier_quality``: one row per (file, carrier): messages, travellers ``declared`` (null when
  a manifest of the carrier in that file has no CNT), read ``clean``, read ``degraded`` (some
  values null) and ``quarantined`` (in a record that could not be read);
* ``carrier_deviations``: one row per (file, carrier, segment tag, code, field): how often, and
  for quarantined records how many travellers they held.

Files refused whole are not in them (no carrier can be read from them): they are rows of the
``quarantine`` table. The night's totals per carrier also go into ``reconciliation.json``
(``carriers``). Carrier codes, counts and codes are not personal data.

The nightly report then compares each carrier's **share of travellers lost in part or whole**
tonight, ``(degraded + quarantined) / (clean + degraded + quarantined)``, with the median of
that share over the carrier's earlier nights (:func:`carrier_trends`), and names the carriers
whose share rose above the :class:`DropRule` (the report's setting,
``apiflag.report.nightly.CARRIER_DROP``).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from apiflag import warehouse
from apiflag.edifact import ParsedFile
from apiflag.edifact.carriers import account_parsed

__all__ = [
    "TABLES",
    "CarrierQuality",
    "CarrierTrend",
    "DropRule",
    "NightAccounts",
    "carrier_trends",
    "file_rows",
]

TABLES: tuple[str, ...] = ("carrier_quality", "carrier_deviations")
"""The warehouse tables of this module (schemas in :data:`apiflag.warehouse.SCHEMAS`)."""

Rows = dict[str, list[dict[str, Any]]]
"""Table name -> rows (each a dict of column -> value)."""


# --------------------------------------------------------------------------- ingest side


def file_rows(file: str, sha: str, parsed: ParsedFile) -> Rows:
    """Each carrier's rows of one file the reader read (see the module docstring).

    Args:
        file: the file's name in the night folder (``paxlst/QK21_NRT_pax.edi``).
        sha: the SHA-256 of the archived file.
        parsed: what :func:`~apiflag.edifact.parse_bytes` returned for the file.
    """
    quality: list[dict[str, Any]] = []
    deviations: list[dict[str, Any]] = []
    for c in account_parsed(parsed):
        quality.append(
            {
                "file": file,
                "kind": parsed.kind,
                "carrier": c.carrier,
                "named_by": ",".join(sorted(c.named_by)),
                "messages": c.messages,
                "declared": c.declared,
                "clean": c.clean,
                "degraded": c.degraded,
                "quarantined": c.quarantined,
                "message_sha256": sha,
                "segment": c.first_segment,
            }
        )
        for d in c.sorted_deviations():
            deviations.append(
                {
                    "file": file,
                    "carrier": c.carrier,
                    "tag": d.tag,
                    "code": d.code,
                    "field": d.fld,
                    "count": d.count,
                    "travellers": d.travellers,
                    "message_sha256": sha,
                    "segment": d.segments[0] if d.segments else None,
                }
            )
    return {"carrier_quality": quality, "carrier_deviations": deviations}


@dataclass
class NightAccounts:
    """The rows of every file of a night, gathered in file order by ingest."""

    rows: Rows = field(default_factory=lambda: {name: [] for name in TABLES})

    def add(self, rows: Mapping[str, Sequence[dict[str, Any]]]) -> None:
        """Append one file's rows (:func:`file_rows`)."""
        for name in TABLES:
            self.rows[name].extend(rows.get(name, ()))

    def tables(self) -> dict[str, dict[str, list[Any]]]:
        """Table name -> columns, ready for :func:`apiflag.warehouse.write_tables`."""
        return {
            name: {f.name: [r[f.name] for r in self.rows[name]] for f in warehouse.SCHEMAS[name]}
            for name in TABLES
        }

    def summary(self) -> list[dict[str, Any]]:
        """The night's totals per carrier, for ``reconciliation.json`` (sorted by carrier).

        ``declared`` adds up what the carrier's files declare; ``files_without_count`` says
        how many of them declared nothing (PAXLST without CNT), so ``declared`` leaves their
        travellers out. ``deviations`` is code -> occurrences.
        """
        out: dict[str, dict[str, Any]] = {}
        for r in self.rows["carrier_quality"]:
            c = out.setdefault(
                r["carrier"],
                {
                    "carrier": r["carrier"],
                    "files": 0,
                    "messages": 0,
                    "declared": 0,
                    "files_without_count": 0,
                    "travellers": 0,
                    "clean": 0,
                    "degraded": 0,
                    "quarantined": 0,
                    "deviations": Counter(),
                },
            )
            c["files"] += 1
            c["messages"] += r["messages"]
            if r["declared"] is None:
                c["files_without_count"] += 1
            else:
                c["declared"] += r["declared"]
            for key in ("clean", "degraded", "quarantined"):
                c[key] += r[key]
                c["travellers"] += r[key]
        for d in self.rows["carrier_deviations"]:
            out[d["carrier"]]["deviations"][d["code"]] += d["count"]
        for c in out.values():
            c["deviations"] = dict(sorted(c["deviations"].items()))
        return [out[k] for k in sorted(out)]


# --------------------------------------------------------------------------- report side


@dataclass(frozen=True)
class DropRule:
    """When the nightly report names a carrier whose data quality dropped.

    A carrier is named when it had at least ``min_travellers`` travellers tonight, at least
    ``min_history`` earlier nights with travellers, and tonight's share of travellers degraded
    or quarantined is more than ``rise_points`` percentage points above the median of that
    share over its last ``window`` earlier nights with travellers (looked for up to
    ``lookback_days`` back). A carrier with fewer earlier nights is reported as *new*, one
    with fewer travellers tonight as *too few to compare*; neither is left out silently.
    """

    min_travellers: int
    rise_points: float
    window: int
    min_history: int
    lookback_days: int

    def describe(self) -> str:
        """The rule in one sentence, as the report states it."""
        return (
            f"share of traveller records degraded or quarantined tonight more than "
            f"{self.rise_points:g} percentage points above its own median over its last "
            f"{self.window} earlier nights with records; at least {self.min_history} such "
            f"nights and {self.min_travellers} records tonight"
        )


Status = Literal["dropped", "steady", "new", "few"]


@dataclass(frozen=True)
class CarrierTrend:
    """One carrier tonight against its history.

    Attributes:
        carrier: the carrier code.
        travellers: its travellers found tonight (clean + degraded + quarantined).
        lost: of them, degraded or quarantined.
        median: the median share over ``nights`` (None without history).
        nights: the earlier nights the median is over, most recent first.
        status: ``dropped`` (named), ``steady``, ``new`` (too little history) or ``few``
            (too few travellers tonight to compare).
    """

    carrier: str
    travellers: int
    lost: int
    median: float | None
    nights: tuple[dt.date, ...]
    status: Status

    @property
    def share(self) -> float | None:
        """Tonight's share of travellers degraded or quarantined (None without travellers)."""
        return self.lost / self.travellers if self.travellers else None


@dataclass(frozen=True)
class CarrierQuality:
    """Every carrier of one night against its history, and the rule applied.

    Attributes:
        night: the arrival night.
        rule: the :class:`DropRule` applied.
        stored: whether tonight's per-carrier counts were found (False: ingested by a build
            that did not store them; nothing could be compared).
        trends: one :class:`CarrierTrend` per carrier of the night, sorted by carrier.
    """

    night: dt.date
    rule: DropRule
    stored: bool
    trends: tuple[CarrierTrend, ...] = ()

    def of(self, status: Status) -> list[CarrierTrend]:
        """The carriers with ``status``."""
        return [t for t in self.trends if t.status == status]

    def notes(self) -> list[str]:
        """The sentences of the report's Data quality section (no personal data)."""
        return self.named_notes() + self.other_notes()

    def named_notes(self) -> list[str]:
        """One sentence per carrier whose data quality dropped: tonight, median, nights."""
        return [_dropped_sentence(t) for t in self.of("dropped")]

    def other_notes(self) -> list[str]:
        """How many carriers were compared, and which are new or too small to compare."""
        if not self.stored:
            return [
                f"per-carrier data quality: no counts stored for night {self.night} "
                "(ingested by an earlier build; ingest the night again to compare carriers)"
            ]
        out = []
        compared = len(self.of("dropped")) + len(self.of("steady"))
        if not self.of("dropped"):
            out.append(
                f"per-carrier data quality: no carrier's share of traveller records degraded "
                f"or quarantined rose more than {self.rule.rise_points:g} percentage points "
                f"above its median ({compared} carrier{'' if compared == 1 else 's'} compared)"
            )
        new = self.of("new")
        if new:
            out.append(
                f"new carrier{'' if len(new) == 1 else 's'} (fewer than "
                f"{self.rule.min_history} earlier nights with records, not compared): "
                + "; ".join(
                    f"{t.carrier} ({len(t.nights)} earlier night"
                    f"{'' if len(t.nights) == 1 else 's'}; tonight {_pct(t.share)} of "
                    f"{t.travellers} records degraded or quarantined)"
                    for t in new
                )
            )
        few = self.of("few")
        if few:
            out.append(
                f"too few traveller records tonight to compare (under "
                f"{self.rule.min_travellers}): "
                + ", ".join(
                    f"{t.carrier} ({t.lost} of {t.travellers} degraded or quarantined)" for t in few
                )
            )
        return out


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{share * 100:.1f} %"


def _dropped_sentence(t: CarrierTrend) -> str:
    first, last = t.nights[-1], t.nights[0]
    return (
        f"carrier {t.carrier}: {_pct(t.share)} of its {t.travellers} traveller records "
        f"tonight degraded or quarantined ({t.lost}), against a median of {_pct(t.median)} "
        f"over its {len(t.nights)} earlier nights from {first} to {last}"
    )


def _night_counts(night: dt.date) -> dict[str, tuple[int, int]] | None:
    """Per carrier (travellers, degraded + quarantined) of one night; None when not stored."""
    path = warehouse.night_dir(night) / "carrier_quality.parquet"
    if not path.is_file():
        return None
    table = pq.read_table(path, columns=["carrier", "clean", "degraded", "quarantined"])
    out: dict[str, tuple[int, int]] = {}
    cols = table.to_pydict()
    for carrier, clean, degraded, quarantined in zip(
        cols["carrier"], cols["clean"], cols["degraded"], cols["quarantined"], strict=True
    ):
        total, lost = out.get(carrier, (0, 0))
        out[carrier] = (total + clean + degraded + quarantined, lost + degraded + quarantined)
    return out


def _history_counts(
    nights: Sequence[dt.date], carriers: Sequence[str]
) -> dict[dt.date, dict[str, tuple[int, int]]]:
    """Per earlier night and carrier of tonight, (travellers, degraded + quarantined).

    Read lazily: one pyarrow dataset over the nights' ``carrier_quality`` partitions, only the
    four columns and tonight's carriers, summed per night and carrier in Arrow (memory flat in
    the number of nights kept).
    """
    files = [
        str(path)
        for n in nights
        if (path := warehouse.night_dir(n) / "carrier_quality.parquet").is_file()
    ]
    if not files or not carriers:
        return {}
    data = ds.dataset(
        files,
        format="parquet",
        partitioning=ds.partitioning(pa.schema([("night", pa.string())]), flavor="hive"),
        partition_base_dir=str(warehouse.night_dir(nights[0]).parent),
    )
    table = data.to_table(
        columns=["night", "carrier", "clean", "degraded", "quarantined"],
        filter=pc.is_in(ds.field("carrier"), value_set=pa.array(list(carriers), pa.string())),
    )
    sums = table.group_by(["night", "carrier"]).aggregate(
        [("clean", "sum"), ("degraded", "sum"), ("quarantined", "sum")]
    )
    out: dict[dt.date, dict[str, tuple[int, int]]] = {}
    for night, carrier, clean, degraded, quarantined in zip(
        *(
            sums.column(c).to_pylist()
            for c in ("night", "carrier", "clean_sum", "degraded_sum", "quarantined_sum")
        ),
        strict=True,
    ):
        lost = (degraded or 0) + (quarantined or 0)
        out.setdefault(dt.date.fromisoformat(night), {})[carrier] = ((clean or 0) + lost, lost)
    return out


def carrier_trends(night: dt.date, rule: DropRule) -> CarrierQuality:
    """Compare each carrier of ``night`` with its earlier nights in the warehouse.

    Args:
        night: the arrival night.
        rule: when a carrier is named (see :class:`DropRule`).

    Returns:
        The comparison; ``stored`` is False when the night has no ``carrier_quality`` table.
    """
    tonight = _night_counts(night)
    if tonight is None:
        return CarrierQuality(night, rule, stored=False)
    history: dict[str, list[tuple[dt.date, float]]] = {c: [] for c in tonight}
    earliest = night - dt.timedelta(days=rule.lookback_days)
    past_counts = _history_counts(
        [n for n in warehouse.nights() if earliest <= n < night], sorted(tonight)
    )
    for past in sorted(past_counts, reverse=True):
        for carrier, (total, lost) in past_counts[past].items():
            h = history[carrier]
            if total and len(h) < rule.window:
                h.append((past, lost / total))
    trends = []
    for carrier, (total, lost) in sorted(tonight.items()):
        h = history[carrier]
        median = statistics.median(s for _, s in h) if h else None
        status: Status
        if len(h) < rule.min_history:
            status = "new"
        elif total < rule.min_travellers:
            status = "few"
        elif median is not None and lost / total > median + rule.rise_points / 100:
            status = "dropped"
        else:
            status = "steady"
        trends.append(CarrierTrend(carrier, total, lost, median, tuple(n for n, _ in h), status))
    return CarrierQuality(night, rule, stored=True, trends=tuple(trends))
