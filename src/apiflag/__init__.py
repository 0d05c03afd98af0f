"""apiflag: nightly API/PNR screening for the trafficking-in-persons action plan.

The public surface is small: the data contracts in :mod:`apiflag.records`, the errors in
:mod:`apiflag.errors` and the state locations in :mod:`apiflag.config`. Each stage of the data
flow lives in its own module or package (``edifact``, ``ingest``, ``matching``, ``rules``,
``model``, ``queue``, ``privacy``, ``synth``); flows only wire them together.
"""

from __future__ import annotations

from apiflag.provenance import package_version

#: Display only (derived from the installed distribution); outputs name their code by digest.
__version__ = package_version()
