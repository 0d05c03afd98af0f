"""Everything else under the home swept: reports, MLflow artifacts, world CSVs, other files.

A file under a masked night (its path names the night) is swept with that night's dictionary;
any other file with the values masked tonight, except birth dates and values under four
characters (they are also other things). The secrets, the archive, the warehouse, the privacy
folder, the case database and SQL databases are not swept here.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from apiflag import atomic, config
from apiflag.privacy.keys import is_pseudonym
from apiflag.privacy.masking import PersonalDictionary
from apiflag.privacy.policy import REDACT, kind_by_name, sweepable
from apiflag.privacy.retention.night import Held, NightMasker

__all__ = ["TEXT_SUFFIXES", "mask_night_files", "night_of", "sweep_file", "sweep_files"]

TEXT_SUFFIXES = frozenset(
    {
        ".json",
        ".jsonl",
        ".csv",
        ".tsv",
        ".txt",
        ".md",
        ".html",
        ".htm",
        ".yaml",
        ".yml",
        ".log",
        ".svg",
        ".xml",
        ".edi",
    }
)
"""Suffixes of the text files swept for personal values."""
_NIGHT_IN_PATH = re.compile(r"(\d{4}-\d{2}-\d{2})")


def night_of(path: Path) -> str | None:
    """Return the night a path names (its last ``YYYY-MM-DD``), or None."""
    for part in reversed(path.parts):
        m = _NIGHT_IN_PATH.search(part)
        if m:
            return m.group(1)
    return None


def _excluded(path: Path, home: Path) -> bool:
    rel = path.relative_to(home).parts
    if not rel:
        return True
    top = rel[0]
    if top in {"secrets", "archive", "warehouse", "privacy"}:
        return True
    if any("casedb" in part for part in rel):  # the case database is not passenger data
        return True
    return path.name.startswith(".")


def _is_db(path: Path) -> bool:
    if path.suffix in {".db", ".sqlite", ".sqlite3"}:
        return True
    try:
        with path.open("rb") as fh:
            return fh.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def _sweep_csv(
    path: Path, nights: dict[str, PersonalDictionary], unscoped: PersonalDictionary
) -> int:
    text = path.read_text(encoding="utf-8")
    reader = csv.reader(io.StringIO(text))
    rows = list(reader)
    if not rows:
        return 0
    header = rows[0]
    night_col = header.index("night") if "night" in header else None
    kinds = [kind_by_name(h) for h in header]
    changed = 0
    for row in rows[1:]:
        if night_col is not None:
            night = row[night_col][:10] if night_col < len(row) else ""
            if night not in nights:
                continue
            dictionary = nights[night]
        else:
            dictionary = unscoped
        for i, value in enumerate(row):
            if not value or is_pseudonym(value) or i == night_col:
                continue
            kind = kinds[i] if i < len(kinds) else None
            if kind in {"dob", "date"} and night_col is not None:
                dictionary.add(kind, value)
                row[i] = ""
                changed += 1
            elif kind == REDACT and night_col is not None:
                row[i] = ""
                changed += 1
            elif kind is not None and night_col is not None:
                row[i] = dictionary.add(kind, value) or value
                changed += 1
            elif sweepable(header[i] if i < len(header) else ""):
                new, n = dictionary.mask_text(value)
                if n:
                    row[i] = new
                    changed += n
    if changed:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        atomic.write_bytes(path, out.getvalue().encode("utf-8"))
    return changed


def sweep_file(path: Path, dictionary: PersonalDictionary) -> int:
    """Replace the dictionary's values in a text file; return how many."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return 0
    new, n = dictionary.sweep(text)
    if n:
        atomic.write_bytes(path, new.encode("utf-8"))
    return n


def sweep_files(
    nights: dict[str, PersonalDictionary],
    unscoped: PersonalDictionary,
    masker_for: dict[str, NightMasker],
) -> dict[str, dict[str, int]]:
    """Sweep every other file under the home: reports, MLflow artifacts, world CSVs.

    Returns night (``""`` when the file belongs to no masked night) -> store -> count.
    """
    home = config.home()
    counts: dict[str, dict[str, int]] = {}
    if not len(unscoped) and not nights:
        return counts
    scoped = {
        night: dictionary.without(masker_for[night].held_values.entries)
        for night, dictionary in nights.items()
    }
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        if _excluded(path, home) or _is_db(path):
            continue
        rel = path.relative_to(home)
        store_name = {
            "reports": "reports",
            "mlartifacts": "mlflow_artifacts",
            "world": "world",
        }.get(rel.parts[0], "other_files")
        night = night_of(rel) if rel.parts[0] in {"reports", "world"} else None
        if night is not None and night not in nights and path.suffix not in {".csv", ".tsv"}:
            continue  # a live night's report: masked when its own night is
        dictionary = scoped[night] if night in scoped else unscoped
        if path.suffix == ".parquet":
            masker = masker_for.get(night or "") or NightMasker(night or "", Held())
            n = masker.mask_parquet(path, path.stem, dictionary, scoped=False)
        elif path.suffix in {".csv", ".tsv"}:
            n = _sweep_csv(path, scoped, dictionary)
        elif path.suffix in TEXT_SUFFIXES or not path.suffix:
            n = sweep_file(path, dictionary)
        else:
            n = 0
        if n:
            bucket = counts.setdefault(night if night in nights else "", {})
            bucket[store_name] = bucket.get(store_name, 0) + n
    return counts


def mask_night_files(folder: Path, masker: NightMasker) -> int:
    """Delete raw copies (quarantined messages) in a partition; sweep its other text files."""
    changed = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".parquet"):
        rel = path.relative_to(folder)
        if rel.parts[0] == "quarantine" or path.suffix == ".edi":
            path.unlink()
            changed += 1
        elif path.suffix in TEXT_SUFFIXES:
            changed += sweep_file(path, masker.dictionary)
    return changed
