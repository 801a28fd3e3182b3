"""What every backend shares: field capabilities from the pipeline, value decoding, error helpers."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from sigma.conditions import (
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionValueExpression,
)
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaError, SigmaFeatureNotSupportedByBackendError
from sigma.types import (
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    TimestampPart,
)

from sigma_es_backend.backends import automaton, compaction, regex, regexp_rewrite
from sigma_es_backend.backends.pattern import Pattern, Wildcard
from sigma_es_backend.backends.typetests import IS_EXPANSION, IS_STRING

# Pipeline state keys written by the ECS pipeline (sigma_es_backend.pipelines) and read here.
FIELD_CAPABILITIES_STATE = "sigma_es_field_capabilities"
INDEX_STATE = "sigma_es_index"
# {"id", "title", "integrations": [{package, integration, version}], "setup"}: read by the detection outputs.
DATA_SOURCE_CONTEXT_STATE = "sigma_es_data_source_context"
DEFAULT_INDEX = ("logs-*",)


@dataclass(frozen=True)
class FieldCapabilities:
    """How a field is indexed, as far as query construction cares.

    type: the Elasticsearch field type (keyword, wildcard, text, match_only_text, ip, long, …).
    caseless: name of a keyword subfield with a lowercase normalizer, if the mapping has one.
    """

    type: str = "keyword"
    caseless: str | None = None

    @property
    def is_text(self) -> bool:
        return self.type in ("text", "match_only_text")

    @property
    def is_ip(self) -> bool:
        return self.type == "ip"

    @property
    def is_boolean(self) -> bool:
        return self.type == "boolean"

    @property
    def is_numeric(self) -> bool:
        return self.type in ("long", "integer", "short", "byte", "double", "float", "half_float",
                             "scaled_float", "unsigned_long")


KEYWORD = FieldCapabilities()
_LEAVES = frozenset((ConditionFieldEqualsValueExpression, ConditionValueExpression))


class StringDispatchMixin:
    """pySigma's field = value dispatch (and precedence comparison), with a shortcut for plain and cased
    strings (most values).

    TextQueryBackend walks the condition's parents (to swap in negated expressions, which only
    `convert_not_as_not_eq` backends use) and then matches the value against a dozen classes; for a value
    whose class is exactly SigmaString or SigmaCasedString both end in the string methods below, so those
    are called at once. Everything else, and any `convert_not_as_not_eq` backend, goes through pySigma.
    Put before TextQueryBackend in the bases.
    """

    convert_not_as_not_eq: bool
    precedence: ClassVar[tuple[type, ...]]
    string_dispatch_shortcut: ClassVar[bool] = True  # False: pySigma's dispatch only (tests compare both)

    def compare_precedence(self, outer: Any, inner: Any) -> bool:
        """pySigma's answer, at once for a field = value leaf under a boolean operator (most calls): such a
        leaf binds tighter than any operator (pySigma: precedence index -1), unless its value is an
        expansion, which converts as an OR."""
        if (self.string_dispatch_shortcut and type(inner) in _LEAVES and type(outer) in self.precedence
                and not IS_EXPANSION[type(inner.value)]):
            return True
        return super().compare_precedence(outer, inner)  # type: ignore[misc]

    def convert_condition_field_eq_val(self, cond: ConditionFieldEqualsValueExpression,
                                       state: ConversionState) -> Any:
        if self.string_dispatch_shortcut and not self.convert_not_as_not_eq:
            value_type = type(cond.value)
            if value_type is SigmaString:
                return self.convert_condition_field_eq_val_str(cond, state)  # type: ignore[attr-defined]
            if value_type is SigmaCasedString:
                return self.convert_condition_field_eq_val_str_case_sensitive(cond, state)  # type: ignore[attr-defined]
        return super().convert_condition_field_eq_val(cond, state)  # type: ignore[misc]


def field_capabilities(state: ConversionState, field: str, engine: str = "elasticsearch") -> FieldCapabilities:
    """Capabilities declared by the pipeline for `field`; unknown fields are plain keywords.

    With `engine="opensearch"` a field declared `wildcard` is a keyword: the capabilities then describe the
    index template this tool ships for OpenSearch (events/templates.py maps ECS wildcard fields as keyword,
    as query_string cannot match OpenSearch's wildcard type exactly; README).
    """
    table: dict[str, Any] = state.processing_state.get(FIELD_CAPABILITIES_STATE) or {}
    caps = table.get(field)
    if caps is None:
        return KEYWORD
    if not isinstance(caps, FieldCapabilities):
        caps = FieldCapabilities(**caps)
    if engine == "opensearch" and caps.type == "wildcard":
        return replace(caps, type="keyword")
    return caps


def index_patterns(state: ConversionState) -> tuple[str, ...]:
    value = state.processing_state.get(INDEX_STATE)
    if not value:
        return DEFAULT_INDEX
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(value)


def unsupported(feature: str, cond: ConditionItem | ConditionFieldEqualsValueExpression | None = None,
                backend: str = "") -> SigmaFeatureNotSupportedByBackendError:
    """Error naming the feature; pySigma appends the rule's location to the message."""
    where = f"{backend}: " if backend else ""
    return SigmaFeatureNotSupportedByBackendError(
        f"{where}{feature}", source=getattr(cond, "source", None)
    )


def query_string_query(query: str) -> dict[str, Any]:
    """The query_string query every search of an es_lucene query uses. `lenient: false`: without it a clause
    Lucene cannot build (a regexp too complex to determinize, a value the field type rejects) silently
    becomes MatchNoDocsQuery, so the rule would never fire instead of failing."""
    return {"query_string": {"query": query, "analyze_wildcard": False, "lenient": False}}


def translate_re(cond: ConditionFieldEqualsValueExpression, backend: str, escape_delimiter: bool = True) -> str:
    """The Lucene RegExp of a `|re` condition's value under its flags (i, m, s; case as character classes);
    a regexp that cannot be translated exactly fails naming the rule (`escape_delimiter`: escape `/` for a
    query_string term)."""
    value = cond.value
    assert isinstance(value, SigmaRegularExpression)
    try:
        return regex.translate(
            value.to_plain(),
            ignore_case=SigmaRegularExpressionFlag.IGNORECASE in value.flags,
            multiline=SigmaRegularExpressionFlag.MULTILINE in value.flags,
            dotall=SigmaRegularExpressionFlag.DOTALL in value.flags,
            expand_case=True,
            escape_delimiter=escape_delimiter,
        )
    except regex.RegexTranslationError as error:
        raise unsupported(str(error), cond, backend) from error


def check_regexp(regexp: str, field: str, cond: Any, backend: str, pattern: Pattern | None = None,
                 work_limit: int = automaton.DEFAULT_WORK_LIMIT) -> str:
    """`regexp` when Lucene can compile it within `work_limit` (max_determinized_states), else an equivalent
    regexp it can compile (`regexp_rewrite`), else the error. `pattern`: the Sigma pattern `regexp` was
    written from (`escaping.regexp_from_pattern`), for the quick bound of plain patterns.

    Elasticsearch/OpenSearch fail a regexp whose automaton is too complex to determinize, and query_string
    (without `lenient: false`, as Kibana and Discover run it) silently matches nothing for it instead.
    """
    if pattern is not None and _plainly_fits(pattern, work_limit):
        return regexp
    try:
        complexity = automaton.regexp_complexity(regexp)
    except automaton.RegexpSyntaxError as error:
        raise unsupported(f"regular expression /{_printable(regexp)}/ on field '{field}': Lucene cannot parse it "
                          f"({error})", cond, backend) from error
    if not complexity.fits(work_limit):
        equivalent = regexp_rewrite.lucene_equivalent(regexp, work_limit)
        if equivalent is not None:
            return equivalent
        raise unsupported(
            f"regular expression /{_printable(regexp)}/ on field '{field}' is too complex for Lucene: determinizing it "
            f"{_needs(complexity)}, more than max_determinized_states {work_limit} allows (the search would fail, "
            "or a query_string would silently match nothing)", cond, backend)
    return regexp


def check_wildcard(pattern: Pattern, case_insensitive: bool, field: str, cond: Any, backend: str) -> None:
    """Fail when Lucene cannot compile the wildcard query of `pattern` (its limit is fixed at the default)."""
    if not pattern.has_wildcards or pattern.is_prefix() or _plainly_fits(pattern, automaton.DEFAULT_WORK_LIMIT):
        return  # a term or prefix automaton is deterministic: nothing to determinize
    complexity = automaton.wildcard_complexity(pattern, case_insensitive)
    if not complexity.fits():
        shown = "".join(p.value if isinstance(p, Wildcard) else p for p in pattern.parts)
        raise unsupported(
            f"wildcard value {shown!r} on field '{field}' is too complex for Lucene: determinizing it "
            f"{_needs(complexity)}, more than wildcard queries allow (max_determinized_states "
            f"{automaton.DEFAULT_WORK_LIMIT}, fixed)", cond, backend)


def clause_limit(backend: Any) -> int:
    """The cluster's indices.query.bool.max_clause_count: `-O max_clause_count=N`, else OpenSearch's default."""
    return int(backend.backend_options.get("max_clause_count", compaction.MAX_CLAUSE_COUNT))


def check_clause_count(count: int, backend: Any, cond: Any) -> None:
    """Fail a query with more leaf queries than the cluster allows (`-O max_clause_count=N` declares a
    cluster whose dynamic setting indices.query.bool.max_clause_count was raised)."""
    limit = clause_limit(backend)
    if count > limit:
        raise unsupported(
            f"the query has {count} leaf queries (after compacting value lists into regexps), more than "
            f"OpenSearch's indices.query.bool.max_clause_count {limit} allows; raise that dynamic cluster setting "
            "and declare it with -O max_clause_count=N, or split the rule", cond, backend.identifier)


def check_query_string_length(length: int, backend: Any, cond: Any) -> None:
    """Fail a query string OpenSearch would refuse as too long (`-O max_query_string_length=N` declares a
    cluster whose dynamic setting search.query.max_query_string_length was raised)."""
    limit = int(backend.backend_options.get("max_query_string_length", compaction.MAX_QUERY_STRING_LENGTH))
    if length > limit:
        raise unsupported(
            f"the query string has {length} characters (after compacting value lists into regexps), more than "
            f"OpenSearch's search.query.max_query_string_length {limit} allows; raise that dynamic cluster setting "
            "and declare it with -O max_query_string_length=N, or use es_dsl", cond, backend.identifier)


def _printable(text: str) -> str:
    """Control characters (a regexp's newline in `[^\n]`) as escapes, so an error message stays one line."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def _plainly_fits(pattern: Pattern, work_limit: int) -> bool:
    limit = work_limit * automaton.EFFORT_PER_WORK_UNIT
    bound = automaton.star_pattern_bound(pattern, below=limit)
    return bound is not None and bound < limit


def _needs(complexity: automaton.Complexity) -> str:
    if complexity.effort >= automaton.EFFORT_CAP:
        return f"takes an effort of at least {automaton.EFFORT_CAP}"
    if complexity.repeat_states > automaton.DEFAULT_WORK_LIMIT:
        return f"repeats {complexity.repeat_states} states"
    return f"takes an effort of {complexity.effort} (max_determinized_states {complexity.work_limit})"


def string_pattern(cond: ConditionFieldEqualsValueExpression) -> Pattern:
    value = cond.value
    assert IS_STRING[type(value)]
    return Pattern.from_sigma(value)


def boolean_value(field: str, pattern: Pattern, cond: Any, backend: str) -> bool:
    """A string value on a boolean field: Sigma rules write `Signed: 'false'`; the field holds a boolean."""
    text = pattern.text.lower()
    if pattern.has_wildcards or text not in ("true", "false"):
        raise unsupported(f"value {pattern.text!r} on boolean field '{field}': only 'true' or 'false' can match",
                          cond, backend)
    return text == "true"


ENGINES = ("elasticsearch", "opensearch")


def target_engine(backend: Any) -> str:
    """`-O engine=opensearch|elasticsearch` (default elasticsearch): where the queries will run."""
    engine = str(backend.backend_options.get("engine", "elasticsearch")).lower()
    if engine not in ENGINES:
        raise unsupported(f"unknown engine '{engine}' (elasticsearch or opensearch)", backend=backend.identifier)
    return engine


def backslash_before_wildcard(pattern: Pattern) -> bool:
    chars = list(pattern.chars())
    return any(c == "\\" and isinstance(n, Wildcard) for c, n in zip(chars, chars[1:], strict=False))


# Sigma timestamp part → (ES|QL DATE_EXTRACT part, name used by the DSL Painless script). `week` is
# absent: Sigma does not say which week numbering (ISO 8601 or weeks counted from January 1st).
TIMESTAMP_PARTS: dict[TimestampPart, tuple[str, str]] = {
    TimestampPart.MINUTE: ("minute_of_hour", "minute"),
    TimestampPart.HOUR: ("hour_of_day", "hour"),
    TimestampPart.DAY: ("day_of_month", "day"),
    TimestampPart.MONTH: ("month_of_year", "month"),
    TimestampPart.YEAR: ("year", "year"),
}


def timestamp_part(state: ConversionState, cond: Any, backend: str) -> tuple[str, str, int]:
    """(ES|QL part, script part, value) of a timestamp-part comparison (UTC, as Elasticsearch stores dates)."""
    value = cond.value
    assert isinstance(value, SigmaTimestampPart)
    caps = field_capabilities(state, cond.field)
    if caps.type not in ("date", "date_nanos"):
        raise unsupported(f"timestamp part ({value.timestamp_part.name.lower()}) on {caps.type} field "
                          f"'{cond.field}': only date fields have parts", cond, backend)
    if value.timestamp_part not in TIMESTAMP_PARTS:
        raise unsupported(f"timestamp part {value.timestamp_part.name.lower()}: Sigma does not define the week "
                          "numbering (ISO 8601 or counted from January 1st)", cond, backend)
    esql_part, script_part = TIMESTAMP_PARTS[value.timestamp_part]
    return esql_part, script_part, int(value.number)


def keywords_error(cond: Any, backend: str) -> SigmaFeatureNotSupportedByBackendError:
    return unsupported("keywords (values without a field): ECS events have no single raw-text field that "
                       "holds the whole event, so an unbound value cannot be matched exactly; name the field",
                       cond, backend)


def has_not_ancestor(cond: Any) -> bool:
    """True when the expression sits below a NOT (three-valued languages need null guards there)."""
    parent = getattr(cond, "parent", None)
    while parent is not None:
        if isinstance(parent, ConditionNOT):
            return True
        parent = getattr(parent, "parent", None)
    return False


def never_an_ip(pattern: Pattern) -> bool:
    """A plain value that is no IP address (e.g. `IpAddress: '-'`): an ip field can never hold it, so the
    comparison is false; written as an ip term it would make Elasticsearch/OpenSearch fail the whole
    query (and `10.0.0.0/8` would even match as a network)."""
    if pattern.has_wildcards:
        return False
    try:
        ipaddress.ip_address(pattern.text)
    except ValueError:
        return True
    return False


def text_field_error(field: str, cond: Any, backend: str) -> SigmaFeatureNotSupportedByBackendError:
    return unsupported(
        f"field '{field}' is an analyzed text field: exact string matching is not possible there",
        cond,
        backend,
    )


# A canonical decimal octet 0-255 (no leading zeros), in Lucene RegExp syntax (also valid Python re).
_ANY_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"


def ipv4_cidr_regexp(cidr: SigmaCIDRExpression, cond: Any, backend: str) -> str:
    """Anchored RegExp matching exactly the dotted-quad texts of the addresses in an IPv4 network.

    A keyword field holds text: `10.1.0.*` would also match `10.1.0.256` or `10.1.0.5.example`,
    so every octet is spelled out as the set of its canonical decimal values.
    """
    if cidr.network.version != 4:
        raise unsupported(
            f"cidr {cidr.cidr} on keyword field '{cond.field}': IPv6 text has several spellings, "
            "only an ip-typed field can match it exactly",
            cond,
            backend,
        )
    network = cidr.network
    base = [int(o) for o in str(network.network_address).split(".")]
    octets = []
    for index in range(4):
        bits = min(max(network.prefixlen - 8 * index, 0), 8)  # fixed bits of this octet
        span = 2 ** (8 - bits)
        if span == 1:
            octets.append(str(base[index]))
        elif span == 256:
            octets.append(_ANY_OCTET)
        else:
            octets.append("(" + "|".join(str(v) for v in range(base[index], base[index] + span)) + ")")
    return "\\.".join(octets)


class RuleLabelMixin:
    """Remembers the rule being converted, so that errors and warnings can name it (`rule 'Title' (path)`);
    and, every backend's convert_rule passing here, finalizes the rules correlations reference (below)."""

    _rule_label: str = "rule"

    def convert_rule(self, rule: Any, output_format: str | None = None, *args: Any, **kwargs: Any) -> Any:
        path = getattr(getattr(rule, "source", None), "path", None)
        rule_id = getattr(rule, "id", None)
        self._rule_label = f"rule '{rule.title}'" + (f" ({path})" if path else (f" ({rule_id})" if rule_id else ""))
        queries = super().convert_rule(rule, output_format, *args, **kwargs)  # type: ignore[misc]
        if queries and getattr(rule, "_backreferences", None) and not self.finalize_correlation_subqueries:
            # pySigma leaves the rules a correlation references unfinalized (the correlation is built from
            # their raw queries, kept as the rule's conversion result), and returns those raw queries also
            # when the rule's own output is asked for (`generate: true`): finalized here, as any rule's.
            return self._finalized(rule, queries, output_format or self.default_format)  # type: ignore[attr-defined]
        return queries

    def _finalized(self, rule: Any, queries: list[Any], output_format: str) -> list[Any]:
        states = rule.get_conversion_states()
        try:
            return [self.finalize_query(rule, query, index, states[index], output_format)  # type: ignore[attr-defined]
                    for index, query in enumerate(queries)]
        except SigmaError as error:
            if not self.collect_errors:  # type: ignore[attr-defined]
                raise
            self.errors.append((rule, error))  # type: ignore[attr-defined]
            return []


def _correlation_not_supported(self: Any, rule: Any, *args: Any, **kwargs: Any) -> Any:
    label = getattr(rule, "name", None) or getattr(rule, "id", None) or getattr(rule, "title", "")
    error = SigmaFeatureNotSupportedByBackendError(
        f"{getattr(self, 'identifier', '')}: correlation rule '{label}': correlation rules need aggregations "
        "or sequences, which this query language cannot express (use es_dsl, es_eql or es_esql)",
        source=getattr(rule, "source", None))
    if getattr(self, "collect_errors", False) and kwargs.get("_top"):
        self.errors.append((rule, error))
        return []
    raise error


class CorrelationNotSupportedMixin:
    """Correlation rules fail with a clear error naming the rule (languages without aggregations);
    backends with a correlation writer put CorrelationBackendMixin before this one."""

    def convert_correlation_rule(self, rule: Any, output_format: str | None = None, method: str | None = None,
                                 callback: Any = None) -> list[Any]:
        return _correlation_not_supported(self, rule, _top=True)


for _kind in ("event_count", "value_count", "temporal", "temporal_ordered", "extended_temporal",
              "extended_temporal_ordered", "value_sum", "value_avg", "value_percentile", "value_median"):
    setattr(CorrelationNotSupportedMixin, f"convert_correlation_{_kind}_rule", _correlation_not_supported)
