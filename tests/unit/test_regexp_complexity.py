"""The Lucene determinization replay (backends/automaton.py) and the conversion errors built on it.

Expected efforts are Lucene 9.12's, as OpenSearch 2.19 reports them: the live test
tests/live/test_regexp_complexity_live.py checks the same borders (and the corpus) on the cluster.
"""

from __future__ import annotations

import itertools
import random

import pytest
import yaml
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.processing.pipeline import ProcessingPipeline

from sigma_es_backend.backends import automaton, escaping, regex
from sigma_es_backend.backends.automaton import Complexity
from sigma_es_backend.backends.pattern import Pattern, Wildcard
from tests.conftest import convert, inline_rule

RAW = ProcessingPipeline()


def rule(detection: str) -> str:
    """A rule whose selection is the one YAML line `detection` (`field|modifier: 'value'`)."""
    return inline_rule(yaml.safe_load(detection), title="Complex")


def star(text: str) -> Pattern:
    """A Sigma pattern from a wildcard string (`*` and `?` are wildcards)."""
    parts: list[str | Wildcard] = []
    for char in text:
        part = Wildcard.MULTI if char == "*" else Wildcard.SINGLE if char == "?" else char
        if isinstance(part, str) and parts and isinstance(parts[-1], str):
            parts[-1] += part
        else:
            parts.append(part)
    return Pattern(tuple(parts))


@pytest.mark.parametrize(("regexp", "effort", "repeat_states", "work_limit"), [
    (".*abc.*", 18, 0, 2),
    (".*a.{10}", 13312, 10, 1332),
    (".*a.{12}", 61440, 12, 6145),            # under the default limit (effort < 100000)
    ("[^\"]{0,64}", 0, 64, 64),               # a repetition is not determinized, only its bound counts
    (".*(ab|ac|ad)*x.{4}", 204, 4, 21),
    (".*[Ää]b.*", 51, 0, 6),                  # Ä and ä share their first UTF-8 byte: the byte automaton counts
    (".*[Ää].{10}", 38912, 10, 3892),
    # the only bound within the multi-byte code points starts a transition (È): the UTF-8 step still counts
    (".*[È-\U0010ffff].{3}", 256, 3, 26),
])
def test_effort_of_small_regexps(regexp: str, effort: int, repeat_states: int, work_limit: int) -> None:
    complexity = automaton.regexp_complexity(regexp)
    assert complexity == Complexity(effort, repeat_states)
    assert complexity.work_limit == work_limit
    assert complexity.fits()


def test_just_over_the_default_limit() -> None:
    complexity = automaton.regexp_complexity(".*a.{13}")  # Lucene: effort 131072
    assert not complexity.fits()
    assert complexity.effort >= automaton.EFFORT_CAP


def test_wsass_regexp_is_refused() -> None:
    # proc_creation_win_hktl_wsass.yml: OpenSearch 2.19 rejects it (query_string silently, without lenient: false)
    translated = regex.translate(r"(?i)\.exe[\"\']?\s+[^\"]{0,64}werfaultsecure\.exe[\"\']?\s+\d{2,10}",
                                 escape_delimiter=False)
    assert not automaton.regexp_complexity(translated).fits()


@pytest.mark.parametrize(("wildcard", "case_insensitive", "fits"), [
    ("*a" + "?" * 11 + "*", False, True),   # 61440
    ("*a" + "?" * 11 + "*", True, True),
    ("*a" + "?" * 13 + "*", False, False),  # 278528
    ("*a" + "?" * 13 + "*", True, False),
    ("*ab" + "?" * 13 + "*", True, True),   # the second letter cuts the sets down: 18521
])
def test_wildcard_border(wildcard: str, case_insensitive: bool, fits: bool) -> None:
    assert automaton.wildcard_complexity(star(wildcard), case_insensitive).fits() is fits


def test_utf8_shortcut_equals_the_whole_conversion() -> None:
    for regexp in (".*[Ää]b.*", ".*[Ää].{3}", ".*[ÄäÖö]x.*[Üü]", ".*[Ǆǅǆ]+.*"):
        meter = automaton._Meter()
        dfa = meter.determinize(automaton._build(meter, automaton._Parser(regexp).parse()))
        whole = automaton._Meter()
        whole.determinize(automaton._to_utf8(dfa))
        assert automaton._utf8_effort(dfa, automaton.EFFORT_CAP) == whole.effort


def test_star_pattern_bound_is_an_upper_bound() -> None:
    """The quick bound for `*`-and-text patterns never undercuts the replay (repetitive texts are the worst)."""
    rng = random.Random(7)
    for _ in range(400):
        alphabet = rng.choice(["ab", "aB", "a", "aA-", "xyz\\"])
        text = "".join(rng.choice(alphabet + "**") for _ in range(rng.randint(1, 30)))
        pattern = star(text)  # adjacent `*` stay two wildcards, as pySigma keeps them
        if not pattern.text:
            continue
        bound = automaton.star_pattern_bound(pattern)
        for case_insensitive in (False, True):
            assert automaton.wildcard_complexity.__wrapped__(pattern, case_insensitive).effort <= bound
            regexp = escaping.regexp_from_pattern(pattern, case_insensitive)
            assert automaton.regexp_complexity.__wrapped__(regexp).effort <= bound


def test_star_pattern_bound_leaves_other_patterns_to_the_replay() -> None:
    assert automaton.star_pattern_bound(star("*a?b*")) is None
    # the Kelvin sign's forms (K, k) are not closed (k has K, k): its class may overlap another one
    assert automaton.star_pattern_bound(star("*\u212ak*")) is None
    assert automaton.star_pattern_bound(star("*ä*")) is not None


def test_lucene_syntax_errors_are_named() -> None:
    with pytest.raises(automaton.RegexpSyntaxError):
        automaton.regexp_complexity("(a|)")  # Lucene reads ')' as a character and misses the group's end


# --- conversions ---------------------------------------------------------------------------------------
# No rewrite (backends/regexp_rewrite.py) applies to a fixed-length gap after a one-letter trigger.
TOO_COMPLEX = r"CommandLine|re: '(?i)e.{13}'"


@pytest.mark.parametrize("target", ["es_lucene", "es_dsl"])
def test_too_complex_regexp_fails_the_rule_naming_field_and_regexp(target: str) -> None:
    with pytest.raises(SigmaFeatureNotSupportedByBackendError,
                       match=r"regular expression /\.\*\[Ee\]\[\^\\n\]\{13\}\.\*/ on field 'CommandLine' is too complex"):
        convert(rule(TOO_COMPLEX), target, pipeline=RAW)


@pytest.mark.parametrize("target", ["es_lucene", "es_dsl"])
def test_too_complex_wildcard_fails_the_rule(target: str) -> None:
    # no letter: es_lucene writes a wildcard term (with a letter it writes a case-insensitive regexp)
    with pytest.raises(SigmaFeatureNotSupportedByBackendError,
                       match=r"wildcard value '\*1\?{13}\*' on field 'fieldA' is too complex"):
        convert(rule("fieldA|contains: '1" + "?" * 13 + "'"), target, pipeline=RAW)


@pytest.mark.parametrize("target", ["es_lucene", "es_dsl"])
def test_complex_but_compilable_values_convert(target: str) -> None:
    assert convert(rule("fieldA|contains: '1" + "?" * 11 + "'"), target, pipeline=RAW)
    assert convert(rule("fieldA|re: 'a.{11}'"), target, pipeline=RAW)  # .*a[^\n]{11}.*: effort 61440
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="too complex"):
        convert(rule("fieldA|re: 'a.{12}'"), target, pipeline=RAW)  # effort 131072


def test_one_too_complex_rule_does_not_stop_the_batch(tmp_path, seed_rule_yaml: str) -> None:
    import json

    from click.testing import CliRunner

    from sigma_es_backend.cli import cli
    (tmp_path / "good.yml").write_text(seed_rule_yaml)
    # the seed rule with one more selection: a regexp on CommandLine Lucene cannot determinize
    bad = seed_rule_yaml.replace("    condition: selection",
                                 f"    complex:\n        {TOO_COMPLEX}\n    condition: complex and selection")
    assert bad != seed_rule_yaml
    (tmp_path / "bad.yml").write_text(bad)
    result = CliRunner().invoke(cli, ["convert", "--no-cache", "-t", "es_lucene", "--json", str(tmp_path)])
    assert result.exit_code == 1
    by_file = {line["path"].rsplit("/", 1)[1]: line for line in map(json.loads, result.stdout.splitlines())}
    assert by_file["good.yml"]["errors"] == [] and len(by_file["good.yml"]["queries"]) == 1
    assert "on field 'process.command_line' is too complex for Lucene" in by_file["bad.yml"]["errors"][0]


@pytest.mark.parametrize(("sigma_regexp", "lucene"), [
    (r"(\d|)x", r".*(\d|())x.*"),   # Lucene cannot parse an empty alternative
    (r"(|a)b", r".*(()|a)b.*"),     # … or reads it as a literal '|'
    (r"a|", r".*(a|()).*"),
])
def test_empty_alternatives_are_empty_groups(sigma_regexp: str, lucene: str) -> None:
    assert regex.translate(sigma_regexp) == lucene
    assert automaton.regexp_complexity(lucene).fits()


def test_dsl_query_format_is_not_lenient() -> None:
    import json
    (body,) = convert(rule("fieldA: 'x'"), "es_lucene", "dsl_query", pipeline=RAW)
    assert json.loads(body)["query"]["query_string"]["lenient"] is False


def _one_segment_efforts(pattern: Pattern) -> list[int]:
    """The replay's efforts of a pattern in every form the backends emit it: wildcard query (case-sensitive,
    case_insensitive) and regexp (case-sensitive, case classes)."""
    efforts = []
    for case_insensitive in (False, True):
        efforts.append(automaton.wildcard_complexity.__wrapped__(pattern, case_insensitive).effort)
        regexp = escaping.regexp_from_pattern(pattern, case_insensitive)
        efforts.append(automaton.regexp_complexity.__wrapped__(regexp).effort)
    return efforts


def test_one_segment_bound_exhaustively() -> None:
    """`*text*`, `*text`, `text*` over {a, A, b}, every text up to 6 characters: the Aho-Corasick bound of the
    lowercase text is never below the replay (case pairs and repetitions are the hard cases)."""
    for length in range(1, 7):
        for chars in itertools.product("aAb", repeat=length):
            text = "".join(chars)
            for parts in ((Wildcard.MULTI, text, Wildcard.MULTI), (Wildcard.MULTI, text), (text, Wildcard.MULTI)):
                pattern = Pattern(parts)
                bound = automaton.star_pattern_bound(pattern)
                assert bound is not None
                assert max(_one_segment_efforts(pattern)) <= bound, pattern


def test_one_segment_bound_on_long_texts() -> None:
    """Long repetitive texts (the worst for failure chains) up to 120 characters, where the bound is the
    Aho-Corasick one (far below the general cubic bound)."""
    rng = random.Random(11)
    for _ in range(60):
        alphabet = rng.choice(["a", "aA", "ab", "aB-", "abc", "xyz\\\\"])
        unit = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 5)))
        text = (unit * 40)[:rng.randint(20, 120)] + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 4)))
        pattern = Pattern((Wildcard.MULTI, text, Wildcard.MULTI))
        bound = automaton.star_pattern_bound(pattern)
        assert bound is not None and bound <= automaton.aho_corasick_bound([text.lower()])
        assert max(_one_segment_efforts(pattern)) <= bound, pattern


def test_one_segment_bound_spares_long_texts_the_replay() -> None:
    # a 400-character base64 text (as in PowerShell rules): the cubic bound exceeds the limit, this one does not
    rng = random.Random(5)
    text = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") for _ in range(400))
    pattern = Pattern((Wildcard.MULTI, text, Wildcard.MULTI))
    assert 2 * 401 * 404 >= automaton.EFFORT_CAP
    assert automaton.star_pattern_bound(pattern) < automaton.EFFORT_CAP


# --- non-ASCII characters: the UTF-8 step ---------------------------------------------------------------
def _utf8_boundary_code_points() -> list[int]:
    """Code points around every change of UTF-8 length, lead byte and continuation byte range."""
    bases = (0, 127, 128, 0xBF, 0xC0, 0x7FF, 0x800, 0xFFF, 0x1000, 0xD7FF, 0xE000, 0xFFFF, 0x10000, 0x3FFFF,
             0x40000, 0x103FFF, automaton.MAX_CODE_POINT)
    points = {b + d for b in bases for d in (-65, -64, -63, -2, -1, 0, 1, 2, 63, 64, 65)}
    rng = random.Random(1)
    points |= {rng.randint(0, automaton.MAX_CODE_POINT) for _ in range(60)}
    return sorted(p for p in points if 0 <= p <= automaton.MAX_CODE_POINT)


def test_utf8_of_one_transition_has_at_most_15_deterministic_intermediate_states() -> None:
    """The two facts `utf8_bound` rests on, for every range between boundary code points."""
    points = _utf8_boundary_code_points()
    worst = 0
    for lo in points:
        for hi in points:
            if lo > hi:
                continue
            builder = automaton._Utf8Builder()
            builder.a.create_state()
            builder.a.create_state()
            builder.edge(0, 1, lo, hi)
            worst = max(worst, builder.a.num_states - 2)
            assert builder.a.is_deterministic(), (lo, hi)
    assert worst == 15


NON_ASCII = ["–", "—", "―", "é", "É", "ä", "Ä", "д", "Д", "ж", "я", "ѐ", "中", "文", "€", "🔜", "🐤", "\u200d"]


def _random_star_pattern(rng: random.Random) -> Pattern:
    alphabet = rng.sample(NON_ASCII, rng.randint(1, 5)) + rng.sample(list("aAb-/ "), rng.randint(0, 3))
    unit = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4)))
    text = (unit * 20)[:rng.randint(1, 24)] + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 3)))
    shape = rng.choice(["*t*", "*t", "t*", "*t*t*", "t*t", "**t*"])
    cut = rng.randint(1, len(text))
    pieces = iter((text[:cut], text[cut:] or text[:1]) if shape.count("t") == 2 else (text,))
    return star("".join(next(pieces) if c == "t" else c for c in shape))


def test_star_pattern_bound_holds_for_non_ascii_characters() -> None:
    """Texts with non-ASCII characters (dashes of windash, accented and Cyrillic letters sharing a lead byte,
    CJK, emoji) in every form the backends write: the bound is never below the replay. The UTF-8 step is
    what makes the bound needed: for some of them it costs more than all the code-point level bounds."""
    rng = random.Random(13)
    utf8_dominates = 0
    for _ in range(150):
        pattern = _random_star_pattern(rng)
        bound = automaton.star_pattern_bound(pattern)
        assert bound is not None, pattern
        efforts = _one_segment_efforts(pattern)
        assert max(efforts) <= bound, pattern
        n, g = len(pattern.text), sum(1 for p in pattern.parts if isinstance(p, str))
        code_point_bound = (g + 1) * (n + 1) * (n + len(pattern.parts) - g + 2)
        utf8_dominates += max(efforts) > min(code_point_bound, automaton.aho_corasick_bound([pattern.text.lower()]))
    assert utf8_dominates > 0


def test_utf8_bound_on_the_corpus_shapes() -> None:
    """windash values on caseless fields and emoji: bounded far under the limit, so no replay runs."""
    for text in (" –s /i cmd", " —s pwsh", "Last error: Média protégé en écriture.", "🏴\U000e0067\U000e0062\U000e007f",
                 "⛹🏻\u200d♂️"):
        pattern = Pattern((Wildcard.MULTI, text, Wildcard.MULTI))
        bound = automaton.star_pattern_bound(pattern)
        assert bound is not None and bound < automaton.EFFORT_CAP // 10
        assert max(_one_segment_efforts(pattern)) <= bound


def test_case_keys_need_closed_case_classes() -> None:
    assert automaton._case_key("é") == automaton._case_key("É") == "É"
    assert automaton._case_key("–") == "–"
    assert automaton._case_key("\u212a") is None  # Kelvin sign
    assert automaton._case_key("ς") is None  # final sigma: ς, Σ, σ; σ has only Σ, σ


def test_closed_form_aho_corasick_bound_is_above_the_trie_bound() -> None:
    rng = random.Random(17)
    for _ in range(300):
        alphabet = rng.choice(["a", "ab", "abc", "0123456789"])
        texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(rng.randint(1, 8))]
        exact = automaton.aho_corasick_bound(texts)
        quick = automaton.aho_corasick_bound(texts, below=10**9)
        assert exact <= quick
        assert automaton.aho_corasick_bound(texts, below=quick) == exact  # not under: the trie bound


# --- the replay's own algorithms against textbook ones ------------------------------------------------------
def _textbook_determinize(a: automaton._Automaton) -> tuple[int, list[list[tuple[int, int, int]]], list[bool]]:
    """Subset construction over frozensets in breadth-first order (Lucene's), the alphabet cut at every bound,
    touching intervals to the same set merged: (effort, transitions, accept)."""
    points = sorted({lo for trans in a.transitions for lo, _, _ in trans}
                    | {hi + 1 for trans in a.transitions for _, hi, _ in trans})
    order = [frozenset({0})]
    numbers = {order[0]: 0}
    transitions = []
    for subset in order:  # grows while iterating
        out: list[tuple[int, int, int]] = []
        for lo, nxt in zip(points, points[1:], strict=False):
            target = frozenset(d for s in subset for t_lo, t_hi, d in a.transitions[s] if t_lo <= lo <= t_hi)
            if not target:
                continue
            if target not in numbers:
                numbers[target] = len(order)
                order.append(target)
            if out and out[-1][2] == numbers[target] and out[-1][1] + 1 == lo:
                out[-1] = (out[-1][0], nxt - 1, numbers[target])
            else:
                out.append((lo, nxt - 1, numbers[target]))
        transitions.append(out)
    return sum(map(len, order)), transitions, [any(a.accept[s] for s in subset) for subset in order]


def _random_nfa(rng: random.Random) -> automaton._Automaton:
    states = rng.randint(2, 14)
    bounds = [0, 1, 2, 3, 5, 8, 9, 97, 98, 0xE9, 0x10FFFF]
    transitions = []
    for _ in range(states):
        trans = []
        for _ in range(rng.choice([0, 1, 2, 3, 6, 12])):
            lo, hi = sorted(rng.sample(bounds, 2))
            trans.append((lo, hi, rng.randrange(states)))
        transitions.append(trans)
    return automaton._Automaton(transitions, [rng.random() < 0.3 for _ in range(states)])


def _breadth_first_numbering(transitions: list[list[tuple[int, int, int]]],
                             accept: list[bool]) -> tuple[list[list[tuple[int, int, int]]], list[bool]]:
    """The same DFA with its states numbered in the order a breadth-first walk from state 0 finds them."""
    order = [0]
    number = {0: 0}
    for state in order:  # grows while iterating
        for _, _, dest in transitions[state]:
            if dest not in number:
                number[dest] = len(order)
                order.append(dest)
    return ([[(lo, hi, number[d]) for lo, hi, d in transitions[old]] for old in order],
            [accept[old] for old in order])


def test_determinize_is_the_textbook_subset_construction() -> None:
    """Same sets, same transitions, same effort: for sets with few transitions (cut at their own bounds) and
    many (packed rows over distinct columns). The replay takes the sets largest first, so its states are
    numbered otherwise: compared with both numbered breadth-first."""
    rng = random.Random(23)
    for _ in range(400):
        nfa = _random_nfa(rng)
        meter = automaton._Meter()
        dfa = meter.determinize(nfa, always=True)
        effort, transitions, accept = _textbook_determinize(nfa)
        assert meter.effort == effort
        assert (_breadth_first_numbering(dfa.transitions, dfa.accept)
                == _breadth_first_numbering(transitions, accept))


def test_a_determinization_stops_at_the_cap_exactly_when_lucenes_would() -> None:
    """Lucene fails once the effort of the sets it has taken reaches the cap: so exactly when the effort of
    the whole construction does, in whatever order the replay takes the sets."""
    rng = random.Random(31)
    for _ in range(300):
        nfa = _random_nfa(rng)
        total = _textbook_determinize(nfa)[0]
        for cap in {max(1, total - 1), total, total + 1, max(1, total // 2)}:
            meter = automaton._Meter(cap)
            try:
                meter.determinize(nfa, always=True)
                stopped = False
            except automaton._EffortExceeded:
                stopped = True
            assert stopped is (total >= cap)
            assert meter.effort >= cap if stopped else meter.effort == total


def _moore_partition(narrow: list[list[int]], accept: list[bool]) -> set[frozenset[int]]:
    """Moore's refinement: states apart while their (block, blocks of their successors) differ."""
    block = {s: int(acc) for s, acc in enumerate(accept)} | {-1: -1}
    while True:
        signature = {s: (block[s], *(block[d] for d in row)) for s, row in enumerate(narrow)}
        numbers = {sig: i for i, sig in enumerate(dict.fromkeys(signature.values()))}
        refined = {s: numbers[sig] for s, sig in signature.items()} | {-1: -1}
        if len(set(refined.values())) == len(set(block.values())):
            break
        block = refined
    return {frozenset(s for s in range(len(narrow)) if block[s] == b) for b in {block[s] for s in range(len(narrow))}}


def test_hopcroft_partition_is_moores() -> None:
    rng = random.Random(29)
    for _ in range(300):
        states, columns = rng.randint(1, 30), rng.randint(1, 4)
        narrow = [[rng.choice([-1, *range(states)]) for _ in range(columns)] for _ in range(states)]
        accept = [rng.random() < 0.4 for _ in range(states)]
        block = automaton._hopcroft_blocks(narrow, accept)
        hopcroft = {frozenset(s for s in range(states) if block[s] == b) for b in set(block)}
        assert hopcroft == _moore_partition(narrow, accept)
    # a chain: Moore needs a round per state, Hopcroft's result is the same
    chain = [[s + 1] for s in range(999)] + [[999]]
    assert len(set(automaton._hopcroft_blocks(chain, [False] * 999 + [True]))) == 1000


def test_row_union_is_the_or_of_the_rows_of_the_set() -> None:
    rnd = random.Random(5)
    for width in (1, 7, 8, 9, 64, 300):
        rows = [rnd.getrandbits(200) for _ in range(width)]
        union = automaton._RowUnion(rows)
        for _ in range(300):  # sets met again use the byte tables
            states = rnd.getrandbits(width) & rnd.getrandbits(width) if rnd.random() < 0.5 else rnd.getrandbits(width)
            expected = 0
            for state in range(width):
                if states >> state & 1:
                    expected |= rows[state]
            assert union.of(states) == expected
