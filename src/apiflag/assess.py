"""``apiflag assess``: how the nightly job did on a synthetic world, measured against its truth.

This is the one module that reads a synthetic world's ``truth/`` to measure the nightly job
(``tests/test_synth_world.py`` checks that nothing that scores does); it never runs inside the
nightly job. It reads the world (``truth/travellers.csv``) and what the nights left under
``$APIFLAG_HOME``: each night's ``combined.parquet`` (every arrival: flagged, track, priority,
monitoring columns) and the queue database (``flags``: who was queued on which track;
``night_runs``: the capacity each night ran with). It reports:

* **recall** of the planted (involved: ``victim`` or ``trafficker``) travellers per pattern, per
  travelling role in the pattern (the world's own vocabulary: recruit, trainee, escort,
  escorted, adult, minor, second identity, case person ...) and per track, each with a Wilson
  95 % interval. Wilson because each figure is one binomial proportion over few travellers (a
  role may have 3), where the normal interval leaves [0, 1] and says nothing at 0 or 1. A planted
  traveller the warehouse does not hold (quarantined, unreadable key) counts as missed.
* **precision at capacity** for prevalences from the world's own down to 3 in 10 million.
  A world that rare is not generated: the uninvolved arrivals are reweighted (importance
  weights) so that the involved share is the prevalence asked for while a night keeps its
  arrivals, and the night's queue is refilled in the nightly job's own order (case matches at
  or above the threshold first, then ``priority``) up to the capacity the night ran with. At the
  world's own prevalence every weight is 1 and the figure is the observed one. The interval is a
  percentile bootstrap (Poisson weights, 1,000 replicates): planted travellers are resampled by
  pattern instance (an escort and the people with him stand or fall together), the others one
  by one. A bootstrap because the figure is a ratio cut at capacity, for which no closed form
  holds; it is honest about few planted instances and, like any resampling of one world, says
  nothing about travellers the world does not write.
* **the queue's share of each confounder** recorded in truth (and of the pattern's uninvolved
  people, such as the genuine holder of a passport someone else uses);
* **flag-rate ratios** by nationality, sex and age band (the nightly fairness monitor's
  :func:`apiflag.report.nightly.fairness_table`, with the settings' age bands), over all
  arrivals and over the uninvolved only (the false flags a group bears).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

from apiflag.errors import ApiflagError

__all__ = [
    "DEFAULT_PREVALENCES",
    "INVOLVED",
    "assess",
    "assess_command",
    "load_assessment",
    "precision_at_capacity",
    "recall_tables",
    "render_text",
    "wilson",
]

INVOLVED: tuple[str, ...] = ("victim", "trafficker")
"""Truth labels of the travellers a pattern involves (the rest are uninvolved)."""

TARGET_TRACK: dict[str, str] = {"victim": "protection", "trafficker": "examination"}
"""The track each involved label belongs on."""

DEFAULT_PREVALENCES: tuple[float, ...] = (1e-3, 1e-4, 1e-5, 1e-6, 3e-7)
"""Prevalences assessed besides the world's own (3e-7: about Japan's protected victims)."""

TRUTH_COLUMNS = ("truth_label", "pattern", "pattern_role", "pattern_group", "confounder")
Z95 = 1.959963984540054


@dataclass
class Assessment:
    """What the command reads: one row per arrival of the assessed nights, and the truth.

    Attributes:
        frame: traveller_id, night, truth columns ('' / 'none' when truth has no row), flagged,
            queued (in the queue database), queue_track, strong (always queued), priority,
            nationality, sex, age_band.
        planted: truth rows of involved travellers on the assessed nights (found or not).
        capacity: ``{night: capacity}`` from the queue database's latest run of each night.
        world_prevalence: the ``prevalence`` the world was generated with.
    """

    frame: pd.DataFrame
    planted: pd.DataFrame
    capacity: dict[str, int]
    world_prevalence: float | None


def wilson(k: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Return the Wilson score interval of ``k`` successes in ``n`` trials (NaN for n = 0)."""
    if n <= 0:
        return (math.nan, math.nan)
    p = k / n
    den = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    low = 0.0 if k <= 0 else max(0.0, centre - half)  # exact at the ends: no rounding residue
    high = 1.0 if k >= n else min(1.0, centre + half)
    return (low, high)


# --------------------------------------------------------------------------- reading


def _truth_path(world: Path) -> Path:
    if not world.is_dir():
        raise ApiflagError(f"{world}: no such world folder")
    path = world / "truth" / "travellers.csv"
    if not path.is_file():
        raise ApiflagError(f"{path}: missing: assess needs a synthetic world with its truth")
    return path


def _world_nights(world: Path) -> tuple[list[str], float | None]:
    meta_path = world / "world.json"
    if not meta_path.is_file():
        raise ApiflagError(f"{meta_path}: missing: not a synthetic world")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        cfg = meta.get("parameters", {})
        prevalence = cfg.get("prevalence")
        nights = [str(n) for n in meta.get("nights", [])]
    except (ValueError, AttributeError) as exc:
        raise ApiflagError(f"{meta_path}: unreadable world description: {exc}") from exc
    return nights, float(prevalence) if prevalence is not None else None


def _queue(nights: Sequence[str]) -> tuple[pd.DataFrame, dict[str, int]]:
    """Queued flags and each night's capacity, from the queue database."""
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from apiflag.db import safe_url
    from apiflag.queue.store import flags, night_runs, open_engine

    engine = open_engine()
    days = [dt.date.fromisoformat(n) for n in nights]
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(flags.c.night, flags.c.traveller_id, flags.c.track).where(
                    flags.c.night.in_(days)
                )
            ).all()
            runs = conn.execute(
                select(night_runs.c.night, night_runs.c.capacity)
                .where(night_runs.c.night.in_(days))
                .order_by(night_runs.c.id)
            ).all()
    except SQLAlchemyError as exc:
        raise ApiflagError(f"{safe_url(str(engine.url))}: cannot read the queue: {exc}") from exc
    finally:
        engine.dispose()
    capacity = {str(n): int(c) for n, c in runs}  # the latest run of each night wins
    for night in nights:
        if night not in capacity:
            raise ApiflagError(
                f"queue database: no nightly run recorded for night {night} (run `apiflag run`)"
            )
    queued = pd.DataFrame(
        [(str(n), str(t), str(k)) for n, t, k in rows],
        columns=["night", "traveller_id", "queue_track"],
    )
    return queued, capacity


def load_assessment(world: Path, nights: Sequence[str] | None = None) -> Assessment:
    """Read a world's truth and what the nightly job left for its nights under ``$APIFLAG_HOME``.

    Args:
        world: the synthetic world folder (``world.json``, ``truth/``).
        nights: nights to assess (default: the world's current nights that were run).

    Raises:
        ApiflagError: no world, no truth, a night without results or without a queue run.
    """
    from apiflag import config
    from apiflag.rules.report import truth_labels

    truth_path = _truth_path(world)
    world_nights, prevalence = _world_nights(world)
    if not nights:
        nights = [
            n for n in world_nights if (config.warehouse_dir(n) / "combined.parquet").is_file()
        ]
        if not nights:
            raise ApiflagError(
                f"{config.warehouse_dir()}: no night of {world} has been run "
                "(no combined.parquet; run `apiflag run --from WORLD` first)"
            )
    frames = []
    for night in nights:
        path = config.warehouse_dir(night) / "combined.parquet"
        if not path.is_file():
            raise ApiflagError(f"{path}: missing: night {night} has not been run")
        combined = pd.read_parquet(path)
        labels = truth_labels(world, [night], columns=TRUTH_COLUMNS)
        f = combined.merge(labels, on="traveller_id", how="left").assign(night=night)
        frames.append(f)
    queued, capacity = _queue(nights)
    frame = pd.concat(frames, ignore_index=True)
    frame["traveller_id"] = frame["traveller_id"].astype(str)
    frame = frame.merge(queued, on=["night", "traveller_id"], how="left")
    frame["queued"] = frame["queue_track"].notna()
    for col in TRUTH_COLUMNS:
        frame[col] = frame[col].fillna("none" if col == "truth_label" else "")
    frame["strong"] = frame["strong_case_match"].fillna(False).astype(bool)
    frame["flagged"] = frame["flagged"].fillna(False).astype(bool)
    truth = pd.read_csv(truth_path, dtype=str, keep_default_na=False)
    planted = truth.loc[truth["night"].isin(list(nights)) & truth["truth_label"].isin(INVOLVED)]
    keep = [
        "traveller_id", "night", *TRUTH_COLUMNS, "flagged", "queued", "queue_track", "strong",
        "priority", "nationality", "sex", "age_band",
    ]  # fmt: skip
    return Assessment(frame[keep], planted.reset_index(drop=True), capacity, prevalence)


# --------------------------------------------------------------------------- recall


def _recall_row(keys: dict[str, Any], planted: int, sub: pd.DataFrame) -> dict[str, Any]:
    queued = int(sub["queued"].sum())
    target = sub["truth_label"].map(TARGET_TRACK)
    on_target = int((sub["queued"] & (sub["queue_track"] == target)).sum())
    lo, hi = wilson(queued, planted)
    tracks = sub.loc[sub["queued"], "queue_track"].value_counts().sort_index()
    return {
        **keys,
        "planted": planted,
        "found": len(sub),
        "flagged": int(sub["flagged"].sum()),
        "queued": queued,
        "queued_on_target_track": on_target,
        "recall": queued / planted if planted else math.nan,
        "recall_low": lo,
        "recall_high": hi,
        "queued_by_track": {str(k): int(v) for k, v in tracks.items()},
    }


def recall_tables(a: Assessment) -> dict[str, list[dict[str, Any]]]:
    """Recall of the planted travellers: overall, per pattern, per role in it, per track.

    ``planted`` counts truth's involved travellers on the assessed nights; ``found`` those the
    warehouse holds; ``queued`` those in the queue database on any track (``recall`` =
    queued / planted, with its Wilson 95 % interval); ``queued_on_target_track`` those on the
    track their label belongs on (victim: protection, trafficker: examination).
    """
    inv = a.frame.loc[a.frame["truth_label"].isin(INVOLVED)].copy()
    planted = a.planted.copy()
    for f in (inv, planted):
        f["target_track"] = f["truth_label"].map(TARGET_TRACK)
        f["all"] = "all"
    out: dict[str, list[dict[str, Any]]] = {}
    for name, by in (
        ("overall", ["all"]),
        ("pattern", ["pattern"]),
        ("role", ["pattern", "pattern_role", "truth_label"]),
        ("track", ["target_track"]),
    ):
        rows = []
        for key, n in planted.groupby(by).size().items():
            values = key if isinstance(key, tuple) else (key,)
            mask = np.ones(len(inv), dtype=bool)
            for col, v in zip(by, values, strict=True):
                mask &= (inv[col] == v).to_numpy()
            keys = {c: str(v) for c, v in zip(by, values, strict=True) if c != "all"}
            rows.append(_recall_row(keys, int(n), inv.loc[mask]))
        out[name] = rows
    return out


# --------------------------------------------------------------------------- precision


def _night_arrays(a: Assessment, relevant: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Per night: (capacity, positions of strong flags, positions of other flags by priority).

    Positions index the ``relevant`` rows (flagged or involved).
    """
    rel = a.frame.loc[relevant].reset_index(drop=True)
    out = []
    for night, cap in sorted(a.capacity.items()):
        here = (rel["night"] == night).to_numpy() & rel["flagged"].to_numpy(dtype=bool)
        strong = np.flatnonzero(here & rel["strong"].to_numpy(dtype=bool))
        others = rel.loc[here & ~rel["strong"].to_numpy(dtype=bool)]
        order = others.assign(_p=others["priority"].astype("Float64").fillna(np.inf))
        out.append((cap, strong, order.sort_values("_p").index.to_numpy()))
    return out


def precision_at_capacity(
    a: Assessment,
    prevalences: Sequence[float],
    replicates: int = 1000,
    seed: int = 0,
    arrivals_per_night: float | None = None,
) -> list[dict[str, Any]]:
    """Precision of the queue at capacity for each prevalence, with a bootstrap 95 % interval.

    The involved arrivals weigh ``p * A / I`` and the others ``(1 - p) * A / U`` (``A``
    arrivals, ``I`` involved, ``U`` uninvolved over the assessed nights), so the involved share
    is ``p`` and a night keeps its size (or, with ``arrivals_per_night``, has that many
    arrivals: ``A`` = that times the nights); each night's queue is its strong case matches plus the
    other flags in priority order up to the night's capacity, by weight (the last one partly).
    Replicates redraw Poisson(1) weights per planted instance (pattern group) and per
    uninvolved traveller.

    Returns:
        One row per prevalence: precision (low, high), per night the expected queue size,
        involved arrivals and involved queued, and recall at that prevalence.
    """
    f = a.frame
    inv = f["truth_label"].isin(INVOLVED).to_numpy()
    flagged = f["flagged"].to_numpy(dtype=bool)
    relevant = inv | flagged
    n_inv = int(inv.sum())
    n_arrivals = len(f) if arrivals_per_night is None else arrivals_per_night * len(a.capacity)
    n_quiet = int((~relevant).sum())  # unflagged uninvolved: only their total matters
    if n_inv == 0:
        raise ApiflagError("assess: the assessed nights hold no planted traveller")
    rel = f.loc[relevant]
    cluster = np.where(
        inv[relevant],
        "g:" + rel["night"] + ":" + rel["pattern"] + ":" + rel["pattern_group"],
        "t:" + rel["night"] + ":" + rel["traveller_id"],
    )
    codes, uniques = pd.factorize(cluster)
    rng = np.random.default_rng(seed)
    draws = np.ones((replicates + 1, len(uniques)))
    draws[1:] = rng.poisson(1.0, size=(replicates, len(uniques)))
    w = draws[:, codes]  # (R+1) x relevant
    quiet = np.concatenate([[n_quiet], rng.poisson(n_quiet, size=replicates)]).astype(float)
    inv_rel = inv[relevant]
    i_tot = w[:, inv_rel].sum(axis=1)
    u_tot = w[:, ~inv_rel].sum(axis=1) + quiet
    nights = _night_arrays(a, relevant)
    rows = []
    for p in prevalences:
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(inv_rel, 1.0, 0.0)[None, :] * (p * n_arrivals / i_tot)[:, None]
            scale += np.where(inv_rel, 0.0, 1.0)[None, :] * ((1 - p) * n_arrivals / u_tot)[:, None]
            mass = w * scale
        tp = np.zeros(replicates + 1)
        queue = np.zeros(replicates + 1)
        for cap, strong, others in nights:
            m_s = mass[:, strong]
            tp += m_s[:, inv_rel[strong]].sum(axis=1)
            queue += m_s.sum(axis=1)
            m_o = mass[:, others]
            before = np.cumsum(m_o, axis=1) - m_o
            taken = np.clip(cap - before, 0.0, m_o)
            tp += taken[:, inv_rel[others]].sum(axis=1)
            queue += taken.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(queue > 0, tp / queue, np.nan)
        boot = precision[1:][np.isfinite(precision[1:])]
        k = len(a.capacity)
        rows.append(
            {
                "prevalence": p,
                "precision": float(precision[0]),
                "precision_low": float(np.percentile(boot, 2.5)) if len(boot) else math.nan,
                "precision_high": float(np.percentile(boot, 97.5)) if len(boot) else math.nan,
                "queue_per_night": float(queue[0] / k),
                "involved_per_night": p * n_arrivals / k,
                "involved_queued_per_night": float(tp[0] / k),
                "recall": float(tp[0] / (p * n_arrivals)),
                "replicates": int(len(boot)),
            }
        )
    return rows


# --------------------------------------------------------------------------- confounders, fairness


def confounder_table(a: Assessment) -> list[dict[str, Any]]:
    """The queue's share of each kind of traveller truth records (confounders first).

    Kinds: each confounder; ``pattern:role`` for the uninvolved people of a planted pattern
    (a passport's genuine holder); ``involved``; ``ordinary`` (everyone else).
    """
    f = a.frame
    none = f["truth_label"] == "none"
    kind = np.where(
        f["confounder"] != "",
        "confounder:" + f["confounder"],
        np.where(
            none & (f["pattern"] != ""),
            "bystander:" + f["pattern"] + ":" + f["pattern_role"],
            np.where(none, "ordinary", "involved"),
        ),
    )
    total_queued = int(f["queued"].sum())
    rows = []
    g = f.assign(kind=kind).groupby("kind")
    for name, sub in g:
        n, flagged, queued = len(sub), int(sub["flagged"].sum()), int(sub["queued"].sum())
        rows.append(
            {
                "kind": str(name),
                "travellers": n,
                "flagged": flagged,
                "queued": queued,
                "flag_rate": flagged / n,
                "queued_rate": queued / n,
                "queue_share": queued / total_queued if total_queued else 0.0,
            }
        )
    order = ("confounder:", "bystander:", "involved", "ordinary")
    rows.sort(
        key=lambda r: (
            next(i for i, o in enumerate(order) if str(r["kind"]).startswith(o)),
            str(r["kind"]),
        )
    )
    return rows


def fairness_rows(a: Assessment) -> list[dict[str, Any]]:
    """Flag-rate ratios by nationality, sex and age band: all arrivals and the uninvolved only.

    The nightly report's :func:`~apiflag.report.nightly.fairness_table` over the assessed nights
    (the age bands are the ones the nights ran with, ``settings.age_bands``); ``ratio`` is a
    group's flag rate over the overall one; ``uninvolved_ratio`` the same among travellers
    truth says are uninvolved (the false flags a group bears).
    """
    from apiflag.report.nightly import fairness_table

    cols = ["traveller_id", "flagged", "queued", "nationality", "sex", "age_band"]
    f = a.frame[cols].assign(traveller_id=a.frame["night"] + "/" + a.frame["traveller_id"])
    clean = f.loc[(a.frame["truth_label"] == "none").to_numpy()]
    unin = {(r.attribute, r.group): r for r in fairness_table(clean)}
    rows = []
    for r in fairness_table(f):
        u = unin.get((r.attribute, r.group))
        rows.append(
            {
                "attribute": r.attribute,
                "group": r.group,
                "arrivals": r.arrivals,
                "flagged": r.flagged,
                "queued": r.queued,
                "rate": r.rate,
                "ratio": r.ratio,
                "uninvolved_flagged": u.flagged if u else 0,
                "uninvolved_rate": u.rate if u else math.nan,
                "uninvolved_ratio": u.ratio if u else math.nan,
                "small": r.small,
            }
        )
    return rows


# --------------------------------------------------------------------------- the report


def assess(
    world: Path,
    nights: Sequence[str] | None = None,
    prevalences: Sequence[float] = DEFAULT_PREVALENCES,
    replicates: int = 1000,
    seed: int = 0,
    arrivals_per_night: float | None = None,
) -> dict[str, Any]:
    """Measure the nights run on ``world`` against its truth (see the module docs).

    Returns:
        JSON-ready data: ``nights``, ``arrivals``, ``involved``, ``world_prevalence`` (the
        involved share observed) and ``generated_prevalence`` (the world's parameter),
        ``capacity``, ``recall`` (overall, pattern, role, track), ``precision`` (one row per
        prevalence, the world's own first), ``confounders``, ``fairness``, ``method``.
    """
    a = load_assessment(world, nights)
    f = a.frame
    involved = int(f["truth_label"].isin(INVOLVED).sum())
    observed = involved / len(f) if len(f) else math.nan
    ps = [observed, *(p for p in prevalences if p < observed)]
    return {
        "world": str(world),
        "nights": sorted(a.capacity),
        "arrivals": len(f),
        "involved": involved,
        "world_prevalence": observed,
        "generated_prevalence": a.world_prevalence,
        "capacity": a.capacity,
        "queued": int(f["queued"].sum()),
        "flagged": int(f["flagged"].sum()),
        "recall": recall_tables(a),
        "arrivals_per_night": arrivals_per_night,
        "precision": precision_at_capacity(
            a, ps, replicates=replicates, seed=seed, arrivals_per_night=arrivals_per_night
        ),
        "confounders": confounder_table(a),
        "fairness": fairness_rows(a),
        "method": {
            "recall_interval": "Wilson score 95 %",
            "precision_interval": f"percentile bootstrap 95 %, {replicates} Poisson replicates, "
            "planted travellers resampled by pattern instance, the others one by one",
            "reweighting": "involved weigh p*A/I, uninvolved (1-p)*A/U; each night's queue "
            "refilled in priority order up to its capacity",
        },
    }


def jsonable(value: Any) -> Any:
    """``value`` with every NaN replaced by None (strict JSON has no NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _pct(x: float | None) -> str:
    """A share as a percentage: one decimal, or two significant digits below 1 %."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "   n/a"
    if 0 < x < 0.01:
        return f"{100 * x:5.2g}%".replace("e-0", "e-")
    return f"{100 * x:5.1f}%"


def _prev(p: float) -> str:
    if p >= 1e-3:
        return f"{p * 1000:.3g} in 1,000"
    per_m = p * 1e6
    return f"{per_m:.3g} in 1,000,000" if per_m >= 1 else f"{p * 1e7:.3g} in 10,000,000"


def _recall_lines(rows: list[dict[str, Any]], keys: Sequence[str]) -> list[str]:
    head = "  ".join(f"{k:<22}" for k in keys)
    lines = [f"  {head}  planted  found  flagged  queued  on track  recall  (95% Wilson)"]
    for r in rows:
        label = "  ".join(f"{r.get(k, ''):<22}" for k in keys)
        lines.append(
            f"  {label}  {r['planted']:>7}  {r['found']:>5}  {r['flagged']:>7}  {r['queued']:>6}"
            f"  {r['queued_on_target_track']:>8}  {_pct(r['recall'])}"
            f"  ({_pct(r['recall_low']).strip()}-{_pct(r['recall_high']).strip()})"
        )
    return lines


def render_text(r: dict[str, Any], top: int = 8) -> str:
    """The assessment as a readable text report (tables of fixed-width columns)."""
    cap = ", ".join(f"{n} {c}" for n, c in sorted(r["capacity"].items()))
    lines = [
        f"assessment of {r['world']}: nights {', '.join(r['nights'])}",
        f"arrivals {r['arrivals']:,}, involved {r['involved']} "
        f"({_prev(r['world_prevalence'])}), flagged {r['flagged']}, queued {r['queued']}, "
        f"capacity {cap}",
        "",
        "recall of planted travellers per pattern and role (queued on any track / planted)",
        *_recall_lines(r["recall"]["role"], ("pattern", "pattern_role", "truth_label")),
        "",
        "per pattern",
        *_recall_lines(r["recall"]["pattern"], ("pattern",)),
        "",
        "per track (victims belong on protection, traffickers on examination)",
        *_recall_lines(r["recall"]["track"], ("target_track",)),
        *_recall_lines(r["recall"]["overall"], ()),
        "",
        "precision at capacity (uninvolved reweighted; 95% bootstrap interval; nights of "
        + (f"{r['arrivals_per_night']:,.0f}" if r.get("arrivals_per_night") else "the world's")
        + " arrivals)",
        "  prevalence            precision  (95% interval)   queue/night  involved/night"
        "  involved queued/night  recall",
    ]
    for p in r["precision"]:
        lines.append(
            f"  {_prev(p['prevalence']):<20}  {_pct(p['precision'])}   "
            f"({_pct(p['precision_low']).strip()}-{_pct(p['precision_high']).strip()})"
            f"  {p['queue_per_night']:>11.1f}  {p['involved_per_night']:>14.3g}"
            f"  {p['involved_queued_per_night']:>21.3g}  {_pct(p['recall'])}"
        )
    lines += ["", "the queue's share of each kind of traveller truth records"]
    lines.append("  kind                                        travellers  flagged  queued  share")
    for c in r["confounders"]:
        lines.append(
            f"  {c['kind']:<42}  {c['travellers']:>10}  {c['flagged']:>7}  {c['queued']:>6}"
            f"  {_pct(c['queue_share'])}"
        )
    lines += ["", f"flag-rate ratios (group rate / overall; the {top} highest per attribute)"]
    lines.append("  attribute    group      arrivals  flagged  ratio  uninvolved ratio")
    for attr in ("nationality", "sex", "age_band"):
        rows = [x for x in r["fairness"] if x["attribute"] == attr][:top]
        for x in rows:
            small = "  (small group)" if x["small"] else ""
            unr = x["uninvolved_ratio"]
            un = "n/a" if unr is None or math.isnan(unr) else f"{unr:.2f}"
            lines.append(
                f"  {attr:<11}  {x['group']:<9}  {x['arrivals']:>8}  {x['flagged']:>7}"
                f"  {x['ratio']:>5.2f}  {un:>16}{small}"
            )
    return "\n".join(lines)


def _prevalence_list(text: str | None) -> tuple[float, ...]:
    if not text:
        return DEFAULT_PREVALENCES
    out = []
    for part in text.split(","):
        try:
            p = float(part)
        except ValueError:
            raise click.BadParameter(
                f"{part!r} is not a number", param_hint="--prevalences"
            ) from None
        if not 0 < p < 1:
            raise click.BadParameter(f"{part!r} is not in (0, 1)", param_hint="--prevalences")
        out.append(p)
    return tuple(out)


@click.command("assess")
@click.option(
    "--world",
    "world",
    type=click.Path(path_type=Path),
    default=None,
    help="The synthetic world the nights were run on (default: $APIFLAG_HOME/world).",
)
@click.option("--night", "nights", multiple=True, help="Night(s) to assess (default: all run).")
@click.option(
    "--prevalences",
    default=None,
    help="Comma-separated prevalences below the world's own (default 1e-3,1e-4,1e-5,1e-6,3e-7).",
)
@click.option("--replicates", type=click.IntRange(min=10), default=1000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option(
    "--arrivals-per-night",
    type=click.FloatRange(min=1),
    default=None,
    help="Precision at capacity for nights of this size (default: the world's own).",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def assess_command(
    world: Path | None,
    nights: tuple[str, ...],
    prevalences: str | None,
    replicates: int,
    seed: int,
    arrivals_per_night: float | None,
    fmt: str,
) -> None:
    """Measure the nights run on a synthetic world against its truth (recall, precision ...)."""
    from apiflag import config

    for n in nights:
        try:
            dt.date.fromisoformat(n)
        except ValueError:
            raise click.BadParameter(
                f"{n!r} is not a date YYYY-MM-DD", param_hint="--night"
            ) from None
    result = assess(
        world or config.world_dir(),
        nights or None,
        prevalences=_prevalence_list(prevalences),
        replicates=replicates,
        seed=seed,
        arrivals_per_night=arrivals_per_night,
    )
    if fmt == "json":
        click.echo(json.dumps(jsonable(result), indent=1, allow_nan=False))
    else:
        click.echo(render_text(result))
