"""The rule catalogue: load the reviewed rule files and fingerprint them.

The digest is the SHA-256 of the catalogue's files (each file name and its exact bytes, in name
order), so any edit, comment included, gives a new digest, and the same files give the same
digest wherever they live. Every hit and every flag records it.

Loading refuses a catalogue that does not lint clean (unknown or protected fields, failing
examples, ...), so the nightly job can never score with an unreviewed rule. Review dates are
not checked here: scoring skips an overdue rule and says so (see :func:`evaluate`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from apiflag.errors import ApiflagError
from apiflag.rules.evaluate import RuleResult, evaluate
from apiflag.rules.lint import lint_paths, rule_files
from apiflag.rules.schema import Rule

__all__ = ["Catalogue", "catalogue_digest", "default_rules_dir", "load_catalogue"]


def default_rules_dir() -> Path:
    """``$APIFLAG_RULES_DIR`` if set, else the repository's ``models/rules``."""
    env = os.environ.get("APIFLAG_RULES_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "models" / "rules"


def catalogue_digest(files: Iterable[Path]) -> str:
    """SHA-256 over each file's name and bytes, in name order."""
    h = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.name):
        h.update(path.name.encode("utf-8") + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


@dataclasses.dataclass(frozen=True)
class Catalogue:
    """The loaded rules, their files and the digest that identifies them."""

    rules: tuple[Rule, ...]
    files: tuple[Path, ...]
    digest: str

    def evaluate(self, features: pd.DataFrame, *, night: dt.date | str | None) -> RuleResult:
        """Evaluate the catalogue on a feature table (see :func:`apiflag.rules.evaluate.evaluate`)."""
        return evaluate(self.rules, features, rules_digest=self.digest, night=night)

    def by_ref(self) -> dict[str, Rule]:
        """Rules by ``R-xxx@v``."""
        return {r.ref: r for r in self.rules}


def load_catalogue(paths: Iterable[Path] | None = None) -> Catalogue:
    """Load and check the rule catalogue.

    Args:
        paths: rule files or folders; default :func:`default_rules_dir`.

    Returns:
        The catalogue, rules in id order.

    Raises:
        ApiflagError: a file is refused by the linter (the first finding is named), or there is
            no rule at all.
    """
    targets = list(paths) if paths is not None else [default_rules_dir()]
    for p in targets:
        if not p.exists():
            hint = " (set APIFLAG_RULES_DIR to the catalogue folder)" if paths is None else ""
            raise ApiflagError(f"{p}: no such rule file or folder{hint}")
    report = lint_paths(targets, today=None)
    if report.findings:
        first = report.findings[0]
        more = len(report.findings) - 1
        tail = f" (and {more} more; run 'apiflag rules lint')" if more else ""
        raise ApiflagError(f"rule catalogue refused: {first.line()}{tail}")
    files, _ = rule_files(targets)
    if not report.rules:
        raise ApiflagError(f"{', '.join(map(str, targets))}: no rules")
    rules = tuple(sorted((r for _, r in report.rules), key=lambda r: r.id))
    return Catalogue(rules=rules, files=tuple(files), digest=catalogue_digest(files))
