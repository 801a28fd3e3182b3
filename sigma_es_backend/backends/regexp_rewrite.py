"""Equivalent forms of regexps whose automaton Lucene cannot determinize within its limit.

Lucene determinizes a regexp by subset construction. An unanchored regexp with a bounded gap after a
"trigger" that can recur inside the gap makes it follow every recurrence at once: SigmaHQ's wsass rule,
`.*\\.exe["']?\\s+[^"]{0,64}werfaultsecure…`, takes an effort of more than 10^8 (the limit is 10^5), while
its minimal DFA is small. Two rewrites describe the same strings in a form whose construction stays small:

- *last trigger*: `.*` L `G{a,b}` REST (L: one-character atoms, each plain, `?` or `+`; G: one character
  class; b > a) matches a value exactly when it matches with the gap starting at the *last* end of L before
  it (a later end leaves a suffix of the gap, still made of G, as long as a characters remain). From that
  end on, the first b-a characters of the gap hold no complete occurrence of L (it would be a later end) and,
  when L ends with `C+`, do not start with a character of C (the run would end later). So `G{a,b}` becomes
  `((C̄.*)?&.{0,b-a}&AVOID)G{a}`, AVOID being the strings of G without an occurrence of L, written from its
  DFA by state elimination. Threads no longer pile up: a new trigger ends the previous one's gap.
- *first run*: `.*` `C{n,m}` `.*` (C one character class) matches exactly when a run of C that starts the
  value or follows a character outside C holds n characters: `(.*C̄)?C{n}.*`.

Neither rewrite widens the regexp (it only fixes where the match is taken from; every class written is read
back as the set it was written for). That a last-trigger rewrite does not narrow it either is checked on every
use: the original's parts, built as Lucene builds them and concatenated without the determinization that
explodes, run against the rewritten DFA (`automaton.included`). The first-run rewrite, a two-line argument,
is not checked so (the check is quadratic in n: half a second for the corpus's `.{1000,}`); the tests hold
both against Python's `re`. A rewrite is used only when Lucene determinizes it within the limit (the replay).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from sigma_es_backend.backends import automaton

Intervals = tuple[tuple[int, int], ...]
_ANY: Intervals = ((0, automaton.MAX_CODE_POINT),)
_SURROGATES = (0xD800, 0xDFFF)  # not printable into a query: a class that needs one as a bound is not written


@dataclass(frozen=True)
class _Item:
    """One top-level atom of a Lucene RegExp with its quantifier (`?`, `*`, `+`, `{n}`, `{n,}`, `{n,m}`)."""

    atom: str
    quantifier: str = ""

    @property
    def text(self) -> str:
        return self.atom + self.quantifier

    def bounds(self) -> tuple[int, int | None]:
        q = self.quantifier
        if not q.startswith("{"):
            return {"": (1, 1), "?": (0, 1), "*": (0, None), "+": (1, None)}[q]
        lo, _, hi = q[1:-1].partition(",")
        return int(lo), (int(lo) if "," not in q else int(hi) if hi else None)


@lru_cache(maxsize=256)
def lucene_equivalent(regexp: str, work_limit: int = automaton.DEFAULT_WORK_LIMIT) -> str | None:
    """A regexp matching exactly the values `regexp` matches that Lucene determinizes within `work_limit`,
    or None when no rewrite applies, or none is proven equivalent and small enough."""
    items = _items(regexp)
    if items is None or not items or items[0] != _Item(".", "*"):
        return None
    for candidate in _first_run(items):
        if automaton.regexp_complexity(candidate).fits(work_limit):
            return candidate
    original = None
    for candidate in _last_trigger(items):
        complexity, rewritten = automaton.measured_dfa(candidate)
        if not complexity.fits(work_limit):
            continue
        original = original or automaton.concatenation_nfa(regexp)
        if original is not None and rewritten is not None and automaton.included(original, rewritten):
            return candidate
    return None


# --- the two rewrites ---------------------------------------------------------------------------------------
def _first_run(items: list[_Item]) -> Iterator[str]:
    """`.*C{n,m}.*` → `(.*C̄)?C{n}.*`."""
    if len(items) != 3 or items[2] != _Item(".", "*"):
        return
    run = items[1]
    chars = automaton.char_set(run.atom)
    low = run.bounds()[0]
    if chars is None or low < 2:
        return
    if chars == _ANY:
        yield f"{run.atom}{{{low}}}.*"
    elif (other := _class(_complement(chars))) is not None:
        yield f"(.*{other})?{run.atom}{{{low}}}.*"


def _last_trigger(items: list[_Item]) -> Iterator[str]:
    """`.*` L `G{a,b}` REST → `.*` L `((C̄.*)?&.{0,b-a}&AVOID)G{a}` REST, for each gap in turn (see the module
    docstring)."""
    for g in range(2, len(items)):
        trigger = items[1:g]
        if not all(item.quantifier in ("", "?", "+") and automaton.char_set(item.atom) for item in trigger):
            return  # every later gap would have this item in its trigger too
        gap = items[g]
        gap_chars = automaton.char_set(gap.atom)
        low, high = gap.bounds()
        if gap_chars is None or high is None or high - low < 2:
            continue  # an unbounded gap counts nothing; a gap of one is no source of blowup
        # An occurrence of L inside the gap: L with its last `C+` as one C (a longer run contains it).
        occurrence = "".join(item.text for item in trigger[:-1]) + trigger[-1].atom + (
            trigger[-1].quantifier if trigger[-1].quantifier != "+" else "")
        avoid = _avoiding(occurrence, gap_chars)
        if avoid is None:
            continue
        parts = [f".{{0,{high - low}}}", avoid]
        if trigger[-1].quantifier == "+":
            run_chars = automaton.char_set(trigger[-1].atom)
            assert run_chars is not None
            first = _class(_complement(run_chars))
            if first is None:
                continue
            parts.insert(0, f"({first}.*)?")
        head = ".*" + "".join(item.text for item in trigger)
        tail = (f"{gap.atom}{{{low}}}" if low else "") + "".join(item.text for item in items[g + 1:])
        yield head + "(" + "&".join(f"({part})" for part in parts) + ")" + tail


def _avoiding(occurrence: str, alphabet: Intervals) -> str | None:
    """A regexp of the strings over `alphabet` holding no substring matched by `occurrence`."""
    dfa = automaton.dfa(".*" + occurrence)
    if dfa is None or dfa.accept[0]:
        return None  # too big to write out, or the occurrence matches the empty string
    edges: dict[tuple[int, int], Intervals] = {}
    for source in range(dfa.num_states):
        if dfa.accept[source]:
            continue
        for lo, hi, dest in dfa.transitions[source]:
            if dfa.accept[dest]:
                continue
            part = _intersect(((lo, hi),), alphabet)
            if part:
                edges[source, dest] = _union(edges.get((source, dest), ()), part)
    keep = [s for s in range(dfa.num_states) if not dfa.accept[s]]
    text = _state_elimination(keep, edges)
    if text is None:
        return None
    # the written regexp must be exactly the automaton it was written from (both are deterministic)
    number = {state: i for i, state in enumerate(keep)}
    intended = automaton.dfa_from_edges(len(keep), {(number[p], number[q]): chars for (p, q), chars in edges.items()})
    written = automaton.dfa(text)
    if written is None or not (automaton.included(intended, written) and automaton.included(written, intended)):
        return None
    return text


# --- DFA → regexp (state elimination) -------------------------------------------------------------------
@dataclass(frozen=True)
class _Re:
    """A regexp under construction: its text and whether it is a union at its top (needs parentheses in a
    concatenation) or a single atom (takes a quantifier as is)."""

    text: str
    union: bool = False
    atom: bool = False


_EMPTY = _Re("()", atom=True)


def _alt(x: _Re | None, y: _Re) -> _Re:
    if x is None:
        return y
    if x.text == y.text:
        return x
    return _Re(f"{x.text}|{y.text}", union=True)


def _cat(*parts: _Re) -> _Re:
    kept = [p for p in parts if p != _EMPTY]
    if not kept:
        return _EMPTY
    if len(kept) == 1:
        return kept[0]
    return _Re("".join(f"({p.text})" if p.union else p.text for p in kept))


def _star(x: _Re) -> _Re:
    if x == _EMPTY:
        return _EMPTY
    return _Re((x.text if x.atom else f"({x.text})") + "*")


def _state_elimination(states: list[int], char_edges: dict[tuple[int, int], Intervals]) -> str | None:
    """The regexp of an automaton whose every state accepts, starting at state 0."""
    edges: dict[tuple[int, int], _Re] = {}
    for (source, dest), chars in char_edges.items():
        text = _class(chars)
        if text is None:
            return None
        edges[source, dest] = _Re(text, atom=True)
    start, final = -1, -2
    edges[start, 0] = _EMPTY
    for s in states:
        edges[s, final] = _EMPTY
    remaining = set(states)
    while remaining:
        def cost(r: int) -> int:
            ins = sum(1 for (p, q) in edges if q == r and p != r)
            outs = sum(1 for (p, q) in edges if p == r and q != r)
            return ins * outs
        r = min(sorted(remaining), key=cost)
        remaining.remove(r)
        loop = edges.pop((r, r), None)
        incoming = [(p, e) for (p, q), e in edges.items() if q == r]
        outgoing = [(q, e) for (p, q), e in edges.items() if p == r]
        for p, _ in incoming:
            del edges[p, r]
        for q, _ in outgoing:
            del edges[r, q]
        middle = _star(loop) if loop is not None else _EMPTY
        for p, into in incoming:
            for q, out in outgoing:
                edges[p, q] = _alt(edges.get((p, q)), _cat(into, middle, out))
    result = edges.get((start, final))
    return None if result is None else f"({result.text})" if result.union else result.text


# --- character classes ------------------------------------------------------------------------------------
def _class(chars: Intervals) -> str | None:
    """A Lucene RegExp class for a set of code points: the shorter of `[…]` and `[^…]`; None when it would
    need a surrogate code point as a bound, or when Lucene would read it as another set (checked: the
    inclusion check covers only one direction of a rewrite, a wrong class could widen the other)."""
    if chars == _ANY:
        return "."
    forms = []
    if len(chars) == 1 and chars[0][0] == chars[0][1]:
        forms.append(_member(*chars[0]))
    for negated, members in ((False, chars), (True, _complement(chars))):
        if not members:
            continue
        forms.append(("[^" if negated else "[") + "".join(_member(lo, hi) for lo, hi in members) + "]")
    forms = [form for form in forms if not any(_SURROGATES[0] <= ord(c) <= _SURROGATES[1] for c in form)]
    text = min(forms, key=len) if forms else None
    return text if text is not None and automaton.char_set(text) == chars else None


def _member(lo: int, hi: int) -> str:
    if lo == hi:
        return _char(lo)
    if lo == ord("\\"):  # `\\` is a whole class member in Lucene (RegExp's predefined classes): no range from it
        return _char(lo) + _member(lo + 1, hi)
    if hi == lo + 1:
        return _char(lo) + _char(hi)
    return f"{_char(lo)}-{_char(hi)}"


def _char(code: int) -> str:
    """A literal character inside or outside a class: letters and digits as they are (escaped, some are
    predefined classes such as `\\d`), everything else escaped (so a raw `-` only ever means a range)."""
    char = chr(code)
    return char if char.isalnum() else "\\" + char


def _complement(chars: Intervals) -> Intervals:
    out = []
    nxt = 0
    for lo, hi in chars:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= automaton.MAX_CODE_POINT:
        out.append((nxt, automaton.MAX_CODE_POINT))
    return tuple(out)


def _intersect(a: Intervals, b: Intervals) -> Intervals:
    return tuple((max(lo1, lo2), min(hi1, hi2)) for lo1, hi1 in a for lo2, hi2 in b if max(lo1, lo2) <= min(hi1, hi2))


def _union(a: Intervals, b: Intervals) -> Intervals:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(a + b):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return tuple(merged)


# --- top-level atoms ------------------------------------------------------------------------------------
def _items(regexp: str) -> list[_Item] | None:
    """The top-level concatenation of a Lucene RegExp as atoms with quantifiers; None when the top level
    is a union or an intersection, or a quantifier is stacked on another."""
    items: list[_Item] = []
    i, n = 0, len(regexp)
    while i < n:
        char = regexp[i]
        if char in "|&)?*+{":
            return None
        if char == "\\":
            end = i + 2
        elif char == "[":
            end = _class_end(regexp, i)
        elif char == "(":
            end = _group_end(regexp, i)
        elif char == '"':
            end = regexp.find('"', i + 1) + 1
        else:
            end = i + 1
        if end <= i or end > n:
            return None
        quantifier_end = end
        if quantifier_end < n and regexp[quantifier_end] in "?*+":
            quantifier_end += 1
        elif quantifier_end < n and regexp[quantifier_end] == "{":
            quantifier_end = regexp.find("}", quantifier_end) + 1
            if quantifier_end == 0:
                return None
        if quantifier_end < n and regexp[quantifier_end] in "?*+{":
            return None
        items.append(_Item(regexp[i:end], regexp[end:quantifier_end]))
        i = quantifier_end
    return items


def _class_end(regexp: str, start: int) -> int:
    """The index after the `]` closing the class at `start`, read as RegExp reads it: the first member may be
    `]`; a member is a character (escaped or not) or `\\d`-style / `\\\\`; a character followed by `-`
    is a range whose end may be any character, `]` too."""
    i = start + 1
    if regexp.startswith("^", i):
        i += 1
    first = True
    n = len(regexp)
    while i < n:
        if regexp[i] == "]" and not first:
            return i + 1
        first = False
        if regexp[i] == "\\" and i + 1 < n and regexp[i + 1] in "dDwWsS\\":
            i += 2  # a predefined class or an escaped backslash: never a range start
            continue
        i += 2 if regexp[i] == "\\" else 1
        if i < n and regexp[i] == "-":
            i += 1
            i += 2 if regexp.startswith("\\", i) else 1
    return -1


def _group_end(regexp: str, start: int) -> int:
    """The index after the `)` closing the group at `start`."""
    depth = 0
    i = start
    while i < len(regexp):
        char = regexp[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = _class_end(regexp, i)
            if i < 0:
                return -1
            continue
        if char == '"':
            i = regexp.find('"', i + 1) + 1
            if i == 0:
                return -1
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1
