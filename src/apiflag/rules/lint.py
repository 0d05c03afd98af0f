"""The rule linter: every reason a rule file is refused, as a tidy table of findings.

A finding names the file, the rule, a stable code, the field concerned and why. The checks:

| code | refused when |
|---|---|
| E_YAML | the file is not a YAML mapping |
| E_SCHEMA | the strict schema refuses it (unknown key, bad operand, bad id ...) |
| E_RATIONALE | the rationale is missing or blank |
| E_UNKNOWN_FIELD | a field is not in the feature specification |
| E_PROTECTED_FIELD | a field is a protected attribute (monitoring only) |
| E_PROTECTION_ONLY | an age-derived field (traveller.is_minor ...) on a track other than protection |
| E_COMPANION_ONLY | a companion-of-a-minor field (``companion.*``, use ``companion_of_minor``) on a track other than examination |
| E_OPERAND_TYPE | an operator does not apply to the field's type, or the value does not fit it |
| E_EXAMPLES | no hit example or no miss example |
| E_EXAMPLE_FIELD | an example gives a field the rule does not read, or a value of the wrong type |
| E_EXAMPLE_FAILED | an example does not give the result it expects |
| E_REVIEW_PAST | ``review_by`` is before today |
| E_DUPLICATE_ID | two files define the same rule id |
| E_FILENAME | the file name does not start with the rule id (``R-012-<slug>.yaml``) |
| E_NO_RULES | a path holds no rule file |

Rules are data: linting never executes rule text.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import ValidationError

from apiflag.features import FEATURES
from apiflag.rules.operators import OPERATORS, check_operand_type
from apiflag.rules.schema import AllOf, AnyOf, Condition, Example, Node, Rule

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

__all__ = ["Finding", "LintReport", "example_frame", "lint_paths", "lint_rule", "rule_files"]


@dataclasses.dataclass(frozen=True)
class Finding:
    """One reason a rule file is refused."""

    file: str
    rule: str | None
    code: str
    field: str | None
    message: str

    def line(self) -> str:
        """One line for a person: ``file: R-012: E_CODE: message``."""
        return f"{self.file}: {self.rule or '-'}: {self.code}: {self.message}"


@dataclasses.dataclass(frozen=True)
class LintReport:
    """The rules that passed the static checks and every finding."""

    rules: tuple[tuple[Path, Rule], ...]
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        """True when nothing was refused."""
        return not self.findings

    def table(self) -> pd.DataFrame:
        """Findings as a tidy table (``file, rule, code, field, message``)."""
        cols = ["file", "rule", "code", "field", "message"]
        return pd.DataFrame([dataclasses.astuple(f) for f in self.findings], columns=cols)


def rule_files(paths: Iterable[Path]) -> tuple[list[Path], list[Finding]]:
    """Expand files and folders into rule files (``*.yaml``, ``*.yml``), sorted per folder."""
    files: list[Path] = []
    findings: list[Finding] = []
    for p in paths:
        if p.is_dir():
            found = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
            if not found:
                findings.append(
                    Finding(str(p), None, "E_NO_RULES", None, "folder holds no *.yaml rule file")
                )
            files.extend(found)
        else:
            files.append(p)
    return files, findings


def _loc(loc: Sequence[Any]) -> str:
    parts: list[str] = []
    for item in loc:
        if item == "cond" or (parts and parts[-1] == str(item) and item in ("all", "any")):
            continue
        parts.append(str(item))
    return ".".join(parts) or "(rule)"


def _conditions(node: Node | None) -> list[Condition]:
    if node is None:
        return []
    if isinstance(node, Condition):
        return [node]
    children = node.all if isinstance(node, AllOf) else node.any
    assert isinstance(node, AllOf | AnyOf)
    return [c for child in children for c in _conditions(child)]


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name, list(FEATURES), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _field_findings(file: str, rule: Rule) -> list[Finding]:
    out: list[Finding] = []
    for cond in [*_conditions(rule.when), *_conditions(rule.unless)]:
        for name in cond.fields():
            spec = FEATURES.get(name)
            if spec is None:
                out.append(
                    Finding(
                        file,
                        rule.id,
                        "E_UNKNOWN_FIELD",
                        name,
                        f"field {name!r} is not in the feature specification{_suggest(name)}",
                    )
                )
            elif spec.use == "monitoring":
                out.append(
                    Finding(
                        file,
                        rule.id,
                        "E_PROTECTED_FIELD",
                        name,
                        f"field {name!r} is a protected attribute (kept for fairness "
                        "monitoring only); no rule may use it",
                    )
                )
            elif spec.use == "protection_only" and rule.track != "protection":
                out.append(
                    Finding(
                        file,
                        rule.id,
                        "E_PROTECTION_ONLY",
                        name,
                        f"field {name!r} is protected (derived from age); only "
                        f"protection-track rules may read it, this rule is on {rule.track}",
                    )
                )
            elif spec.use == "companion_of_minor" and rule.track != "examination":
                out.append(
                    Finding(
                        file,
                        rule.id,
                        "E_COMPANION_ONLY",
                        name,
                        f"field {name!r} is a companion's minor status (Palermo Protocol art. "
                        "3(c)-(d) exception); only examination-track rules may read it, for the "
                        f"adult, this rule is on {rule.track}",
                    )
                )
        spec = FEATURES.get(cond.field)
        if spec is None:
            continue
        op = OPERATORS[cond.op]
        if spec.type not in op.types:
            out.append(
                Finding(
                    file,
                    rule.id,
                    "E_OPERAND_TYPE",
                    cond.field,
                    f"op {cond.op!r} does not apply to {spec.type} field {cond.field!r} "
                    f"(it applies to {', '.join(sorted(op.types))})",
                )
            )
            continue
        if cond.ref is not None:
            other = FEATURES.get(cond.ref)
            if (
                other is not None
                and {spec.type, other.type} - {"int", "float"}
                and spec.type != other.type
            ):
                out.append(
                    Finding(
                        file,
                        rule.id,
                        "E_OPERAND_TYPE",
                        cond.field,
                        f"compares {spec.type} field {cond.field!r} with {other.type} field {cond.ref!r}",
                    )
                )
            continue
        why = check_operand_type(op.operand, cond.value, spec.type)
        if why:
            out.append(
                Finding(file, rule.id, "E_OPERAND_TYPE", cond.field, f"op {cond.op!r} {why}")
            )
    return out


def example_frame(rule: Rule, *examples: Example) -> pd.DataFrame:
    """A feature table of one row per example (fields an example does not give are null)."""
    from apiflag.features import typed_frame  # one typing path for real and example tables

    columns: dict[str, Any] = {"traveller_id": [f"example:{ex.name}" for ex in examples]}
    for name in rule.fields():
        columns[name] = [ex.input.get(name) for ex in examples]
    return typed_frame(columns, len(examples), names=rule.fields())


def _value_fits(value: Any, type_: str) -> bool:
    if value is None:
        return True
    if type_ == "bool":
        return isinstance(value, bool)
    if type_ == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_ == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)


def _example_findings(file: str, rule: Rule) -> list[Finding]:
    from apiflag.rules.evaluate import rule_mask

    out: list[Finding] = []
    expects = {e.expect for e in rule.examples}
    if expects != {"hit", "miss"}:
        missing = ({"hit", "miss"} - expects).pop()
        out.append(
            Finding(
                file, rule.id, "E_EXAMPLES", None, f"rule needs at least one '{missing}' example"
            )
        )
    reads = set(rule.fields())
    runnable: list[Example] = []
    for ex in rule.examples:
        bad = False
        for name, value in ex.input.items():
            if name not in reads:
                out.append(
                    Finding(
                        file,
                        rule.id,
                        "E_EXAMPLE_FIELD",
                        name,
                        f"example {ex.name!r} gives {name!r}, which the rule does not read",
                    )
                )
                bad = True
            elif not _value_fits(value, FEATURES[name].type):
                out.append(
                    Finding(
                        file,
                        rule.id,
                        "E_EXAMPLE_FIELD",
                        name,
                        f"example {ex.name!r} gives {value!r} for {FEATURES[name].type} field {name!r}",
                    )
                )
                bad = True
        if not bad:
            runnable.append(ex)
    if runnable:
        fired = rule_mask(rule, example_frame(rule, *runnable))
        for ex, hit in zip(runnable, fired, strict=True):
            if bool(hit) != (ex.expect == "hit"):
                got = "hit" if hit else "miss"
                out.append(
                    Finding(
                        file,
                        rule.id,
                        "E_EXAMPLE_FAILED",
                        None,
                        f"example {ex.name!r} expects {ex.expect} but the rule gives {got}",
                    )
                )
    return out


def lint_rule(file: str, rule: Rule, *, today: dt.date | None = None) -> list[Finding]:
    """Check one parsed rule against the feature specification, its examples and its dates.

    Args:
        file: the file name for the findings.
        rule: the rule.
        today: review dates before this are refused; None skips the date check.

    Returns:
        Its findings (empty when the rule is fine).
    """
    out = _field_findings(file, rule)
    if not out:  # examples only make sense over known, permitted fields
        out.extend(_example_findings(file, rule))
    if today is not None and rule.review_by < today:
        out.append(
            Finding(
                file,
                rule.id,
                "E_REVIEW_PAST",
                "review_by",
                f"review_by {rule.review_by} is past (today {today}); review and re-approve the rule",
            )
        )
    stem = Path(file).name
    if not stem.startswith(f"{rule.id}-") and Path(file).stem != rule.id:
        out.append(
            Finding(
                file,
                rule.id,
                "E_FILENAME",
                None,
                f"file name must start with the rule id: {rule.id}-<slug>.yaml",
            )
        )
    return out


def _parse(path: Path) -> tuple[Rule | None, list[Finding]]:
    file = str(path)
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return None, [
            Finding(file, None, "E_YAML", None, f"cannot read YAML: {' '.join(str(exc).split())}")
        ]
    if not isinstance(doc, dict):
        return None, [Finding(file, None, "E_YAML", None, "a rule file must hold one YAML mapping")]
    rule_id = str(doc.get("id")) if doc.get("id") is not None else None
    try:
        return Rule.model_validate(doc), []
    except ValidationError as exc:
        findings = []
        for err in exc.errors():
            where = _loc(err["loc"])
            if err["loc"][:1] == ("rationale",):
                findings.append(
                    Finding(
                        file,
                        rule_id,
                        "E_RATIONALE",
                        "rationale",
                        "rule has no rationale: say why it points to trafficking and name the source"
                        if err["type"] == "missing"
                        else f"rationale: {err['msg']}",
                    )
                )
                continue
            field = None
            if isinstance(err.get("input"), dict):
                field = err["input"].get("field")
            msg = err["msg"].removeprefix("Value error, ")
            findings.append(Finding(file, rule_id, "E_SCHEMA", field, f"{where}: {msg}"))
        return None, findings


def lint_paths(paths: Iterable[Path], *, today: dt.date | None = None) -> LintReport:
    """Lint rule files and folders.

    Args:
        paths: rule files and folders of rule files.
        today: refuse review dates before this day; None skips the date check (scoring skips
            such rules with a warning instead).

    Returns:
        The rules that parsed, and every finding (an empty tuple means the catalogue is clean).
    """
    files, findings = rule_files(paths)
    rules: list[tuple[Path, Rule]] = []
    seen: dict[str, str] = {}
    for path in files:
        rule, problems = _parse(path)
        findings.extend(problems)
        if rule is None:
            continue
        findings.extend(lint_rule(str(path), rule, today=today))
        if rule.id in seen:
            findings.append(
                Finding(
                    str(path),
                    rule.id,
                    "E_DUPLICATE_ID",
                    None,
                    f"rule id {rule.id} is also defined in {seen[rule.id]}",
                )
            )
        seen.setdefault(rule.id, str(path))
        rules.append((path, rule))
    return LintReport(tuple(rules), tuple(findings))
