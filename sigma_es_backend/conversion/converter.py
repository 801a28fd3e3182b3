"""One process's converter: the backend and its pipeline are built once and reused for every rule.

Building them per rule (as `Backend.convert` on a one-rule collection does) costs half a millisecond of
pipeline concatenation each; `ProcessingPipeline.apply` resets the pipeline state for every rule, so
reusing them gives the same queries (pinned by tests/unit/test_conversion.py).
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

from sigma.collection import SigmaCollection
from sigma.conditions import SigmaCondition
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import (
    SigmaCorrelationRuleError,
    SigmaError,
    SigmaFeatureNotSupportedByBackendError,
    SigmaRuleLocation,
)
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import ChangeLogsourceTransformation
from sigma.rule import SigmaRule

from sigma_es_backend.backends import backends
from sigma_es_backend.conversion import conditions
from sigma_es_backend.conversion.context import data_source_record, required_field_records
from sigma_es_backend.conversion.parsing import parse_rule_documents, parse_rule_file
from sigma_es_backend.conversion.references import JobContext
from sigma_es_backend.conversion.results import RuleResult
from sigma_es_backend.conversion.settings import ConversionSettings, SettingsError
from sigma_es_backend.conversion.versions import pysigma_version
from sigma_es_backend.pipelines import pipelines

# Pipeline state key under which transformations may leave per-rule warnings (a list of strings), next
# to Python warnings raised while the rule converts; both end up in RuleResult.warnings.
WARNINGS_STATE = "sigma_es_warnings"
PYSIGMA_VERSION = pysigma_version()
# pySigma without its metadata (a source checkout) is taken for the current major version
PYSIGMA_MAJOR = int(PYSIGMA_VERSION.split(".")[0]) if PYSIGMA_VERSION[:1].isdigit() else 2


def rule_options() -> dict[str, Any]:
    """Keyword arguments for building rules: pySigma 2's default policy, its regex engine memoised
    (`regex_policy`); pySigma 1.5 has no policy."""
    if PYSIGMA_MAJOR < 2:
        return {}
    from sigma_es_backend.conversion.regex_policy import memoised_policy

    return {"policy": memoised_policy()}


def resolve_pipeline(names: tuple[str, ...] | list[str]) -> ProcessingPipeline:
    """Registry ids (`ecs`) or paths of pySigma YAML pipeline files, combined in order."""
    combined = ProcessingPipeline()
    for name in names:
        if name in pipelines:
            combined += pipelines[name]()
        elif Path(name).is_file():
            combined += ProcessingPipeline.from_yaml(Path(name).read_text(encoding="utf-8"))
        else:
            raise SettingsError(f"unknown pipeline '{name}' (known: {', '.join(sorted(pipelines))}, or a YAML file)")
    return combined


def check_settings(settings: ConversionSettings) -> None:
    """Raise SettingsError for an unknown target or format (before any file is read)."""
    if settings.target not in backends:
        raise SettingsError(f"unknown target '{settings.target}' (known: {', '.join(sorted(backends))})")
    formats = backends[settings.target].formats
    if settings.output_format not in formats:
        raise SettingsError(f"'{settings.output_format}' is not a format of {settings.target} "
                         f"(formats: {', '.join(formats)})")


class _LogsourceChanged(Exception):
    """A pipeline item changed a rule's log source: the per-log-source item lists are not valid."""


class LogsourceItemFilter:
    """Per log source, the pipeline items that can apply to it.

    The ECS pipeline has several items per data source, each conditioned on one log source; pySigma
    evaluates every item's conditions for every rule (40 % of the conversion time with ~330 items).
    An item whose rule conditions are only LogsourceConditions (or conditions declaring
    `depends_on_logsource_only`) gives the same answer for every rule with the same (category, product,
    service, definition), so it is evaluated once per log source, with pySigma's own
    `match_rule_conditions`, and skipped for the rules it cannot match. Valid while no item
    changes the log source: pipelines with ChangeLogsourceTransformation are not filtered, and a rule
    whose log source changed anyway is converted again with every item (`_LogsourceChanged`).
    """

    def __init__(self, pipeline: ProcessingPipeline):
        self.pipeline = pipeline
        self.all_items: list[ProcessingItem] = list(pipeline.items)
        self.enabled = not any(isinstance(item.transformation, ChangeLogsourceTransformation)
                               for item in self.all_items)
        # Items whose conditions are equal give the same answer: each distinct set of conditions is
        # evaluated once per log source (the ECS pipeline's ~730 items have ~130 distinct ones).
        self._keys = [self._logsource_only_key(item) for item in self.all_items]
        self._scopes = [self._logsource_scope(item) if key is not None else None
                        for item, key in zip(self.all_items, self._keys, strict=True)]
        self._subsets: dict[tuple, list[ProcessingItem]] = {}
        # indices of the items by log source scope (most items have one: a log source's data source)
        self._scoped: dict[tuple, list[int]] = {}
        self._unscoped: list[int] = []
        for index, scope in enumerate(self._scopes):
            if scope is None:
                self._unscoped.append(index)
            else:
                self._scoped.setdefault(scope, []).append(index)

    @staticmethod
    def _logsource_scope(item: ProcessingItem) -> tuple | None:
        """(category, product, service) of the item's one log source condition, when the item can only
        match rules that pySigma's LogsourceCondition with these values matches; else None."""
        conditions = item.rule_conditions
        if item.rule_condition_negation or item.rule_condition_linking not in (all, any) or len(conditions) != 1:
            return None
        (condition,) = conditions
        if type(condition) is LogsourceCondition or (isinstance(condition, LogsourceCondition)
                                                     and getattr(condition, "within_logsource", False)):
            return (condition.category, condition.product, condition.service)
        return None

    @staticmethod
    def _logsource_only_key(item: ProcessingItem) -> tuple | None:
        """What the item's rule conditions depend on, when that is the log source alone; else None."""
        conditions = item.rule_conditions
        if (getattr(item, "rule_condition_expression", None) is not None or not isinstance(conditions, list)
                or not conditions):
            return None
        keys = []
        for condition in conditions:
            if type(condition) is LogsourceCondition:
                keys.append((LogsourceCondition, condition.category, condition.product, condition.service))
            elif getattr(condition, "depends_on_logsource_only", False):
                logsource_key = getattr(condition, "logsource_key", None)
                keys.append(logsource_key() if logsource_key is not None else (id(condition),))
            else:
                return None
        return (item.rule_condition_linking, item.rule_condition_negation, tuple(keys))

    @staticmethod
    def key(rule: SigmaRule | SigmaCorrelationRule) -> tuple:
        if not isinstance(rule, SigmaRule):
            return ()  # a correlation rule has no log source: its referenced rules' decide (all items)
        ls = rule.logsource
        return (ls.category, ls.product, ls.service, ls.definition)

    def items_for(self, rule: SigmaRule | SigmaCorrelationRule) -> list[ProcessingItem]:
        if not self.enabled or not isinstance(rule, SigmaRule):
            return self.all_items
        key = self.key(rule)
        subset = self._subsets.get(key)
        if subset is None:
            # pySigma's log source containment: each value the condition names equals the rule's.
            category, product, service = key[:3]
            within = {(c, p, s) for c in (None, category) for p in (None, product) for s in (None, service)}
            answers: dict[tuple, bool] = {}
            subset = []
            # the unscoped items and those of the scopes containing the rule's log source, in pipeline order
            candidates = sorted(self._unscoped + [i for scope in within for i in self._scoped.get(scope, ())])
            for index in candidates:
                item, item_key = self.all_items[index], self._keys[index]
                if item_key is not None:
                    matches = answers.get(item_key)
                    if matches is None:
                        matches = answers[item_key] = item.match_rule_conditions(rule)
                    if not matches:
                        continue
                subset.append(item)
            self._subsets[key] = subset
        return subset


class _ConditionRecorder:
    """Wraps a backend's `convert_condition` to keep the condition trees it converts at top level.

    pySigma parses a rule's condition anew on every `SigmaCondition.parsed` access; the required fields
    are read from the very trees the queries were built from instead of parsing them a second time.
    While a tree converts, the wrapper steps aside (nested calls reach the backend's own method).
    """

    def __init__(self, backend: Any):
        self._backend = backend
        self._convert = backend.convert_condition
        self.roots: list[Any] = []
        backend.convert_condition = self

    def __call__(self, cond: Any, state: Any) -> Any:
        self.roots.append(cond)
        del self._backend.convert_condition  # the class's method, for the nested calls
        try:
            return self._convert(cond, state)
        finally:
            self._backend.convert_condition = self


class MemoisedCondition(SigmaCondition):
    """A rule condition whose parse tree (before pySigma's postprocessing binds it to the rule's
    detections) is parsed once per distinct condition string and process, and copied for each use;
    parsed by `conditions.parse_condition` (pySigma's trees, a hundred times faster) when it can.

    pySigma parses every condition anew (1.5; 2.0 keeps 256 strings, fewer than a corpus has) and
    deep-copies the tree each time; a pickle of the same tree is copied five times faster. The tree
    is pySigma's own (`parse(postprocess=False)`), so errors and results are pySigma's.
    """

    def parse(self, postprocess: bool = True) -> Any:
        blob = _PARSED.get(self.condition)
        if blob is None:
            tree = conditions.parse_condition(self.condition) if conditions.verified() else None
            if tree is None:
                tree = super().parse(postprocess=False)  # pySigma's errors for a bad condition
            if len(_PARSED) >= _PARSED_LIMIT:
                _PARSED.clear()
            _PARSED[self.condition] = pickle.dumps(tree, pickle.HIGHEST_PROTOCOL)
        else:
            tree = pickle.loads(blob)
        if not postprocess:
            return tree
        return tree.postprocess(self.detections, source=self.source)


# MemoisedCondition's memo: condition string → pickled parse tree.
_PARSED: dict[str, bytes] = {}
_PARSED_LIMIT = 20_000


def memoise_conditions(collection: SigmaCollection) -> None:
    for rule in collection.rules:
        if isinstance(rule, SigmaRule):
            for condition in rule.detection.parsed_condition:
                if type(condition) is SigmaCondition:
                    condition.__class__ = MemoisedCondition


class _PipelineRecorder:
    """Wraps the backend's pipeline `apply` to note whether the pipeline finished on the current rule:
    what tells a mapping failure (unmapped field, unknown log source) from one of the backend."""

    def __init__(self, pipeline: ProcessingPipeline):
        self._apply = pipeline.apply
        self.completed = False
        pipeline.apply = self  # type: ignore[method-assign]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result = self._apply(*args, **kwargs)
        self.completed = True
        return result


class Converter:
    """Converts rule files with one backend instance (target, pipelines, format, options fixed)."""

    def __init__(self, settings: ConversionSettings):
        check_settings(settings)
        self.settings = settings
        self.output_format = settings.output_format
        self.backend = backends[settings.target](processing_pipeline=resolve_pipeline(settings.pipelines),
                                                 collect_errors=True, **dict(settings.backend_options))
        self.backend.init_processing_pipeline(self.output_format)
        self.item_filter = LogsourceItemFilter(self.backend.last_processing_pipeline)
        self.conditions = _ConditionRecorder(self.backend)
        self.pipeline_run = _PipelineRecorder(self.backend.last_processing_pipeline)
        self.rule_options = rule_options()
        conditions.verified()  # once, here: before the batch forks its workers

    def convert_file(self, path: Path, text: bytes | None = None, context: JobContext | None = None,
                     parsed: bytes | None = None) -> list[RuleResult]:
        """Every rule of one file; an unreadable file is one failed result naming the file and reason.

        `context`: rules of other files of the run that this file's correlation rules reference (converted
        first, reported by their own files) and this file's rules other files reference (not output).
        `parsed`: what `parse_rule_file` gives for `text`, pickled (`parsing.pickled_parse`); `text` is then
        not needed."""
        import yaml

        try:
            if parsed is not None:
                documents, unshared = pickle.loads(parsed)
            else:
                if text is None:
                    text = path.read_bytes()
                documents, unshared = parse_rule_file(text)
            source = SigmaRuleLocation(path)
            collection = (SigmaCollection.from_dicts(preparsed(documents, unshared, source, self.rule_options),
                                                     collect_errors=True, source=source, resolve_references=False,
                                                     **self.rule_options)
                          if documents else SigmaCollection([]))
        except (OSError, UnicodeDecodeError, yaml.YAMLError, SigmaError) as error:
            return [RuleResult(str(path), errors=[f"cannot read rule file: {error}"])]
        if not collection.rules:
            reasons = [str(e) for e in collection.errors] or ["no Sigma rule in file"]
            return [RuleResult(str(path), errors=reasons)]
        if PYSIGMA_MAJOR < 2:
            refuse_truncated_conditions(documents, collection)
        own = list(collection.rules)
        if context is not None:
            referenced = _referenced_rules(context, self.rule_options)
            if referenced:  # a new collection indexes the names and ids of both
                collection = SigmaCollection([*referenced, *own], collection.errors, resolve_references=False)
            for rule in own:
                if _rule_keys(rule) & context.suppressed:
                    rule.disable_output()
        resolve_references(collection)
        memoise_conditions(collection)
        own_rules = {id(rule) for rule in own}
        try:
            results = [(id(rule), self.convert_rule(rule, path)) for rule in collection.rules]
        except _LogsourceChanged:
            self.item_filter.enabled = False
            return self.convert_file(path, text, context, parsed)
        return [result for key, result in results if key in own_rules]

    def convert_rule(self, rule: Any, path: Path) -> RuleResult:
        logsource = getattr(rule, "logsource", None)
        result = RuleResult(str(path), str(rule.id) if getattr(rule, "id", None) else None,
                            getattr(rule, "title", None),
                            getattr(logsource, "product", None), getattr(logsource, "category", None),
                            getattr(logsource, "service", None))
        level = getattr(rule, "level", None)
        result.level = level.name.lower() if level is not None else None
        result.tags = [f"{t.namespace}.{t.name}" for t in getattr(rule, "tags", None) or ()]
        if rule.errors:
            result.errors = [str(e) for e in rule.errors]
            return result
        backend = self.backend
        backend.errors = []
        self.conditions.roots = []
        self.pipeline_run.completed = False
        pipeline = backend.last_processing_pipeline
        logsource_key = self.item_filter.key(rule)
        pipeline.items = self.item_filter.items_for(rule)
        raised: list[BaseException] = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                # Backend.convert() minus the per-call pipeline rebuild: same convert_rule + finalize.
                # Correlation rules come after the rules they reference (pySigma sorts the collection).
                converted = (backend.convert_rule(rule, self.output_format) if isinstance(rule, SigmaRule)
                             else backend.convert_correlation_rule(rule, self.output_format))
                output = backend.finalize(converted, self.output_format)
                result.queries = output if isinstance(output, list) else [output]
            except SigmaError as error:
                result.errors = [str(error)]
                raised.append(error)
            except Exception as error:  # noqa: BLE001 - one broken rule must not stop the batch
                result.errors = [f"{type(error).__name__}: {error}"]
                raised.append(error)
            finally:
                pipeline.items = self.item_filter.all_items
        if self.item_filter.enabled and self.item_filter.key(rule) != logsource_key:
            raise _LogsourceChanged()
        if backend.errors:
            result.errors = [str(e) for _, e in backend.errors]
            raised += [e for _, e in backend.errors]
            result.queries = []
        # Fully mapped needs the pipeline done and, if the rule failed, only because the backend cannot
        # express it (`backends.common.unsupported`); an unresolved placeholder, say, is a mapping gap.
        result.pipeline_complete = self.pipeline_run.completed and all(
            isinstance(e, SigmaFeatureNotSupportedByBackendError) for e in raised)
        state = backend.last_processing_pipeline.state
        state_warnings = state.get(WARNINGS_STATE) or []
        result.warnings = [str(w) for w in state_warnings] + [str(w.message) for w in caught]
        # Set by the pipeline before any field is mapped, so a rule that fails on a field still names it.
        result.data_source = data_source_record(state)
        if result.ok and isinstance(rule, SigmaRule):
            result.required_fields = required_field_records(rule, state, self.conditions.roots)
        return result


def refuse_truncated_conditions(documents: list[Any], collection: SigmaCollection) -> None:
    """pySigma 1.5 reads a correlation condition's number with int(): `gt: 1.5` would silently become
    `gt: 1` (matching more). Such a correlation rule fails naming the value instead."""
    for document in documents:
        correlation = document.get("correlation") if isinstance(document, dict) else None
        condition = correlation.get("condition") if isinstance(correlation, dict) else None
        if not isinstance(condition, dict):
            continue
        for op, value in condition.items():
            if op != "field" and isinstance(value, float) and not value.is_integer():
                for rule in collection.rules:
                    if (isinstance(rule, SigmaCorrelationRule) and rule.title == document.get("title")
                            and rule.name == document.get("name")):
                        rule.errors.append(SigmaCorrelationRuleError(
                            f"correlation condition '{op}: {value}' is no integer: pySigma {PYSIGMA_VERSION} reads "
                            f"it as {int(value)} (use pySigma 2 for decimal thresholds)", source=rule.source))


def _rule_keys(rule: Any) -> set[str]:
    """A rule's name and id, as correlation rules reference it (ids lowercased)."""
    keys = {rule.name} if getattr(rule, "name", None) else set()
    if getattr(rule, "id", None):
        keys.add(str(rule.id).lower())
    return keys


def _referenced_rules(context: JobContext, options: dict[str, Any]) -> list[Any]:
    """The rules `context.wanted` names, from the other files of the run (a file that cannot be read
    gives none: the correlation rule then fails naming the missing reference)."""
    import yaml

    rules: list[Any] = []
    for extra_path, content in context.extra:
        try:
            documents = [d for d in parse_rule_documents(content)
                         if isinstance(d, dict) and ({str(d.get("name")), str(d.get("id")).lower()} & context.wanted)]
            if documents:
                rules += SigmaCollection.from_dicts(documents, collect_errors=True, resolve_references=False,
                                                    source=SigmaRuleLocation(Path(extra_path)), **options).rules
        except (UnicodeDecodeError, yaml.YAMLError, SigmaError):
            continue
    return rules


# Keys that make SigmaCollection.from_dicts treat a document as more than one plain rule.
_COLLECTION_KEYS = frozenset(("action", "correlation", "filter"))


def preparsed(documents: list[Any], unshared: bool, source: SigmaRuleLocation,
              options: dict[str, Any]) -> list[Any]:
    """The documents for SigmaCollection.from_dicts, plain rules already built as SigmaRule objects when
    nothing else in the file needs its collection logic (actions, correlations, filters).

    from_dicts (pySigma 2) first walks each whole document to reject alias bombs; a document sharing no
    list or map passes that check by construction (`unshared`, from the loader), and building the rule
    itself is what from_dicts would do: `SigmaRule.from_dict(document, collect_errors, source, **options)`
    (`options`: from_dicts' own, `rule_options`). It takes built rules as they are (errors stay on the rule,
    where the converter reads them).
    """
    if not unshared or not all(isinstance(d, dict) and not _COLLECTION_KEYS.intersection(d) for d in documents):
        return documents
    return [SigmaRule.from_dict(d, True, source, **options) for d in documents]


def resolve_references(collection: SigmaCollection) -> None:
    """Correlation rules after the rules they reference; a correlation rule whose reference is missing
    gets an error naming it, and the file's other rules still convert (pySigma would fail the file)."""
    for rule in collection.rules:
        if isinstance(rule, SigmaCorrelationRule):
            try:
                rule.resolve_rule_references(collection)
            except SigmaError as error:
                label = rule.name or rule.id or rule.title
                rule.errors.append(SigmaCorrelationRuleError(f"correlation rule '{label}': {error}",
                                                             source=rule.source))
    collection.rules.sort(key=lambda rule: isinstance(rule, SigmaCorrelationRule))  # stable: order kept
