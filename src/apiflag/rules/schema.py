"""The rule file schema: strict pydantic models of one rule per YAML file.

A rule is ``when`` (incriminating circumstances) and ``unless`` (exonerating ones), each an
``all``/``any`` tree of conditions ``{field, op, value | ref}``; it fires when ``when`` holds and
``unless`` does not. Unknown keys are refused everywhere. The schema checks the shape of every
operand against the operator table; whether a field exists, may be used on the rule's track and
fits the operand's type is checked against the feature specification by the linter and the
catalogue loader (:mod:`apiflag.rules.lint`).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from apiflag.records import RuleTrack
from apiflag.rules.operators import OPERATORS, check_operand_shape

__all__ = ["AllOf", "AnyOf", "Condition", "Example", "Node", "Rule", "RuleTrack", "describe"]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Condition(_Strict):
    """One test of one feature: ``{field, op, value}`` or ``{field, op, ref}`` (another field)."""

    field: Annotated[str, Field(pattern=r"^[a-z_]+(\.[a-z_]+)+$")]
    op: str
    value: Any = None
    ref: Annotated[str, Field(pattern=r"^[a-z_]+(\.[a-z_]+)+$")] | None = None

    @model_validator(mode="after")
    def _operand(self) -> Condition:
        op = OPERATORS.get(self.op)
        if op is None:
            raise ValueError(f"unknown op {self.op!r}; known: {', '.join(OPERATORS)}")
        if self.ref is not None:
            if not op.ref_ok:
                raise ValueError(f"op {self.op!r} does not take ref")
            if self.value is not None:
                raise ValueError("give value or ref, not both")
            return self
        if self.value is None and op.operand != "bool":
            raise ValueError(f"op {self.op!r} needs value or ref")
        why = check_operand_shape(op.operand, self.value)
        if why:
            raise ValueError(f"op {self.op!r} {why}")
        return self

    def fields(self) -> list[str]:
        """Fields this condition reads (the field, then the ref)."""
        return [self.field] + ([self.ref] if self.ref else [])


def _node_tag(v: Any) -> str:
    if isinstance(v, dict):
        if "all" in v:
            return "all"
        if "any" in v:
            return "any"
        return "cond"
    return {"AllOf": "all", "AnyOf": "any"}.get(type(v).__name__, "cond")


Node = Annotated[
    Annotated[Condition, Tag("cond")]
    | Annotated["AllOf", Tag("all")]
    | Annotated["AnyOf", Tag("any")],
    Discriminator(_node_tag),
]


class AllOf(_Strict):
    """Every child holds."""

    all: Annotated[list[Node], Field(min_length=1)]

    def fields(self) -> list[str]:
        """Fields read by the children, in order, without repeats."""
        return _unique(f for child in self.all for f in child.fields())


class AnyOf(_Strict):
    """At least one child holds."""

    any: Annotated[list[Node], Field(min_length=1)]

    def fields(self) -> list[str]:
        """Fields read by the children, in order, without repeats."""
        return _unique(f for child in self.any for f in child.fields())


def describe(node: Any) -> str:
    """Render a condition tree in words (``a is true and (b > 2 or c is false)``)."""
    if isinstance(node, Condition):
        op = OPERATORS[node.op]
        if node.ref is not None:
            return op.template.format(field=node.field, value=node.ref)
        return op.sentence(node.field, node.value)
    children, joiner = (node.all, " and ") if isinstance(node, AllOf) else (node.any, " or ")
    parts = [describe(c) for c in children]
    parts = [
        f"({p})" if not isinstance(c, Condition) and len(c.fields()) > 1 else p
        for c, p in zip(children, parts, strict=True)
    ]
    return joiner.join(parts)


def _unique(items: Any) -> list[str]:
    return list(dict.fromkeys(items))


class Example(_Strict):
    """A worked case that documents and tests the rule: the input gives only fields it reads."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    input: dict[str, bool | int | float | str | None]
    expect: Literal["hit", "miss"]


class Rule(_Strict):
    """One reviewed, approved rule (the shape the README's Rules section describes)."""

    id: Annotated[str, Field(pattern=r"^R-\d{3}$")]
    version: Annotated[int, Field(ge=1)]
    title: Annotated[str, Field(min_length=5)]
    track: RuleTrack
    weight: Annotated[float, Field(gt=0, le=5)] = Field(
        description="log-odds points added when the rule fires"
    )
    rationale: Annotated[str, Field(min_length=20)]
    when: Node
    unless: Node | None = None
    approved_by: Annotated[str, Field(min_length=1)]
    review_by: dt.date
    examples: Annotated[list[Example], Field(min_length=2)]

    @field_validator("weight")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("weight must be a finite number")
        return v

    @field_validator("rationale", "title", "approved_by")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v.strip()

    @property
    def ref(self) -> str:
        """``R-012@2``: the id and version every hit and explanation cites."""
        return f"{self.id}@{self.version}"

    def criteria(self) -> str:
        """The rule as one sentence: ``when ... unless ...`` in the operator table's words."""
        text = f"fires when {describe(self.when)}"
        if self.unless is not None:
            text += f"; unless {describe(self.unless)}"
        return text

    def fields(self) -> list[str]:
        """Every field the rule reads (``when`` then ``unless``), without repeats."""
        unless = self.unless.fields() if self.unless is not None else []
        return _unique([*self.when.fields(), *unless])


AllOf.model_rebuild()
AnyOf.model_rebuild()
Rule.model_rebuild()
