"""Sigma detection conditions parsed into pySigma's own parse trees, without pyparsing.

pySigma parses a condition with a pyparsing grammar: about 0.7 ms for a condition like
`selection and not 1 of filter_*`, so 0.25 s of CPU for the ~360 distinct conditions of the SigmaHQ
corpus (and more with several workers, each parsing what it meets). This recursive descent parser builds
the same trees (the same ConditionAND / ConditionOR / ConditionNOT / ConditionIdentifier /
ConditionSelector objects with the same arguments) in a few microseconds, for the conditions it can read
without doubt. Anything else returns None and is left to pySigma: a syntax error (so the error message
is pySigma's), an operator keyword where an identifier could be, a character outside pySigma's token
sets, an identifier starting with `not` (pySigma 1.5 reads `notepad` as `not epad`).

The grammar is pySigma's: `or` binds loosest, then `and`, then `not`; a run of the same binary operator
is one node with every operand (`a and b and c`), parentheses give a sub-tree and no node of their own;
an operand is `1|any|all of <pattern>` or an identifier. Before it is used, `verified()` compares it with
the installed pySigma on conditions of every shape (`PROBES`): if pySigma (or pyparsing) builds one
differently, the parser stays off and every condition goes to pySigma.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionIdentifier,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionSelector,
    SigmaCondition,
)

# pyparsing skips these four whitespace characters between tokens and no others.
_TOKEN = re.compile(r"[ \t\r\n]*(?:([()])|([A-Za-z0-9_*-]+))")
_TRAILING_SPACE = re.compile(r"[ \t\r\n]*\Z")
# pySigma's token sets: identifiers Word(alphanums + "_-"), selector patterns Word(alphanums + "*_").
_IDENTIFIER = re.compile(r"[A-Za-z0-9_-]+")
_PATTERN = re.compile(r"[A-Za-z0-9_*]+")
_QUANTIFIERS = frozenset(("1", "any", "all"))
# Words that are (or begin) a keyword of the grammar: as an identifier they are left to pySigma.
_KEYWORDS = frozenset(("and", "or", "not", "of", "1", "any", "all"))


class _Unsure(Exception):
    """The condition is not one this parser reads without doubt."""


def _tokens(condition: str) -> list[str]:
    tokens = []
    position = 0
    end = len(condition)
    while True:
        match = _TOKEN.match(condition, position)
        if match is None or match.end() == position:
            if _TRAILING_SPACE.match(condition, position) is None:
                raise _Unsure
            return tokens
        tokens.append(match.group(1) or match.group(2))
        position = match.end()
        if position == end:
            return tokens


class _Parser:
    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise _Unsure
        self.position += 1
        return token

    def disjunction(self) -> ConditionItem:
        return self._run("or", self.conjunction, ConditionOR)

    def conjunction(self) -> ConditionItem:
        return self._run("and", self.negation, ConditionAND)

    def _run(self, keyword: str, operand: Callable[[], ConditionItem],
             node: type[ConditionAND] | type[ConditionOR]) -> ConditionItem:
        """Operands joined by `keyword`: one node with all of them (or the single operand itself)."""
        operands = [operand()]
        while self.peek() == keyword:
            self.position += 1
            operands.append(operand())
        return operands[0] if len(operands) == 1 else node(operands)

    def negation(self) -> ConditionItem:
        if self.peek() == "not":
            self.position += 1
            return ConditionNOT([self.negation()])
        return self.operand()

    def operand(self) -> ConditionItem:
        token = self.take()
        if token == "(":
            inner = self.disjunction()
            if self.take() != ")":
                raise _Unsure
            return inner
        if token in _QUANTIFIERS and self.peek() == "of":
            self.position += 1
            pattern = self.take()
            if _PATTERN.fullmatch(pattern) is None:
                raise _Unsure
            return ConditionSelector([token, pattern])
        if token in _KEYWORDS or token.startswith("not") or _IDENTIFIER.fullmatch(token) is None:
            raise _Unsure
        return ConditionIdentifier([token])


def parse_condition(condition: str) -> ConditionItem | None:
    """pySigma's parse tree of `condition` (`SigmaCondition.parse(postprocess=False)`), or None when the
    condition is to be parsed by pySigma (see the module docstring). Not checked against pySigma: see
    `verified`."""
    try:
        parser = _Parser(_tokens(condition))
        tree = parser.disjunction()
        if parser.position != len(parser.tokens):
            raise _Unsure
        return tree
    except _Unsure:
        return None


# Conditions with every shape the parser builds (each probe costs pySigma's parser 0.4 ms): identifiers
# with digits, dashes and underscores; runs of each operator and their precedence; double negation;
# parentheses nested to the left and to the right, doubled, around a single operand and without spaces;
# every quantifier; the whitespace pyparsing skips.
PROBES = (
    "sel-1_A",
    "a and b and c or not not d and e or f",
    "(a and b) and (c or d) or ((e))",
    "a and (b and c) or not (d or e) and not f",
    "(a or b) or c",
    "1 of sel* and any of them or all of filter_*",
    "sel and not 1 of filter_* or (a and not any of f*)",
    "\ta\r\nand\n( b )  ",
    "(a)and(b)or(not(c))",
)


def same_tree(ours: Any, theirs: Any) -> bool:
    """The two parse trees have the same node classes, arguments and fields (types included)."""
    if type(ours) is not type(theirs):
        return False
    if isinstance(ours, str):
        return ours == theirs
    if not isinstance(ours, ConditionItem):
        return False
    if type(ours.args) is not list or type(theirs.args) is not list or len(ours.args) != len(theirs.args):
        return False
    if vars(ours).keys() != vars(theirs).keys():
        return False
    for name, value in vars(ours).items():
        if name != "args" and value != vars(theirs)[name]:
            return False
    return all(same_tree(a, b) for a, b in zip(ours.args, theirs.args, strict=True))


_verified: bool | None = None


def verified() -> bool:
    """Whether `parse_condition` builds pySigma's trees for every probe, with the pySigma and pyparsing
    installed (checked once per process: a few milliseconds)."""
    global _verified
    if _verified is None:
        # unprocessed parse trees do not look at the detections
        _verified = all(same_tree(parse_condition(probe), SigmaCondition(probe, None).parse(False))
                        for probe in PROBES)
    return _verified
