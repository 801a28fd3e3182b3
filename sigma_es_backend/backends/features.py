"""Which Sigma feature each backend supports: the single source of the README's feature table.

Every row is proven by the feature cases in `tests/feature_cases.py`: a backend marked supported has
cases whose exact hits are checked (live on OpenSearch for es_lucene and es_dsl, with the `eql`
package for es_eql, as text for es_esql); a backend marked error has cases that must fail with an
error naming the feature. `tests/unit/test_features.py` enforces both and that the README table is
`render_table()` verbatim (`python -m sigma_es_backend.backends.features` prints it).
"""

from __future__ import annotations

from dataclasses import dataclass

BACKEND_IDS = ("es_lucene", "es_dsl", "es_eql", "es_esql", "es_kql")


@dataclass(frozen=True)
class Support:
    supported: bool
    note: str = ""

    def render(self) -> str:
        mark = "✔" if self.supported else "error"
        return f"{mark} ({self.note})" if self.note else mark


OK = Support(True)
ERROR = Support(False)


@dataclass(frozen=True)
class Feature:
    id: str
    title: str
    es_lucene: Support
    es_dsl: Support
    es_eql: Support
    es_esql: Support
    es_kql: Support

    def support(self, backend: str) -> Support:
        return getattr(self, backend)


def _all(support: Support) -> dict[str, Support]:
    return dict.fromkeys(BACKEND_IDS, support)


# KQL has no case-insensitive operator and Kibana splits wildcard values at whitespace.
KQL_CASE_NOTE = "`.caseless` subfields or values with at most 16 case spellings, else error"
KQL_PATTERN_NOTE = "no whitespace inside `*` patterns, else error"
KQL_CASE_ERROR = Support(False, "needs case-insensitive matching without `.caseless`")

FEATURES: tuple[Feature, ...] = (
    Feature("case_insensitive", "plain values, case-insensitive (keyword, `.caseless`, wildcard fields)",
            es_lucene=OK, es_dsl=OK, es_eql=OK, es_esql=OK,
            es_kql=Support(True, KQL_CASE_NOTE)),
    Feature("cased", "`cased`", **_all(OK)),
    Feature("wildcards", "`*` / `?` wildcards, escaped `\\*` `\\?` literals",
            es_lucene=OK, es_dsl=OK, es_eql=OK, es_esql=OK,
            es_kql=Support(True, "`*` only: `?` is an error")),
    Feature("contains", "`contains` / `startswith` / `endswith`",
            es_lucene=OK, es_dsl=OK, es_eql=OK,
            es_esql=OK, es_kql=Support(True, KQL_PATTERN_NOTE)),
    Feature("all", "`all`", **_all(OK)),
    Feature("base64", "`base64`, `base64offset`", **{**_all(OK), "es_kql": KQL_CASE_ERROR}),
    Feature("utf16", "`wide` (UTF-16LE), `utf16be`", **{**_all(OK), "es_kql": KQL_CASE_ERROR}),
    Feature("windash", "`windash`", **{**_all(OK), "es_kql": Support(True, KQL_PATTERN_NOTE)}),
    Feature("re", "`re` with `i` / `m` / `s` (translated to anchored Lucene RegExp)",
            es_lucene=OK, es_dsl=OK,
            es_eql=OK, es_esql=OK, es_kql=Support(False, "KQL has no regular expressions")),
    Feature("re_untranslatable", "`re` with lookaround, backreference, `\\b`", **_all(ERROR)),
    Feature("cidr_ip", "`cidr` IPv4 and IPv6 on ip fields", **_all(OK)),
    Feature("non_ip_on_ip", "a value that is no IP address (e.g. `-`) on an ip field: never matches",
            **_all(OK)),
    Feature("cidr_keyword", "`cidr` IPv4 on keyword fields (exact dotted-quad RegExp)",
            **{**_all(OK), "es_kql": Support(True, "networks of at most 1024 addresses, listed")}),
    Feature("cidr_keyword_ipv6", "`cidr` IPv6 on keyword fields", **_all(ERROR)),
    Feature("exists", "`exists`", **_all(OK)),
    Feature("null", "`null`", **_all(OK)),
    Feature("compare", "`lt` / `lte` / `gt` / `gte`", **_all(OK)),
    Feature("neq", "`neq`", **_all(OK)),
    Feature("numbers_booleans", "numbers (on long and keyword fields), booleans", **_all(OK)),
    Feature("conditions", "`1 of` / `all of` / `them`, nested `not` / `and` / `or`", **_all(OK)),
    Feature("special_values", "values with reserved characters, quotes, trailing backslash, unicode, empty string",
            **{**_all(OK), "es_kql": Support(True, f"{KQL_CASE_NOTE}; {KQL_PATTERN_NOTE}")}),
    Feature("fieldref", "`fieldref` (and its `startswith` / `endswith` / `contains` forms), case-insensitive",
            es_lucene=Support(True, "a condition of its own (not inside an OR): Painless script filter beside the "
                              "query_string in `dsl_query`, Kibana rules and monitors; the plain query_string refuses"),
            es_dsl=Support(True, "Painless script query; keyword fields only"),
            es_eql=Support(True, "`startsWith~` / `endsWith~` / `stringContains~`; keyword fields only"),
            es_esql=Support(True, "keyword fields only"), es_kql=ERROR),
    Feature("fieldref_split", "`fieldref` to or from the split Sysmon `User` field "
            "(`user.domain` + `\\` + `user.name`), either side",
            es_lucene=Support(True, "as `fieldref`: a script filter beside the query_string"),
            es_dsl=Support(True, "Painless joins the parts' values, every combination"),
            es_eql=Support(True, "`concat()`; single-valued fields"),
            es_esql=Support(True, "`CONCAT`; single-valued fields"), es_kql=ERROR),
    Feature("timestamp_parts", "`minute` / `hour` / `day` / `month` / `year` on date fields (UTC)",
            es_lucene=Support(False, "query_string has no date parts"),
            es_dsl=Support(True, "Painless script query"), es_eql=Support(False, "EQL has no date functions"),
            es_esql=Support(True, "`DATE_EXTRACT`"), es_kql=ERROR),
    Feature("timestamp_week", "`week` (Sigma does not define the week numbering)", **_all(ERROR)),
    Feature("keywords", "keywords (values without a field: ECS has no raw-event field to search)",
            **_all(ERROR)),
    Feature("expand", "`expand` with values from the pipeline (`value_placeholders` and `vars`)", **_all(OK)),
    Feature("expand_missing", "`expand` placeholders without a pipeline value", **_all(ERROR)),
    Feature("text_fields", "analyzed text fields (e.g. `powershell.file.script_block_text`)",
            **{**_all(Support(False, "query_string / DSL / EQL / KQL match analyzed terms")),
               "es_esql": Support(True, "compares the field's whole value")}),
)

FEATURES_BY_ID = {feature.id: feature for feature in FEATURES}

# Correlation rules: each row's ✔/error checked per backend by tests/unit/test_correlation_features.py; the
# results proven by tests/unit/test_correlations.py (es_eql with the `eql` package on timed events, errors),
# tests/live/test_correlations_live.py (es_dsl on OpenSearch), tests/unit/test_correlation_esql.py (es_esql,
# same events and cases), tests/unit/test_correlation_kibana.py / _monitor.py (detection formats).
NO_AGGREGATIONS = Support(False, "no aggregations in the language")
KIBANA_THRESHOLD = Support(True, "`threshold` rule: event_count gte/gt only; value_count refused, the "
                                 "cardinality aggregation is approximate")
CORRELATION_FEATURES: tuple[Feature, ...] = (
    Feature("corr_event_count", "correlation `event_count` (group-by, timespan, gt/gte/lt/lte/eq)",
            es_lucene=NO_AGGREGATIONS, es_dsl=OK, es_eql=Support(True, "gt/gte only: a sequence of N stages"),
            es_esql=OK, es_kql=NO_AGGREGATIONS),
    Feature("corr_value_count", "correlation `value_count` (exact distinct count)",
            es_lucene=NO_AGGREGATIONS, es_dsl=OK, es_eql=ERROR, es_esql=OK, es_kql=NO_AGGREGATIONS),
    Feature("corr_temporal", "correlation `temporal`",
            es_lucene=NO_AGGREGATIONS, es_dsl=OK, es_eql=Support(False, "sequences are ordered"),
            es_esql=OK, es_kql=NO_AGGREGATIONS),
    Feature("corr_temporal_ordered", "correlation `temporal_ordered` (all rules, in order)",
            es_lucene=NO_AGGREGATIONS, es_dsl=ERROR, es_eql=Support(True, "`sequence … with maxspan`"),
            es_esql=ERROR, es_kql=NO_AGGREGATIONS),
    Feature("corr_aliases", "correlation `aliases`",
            es_lucene=NO_AGGREGATIONS,
            es_dsl=Support(False, "a composite aggregation reads one field for every event"),
            es_eql=Support(True, "temporal_ordered"),
            es_esql=Support(True, "one group-by field; `MV_APPEND` of each matching rule's field, `MV_EXPAND`"),
            es_kql=NO_AGGREGATIONS),
    Feature("corr_kibana", "correlation as a Kibana detection rule (`-f kibana_rule` / `kibana_ndjson`)",
            es_lucene=KIBANA_THRESHOLD, es_dsl=Support(False, "no Kibana format; see `opensearch_monitor`"),
            es_eql=Support(True, "`eql` rule, what es_eql converts"),
            es_esql=Support(True, "`esql` rule, what es_esql converts"), es_kql=KIBANA_THRESHOLD),
    Feature("corr_monitor", "correlation as an OpenSearch Alerting monitor (`-f opensearch_monitor`)",
            es_lucene=Support(False, "no aggregations in the language"),
            es_dsl=Support(True, "bucket-level monitor: the aggregation as search input, the condition in the "
                                 "trigger's bucket selector"),
            es_eql=Support(False, "no monitor format"), es_esql=Support(False, "no monitor format"),
            es_kql=Support(False, "no monitor format")),
    Feature("corr_value_sum", "correlation `value_sum` / `value_avg` (integer fields, exact integer arithmetic)",
            es_lucene=NO_AGGREGATIONS, es_dsl=OK, es_eql=Support(False, "no aggregations"), es_esql=OK,
            es_kql=NO_AGGREGATIONS),
    Feature("corr_value_percentile", "correlation `value_percentile` / `value_median`",
            **_all(Support(False, "percentiles are approximate (TDigest)"))),
    Feature("corr_extended", "extended (boolean) correlation conditions", **_all(ERROR)),
)


def render_table(features: tuple[Feature, ...] = FEATURES) -> str:
    """The README's feature × backend table (the correlation table with CORRELATION_FEATURES)."""
    lines = ["| Sigma feature | " + " | ".join(BACKEND_IDS) + " |",
             "|---|" + "---|" * len(BACKEND_IDS)]
    for feature in features:
        lines.append(f"| {feature.title} | " + " | ".join(feature.support(b).render() for b in BACKEND_IDS) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_table())
    print()
    print(render_table(CORRELATION_FEATURES))
