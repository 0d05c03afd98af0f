"""The synthetic world: arrivals in Japan as PAXLST and PNRGOV files, a case database and truth.

Everything is drawn from one numpy ``Generator`` seeded by ``--seed``: the same seed gives
byte-identical files and identical case-database content. Truth (who really is what) is written
apart, under ``DIR/truth/``, and nothing that scores travellers reads it.

Public surface: :func:`generate_world` and :class:`WorldConfig` (what ``apiflag synth`` runs),
:func:`summarize_world` (what ``make demo`` prints), and the EDIFACT writer
:func:`render_paxlst` / :func:`render_pnrgov` with its :class:`RenderStyle`.
"""

from __future__ import annotations

from apiflag.synth.render import DEFAULT_STYLE, RenderStyle, render_paxlst, render_pnrgov
from apiflag.synth.world import WorldConfig, generate_world, summarize_world

__all__ = [
    "DEFAULT_STYLE",
    "RenderStyle",
    "WorldConfig",
    "generate_world",
    "render_paxlst",
    "render_pnrgov",
    "summarize_world",
]
