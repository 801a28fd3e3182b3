"""Build the pySigma `ecs` processing pipeline from the mapping files."""

from __future__ import annotations

from functools import lru_cache

from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import (
    AddConditionTransformation,
    FieldMappingTransformation,
    SetStateTransformation,
)

from sigma_es_backend.backends import backends
from sigma_es_backend.backends.common import DATA_SOURCE_CONTEXT_STATE, FIELD_CAPABILITIES_STATE, INDEX_STATE
from sigma_es_backend.pipelines.mapping_files import (
    DataSource,
    Hashes,
    MappingSet,
    SplitDomainUser,
    ValueMap,
    load_default_mappings,
)
from sigma_es_backend.pipelines.transformations import (
    DATA_SOURCE_STATE,
    HashesTransformation,
    RequireDataSourceTransformation,
    SplitDomainUserTransformation,
    StrictFieldsTransformation,
    ValueMapTransformation,
)

# pySigma's conventional priorities: 10 logsource, 20 field mapping.
LOGSOURCE_PRIORITY = 10
FIELD_MAPPING_PRIORITY = 20


def _context(ds: DataSource) -> dict:
    """What detection outputs tell the analyst about the data source (plain data: pipeline state)."""
    integrations = [{k: v for k, v in (("package", i.package), ("integration", i.integration),
                                       ("version", i.version)) if v} for i in ds.integrations]
    return {"id": ds.id, "title": ds.title, "integrations": integrations, "setup": ds.setup}


def _data_source_items(ds: DataSource) -> list[ProcessingItem]:
    def item(suffix: str, transformation) -> ProcessingItem:
        return ProcessingItem(
            identifier=f"sigma_es_{ds.id}_{suffix}",
            transformation=transformation,
            rule_conditions=[LogsourceCondition(product=ds.product, category=ds.category, service=ds.service)],
        )

    items = [
        item("data_source", SetStateTransformation(DATA_SOURCE_STATE, ds.id)),
        item("index", SetStateTransformation(INDEX_STATE, ",".join(ds.index))),
        item("context", SetStateTransformation(DATA_SOURCE_CONTEXT_STATE, _context(ds))),
        item("strict_fields", StrictFieldsTransformation(known_fields=sorted(ds.fields), data_source=ds.id)),
    ]
    for sigma_field, target in ds.fields.items():
        if isinstance(target, SplitDomainUser):
            items.append(item(f"split_{sigma_field}", SplitDomainUserTransformation(
                source_field=sigma_field, domain=target.domain, name=target.name)))
        elif isinstance(target, Hashes):
            items.append(item(f"hashes_{sigma_field}", HashesTransformation(
                source_field=sigma_field, algorithms=dict(target.algorithms))))
        elif isinstance(target, ValueMap):
            items.append(item(f"value_map_{sigma_field}", ValueMapTransformation(
                source_field=sigma_field, target_field=target.field,
                values={k: list(v) for k, v in target.values.items()})))
    plain = {k: (list(v) if isinstance(v, tuple) else v) for k, v in ds.fields.items() if isinstance(v, str | tuple)}
    items.append(item("field_mapping", FieldMappingTransformation(plain)))
    if ds.filter:
        # Event-type values are exact ECS keywords: matched case-sensitively (cheap term queries).
        conditions = {f"{name}|cased": list(values) if len(values) > 1 else values[0]
                      for name, values in ds.filter.items()}
        items.append(item("event_filter", AddConditionTransformation(conditions, name=f"_sigma_es_{ds.id}")))
    return items


def build_pipeline(mapping_set: MappingSet, name: str = "ECS (Elastic Agent / Winlogbeat 8)") -> ProcessingPipeline:
    caps = dict(mapping_set.field_capabilities)
    items: list[ProcessingItem] = [
        ProcessingItem(identifier="sigma_es_field_capabilities",
                       transformation=SetStateTransformation(FIELD_CAPABILITIES_STATE, caps)),
    ]
    for ds in mapping_set.data_sources:
        items.extend(_data_source_items(ds))
    items.append(ProcessingItem(identifier="sigma_es_require_data_source",
                                transformation=RequireDataSourceTransformation()))
    return ProcessingPipeline(name=name, priority=FIELD_MAPPING_PRIORITY, items=items,
                              allowed_backends=frozenset(backends))


@lru_cache(maxsize=1)
def _default_mapping_set() -> MappingSet:
    return load_default_mappings()


def ecs_pipeline() -> ProcessingPipeline:
    """All data sources in mappings/: the default pipeline for every target."""
    return build_pipeline(_default_mapping_set())
