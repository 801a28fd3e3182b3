"""Build the pySigma processing pipelines (`ecs` and its shipper variants) from the mapping files."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import (
    AddConditionTransformation,
    FieldMappingTransformation,
    SetStateTransformation,
)
from sigma.rule import SigmaLogSource, SigmaRule

from sigma_es_backend.backends import backends
from sigma_es_backend.backends.common import DATA_SOURCE_CONTEXT_STATE, FIELD_CAPABILITIES_STATE, INDEX_STATE
from sigma_es_backend.pipelines.mapping_files import (
    BASE_PIPELINE,
    DataSource,
    Hashes,
    MappingSet,
    SplitDomainUser,
    TokenList,
    Unavailable,
    ValueMap,
    load_default_mappings,
)
from sigma_es_backend.pipelines.transformations import (
    HashesTransformation,
    RequireDataSourceTransformation,
    SelectDataSourceTransformation,
    SplitDomainUserTransformation,
    StrictFieldsTransformation,
    TokenListTransformation,
    ValueMapTransformation,
)

# Name of the detection holding a data source's event-type filter (AddConditionTransformation).
EVENT_FILTER_DETECTION = "_sigma_es_event_filter"
# pySigma's conventional priorities: 10 logsource, 20 field mapping.
LOGSOURCE_PRIORITY = 10
FIELD_MAPPING_PRIORITY = 20


def _context(ds: DataSource) -> dict:
    """What detection outputs tell the analyst about the data source (plain data: pipeline state)."""
    integrations = [{k: v for k, v in (("package", i.package), ("integration", i.integration),
                                       ("version", i.version)) if v} for i in ds.integrations]
    return {"id": ds.id, "title": ds.title, "integrations": integrations, "setup": ds.setup}


Key = tuple[str | None, str | None, str | None]


class DataSourceCondition(LogsourceCondition):
    """The rule's log source is this data source's, and no more specific declaration claims it.

    pySigma's LogsourceCondition ignores the fields a condition leaves open, so `product: aws` would also
    catch `product: aws, service: cloudtrail`; the most specific declaration wins instead of both applying.
    """

    # Its answer depends on the rule's log source alone: bulk conversion evaluates it once per log source
    # (sigma_es_backend.conversion.converter.LogsourceItemFilter) ...
    depends_on_logsource_only: ClassVar[bool] = True
    # ... and it is false for every rule whose log source pySigma's LogsourceCondition(category, product,
    # service) would not match: the filter looks those up instead of asking.
    within_logsource: ClassVar[bool] = True

    def __init__(self, product: str | None, category: str | None, service: str | None,
                 more_specific: list[Key]):
        super().__init__(category=category, product=product, service=service)
        self.more_specific = [SigmaLogSource(category=c, product=p, service=s) for p, c, s in more_specific]
        self._key = (type(self), product, category, service, tuple(more_specific))
        # Answers per (category, product, service) of a rule's log source, the only thing they depend on
        # (pySigma's log source containment compares nothing else); pySigma asks for every rule.
        self._answers: dict[tuple, bool] = {}

    def logsource_key(self) -> tuple:
        """Equal for conditions that answer alike: the converter evaluates each once per log source."""
        return self._key

    def match(self, rule) -> bool:  # type: ignore[override]
        if not isinstance(rule, SigmaRule):
            return super().match(rule)  # a correlation rule: its referenced rules decide
        logsource = rule.logsource
        key = (logsource.category, logsource.product, logsource.service)
        answer = self._answers.get(key)
        if answer is None:
            answer = self._answers[key] = super().match(rule) and not any(
                logsource in other for other in self.more_specific)
        return answer


def _key(ds: DataSource) -> Key:
    return (ds.product, ds.category, ds.service)


def _more_specific(ds: DataSource, keys: list[Key]) -> list[Key]:
    """The other declared log sources (data sources or unsupported ones) that name all `ds` names, and more."""
    names = ("product", "category", "service")
    mine = {k: v for k, v in zip(names, _key(ds), strict=True) if v}
    result = []
    for key in keys:
        theirs = {k: v for k, v in zip(names, key, strict=True) if v}
        if len(theirs) > len(mine) and all(theirs.get(k) == v for k, v in mine.items()):
            result.append(key)
    return result


def _data_source_items(ds: DataSource, more_specific: list) -> list[ProcessingItem]:
    def item(suffix: str, transformation) -> ProcessingItem:
        # One condition object per item: pySigma binds each condition to its pipeline.
        condition = DataSourceCondition(ds.product, ds.category, ds.service, more_specific)
        return ProcessingItem(identifier=f"sigma_es_{ds.id}_{suffix}", transformation=transformation,
                              rule_conditions=[condition])

    unavailable = {name: target.reason for name, target in ds.fields.items() if isinstance(target, Unavailable)}
    items = [
        item("data_source", SelectDataSourceTransformation(ds.id)),
        item("index", SetStateTransformation(INDEX_STATE, ",".join(ds.index))),
        item("context", SetStateTransformation(DATA_SOURCE_CONTEXT_STATE, _context(ds))),
        item("strict_fields", StrictFieldsTransformation(
            known_fields=sorted(n for n in ds.fields if n not in unavailable), data_source=ds.id,
            logsource=ds.logsource_label, unavailable=unavailable,
            single_field_names=sorted(n for n, t in ds.fields.items() if isinstance(t, str)))),
    ]
    # Split fields go after the field mapping: a fieldref to or from them becomes a SigmaJoinedFieldReference,
    # which pySigma's field mapping would rebuild as a plain SigmaFieldReference (dropping the join); after
    # it, the other side's name is already mapped.
    splits: list[ProcessingItem] = []
    for sigma_field, target in ds.fields.items():
        if isinstance(target, SplitDomainUser):
            splits.append(item(f"split_{sigma_field}", SplitDomainUserTransformation(
                source_field=sigma_field, domain=target.domain, name=target.name)))
        elif isinstance(target, Hashes):
            items.append(item(f"hashes_{sigma_field}", HashesTransformation(
                source_field=sigma_field, algorithms=dict(target.algorithms))))
        elif isinstance(target, ValueMap):
            items.append(item(f"value_map_{sigma_field}", ValueMapTransformation(
                source_field=sigma_field, target_field=target.field,
                values={k: list(v) for k, v in target.values.items()})))
        elif isinstance(target, TokenList):
            items.append(item(f"token_list_{sigma_field}", TokenListTransformation(
                source_field=sigma_field, target_field=target.field)))
    plain = {k: (list(v) if isinstance(v, tuple) else v) for k, v in ds.fields.items() if isinstance(v, str | tuple)}
    items.append(item("field_mapping", FieldMappingTransformation(plain)))
    items.extend(splits)
    if ds.filter:
        # Event-type values are exact ECS keywords: matched case-sensitively (cheap term queries).
        conditions = {f"{name}|cased": list(values) if len(values) > 1 else values[0]
                      for name, values in ds.filter.items()}
        # One detection name for every data source's filter (a rule gets one data source, or fails): the
        # rules' conditions then read alike across data sources, and bulk conversion parses each once.
        items.append(item("event_filter", AddConditionTransformation(conditions, name=EVENT_FILTER_DETECTION)))
    return items


def build_pipeline(mapping_set: MappingSet, name: str = "ECS (Elastic Agent / Winlogbeat 8)",
                   variant: str = BASE_PIPELINE) -> ProcessingPipeline:
    """The pipeline of one variant: its own data sources, and the base ones for other log sources."""
    data_sources = mapping_set.data_sources_for(variant)
    caps = mapping_set.capabilities_for(variant)
    items: list[ProcessingItem] = [
        ProcessingItem(identifier="sigma_es_field_capabilities",
                       transformation=SetStateTransformation(FIELD_CAPABILITIES_STATE, caps)),
    ]
    keys = [_key(ds) for ds in data_sources] + [(u.product, u.category, u.service) for u in mapping_set.unsupported]
    for ds in data_sources:
        items.extend(_data_source_items(ds, _more_specific(ds, keys)))
    unsupported = [{"product": u.product, "category": u.category, "service": u.service, "reason": u.reason}
                   for u in mapping_set.unsupported]
    items.append(ProcessingItem(identifier="sigma_es_require_data_source",
                                transformation=RequireDataSourceTransformation(unsupported=unsupported)))
    return ProcessingPipeline(name=name, priority=FIELD_MAPPING_PRIORITY, items=items,
                              allowed_backends=frozenset(backends))


@lru_cache(maxsize=1)
def default_mapping_set() -> MappingSet:
    """The mapping files shipped with the package (mappings/), loaded and validated once."""
    return load_default_mappings()


def ecs_pipeline() -> ProcessingPipeline:
    """All data sources in mappings/ as the Elastic Agent integrations and Winlogbeat 8 write them."""
    return build_pipeline(default_mapping_set())


def ecs_endpoint_pipeline() -> ProcessingPipeline:
    """Elastic Defend (endpoint) events for Windows process, network, file, library and DNS rules
    (mappings with `pipeline: ecs_endpoint`); the `ecs` data sources for every other log source."""
    return build_pipeline(default_mapping_set(), name="ECS (Elastic Defend endpoint events)", variant="ecs_endpoint")


# Former private name, kept while branches written against it land; use default_mapping_set().
_default_mapping_set = default_mapping_set
