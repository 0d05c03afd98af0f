"""Combine a night's evidence table into a policy rank, a track and a capped queue.

Reads one table, the night's evidence (:mod:`apiflag.evidence`: rows of the matcher, the rule
catalogue and the fitted outcome model, each with its target), and decides, per arrival:

* **the policy score**: the sum of the policy board's rule weights that fired. It decides who
  is flagged (with strong case matches) and in which order; it is policy, never a probability.
* **the outcome probability**: the sigmoid of the fitted model's rows (intercept, each input
  including each rule hit and the match logit, calibration step), a model fitted on reviewed
  outcomes of *flagged* travellers. Without a champion there are no such rows and the
  probability is None: the queue is ranked by policy weights alone.
* **the match probability**: the best case match's probability (identity: is this traveller
  that case person?). Its field rows sum to the match log-odds; they are never added to the
  outcome log-odds or the policy score.
* **the track**: ``case_match`` for a match at or above the threshold; ``protection`` when a
  match at or above it is to a victim's record (or the matcher says protection only), even if
  the traveller also matches an offender (non-punishment principle); otherwise the rule track
  with the largest summed weight (ties: protection, document_integrity, examination). A minor
  (under 18 on the night), or a traveller who may be one because no birth date could be read
  in the API or the linked PNR, is only ever on the protection track, whatever fired
  (:mod:`apiflag.minors` decides).
* **who is queued**: every case match at or above the threshold, plus the highest policy scores
  among the rest up to the nightly capacity (ties: the higher outcome probability, then the flag
  id). The rest of the flagged travellers are the overflow, counted, never hidden.

Guarantees: each queued traveller's explanation has three columns (``policy``, ``outcome``,
``identity``) whose rows sum *exactly* (:func:`math.fsum`) to that column's total row; no row is
counted in two columns. ``flag_id`` is deterministic (night, traveller key, track).

The package, in the order a night goes through it: :mod:`.inputs` (the stage outputs checked,
the evidence table gathered), :mod:`.decide` (traveller key, minor status, scores, flagged,
track, rank), :mod:`.explain` (the three-column explanations), :mod:`.assemble` (the combined
table, the flags, their people) and :mod:`.stage` (:func:`combine`, :func:`combine_evidence`);
:mod:`.result` holds the settings, the rule texts, the result and the flag id.
"""

from __future__ import annotations

from apiflag.queue.combine.inputs import gather_evidence
from apiflag.queue.combine.result import (
    BASELINE_IDS,
    RULE_TRACK_ORDER,
    CombineResult,
    CombineSettings,
    RuleInfo,
    flag_id_for,
    sigmoid,
)
from apiflag.queue.combine.stage import combine, combine_evidence
from apiflag.records import TRACKS

__all__ = [
    "BASELINE_IDS",
    "RULE_TRACK_ORDER",
    "TRACKS",
    "CombineResult",
    "CombineSettings",
    "RuleInfo",
    "combine",
    "combine_evidence",
    "flag_id_for",
    "gather_evidence",
    "sigmoid",
]
