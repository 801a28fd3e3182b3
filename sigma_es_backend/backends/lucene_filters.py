"""Field references beside a query_string: Query DSL filters that every match must satisfy too.

query_string cannot compare two fields, but where a rule holds the comparison as a condition of its own
(`selection and not filter_same_user`, also inside `not 1 of filter_*`, by De Morgan), a search can put a
script query (es_dsl's, `fieldref.fieldref_script_query`) beside the query_string: `dsl_query` and
`opensearch_monitor` as a bool filter, `kibana_rule` / `kibana_ndjson` as Kibana filters (`meta.negate` for a
negated one). The plain query_string format cannot carry them and refuses such a rule. A comparison inside an
OR (`a or User|fieldref`) cannot be taken out of the query_string and fails the rule as before.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionNOT, ConditionOR
from sigma.conversion.state import ConversionState
from sigma.types import SigmaFieldReference

from sigma_es_backend.backends.common import query_string_query
from sigma_es_backend.backends.fieldref import field_comparison, fieldref_script_query


class ReferenceFound(Exception):
    """Raised by es_lucene's conversion of a field reference: the rule's condition is converted again, split."""


class ReferenceInOr(Exception):
    """A field reference that is no condition of its own (inside an OR); args[0]: the reference."""


@dataclass(frozen=True)
class DslFilter:
    """One condition as a Query DSL query that must match (negate: must not)."""

    query: dict[str, Any]
    negate: bool
    label: str  # what it checks, for people reading the Kibana rule

    def dsl(self) -> dict[str, Any]:
        return {"bool": {"must_not": [self.query]}} if self.negate else self.query

    def kibana(self) -> dict[str, Any]:
        """A Kibana filter (custom query; the detection engine puts a negated one under must_not)."""
        return {"meta": {"alias": self.label, "negate": self.negate, "disabled": False, "type": "custom",
                         "key": "query", "value": json.dumps(self.query)},
                "query": self.query}


@dataclass(frozen=True)
class LuceneWithFilters:
    """A rule's query_string and the filters beside it; `fieldref`: the first comparison, for errors."""

    query: str
    filters: tuple[DslFilter, ...]
    fieldref: ConditionFieldEqualsValueExpression

    def dsl(self) -> dict[str, Any]:
        return {"bool": {"filter": [query_string_query(self.query), *(f.dsl() for f in self.filters)]}}


def is_fieldref(cond: Any) -> bool:
    return isinstance(cond, ConditionFieldEqualsValueExpression) and isinstance(cond.value, SigmaFieldReference)


def first_fieldref(cond: Any) -> ConditionFieldEqualsValueExpression | None:
    if is_fieldref(cond):
        return cond
    for arg in getattr(cond, "args", None) or ():
        if not isinstance(arg, str) and (found := first_fieldref(arg)) is not None:
            return found
    return None


def split(cond: Any, state: ConversionState, backend: str) -> tuple[Any | None, tuple[DslFilter, ...]]:
    """The rule's condition without its field references (None when nothing is left) and the references as
    filters; raises ReferenceInOr with the comparison that sits inside an OR. Works on a copy: the rule's
    parsed condition is left as it was."""
    rest: list[Any] = []
    filters: list[DslFilter] = []
    for conjunct in _conjuncts(copy.deepcopy(cond)):
        negate = isinstance(conjunct, ConditionNOT)
        leaf = conjunct.args[0] if negate else conjunct
        if is_fieldref(leaf):
            # Kibana shows a negated filter as "NOT <label>": the label says what is compared, not the negation
            label = f"Sigma fieldref: {field_comparison(leaf).describe()}"
            filters.append(DslFilter(fieldref_script_query(leaf, state, backend), negate, label))
        elif (inner := first_fieldref(conjunct)) is not None:
            raise ReferenceInOr(inner)
        else:
            rest.append(conjunct)
    if not rest:
        return None, tuple(filters)
    if len(rest) == 1:
        rest[0].parent = None
        return rest[0], tuple(filters)
    return _node(ConditionAND, rest), tuple(filters)


def _conjuncts(cond: Any) -> list[Any]:
    """The conditions whose AND `cond` is: ANDs flattened, NOT pushed through OR and NOT (De Morgan)."""
    if isinstance(cond, ConditionAND):
        return [c for arg in cond.args for c in _conjuncts(arg)]
    if isinstance(cond, ConditionNOT):
        inner = cond.args[0]
        if isinstance(inner, ConditionNOT):
            return _conjuncts(inner.args[0])
        if isinstance(inner, ConditionOR):
            return [c for arg in inner.args for c in _conjuncts(_node(ConditionNOT, [arg]))]
    return [cond]


def _node(kind: type, args: list[Any]) -> Any:
    node = kind(args=args)
    for arg in args:
        arg.parent = node
    return node
