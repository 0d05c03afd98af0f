"""Fuzzy matching of travellers and bookings against the trafficking-case database.

A pair's score is the sum of per-field log2 Bayes factors (Fellegi-Sunter), so every score
splits into auditable parts. Blocking narrows the candidates; it never changes a score.
Name-only evidence never reaches the reporting threshold: a birth date or a document number
must agree too. A match to a person whose role is victim is marked ``protection_only``.
"""

from __future__ import annotations
