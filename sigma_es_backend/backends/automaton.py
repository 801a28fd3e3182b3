"""How much work Lucene 9.12 spends turning a regexp or wildcard term into a deterministic automaton.

Elasticsearch/OpenSearch refuse a `regexp` (query_string `/…/`, DSL `regexp`) or `wildcard` term whose automaton
is too complex to determinize, and query_string without `lenient: false` refuses it *silently*: the clause
becomes MatchNoDocsQuery and the rule never fires. So the backends measure every automaton they emit with
this module and fail the conversion instead (`check_regexp`, `check_wildcard`).

This is a replay of Lucene 9.12.3 (OpenSearch 2.19), over intervals of code points as Lucene does:
- `RegExp` parsing (`RegExp.parseUnionExp` …, with all syntax flags, as query_string and DSL `flags: ALL` use)
  and `RegExp.toAutomatonInternal`: every union, concatenation, optional, `*`, `{n,}` node is built with the
  same `Operations` and then minimized (`MinimizationOperations.minimize` determinizes first); a `{n,m}` node
  is not minimized; `{n,}` / `{n,m}` fail when (states of the repeated automaton - 1) × n (m) > work limit.
- `Operations.determinize(a, workLimit)`: subset construction, skipped when the automaton is already
  deterministic; the effort is the sum of the sizes of the state sets it processes, and it fails as soon
  as that reaches `workLimit * 10`. Each determinization has its own budget.
- `CompiledAutomaton` (every regexp/wildcard/automaton query): the automaton is determinized again, converted
  to UTF-8 (`UTF32ToUTF8`) and that byte automaton determinized with the same limit.
- `WildcardQuery.toAutomaton` and OpenSearch's `AutomatonQueries.toCaseInsensitiveWildcardAutomaton`
  (DSL `wildcard` with `case_insensitive`): a concatenation of one automaton per character, not minimized.

Minimal DFAs are unique up to isomorphism, so minimizing over distinct alphabet columns and numbering states
otherwise than Lucene gives the same automata and the same efforts. The live test
(tests/live/test_regexp_complexity_live.py) holds the replay against OpenSearch for every regexp and
wildcard the backends emit over the SigmaHQ corpus.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from heapq import heappop, heappush
from itertools import compress
from operator import or_

from sigma_es_backend.backends.escaping import case_variants
from sigma_es_backend.backends.pattern import Pattern, Wildcard

# Operations.DEFAULT_DETERMINIZE_WORK_LIMIT: the default of `max_determinized_states` (DSL regexp, query_string)
# and the fixed limit of wildcard and case-insensitive automaton queries.
DEFAULT_WORK_LIMIT = 10_000
EFFORT_PER_WORK_UNIT = 10  # Operations.determinize: effortLimit = workLimit * 10
MAX_CODE_POINT = 0x10FFFF
# Replays stop counting here: the backends use the default limit, so beyond it nothing more is to be known
# (and counting on costs time: about 1.5 s per 100,000 for the worst patterns).
EFFORT_CAP = DEFAULT_WORK_LIMIT * EFFORT_PER_WORK_UNIT


class RegexpSyntaxError(ValueError):
    """The text is no Lucene RegExp (Lucene would refuse it too)."""


class _EffortExceeded(Exception):
    pass


@dataclass(frozen=True)
class Complexity:
    """Work Lucene needs to compile one automaton.

    effort: the largest effort of one determinization (Lucene fails when it reaches work limit × 10);
      EFFORT_CAP or more means "at least that".
    repeat_states: the largest (states - 1) × bound of a `{n,}` / `{n,m}` repetition (Lucene fails when it
      exceeds the work limit).
    """

    effort: int
    repeat_states: int = 0

    @property
    def work_limit(self) -> int:
        """The smallest `max_determinized_states` with which Lucene compiles the automaton."""
        return max(self.effort // EFFORT_PER_WORK_UNIT + 1, self.repeat_states, 1)

    def fits(self, work_limit: int = DEFAULT_WORK_LIMIT) -> bool:
        return self.effort < min(work_limit * EFFORT_PER_WORK_UNIT, EFFORT_CAP) and self.repeat_states <= work_limit


# --- automata ------------------------------------------------------------------------------------------
Transition = tuple[int, int, int]  # (min, max, dest), code points (or bytes) min..max inclusive


@dataclass
class _Automaton:
    """Lucene's Automaton: state 0 is initial; transitions per state; no epsilon transitions."""

    transitions: list[list[Transition]] = field(default_factory=list)
    accept: list[bool] = field(default_factory=list)
    deterministic: bool = False  # known to be (set on determinized automata: skips the check)
    minimize_later: bool = False  # a DFA Lucene would have minimized (Meter.minimize final=True)
    settled: bool = False  # the query's automaton, measured to the end: nothing left to count (`_compile`)

    @property
    def num_states(self) -> int:
        return len(self.accept)

    def create_state(self) -> int:
        self.transitions.append([])
        self.accept.append(False)
        return len(self.accept) - 1

    def copy(self, other: _Automaton) -> int:
        offset = self.num_states
        for trans, acc in zip(other.transitions, other.accept, strict=True):
            self.transitions.append([(lo, hi, dest + offset) for lo, hi, dest in trans])
            self.accept.append(acc)
        return offset

    def add_epsilon(self, source: int, dest: int) -> None:
        self.transitions[source].extend(self.transitions[dest])
        if self.accept[dest]:
            self.accept[source] = True

    def is_deterministic(self) -> bool:
        """Automaton.finishCurrentState: after merging touching intervals to the same state, no two overlap."""
        if self.deterministic:
            return True
        for trans in self.transitions:
            if len(trans) > 1 and not _disjoint(trans):
                return False
        return True


def _disjoint(trans: list[Transition]) -> bool:
    merged: dict[int, list[tuple[int, int]]] = {}
    for lo, hi, dest in sorted(trans, key=lambda t: (t[2], t[0], t[1])):
        runs = merged.setdefault(dest, [])
        if runs and lo <= runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], max(runs[-1][1], hi))
        else:
            runs.append((lo, hi))
    intervals = sorted(run for runs in merged.values() for run in runs)
    return all(intervals[i][0] > intervals[i - 1][1] for i in range(1, len(intervals)))


def _char_range(lo: int, hi: int) -> _Automaton:
    if lo > hi:
        return _Automaton()
    return _Automaton([[(lo, hi, 1)], []], [False, True])


def _string(text: str) -> _Automaton:
    a = _Automaton([[]], [False])
    for char in text:
        state = a.create_state()
        a.transitions[state - 1].append((ord(char), ord(char), state))
    a.accept[-1] = True
    return a


def _any_string() -> _Automaton:
    return _Automaton([[(0, MAX_CODE_POINT, 0)]], [True])


def _empty_string() -> _Automaton:
    return _Automaton([[]], [True])


def _concatenate(automata: Sequence[_Automaton]) -> _Automaton:
    """Operations.concatenate: accept states of one part get the initial transitions of the next parts."""
    result = _Automaton()
    if any(a.num_states == 0 for a in automata):
        for a in automata:
            if a.num_states == 0:
                break
            for _ in range(a.num_states):
                result.create_state()
        return result
    offsets = []
    for a in automata:
        offsets.append(result.num_states)
        for _ in range(a.num_states):
            result.create_state()
    for i, a in enumerate(automata):
        base = offsets[i]
        for s in range(a.num_states):
            out = result.transitions[base + s]
            out.extend((lo, hi, base + dest) for lo, hi, dest in a.transitions[s])
            if not a.accept[s]:
                continue
            j = i + 1
            while True:
                if j == len(automata):
                    result.accept[base + s] = True
                    break
                follow = automata[j]
                out.extend((lo, hi, offsets[j] + dest) for lo, hi, dest in follow.transitions[0])
                if not follow.accept[0]:
                    break
                j += 1
    if result.num_states == 0:
        result.create_state()
    return result


def _union(automata: Sequence[_Automaton]) -> _Automaton:
    result = _Automaton([[]], [False])
    offsets = [result.copy(a) for a in automata]
    for a, offset in zip(automata, offsets, strict=True):
        if a.num_states:
            result.add_epsilon(0, offset)
    return _remove_dead_states(result)


def _optional(a: _Automaton) -> _Automaton:
    result = _Automaton([[]], [True])
    if a.num_states:
        result.copy(a)
        result.add_epsilon(0, 1)
    return result


def _star(a: _Automaton) -> _Automaton:
    """Operations.repeat(a)."""
    if a.num_states == 0:
        return a
    result = _Automaton([[]], [True])
    result.copy(a)
    initial = [(lo, hi, dest + 1) for lo, hi, dest in a.transitions[0]]
    result.transitions[0].extend(initial)
    for s in range(a.num_states):
        if a.accept[s]:
            result.transitions[s + 1].extend(initial)
    return result


def _repeat_min(a: _Automaton, count: int) -> _Automaton:
    if count == 0:
        return _star(a)
    return _concatenate([a] * count + [_star(a)])


def _repeat_min_max(a: _Automaton, lo: int, hi: int) -> _Automaton:
    if lo > hi:
        return _Automaton()
    if lo == 0:
        b = _empty_string()
    elif lo == 1:
        b = _Automaton()
        b.copy(a)
    else:
        b = _concatenate([a] * lo)
    previous = [s for s in range(b.num_states) if b.accept[s]]
    result = _Automaton()
    result.copy(b)
    for _ in range(lo, hi):
        offset = result.copy(a)
        for s in previous:
            result.add_epsilon(s, offset)
        previous = [offset + s for s in range(a.num_states) if a.accept[s]]
    return result


def _live_states(a: _Automaton) -> set[int]:
    reachable = {0} if a.num_states else set()
    todo = list(reachable)
    while todo:
        for _, _, dest in a.transitions[todo.pop()]:
            if dest not in reachable:
                reachable.add(dest)
                todo.append(dest)
    reverse: dict[int, list[int]] = {}
    for s, trans in enumerate(a.transitions):
        for _, _, dest in trans:
            reverse.setdefault(dest, []).append(s)
    coreachable = {s for s in range(a.num_states) if a.accept[s]}
    todo = list(coreachable)
    while todo:
        for source in reverse.get(todo.pop(), ()):
            if source not in coreachable:
                coreachable.add(source)
                todo.append(source)
    return reachable & coreachable


def _remove_dead_states(a: _Automaton) -> _Automaton:
    live = sorted(_live_states(a))
    if len(live) == a.num_states:  # the same automaton (no operation changes its arguments: shared)
        return _Automaton(a.transitions, a.accept, deterministic=a.deterministic)
    index = {s: i for i, s in enumerate(live)}
    return _Automaton([[(lo, hi, index[d]) for lo, hi, d in a.transitions[s] if d in index] for s in live],
                      [a.accept[s] for s in live], deterministic=a.deterministic)


def _few_targets(few: list[Transition]) -> list[tuple[int, int, int]]:
    """(min, max, set of target states as a bit mask) for the elementary intervals of a state set with few
    transitions, cut at their own bounds (more transitions: `_Meter.determinize` ORs the states' packed rows)."""
    cuts = sorted({lo for lo, _, _ in few} | {hi + 1 for _, hi, _ in few})
    found = []
    for lo, nxt in zip(cuts, cuts[1:], strict=False):
        target = 0
        for t_lo, t_hi, dest in few:
            if t_lo <= lo <= t_hi:
                target |= 1 << dest
        if target:
            found.append((lo, nxt - 1, target))
    return found


class _RowUnion:
    """The OR of packed rows (an integer per state) over a set of states given as a bit mask.

    A subset construction ORs the rows of every state of every set it meets: one state at a time, the
    bits of a large set cost four integer operations each (sets of hundreds of states reach the effort
    cap). Sets of more than 8 states are taken eight states at a time instead: each byte of the mask is
    looked up in a table of the ORs of that byte's states, filled as the bytes are met."""

    __slots__ = ("rows", "size", "tables")

    def __init__(self, rows: list[int]) -> None:
        self.rows = rows
        self.size = (len(rows) + 7) // 8
        self.tables: list[dict[int, int]] = [{} for _ in range(self.size)]

    def of(self, states: int) -> int:
        rows = self.rows
        joined = 0
        if states.bit_count() <= 8:
            while states:
                low = states & -states
                states ^= low
                joined |= rows[low.bit_length() - 1]
            return joined
        data = states.to_bytes(self.size, "little")
        tables = self.tables
        for k in compress(range(self.size), data):
            table = tables[k]
            byte = data[k]
            value = table.get(byte)
            if value is None:
                value = 0
                base = 8 * k
                while byte:
                    low = byte & -byte
                    byte ^= low
                    value |= rows[base + low.bit_length() - 1]
                table[data[k]] = value
            joined |= value
        return joined


class _Meter:
    """The largest effort of one determinization and of one repetition check, over a whole construction."""

    def __init__(self, cap: int = EFFORT_CAP, keep_query_dfa: bool = False) -> None:
        self.cap = cap
        self.effort = 0
        self.repeat_states = 0
        self.keep_query_dfa = keep_query_dfa  # build the query's DFA even where only its effort counts

    def determinize(self, a: _Automaton, always: bool = False, build: bool = True) -> _Automaton:
        """Operations.determinize, counting its effort. State sets are bit masks; the alphabet is cut at
        every transition bound of the automaton (Lucene cuts it per state set: same sets, same effort).
        The sets are taken largest first, where Lucene takes them in the order it finds them: the effort of a
        whole construction is the same in any order, and one that reaches the cap reaches it in any order
        (only later or sooner); largest first, it is known after a fraction of the sets (a third of the time
        for the corpus's two regexps that are too complex). The DFA's states are numbered as found.
        always: run the subset construction even on a deterministic automaton (to count its states).
        build: False when only the effort is wanted (the automaton returned then has no transitions)."""
        if not always and (a.num_states <= 1 or a.is_deterministic()):
            return a
        points = sorted({lo for trans in a.transitions for lo, _, _ in trans}
                        | {hi + 1 for trans in a.transitions for _, hi, _ in trans})
        index = {point: i for i, point in enumerate(points)}
        classes = len(points) - 1
        transitions = a.transitions
        width = a.num_states
        # Sets with more transitions OR their states' rows: each state's targets for every distinct column
        # of the transition table (classes every state maps alike, as the case forms of a letter, share one),
        # packed into one integer of `width` bits per column, so that a set's targets are one OR per state.
        packed: list[int] = []
        by_state: dict[int, list[int]] = {}  # per state met in a set of few: its target per distinct column
        column_of: list[int] = []
        shifts: list[int] = []
        union = _RowUnion([])

        def pack() -> None:
            rows = [[0] * classes for _ in transitions]
            for row, trans in zip(rows, transitions, strict=True):
                for lo, hi, dest in trans:
                    bit = 1 << dest
                    for k in range(index[lo], index[hi + 1]):
                        row[k] |= bit
            columns: dict[tuple[int, ...], int] = {}
            firsts: list[int] = []
            for k, column in enumerate(zip(*rows, strict=True)):
                number = columns.setdefault(column, len(columns))
                if number == len(firsts):
                    firsts.append(k)
                column_of.append(number)
            shifts.extend(range(0, width * len(firsts), width))
            packed.extend(sum(row[k] << shift for k, shift in zip(firsts, shifts, strict=True)) for row in rows)

        accept_mask = sum(1 << s for s, acc in enumerate(a.accept) if acc)
        with_transitions = sum(1 << s for s, trans in enumerate(transitions) if trans)
        counts = [len(trans) for trans in transitions]
        spans = [(points[k], points[k + 1] - 1) for k in range(classes)]
        full = (1 << width) - 1
        out_transitions: list[list[Transition]] = [[]]
        out_accept = [a.accept[0]]
        numbers = {1: 0, 0: -1}
        worklist: list[tuple[int, int]] = [(-1, 1)]  # heap of (-size, set): the largest set first
        wide: list[tuple[int, list[int]]] = []  # (set number, number of its target per column or -1)
        effort = 0
        cap = self.cap
        while worklist:  # hot loop: locals and inlined helpers on purpose
            subset = heappop(worklist)[1]
            effort += subset.bit_count()
            if effort >= cap:
                self.effort = max(self.effort, effort)
                raise _EffortExceeded
            moving = subset & with_transitions  # the other states have no targets
            states = []
            if moving.bit_count() <= 8:
                rest = moving
                while rest:
                    low = rest & -rest
                    rest ^= low
                    states.append(low.bit_length() - 1)
            # few transitions (more than 8 states with transitions have more): cut at their own bounds
            if not moving or states and sum(map(counts.__getitem__, states)) <= 8:
                found = _few_targets([t for s in states for t in transitions[s]])
            else:
                if not packed:
                    pack()
                    union = _RowUnion(packed)
                # New sets are numbered per column: columns are numbered in the order of their first class,
                # so in class order, as `_few_targets` finds them. The transitions per class are written
                # once the whole construction stayed under the cap (`wide`).
                if states:  # a few states: OR their columns (cheaper than splitting one wide integer)
                    for state in states:
                        if state not in by_state:
                            row = packed[state]
                            by_state[state] = [(row >> shift) & full for shift in shifts]
                    targets = by_state[states[0]]
                    for state in states[1:]:
                        targets = list(map(or_, targets, by_state[state]))
                else:
                    joined = union.of(moving)
                    targets = [(joined >> shift) & full for shift in shifts]
                by_column = list(map(numbers.get, targets))  # the empty set (no target) is numbered -1
                if None in by_column:
                    for column, target in enumerate(targets):
                        if by_column[column] is None:
                            number = numbers.get(target)  # new, unless an earlier column has the same set
                            if number is None:
                                number = numbers[target] = len(out_accept)
                                out_transitions.append([])
                                out_accept.append(bool(target & accept_mask))
                                heappush(worklist, (-target.bit_count(), target))
                            by_column[column] = number
                if build:
                    wide.append((numbers[subset], by_column))  # type: ignore[arg-type]
                continue
            out = out_transitions[numbers[subset]]
            for lo, hi, target in found:
                number = numbers.get(target)
                if number is None:
                    number = numbers[target] = len(out_accept)
                    out_transitions.append([])
                    out_accept.append(bool(target & accept_mask))
                    heappush(worklist, (-target.bit_count(), target))
                if not build:
                    continue
                if out and out[-1][2] == number and out[-1][1] + 1 == lo:  # finishState merges these
                    out[-1] = (out[-1][0], hi, number)
                else:
                    out.append((lo, hi, number))
        for source, by_column in wide:
            out = out_transitions[source]
            for (lo, hi), column in zip(spans, column_of, strict=True):
                number = by_column[column]
                if number < 0:
                    continue
                if out and out[-1][2] == number and out[-1][1] + 1 == lo:  # finishState merges these
                    out[-1] = (out[-1][0], hi, number)
                else:
                    out.append((lo, hi, number))
        result = _Automaton(out_transitions, out_accept, deterministic=True)
        self.effort = max(self.effort, effort)
        return result

    def minimize(self, a: _Automaton, final: bool = False) -> _Automaton:
        """MinimizationOperations.minimize: determinize, then the minimal DFA without dead states.

        final: the automaton is the query's; only its determinization costs (the minimal DFA is computed
        later if the UTF-8 step needs it: `_compile`). When no transition bound of it can end a transition
        of its DFA inside the code points of one UTF-8 lead byte, the UTF-8 step costs nothing
        (`_utf8_deterministic`): only this determinization's effort is counted, its DFA is not built."""
        if a.num_states == 0 or (not a.accept[0] and not a.transitions[0]):
            return _Automaton()
        if final and not self.keep_query_dfa and not _may_share_lead_bytes(a):
            self.determinize(a, build=False)
            return _Automaton(settled=True)
        dfa = _remove_dead_states(self.determinize(a))
        if final:
            dfa.minimize_later = True
            return dfa
        return _minimal(dfa)

    def check_repeat(self, a: _Automaton, bound: int) -> None:
        self.repeat_states = max(self.repeat_states, (a.num_states - 1) * bound)


def _hopcroft_blocks(narrow: list[list[int]], accept: list[bool]) -> list[int]:
    """The coarsest partition of a trim DFA's states (dest per state per column, -1: the implicit dead state)
    that separates accepting states and is stable under every column, per state its block number.

    Hopcroft's algorithm, as MinimizationOperations: split blocks by the states leading into a splitter
    block; of a split block not pending, only the smaller half becomes a splitter. (Moore's refinement, the
    same partition, takes a round per length of the longest word needed to tell two states apart: a round
    per state on the chain of `[^\\n]{1000,}`.)"""
    n = len(narrow)
    dead = n
    width = len(narrow[0]) if narrow else 0
    inverse: list[list[list[int]]] = [[[] for _ in range(n + 1)] for _ in range(width)]
    for s, row in enumerate(narrow):
        for column, dest in enumerate(row):
            inverse[column][dest if dest >= 0 else dead].append(s)
    for column in range(width):
        inverse[column][dead].append(dead)
    initial = [{s for s in range(n) if accept[s]}, {s for s in range(n) if not accept[s]}, {dead}]
    blocks = [b for b in initial if b]
    block_of = [0] * (n + 1)
    for number, members in enumerate(blocks):
        for s in members:
            block_of[s] = number
    pending = set(range(len(blocks)))
    while pending:
        splitter = list(blocks[pending.pop()])
        for column in range(width):
            sources = inverse[column]
            hit: dict[int, set[int]] = {}
            for t in splitter:
                for s in sources[t]:
                    hit.setdefault(block_of[s], set()).add(s)
            for number, part in hit.items():
                whole = blocks[number]
                if len(part) == len(whole):
                    continue
                rest = whole - part
                small, large = (part, rest) if len(part) <= len(rest) else (rest, part)
                blocks[number] = large
                blocks.append(small)
                for s in small:
                    block_of[s] = len(blocks) - 1
                pending.add(len(blocks) - 1)  # with `number` when pending, else the smaller half alone
    return block_of[:n]


def _minimal(a: _Automaton) -> _Automaton:
    """The minimal DFA of a trim DFA (a missing transition goes to the implicit dead state)."""
    if a.num_states == 0:
        return a
    points = sorted({lo for trans in a.transitions for lo, _, _ in trans} | {hi + 1 for trans in a.transitions
                                                                             for _, hi, _ in trans})
    # dest per state per alphabet class (-1: dead)
    table: list[list[int]] = []
    for trans in a.transitions:
        row = []
        ordered = sorted(trans)
        k = 0
        for point in points:
            while k < len(ordered) and ordered[k][1] < point:
                k += 1
            row.append(ordered[k][2] if k < len(ordered) and ordered[k][0] <= point else -1)
        table.append(row)
    # Refinement only needs distinct columns (classes every state maps alike, as the case forms of a letter,
    # tell nothing apart).
    columns = list(dict.fromkeys(zip(*table, strict=True)))
    narrow = [list(row) for row in zip(*columns, strict=True)] if columns else [[] for _ in table]
    block = _hopcroft_blocks(narrow, a.accept)
    # number the blocks breadth-first from the initial state's, classes in order: the same numbers for the
    # same language, whichever DFA (and state numbering) it is computed from
    representative: dict[int, int] = {}
    for s, b in enumerate(block):
        representative.setdefault(b, s)
    order = {block[0]: 0}
    queue = [block[0]]
    for b in queue:  # grows while it is read
        for d in table[representative[b]]:
            if d >= 0 and block[d] not in order:
                order[block[d]] = len(order)
                queue.append(block[d])
    result = _Automaton([[] for _ in order], [False] * len(order), deterministic=True)
    done = set()
    for s, row in enumerate(table):
        target = order[block[s]]
        result.accept[target] = a.accept[s]
        if target in done:
            continue
        done.add(target)
        for i, d in enumerate(row):
            if d >= 0 and i + 1 < len(points):
                result.transitions[target].append((points[i], points[i + 1] - 1, order[block[d]]))
    return result


# --- UTF-8 (UTF32ToUTF8) ------------------------------------------------------------------------------
_START_CODES = (0, 128, 2048, 65536)
_END_CODES = (127, 2047, 65535, MAX_CODE_POINT)
_MASKS = [0] + [(2 << i) - 1 for i in range(7)]


def _utf8(code: int) -> tuple[list[int], list[int]]:
    """(bytes, significant bits per byte) of a code point, as UTF8Sequence.set."""
    if code < 128:
        return [code], [7]
    if code < 2048:
        lead, bits, rest = (6 << 5) | (code >> 6), 5, 1
    elif code < 65536:
        lead, bits, rest = (14 << 4) | (code >> 12), 4, 2
    else:
        lead, bits, rest = (30 << 3) | (code >> 18), 3, 3
    tail = [128 | ((code >> (6 * (rest - 1 - i))) & 63) for i in range(rest)]
    return [lead & 0xFF, *tail], [bits] + [6] * rest


def _first_byte_length(code: int) -> tuple[int, int]:
    if code < 128:
        return code, 1
    if code < 2048:
        return ((6 << 5) | (code >> 6)) & 0xFF, 2
    if code < 65536:
        return ((14 << 4) | (code >> 12)) & 0xFF, 3
    return ((30 << 3) | (code >> 18)) & 0xFF, 4


class _Utf8Builder:
    def __init__(self) -> None:
        self.a = _Automaton()

    def edge(self, start: int, end: int, lo: int, hi: int) -> None:
        self.build(start, end, _utf8(lo), _utf8(hi), 0)

    def add(self, source: int, dest: int, lo: int, hi: int) -> None:
        self.a.transitions[source].append((lo, hi, dest))

    def build(self, start: int, end: int, first: tuple[list[int], list[int]], last: tuple[list[int], list[int]],
              upto: int) -> None:
        sb, eb = first[0], last[0]
        if sb[upto] == eb[upto]:
            if upto == len(sb) - 1 and upto == len(eb) - 1:
                self.add(start, end, sb[upto], eb[upto])
                return
            n = self.a.create_state()
            self.add(start, n, sb[upto], sb[upto])
            self.build(n, end, first, last, upto + 1)
        elif len(sb) == len(eb):
            if upto == len(sb) - 1:
                self.add(start, end, sb[upto], eb[upto])
            else:
                self.start(start, end, first, upto, False)
                if eb[upto] - sb[upto] > 1:
                    self.all(start, end, sb[upto] + 1, eb[upto] - 1, len(sb) - upto - 1)
                self.end(start, end, last, upto, False)
        else:
            self.start(start, end, first, upto, True)
            byte_count = 1 + len(sb) - upto
            limit = len(eb) - upto
            while byte_count < limit:
                lead_a, length = _first_byte_length(_START_CODES[byte_count - 1])
                lead_b, _ = _first_byte_length(_END_CODES[byte_count - 1])
                self.all(start, end, lead_a, lead_b, length - 1)
                byte_count += 1
            self.end(start, end, last, upto, True)

    def start(self, start: int, end: int, seq: tuple[list[int], list[int]], upto: int, do_all: bool) -> None:
        data, bits = seq
        if upto == len(data) - 1:
            self.add(start, end, data[upto], data[upto] | _MASKS[bits[upto]])
            return
        n = self.a.create_state()
        self.add(start, n, data[upto], data[upto])
        self.start(n, end, seq, upto + 1, True)
        end_code = data[upto] | _MASKS[bits[upto]]
        if do_all and data[upto] != end_code:
            self.all(start, end, data[upto] + 1, end_code, len(data) - upto - 1)

    def end(self, start: int, end: int, seq: tuple[list[int], list[int]], upto: int, do_all: bool) -> None:
        data, bits = seq
        if upto == len(data) - 1:
            self.add(start, end, data[upto] & ~_MASKS[bits[upto]] & 0xFF, data[upto])
            return
        if len(data) == 2:
            start_code = 0xC2
        elif len(data) == 3 and upto == 1 and data[0] == 0xE0:
            start_code = 0xA0
        elif len(data) == 4 and upto == 1 and data[0] == 0xF0:
            start_code = 0x90
        else:
            start_code = data[upto] & ~_MASKS[bits[upto]] & 0xFF
        if do_all and data[upto] != start_code:
            self.all(start, end, start_code, data[upto] - 1, len(data) - upto - 1)
        n = self.a.create_state()
        self.add(start, n, data[upto], data[upto])
        self.end(n, end, seq, upto + 1, True)

    def all(self, start: int, end: int, lo: int, hi: int, left: int) -> None:
        if left == 0:
            self.add(start, end, lo, hi)
            return
        last = self.a.create_state()
        self.add(start, last, lo, hi)
        while left > 1:
            n = self.a.create_state()
            self.add(last, n, 128, 191)
            left -= 1
            last = n
        self.add(last, end, 128, 191)


def _to_utf8(a: _Automaton) -> _Automaton:
    """UTF32ToUTF8.convert (the reference `_utf8_effort` is tested against)."""
    builder = _Utf8Builder()
    if a.num_states == 0:
        return builder.a
    mapping = {0: builder.a.create_state()}
    builder.a.accept[0] = a.accept[0]
    pending = [0]
    while pending:
        state = pending.pop()
        source = mapping[state]
        for lo, hi, dest in _merged(a.transitions[state]):
            target = mapping.get(dest)
            if target is None:
                target = mapping[dest] = builder.a.create_state()
                builder.a.accept[target] = a.accept[dest]
                pending.append(dest)
            builder.edge(source, target, lo, hi)
    return builder.a


def _compile(meter: _Meter, a: _Automaton) -> _Automaton | None:
    """CompiledAutomaton: determinize, convert to UTF-8, determinize the byte automaton. Returns the
    code point DFA (None when `a` was settled: only measured, not built)."""
    if a.settled:
        return None
    if a.num_states == 0:
        return a
    if _is_total(a):  # every string: Lucene stops here
        return _any_string()
    dfa = meter.determinize(a)
    if _utf8_deterministic(dfa):
        return dfa
    if dfa.minimize_later:
        # Minimizing merges states and intervals, so it never adds a shared lead byte: checked before the
        # (costly) minimal DFA is computed.
        dfa = _minimal(dfa)
        if _utf8_deterministic(dfa):
            return dfa
    meter.effort = max(meter.effort, _utf8_effort(dfa, meter.cap))
    if meter.effort >= meter.cap:
        raise _EffortExceeded
    return dfa


def _merged(trans: list[Transition]) -> list[Transition]:
    """Automaton.finishCurrentState: touching intervals to the same state become one, sorted by min."""
    merged: list[Transition] = []
    for lo, hi, dest in sorted(trans, key=lambda t: (t[2], t[0], t[1])):
        if merged and merged[-1][2] == dest and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi), dest)
        else:
            merged.append((lo, hi, dest))
    return sorted(merged)


def _utf8_effort(dfa: _Automaton, cap: int) -> int:
    """Effort of determinizing the UTF-8 automaton of a DFA, state by state.

    From a state, a whole code point always leads to the one target state of the DFA (so the byte-level
    state sets at code point boundaries are the DFA's states, each once); in between, the sets are made of
    the intermediate states UTF32ToUTF8 creates for that state's transitions alone. So the effort is the
    number of DFA states plus, per state, the effort of the sets inside its code points, which depends only
    on the shape of its transitions (memoized). `_to_utf8` is the whole conversion this shortcut equals.
    """
    total = dfa.num_states
    for trans in dfa.transitions:
        ranks: dict[int, int] = {}
        shape = tuple((lo, hi, ranks.setdefault(dest, len(ranks))) for lo, hi, dest in _merged(trans))
        total += _inner_utf8_effort(shape)
        if total >= cap:
            break
    return total


@lru_cache(maxsize=4096)
def _inner_utf8_effort(shape: tuple[Transition, ...]) -> int:
    builder = _Utf8Builder()
    builder.a.create_state()
    targets = [builder.a.create_state() for _ in {rank for _, _, rank in shape}]
    for lo, hi, rank in shape:
        builder.edge(0, targets[rank], lo, hi)
    meter = _Meter()
    meter.determinize(builder.a, always=True)
    return meter.effort - 1 - len(targets)  # the sets {state} and {target} are counted as DFA states


def _may_share_lead_bytes(a: _Automaton) -> bool:
    """False when no transition bound of `a` lies within 128..MAX_CODE_POINT (a transition ending at y with
    128 <= y < MAX_CODE_POINT, or starting at y + 1): then no transition of any automaton made of its
    intervals (its DFA, minimal DFA) ends inside the code points of one multi-byte lead byte, and their
    UTF-8 automata are deterministic (`_utf8_deterministic`)."""
    return any(128 <= hi < MAX_CODE_POINT or 128 < lo <= MAX_CODE_POINT
               for trans in a.transitions for lo, hi, _ in trans)


def _utf8_deterministic(a: _Automaton) -> bool:
    """The UTF-8 automaton UTF32ToUTF8 makes of a DFA is deterministic unless two transitions of one state
    (after merging touching intervals to the same state) hold code points with the same first UTF-8 byte:
    each transition gets its own intermediate states, and paths leaving one state by different first
    bytes never meet again before a code point ends."""
    if not _may_share_lead_bytes(a):
        return True
    for trans in a.transitions:
        if len(trans) < 2:
            continue
        merged: list[tuple[int, int, int]] = []
        for lo, hi, dest in sorted(trans):
            if merged and merged[-1][2] == dest and lo <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi), dest)
            else:
                merged.append((lo, hi, dest))
        for (_, hi, _), (lo, _, _) in zip(merged, merged[1:], strict=False):
            if hi >= 128 and _first_byte_length(hi)[0] == _first_byte_length(lo)[0]:
                return False
    return True


def _is_total(a: _Automaton) -> bool:
    """Operations.isTotal: the initial state accepts and loops on every code point (one merged transition)."""
    trans = a.transitions[0]
    return a.accept[0] and all(d == 0 for _, _, d in trans) and any(
        lo == 0 and hi == MAX_CODE_POINT for lo, hi, _ in trans)


# --- RegExp parsing (RegExp.java, syntax flags ALL) -----------------------------------------------------
@dataclass(frozen=True)
class _Node:
    kind: str
    children: tuple[_Node, ...] = ()
    text: str = ""  # STRING
    lo: int = 0  # CHAR (lo), CHAR_RANGE (lo..hi), REPEAT_MIN (lo), REPEAT_MINMAX (lo..hi), PRE_CLASS (lo = letter)
    hi: int = 0


_INVALID_CLASS_LETTERS = set("abcefghijklmnopqrtuvxyzABCEFGHIJKLMNOPQRTUVXYZ")
_PREDEFINED = {"d": "[0-9]", "D": "[^0-9]", "s": "[ \t\n\r]", "S": "[^\\s]", "w": "[a-zA-Z_0-9]", "W": "[^\\w]"}


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.pos = 0

    def parse(self) -> _Node:
        if not self.s:
            return _Node("STRING", text="")
        node = self.union()
        if self.pos < len(self.s):
            raise RegexpSyntaxError(f"end-of-string expected at position {self.pos} in {self.s!r}")
        return node

    def more(self) -> bool:
        return self.pos < len(self.s)

    def peek(self, chars: str) -> bool:
        return self.more() and self.s[self.pos] in chars

    def match(self, char: str) -> bool:
        if self.more() and self.s[self.pos] == char:
            self.pos += 1
            return True
        return False

    def next(self) -> str:
        if not self.more():
            raise RegexpSyntaxError(f"unexpected end-of-string in {self.s!r}")
        self.pos += 1
        return self.s[self.pos - 1]

    def union(self) -> _Node:
        node = self.inter()
        while self.match("|"):
            node = _Node("UNION", (node, self.inter()))
        return node

    def inter(self) -> _Node:
        node = self.concat()
        while self.match("&"):
            node = _Node("INTERSECTION", (node, self.concat()))
        return node

    def concat(self) -> _Node:
        node = self.repeat()
        while self.more() and not self.peek(")|&"):
            node = _concatenation(node, self.repeat())
        return node

    def repeat(self) -> _Node:
        node = self.complement()
        while self.peek("?*+{"):
            if self.match("?"):
                node = _Node("OPTIONAL", (node,))
            elif self.match("*"):
                node = _Node("REPEAT", (node,))
            elif self.match("+"):
                node = _Node("REPEAT_MIN", (node,), lo=1)
            elif self.match("{"):
                start = self.pos
                while self.peek("0123456789"):
                    self.pos += 1
                if start == self.pos:
                    raise RegexpSyntaxError(f"integer expected at position {self.pos} in {self.s!r}")
                lo = int(self.s[start:self.pos])
                hi: int | None = lo
                if self.match(","):
                    start = self.pos
                    while self.peek("0123456789"):
                        self.pos += 1
                    hi = int(self.s[start:self.pos]) if start != self.pos else None
                if not self.match("}"):
                    raise RegexpSyntaxError(f"expected '}}' at position {self.pos} in {self.s!r}")
                if hi is None:
                    node = _Node("REPEAT_MIN", (node,), lo=lo)
                elif lo > hi:
                    raise RegexpSyntaxError(f"invalid repetition range {lo}..{hi} in {self.s!r}")
                else:
                    node = _Node("REPEAT_MINMAX", (node,), lo=lo, hi=hi)
        return node

    def complement(self) -> _Node:
        if self.match("~"):
            return _Node("COMPLEMENT", (self.complement(),))
        return self.char_class_exp()

    def char_class_exp(self) -> _Node:
        if not self.match("["):
            return self.simple()
        negate = self.match("^")
        node = self.char_class()
        while self.more() and not self.peek("]"):
            node = _Node("UNION", (node, self.char_class()))
        if negate:
            node = _Node("INTERSECTION", (_Node("ANYCHAR"), _Node("COMPLEMENT", (node,))))
        if not self.match("]"):
            raise RegexpSyntaxError(f"expected ']' at position {self.pos} in {self.s!r}")
        return node

    def char_class(self) -> _Node:
        predefined = self.predefined()
        if predefined is not None:
            return predefined
        lo = self.char()
        if self.match("-"):
            hi = self.char()
            if ord(lo) > ord(hi):
                raise RegexpSyntaxError(f"invalid range {lo!r}-{hi!r} in {self.s!r}")
            return _Node("CHAR_RANGE", lo=ord(lo), hi=ord(hi))
        return _Node("CHAR", lo=ord(lo))

    def predefined(self) -> _Node | None:
        if self.match("\\"):
            if self.peek("dDwWsS"):
                return _Node("PRE_CLASS", lo=ord(self.next()))
            if self.peek("\\"):
                return _Node("CHAR", lo=ord(self.next()))
            if self.more() and self.s[self.pos] in _INVALID_CLASS_LETTERS:
                raise RegexpSyntaxError(f"invalid character class \\{self.s[self.pos]} in {self.s!r}")
        return None

    def simple(self) -> _Node:
        if self.match("."):
            return _Node("ANYCHAR")
        if self.match("#"):
            return _Node("EMPTY")
        if self.match("@"):
            return _Node("ANYSTRING")
        if self.match('"'):
            start = self.pos
            while self.more() and not self.peek('"'):
                self.pos += 1
            if not self.match('"'):
                raise RegexpSyntaxError(f"expected '\"' at position {self.pos} in {self.s!r}")
            return _Node("STRING", text=self.s[start:self.pos - 1])
        if self.match("("):
            if self.match(")"):
                return _Node("STRING", text="")
            node = self.union()
            if not self.match(")"):
                raise RegexpSyntaxError(f"expected ')' at position {self.pos} in {self.s!r}")
            return node
        if self.match("<"):
            raise RegexpSyntaxError(f"named automata and numeric intervals (<…>) are not replayed: {self.s!r}")
        predefined = self.predefined()
        if predefined is not None:
            return predefined
        return _Node("CHAR", lo=ord(self.char()))

    def char(self) -> str:
        self.match("\\")
        return self.next()


def _is_text(node: _Node) -> bool:
    return node.kind in ("CHAR", "STRING")


def _text(node: _Node) -> str:
    return node.text if node.kind == "STRING" else chr(node.lo)


def _concatenation(left: _Node, right: _Node) -> _Node:
    """RegExp.makeConcatenation: adjacent characters and strings become one string."""
    if _is_text(left) and _is_text(right):
        return _Node("STRING", text=_text(left) + _text(right))
    if left.kind == "CONCATENATION" and _is_text(left.children[1]) and _is_text(right):
        return _Node("CONCATENATION", (left.children[0], _Node("STRING", text=_text(left.children[1]) + _text(right))))
    if _is_text(left) and right.kind == "CONCATENATION" and _is_text(right.children[0]):
        return _Node("CONCATENATION", (_Node("STRING", text=_text(left) + _text(right.children[0])),
                                       right.children[1]))
    return _Node("CONCATENATION", (left, right))


def _leaves(node: _Node, kind: str) -> list[_Node]:
    """RegExp.findLeaves: the operands of nested nodes of one kind, left to right."""
    leaves: list[_Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if current.kind == kind:
            stack.extend(reversed(current.children))
        else:
            leaves.append(current)
    return leaves


def _build(meter: _Meter, node: _Node, final: bool = False) -> _Automaton:
    """RegExp.toAutomatonInternal (final: the root node, see _Meter.minimize). Inner nodes come from a
    cache: the same classes (`[Ee]`, `\\s`, `.*`) recur in nearly every regexp, and Lucene spends on them
    the same effort each time (the meter keeps maxima, so counting them once changes nothing)."""
    if final:
        return _build_node(meter, node, True)
    automaton, effort, repeat_states = _cached_build(node)
    meter.effort = max(meter.effort, effort)
    meter.repeat_states = max(meter.repeat_states, repeat_states)
    if automaton is None:
        raise _EffortExceeded
    return automaton


@lru_cache(maxsize=8192)
def _cached_build(node: _Node) -> tuple[_Automaton | None, int, int]:
    """(automaton or None when a determinization reached the cap, effort, repeat states) of an inner node.
    The automata are shared: no operation changes its arguments."""
    meter = _Meter()
    try:
        automaton: _Automaton | None = _build_node(meter, node, False)
    except _EffortExceeded:
        automaton = None
    return automaton, meter.effort, meter.repeat_states


def _build_node(meter: _Meter, node: _Node, final: bool) -> _Automaton:
    kind = node.kind
    if kind == "PRE_CLASS":
        return _build(meter, _Parser(_PREDEFINED[chr(node.lo)]).parse(), final)
    if kind in ("UNION", "CONCATENATION"):
        parts = [_build(meter, leaf) for leaf in _leaves(node, kind)]
        return meter.minimize(_union(parts) if kind == "UNION" else _concatenate(parts), final)
    if kind == "INTERSECTION":
        return meter.minimize(_intersection(_build(meter, node.children[0]), _build(meter, node.children[1])),
                              final)
    if kind == "OPTIONAL":
        return meter.minimize(_optional(_build(meter, node.children[0])), final)
    if kind == "REPEAT":
        return meter.minimize(_star(_build(meter, node.children[0])), final)
    if kind == "REPEAT_MIN":
        inner = _build(meter, node.children[0])
        meter.check_repeat(inner, node.lo)
        return meter.minimize(_repeat_min(inner, node.lo), final)
    if kind == "REPEAT_MINMAX":
        inner = _build(meter, node.children[0])
        meter.check_repeat(inner, node.hi)
        return _repeat_min_max(inner, node.lo, node.hi)
    if kind == "COMPLEMENT":
        return meter.minimize(_complement(meter, _build(meter, node.children[0])), final)
    if kind == "CHAR":
        return _char_range(node.lo, node.lo)
    if kind == "CHAR_RANGE":
        return _char_range(node.lo, node.hi)
    if kind == "ANYCHAR":
        return _char_range(0, MAX_CODE_POINT)
    if kind == "EMPTY":
        return _Automaton()
    if kind == "STRING":
        return _string(node.text)
    if kind == "ANYSTRING":
        return _any_string()
    raise AssertionError(kind)  # pragma: no cover


def _complement(meter: _Meter, a: _Automaton) -> _Automaton:
    """Operations.complement: determinize, totalize, flip accept states, remove dead states."""
    dfa = meter.determinize(a)
    if dfa.num_states == 0:
        dfa = _Automaton([[]], [False])
    total = _Automaton([list(t) for t in dfa.transitions] + [[]], list(dfa.accept) + [False])
    sink = total.num_states - 1
    total.transitions[sink].append((0, MAX_CODE_POINT, sink))
    for s in range(sink):
        covered = sorted((lo, hi) for lo, hi, _ in total.transitions[s])
        nxt = 0
        for lo, hi in covered:
            if lo > nxt:
                total.transitions[s].append((nxt, lo - 1, sink))
            nxt = max(nxt, hi + 1)
        if nxt <= MAX_CODE_POINT:
            total.transitions[s].append((nxt, MAX_CODE_POINT, sink))
    total.accept = [not acc for acc in total.accept]
    return _remove_dead_states(total)


def _intersection(a: _Automaton, b: _Automaton) -> _Automaton:
    """Operations.intersection: product automaton of two automata."""
    if a.num_states == 0 or b.num_states == 0:
        return _Automaton()
    result = _Automaton([[]], [False])
    numbers = {(0, 0): 0}
    todo = [(0, 0)]
    while todo:
        pair = todo.pop()
        source = numbers[pair]
        result.accept[source] = a.accept[pair[0]] and b.accept[pair[1]]
        for lo1, hi1, d1 in a.transitions[pair[0]]:
            for lo2, hi2, d2 in b.transitions[pair[1]]:
                lo, hi = max(lo1, lo2), min(hi1, hi2)
                if lo <= hi:
                    target = numbers.get((d1, d2))
                    if target is None:
                        target = numbers[(d1, d2)] = result.create_state()
                        todo.append((d1, d2))
                    result.transitions[source].append((lo, hi, target))
    return _remove_dead_states(result)


# --- public API -------------------------------------------------------------------------------------------
@lru_cache(maxsize=16384)  # bulk conversion emits the same regexps in many rules
def regexp_complexity(regexp: str) -> Complexity:
    """Work to compile `regexp` (Lucene RegExp syntax, all syntax flags) into a regexp query."""
    return _measure(regexp, keep_query_dfa=False)[0]


def measured_dfa(regexp: str) -> tuple[Complexity, _Automaton | None]:
    """`regexp_complexity` and, from the same replay, a DFA of the regexp (the one the query determinizes,
    not necessarily minimal); None when the effort reached the cap."""
    return _measure(regexp, keep_query_dfa=True)


def _measure(regexp: str, keep_query_dfa: bool) -> tuple[Complexity, _Automaton | None]:
    meter = _Meter(keep_query_dfa=keep_query_dfa)
    try:
        query_dfa = _compile(meter, _build(meter, _Parser(regexp).parse(), final=True))
    except _EffortExceeded:
        query_dfa = None
    return Complexity(meter.effort, meter.repeat_states), query_dfa


def star_pattern_bound(pattern: Pattern, below: int | None = None) -> int | None:
    """An upper bound of the determinization effort of a Sigma pattern made of text and `*` only, as a
    wildcard query (case-sensitive or OpenSearch's case-insensitive form) or as the regexp
    `regexp_from_pattern` writes (`.*` and one class per character, the case forms of one character);
    None for other patterns. below: the caller only asks whether the bound is under it (a closed form under
    it may then be returned instead of the tighter trie bound, see `aho_corasick_bound`).

    Why: map each character to its class (the case forms of one character: equal or disjoint classes, see
    `_case_key`), and the pattern is literal segments s_1 … s_g between `*`. After an input w, the NFA
    states active are the completed `*` positions and, for the segments up to the first one not yet matched
    (j), the prefixes of s_1 … s_j that are suffixes of w: all of them are suffixes of the longest one. So a
    DFA state is fixed by j and that longest prefix: at most (g + 1) × (n + 1) states (n characters), each a
    set of at most n + w + 2 NFA states (w: the `*`, adjacent ones counted each). `?` wildcards are left to
    the replay (they make the automaton exponential: `*a??????????????*`).

    One segment with a single `*` on either side or both (`*text*`, the commonest) has the tighter
    `aho_corasick_bound` of its text, computed on the class keys of its characters (ASCII: the lowercase
    text), whose borders include those under every form (finer classes only shorten failure chains); its
    DFA has at most 2 × (n + 1) states (2 sets per trie node).

    Non-ASCII characters add the determinization of the UTF-8 automaton: `utf8_bound` of those DFA states,
    with the non-ASCII places where a transition may end (`_non_ascii_cuts`).
    """
    # Called for nearly every string value of a bulk conversion (30,000 over the corpus, nearly all distinct:
    # a memo cost more than it saved), so in straight-line code.
    parts = pattern.parts
    if Wildcard.SINGLE in parts:
        return None
    w = parts.count(Wildcard.MULTI)
    g = len(parts) - w
    text = "".join([part for part in parts if part is not Wildcard.MULTI]) if w else "".join(parts)
    ascii_only = text.isascii()
    keys = text.lower() if ascii_only else _case_keys(text)
    if keys is None:
        return None
    n = len(text)
    states = (g + 1) * (n + 1)
    bound = states * (n + w + 2)
    if g == 1 and (len(parts) == 2 or len(parts) == 3 and parts[0] is Wildcard.MULTI is parts[2]):
        # `*text*`, `*text`, `text*`: the closed form of aho_corasick_bound for one text when under `below`
        length = len(keys)
        quick = max(length + 2, 6 + length * (length + 7))
        bound = min(bound, quick if below is not None and quick < below else aho_corasick_bound([keys], below))
        states = min(states, 2 * (n + 1))
    if not ascii_only:
        bound = max(bound, utf8_bound(states, _non_ascii_cuts(text)))
    return bound


def utf8_bound(states: int, cuts: int) -> int:
    """An upper bound of the effort of determinizing the UTF-8 automaton of a DFA (`_utf8_effort`) of at most
    `states` states, whose transitions (merged as UTF32ToUTF8 takes them) end below MAX_CODE_POINT at a code
    point of 128 or more at most `cuts` times per state: states × (16 + 21 × cuts).

    Why: `_utf8_effort` is the number of DFA states S plus, per DFA state s, the effort of the byte-level
    sets inside its code points. Each such set is reached by a proper prefix p of UTF-8 sequences (1 to 3
    bytes starting with a lead byte of a multi-byte sequence), whose code points form an interval I(p) of
    128..MAX_CODE_POINT. UTF32ToUTF8 gives each transition of s intermediate states of its own, and the
    byte automaton of one transition is deterministic, so the set of p holds one state per transition of s
    meeting I(p), m(p) states. With c (<= cuts) transition ends y >= 128 in s:
    - m(p) = 1: a set of one intermediate state. `_Utf8Builder.edge` creates at most 15 per transition
      (at most 9 for the lead sequence and 9 for the last one with their `all` chains, 15 at most in all:
      tests check it), and only transitions reaching 128 have any: at most c + 1. So at most 15 (c + 1).
    - m(p) >= 2: I(p) holds the end y of a transition and y + 1, and each y is in at most 3 such I(p) (the
      proper prefixes of its sequence): at most 3 c sets, of at most 1 + (ends y inside I(p)) states, so
      at most 3 c + 3 c in all.
    Per DFA state 15 (c + 1) + 6 c, and S on top.
    """
    return states * (16 + 21 * cuts)


@lru_cache(maxsize=4096)
def _case_key(char: str) -> str | None:
    """The smallest case form of `char` when its forms (`case_variants`) are a closed class (each of them has
    the same forms): then two characters' classes are equal or disjoint, in every form the backends write.
    None otherwise (the Kelvin sign K has the forms K, k, while k has only K, k)."""
    forms = case_variants(char)
    if any(case_variants(form) != forms for form in forms):
        return None
    return forms[0]


def _case_keys(text: str) -> str | None:
    keys = [_case_key(char) for char in text]
    return None if None in keys else "".join(keys)  # type: ignore[arg-type]


def _non_ascii_cuts(text: str) -> int:
    """The places y | y + 1 (128 <= y < MAX_CODE_POINT) where a transition of a DFA of a star pattern may end:
    its transitions are `*` (every code point) and the characters' classes (case forms, in any form the
    backends write), so their targets change only around a code point x of a class: x - 1 | x, x | x + 1."""
    places = {y for char in set(text) for x in map(ord, case_variants(char)) for y in (x - 1, x)}
    return sum(1 for y in places if 128 <= y < MAX_CODE_POINT)


def aho_corasick_bound(texts: Sequence[str], below: int | None = None) -> int:
    """An upper bound of Lucene's determinization effort for an alternation of plain texts (`(t1|t2|…)`,
    with or without `.*` around; each character one class, classes equal or disjoint). below: the caller
    only asks whether the bound is under it; the closed form max(N + 2, 6 + Σ L (L + 7)) (N characters,
    texts of L characters) is returned when under it, without building the trie.

    Why: the alternation's own determinization processes at most one state set per trie node (effort at most
    the number of characters + 1). Around it, `.*(…).*` is determinized to sets fixed by the Aho-Corasick
    state of the input (its longest suffix that is a prefix of some text: the other active states are the
    prefixes on its failure chain) and whether some text was already seen: at most 2 sets per trie node,
    each of at most (failure chain length + 2) states (the two `.*` loops). A failure chain is at most the
    node's depth + 1 long (failure links go strictly up), hence the closed form: 2 × 3 for the root and
    2 × Σ (d + 3) over the depths d = 1 … L of each text's nodes (fewer when texts share prefixes).
    """
    if below is not None:
        quick = max(sum(map(len, texts)) + 2, 6 + sum(len(t) * (len(t) + 7) for t in texts))
        if quick < below:
            return quick
    children: list[dict[str, int]] = [{}]
    for text in texts:
        node = 0
        for char in text:
            nxt = children[node].get(char)
            if nxt is None:
                nxt = len(children)
                children.append({})
                children[node][char] = nxt
            node = nxt
    fail = [0] * len(children)
    chain = [1] * len(children)  # trie prefixes among the node's suffixes, the empty one included
    queue = list(children[0].values())
    for node in queue:
        chain[node] = 2
    head = 0
    while head < len(queue):
        node = queue[head]
        head += 1
        for char, child in children[node].items():
            state = fail[node]
            while state and char not in children[state]:
                state = fail[state]
            fail[child] = children[state].get(char, 0) if children[state].get(char, 0) != child else 0
            chain[child] = chain[fail[child]] + 1
            queue.append(child)
    return max(sum(len(t) for t in texts) + 2, 2 * sum(c + 2 for c in chain))



@lru_cache(maxsize=16384)
def wildcard_complexity(pattern: Pattern, case_insensitive: bool) -> Complexity:
    """Work to compile a wildcard query of a Sigma pattern: Lucene's WildcardQuery, or (case_insensitive)
    OpenSearch's case-insensitive wildcard automaton (ASCII letters as two-character unions)."""
    parts: list[_Automaton] = []
    for char in pattern.chars():
        if char is Wildcard.MULTI:
            parts.append(_any_string())
        elif char is Wildcard.SINGLE:
            parts.append(_char_range(0, MAX_CODE_POINT))
        elif case_insensitive and ord(char) <= 128 and char.swapcase() != char:
            parts.append(_two_chars(ord(char), ord(char.swapcase())))
        else:
            parts.append(_char_range(ord(char), ord(char)))
    meter = _Meter()
    try:
        _compile(meter, _concatenate(parts))
    except _EffortExceeded:
        pass
    return Complexity(meter.effort, meter.repeat_states)


def _two_chars(a: int, b: int) -> _Automaton:
    """The minimized union of two characters (AutomatonQueries.toCaseInsensitiveChar)."""
    lo, hi = sorted((a, b))
    return _Automaton([[(lo, lo, 1), (hi, hi, 1)], []], [False, True])


# --- automata for the equivalent rewrites (backends/regexp_rewrite.py) -----------------------------------
def char_set(atom: str) -> tuple[tuple[int, int], ...] | None:
    """The code points (sorted intervals) of a Lucene RegExp that matches exactly one character (`a`,
    `\\.`, `[^"]`, `.`); None for any other regexp."""
    try:
        a = dfa(atom)
    except RegexpSyntaxError:
        return None
    if a is None or a.num_states != 2 or a.accept != [False, True] or a.transitions[1]:
        return None
    return tuple(sorted((lo, hi) for lo, hi, _ in _merged(a.transitions[0])))


def dfa(regexp: str, cap: int = EFFORT_CAP) -> _Automaton | None:
    """The DFA Lucene builds for a RegExp (every operation's result minimized, so a regexp whose top is an
    operation gets its minimal DFA), None when determinizing takes an effort of `cap` or more."""
    meter = _Meter(cap)
    try:
        return _remove_dead_states(meter.determinize(_build(meter, _Parser(regexp).parse())))
    except _EffortExceeded:
        return None


def dfa_from_edges(states: int, edges: dict[tuple[int, int], tuple[tuple[int, int], ...]]) -> _Automaton:
    """A DFA whose every state accepts (state 0 initial) from its edges: (source, dest) → code point intervals."""
    a = _Automaton([[] for _ in range(states)], [True] * states, deterministic=True)
    for (source, dest), chars in edges.items():
        a.transitions[source].extend((lo, hi, dest) for lo, hi in chars)
    for trans in a.transitions:
        trans.sort()
    return a


def concatenation_nfa(regexp: str) -> _Automaton | None:
    """An automaton of a Lucene RegExp whose top-level concatenation is not determinized: each part is built
    (and minimized) as Lucene builds it, then the parts are concatenated. None when a part is too complex."""
    node = _Parser(regexp).parse()
    parts = _leaves(node, "CONCATENATION")
    try:
        return _concatenate([_build(_Meter(), part) for part in parts])
    except _EffortExceeded:
        return None


def included(nfa: _Automaton, dfa: _Automaton) -> bool:
    """Whether every string `nfa` accepts `dfa` accepts too: no pair (nfa state, dfa state) reachable on
    the same input has an accepting nfa state and a rejecting dfa state (or the dead state).

    The pairs are explored as, per dfa state, the set of nfa states met with it (a bit mask), grown until
    nothing changes; the input is read in classes of code points both automata treat alike, and the nfa's
    targets for all classes at once are one OR of its states' packed rows (as `_Meter.determinize`)."""
    if nfa.num_states == 0:
        return True
    bounds = {0}
    for a in (nfa, dfa):
        for trans in a.transitions:
            for lo, hi, _ in trans:
                bounds.add(lo)
                bounds.add(hi + 1)
    points = sorted(bounds)
    index = {point: i for i, point in enumerate(points)}
    classes = len(points)  # the last one starts above every bound: no transition takes it
    dead = dfa.num_states
    dfa_rows: list[list[int]] = []
    for trans in dfa.transitions:
        row = [dead] * classes
        for lo, hi, dest in trans:
            first, end = index[lo], index[hi + 1]
            row[first:end] = [dest] * (end - first)
        dfa_rows.append(row)
    dfa_rows.append([dead] * classes)
    nfa_rows: list[list[int]] = []
    for trans in nfa.transitions:
        row = [0] * classes
        for lo, hi, dest in trans:
            bit = 1 << dest
            for k in range(index[lo], index[hi + 1]):
                row[k] |= bit
        nfa_rows.append(row)
    first_of: dict[tuple[int, ...], int] = {}  # distinct column → its first class
    for k, column in enumerate(zip(*nfa_rows, *dfa_rows, strict=True)):
        first_of.setdefault(column, k)
    firsts = list(first_of.values())
    width = nfa.num_states
    full = (1 << width) - 1
    shifts = range(0, width * len(firsts), width)
    packed = [sum(row[k] << shift for k, shift in zip(firsts, shifts, strict=True)) for row in nfa_rows]
    union = _RowUnion(packed)
    dfa_columns = [[row[k] for k in firsts] for row in dfa_rows]
    nfa_accept = sum(1 << s for s, acc in enumerate(nfa.accept) if acc)
    dfa_accept = [*dfa.accept, False]
    met = [0] * (dead + 1)  # per dfa state: the nfa states met with it
    new = [0] * (dead + 1)  # of those, the ones whose successors are still to be followed
    start = 0 if dfa.num_states else dead
    met[start] = new[start] = 1
    todo = [start]
    while todo:
        q = todo.pop()
        fresh = new[q]
        new[q] = 0
        if fresh & nfa_accept and not dfa_accept[q]:
            return False
        joined = union.of(fresh)
        if not joined:
            continue
        for shift, q_dest in zip(shifts, dfa_columns[q], strict=True):
            reached = (joined >> shift) & full & ~met[q_dest]
            if reached:
                met[q_dest] |= reached
                if not new[q_dest]:
                    todo.append(q_dest)
                new[q_dest] |= reached
    return True
