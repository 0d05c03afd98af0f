"""Combine and review: tracks, ranking, the queue store and the analyst commands.

:mod:`apiflag.queue.combine` turns a night's stage outputs into ranked flags with exact
explanations; :mod:`apiflag.queue.store` keeps them (and every human decision) in SQL;
:mod:`apiflag.queue.reasons` is the table of reason codes; :mod:`apiflag.queue.cli` is the
``apiflag queue``, ``apiflag explain`` and ``apiflag audit`` commands.
"""

from __future__ import annotations
