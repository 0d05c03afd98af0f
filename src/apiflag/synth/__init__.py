"""The synthetic world: arrivals in Japan as PAXLST and PNRGOV files, a case database and truth.

Everything is drawn from one numpy ``Generator`` seeded by ``--seed``: the same seed gives
byte-identical files and identical case-database content. Truth (who really is what) is written
apart, under ``DIR/truth/``, and nothing that scores travellers reads it.
"""

from __future__ import annotations

from apiflag.synth.render import DEFAULT_STYLE, RenderStyle, render_paxlst, render_pnrgov

__all__ = ["DEFAULT_STYLE", "RenderStyle", "render_paxlst", "render_pnrgov"]
