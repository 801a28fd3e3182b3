"""pySigma's policy for the rules a converter builds, its regex engine keeping what it compiled.

pySigma 2 compiles a regular expression (with its policy's engine, RE2 by default) for every selector of
every rule condition (`1 of selection_*` becomes `selection_.*`, matched against the detection names) and
for every `|re` value; a corpus repeats the same few selector patterns thousands of times. A compiled
pattern is immutable, so the one compiled first serves every later rule: same engine, same answers, same
errors (a pattern that fails to compile is not kept, it fails again each time).

Unlike pySigma's default (no policy on a rule: the default policy is looked up where a regexp is compiled),
the policy is then held by every detection item, so copies of rule objects reach it: `copy.deepcopy` of a
condition tree (es_lucene's field references, pySigma's filters) copies its parents up to the detection
items. The engine is shared by those copies instead of copied (pySigma's RE2 engine holds the `re2`
module, which cannot be copied).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sigma.policy import SigmaPolicy, default_policy
from sigma.policy.regex_engine import RegexEngine, RegexPattern

# Compiled patterns kept per engine; the memo starts again beyond this many.
MEMO_LIMIT = 4096


class MemoisedRegexEngine(RegexEngine):
    """`engine`, with compiled patterns kept by (pattern, flags)."""

    def __init__(self, engine: RegexEngine):
        self.engine = engine
        self._compiled: dict[tuple[str, int], RegexPattern] = {}

    def compile(self, pattern: str, flags: int = 0) -> RegexPattern:
        key = (pattern, int(flags))
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self.engine.compile(pattern, flags)
            if len(self._compiled) >= MEMO_LIMIT:
                self._compiled.clear()
            self._compiled[key] = compiled
        return compiled

    @property
    def error(self) -> type[Exception]:
        return self.engine.error

    def __copy__(self) -> MemoisedRegexEngine:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> MemoisedRegexEngine:
        return self

    def __eq__(self, other: object) -> bool:  # the engine it stands for
        inner = other.engine if isinstance(other, MemoisedRegexEngine) else other
        return self.engine == inner

    def __hash__(self) -> int:
        return hash(self.engine)


def memoised_policy() -> SigmaPolicy:
    """pySigma's current default policy with its regex engine memoised."""
    return dataclasses.replace(default_policy, regex_engine=MemoisedRegexEngine(default_policy.regex_engine))
