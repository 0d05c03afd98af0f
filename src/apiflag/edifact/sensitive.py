"""What the parsers keep from special service requests and free text, and what they drop.

Principle 6 (minimum data): the parsers keep an SSR only when its code is on the allow-list
below, because the risk stages need it (documents, contacts, infants, seats, frequent flyer,
tickets, child and unaccompanied-minor markers). Every other SSR is dropped, in particular meal
codes (which reveal religion or health: MOML, KSML, HNML, VGML, DBML, GFML, ...) and medical
and assistance codes (MEDA, WCHR, WCHS, WCHC, BLND, DEAF, DPNA, ...). Free text is dropped
too: OSI remarks (IFT 4:28 other than a CTCx contact), other IFT remarks, LTS history lines
and PAXLST FTX remarks other than bag tags. Only the contact (CTCE/CTCM/...) and payment
(IFT 4:43 card holder) items survive.

A drop is logged by **code and count, never the value**: ``ParsedFile.dropped`` maps
``"VGML"`` (the SSR code), ``"OSI"``, ``"IFT:<qualifier>"``, ``"LTS"`` or ``"FTX:<qualifier>"``
to how many were dropped in the file.
"""

from __future__ import annotations

from collections import Counter

__all__ = [
    "CONTACT_PHONE_CODES",
    "KEPT_SSR_CODES",
    "MEAL_CODES",
    "MEDICAL_CODES",
    "DropLog",
    "is_kept_ssr",
    "is_sensitive_ssr",
]

#: phone contact codes (mobile, home, business, travel agent, phone, emergency)
CONTACT_PHONE_CODES = frozenset({"CTCM", "CTCH", "CTCB", "CTCT", "CTCP", "CTCR"})

#: SSR codes the parsers read; everything else is dropped and counted
KEPT_SSR_CODES = frozenset(
    {"DOCS", "DOCO", "DOCA", "CTCE", "INFT", "SEAT", "NSST", "RQST", "FQTV", "TKNE", "CHLD", "UMNR"}
    | CONTACT_PHONE_CODES
)

#: IATA special meal codes (religion or health); any other 4-letter code ending in ML counts too
MEAL_CODES = frozenset(
    {
        "AVML", "BBML", "BLML", "CHML", "DBML", "FPML", "GFML", "HFML", "HNML", "JPML", "KSML",
        "LCML", "LFML", "LPML", "LSML", "MOML", "NBML", "NFML", "NLML", "ORML", "PFML", "PRML",
        "RFML", "RVML", "SFML", "SPML", "VGML", "VJML", "VLML", "VOML", "SPMLX",
    }
)  # fmt: skip

#: medical, disability and assistance codes
MEDICAL_CODES = frozenset(
    {
        "MEDA", "WCHR", "WCHS", "WCHC", "WCMP", "WCBD", "WCBW", "WCLB", "WCOB", "BLND", "DEAF",
        "DPNA", "MAAS", "OXYG", "STCR", "SVAN", "ESAN", "PPOC", "POXY", "MEQT", "LANG", "EXST",
        "PRGN", "MEDIF",
    }
)  # fmt: skip


def is_sensitive_ssr(code: str) -> bool:
    """Return True for a meal, medical or assistance SSR code (dropped and counted)."""
    c = code.upper()
    return c in MEAL_CODES or c in MEDICAL_CODES or (len(c) == 4 and c.endswith("ML"))


def is_kept_ssr(code: str) -> bool:
    """Return True for an SSR code on the allow-list (parsed, not dropped)."""
    return code.upper() in KEPT_SSR_CODES


class DropLog:
    """Counts of dropped items by code; never holds a dropped value."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def drop(self, code: str) -> None:
        """Record that one item with ``code`` was dropped."""
        self.counts[code or "?"] += 1

    def as_dict(self) -> dict[str, int]:
        """Return the counts as a plain dict sorted by code."""
        return dict(sorted(self.counts.items()))
