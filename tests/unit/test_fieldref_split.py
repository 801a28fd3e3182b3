"""Field references across the split Sysmon User field ("DOMAIN\\name" → user.domain + user.name).

What the ECS pipeline hands the backends (a SigmaJoinedFieldReference naming the joined side, with the
other side already mapped), what each language writes for it, and what stays refused. The matching
itself is proven by the `fieldref_split` feature cases (tests/feature_cases.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sigma.collection import SigmaCollection
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaDetectionItem
from sigma.types import SigmaFieldReference

from sigma_es_backend.backends import backends
from sigma_es_backend.backends.fieldref import JoinedField, SigmaJoinedFieldReference
from sigma_es_backend.outputs.context import query_fields
from sigma_es_backend.pipelines import ecs_pipeline

USER = JoinedField("User", ("user.domain", "user.name"), "\\")
PARENT_USER = "winlog.event_data.ParentUser"
RULE = """
title: Cross user
id: 6f3c1f2e-0000-4000-8000-000000000001
logsource: {{product: windows, category: process_creation}}
detection:
    sel:
        {detection}
    condition: {condition}
"""


def processed_items(detection: str) -> list[SigmaDetectionItem]:
    """The `sel` detection items after the ECS pipeline (pySigma 1.5 and 2.x alike)."""
    rule = SigmaCollection.from_yaml(RULE.format(detection=detection, condition="sel")).rules[0]
    ecs_pipeline().apply(rule)
    items: list[SigmaDetectionItem] = []

    def walk(node) -> None:
        for item in node.detection_items:
            if isinstance(item, SigmaDetectionItem):
                items.append(item)
            else:
                walk(item)

    walk(rule.detection.detections["sel"])
    return [item for item in items if any(isinstance(v, SigmaFieldReference) for v in item.value)]


def convert(detection: str, target: str, condition: str = "sel", output_format: str = "default") -> str:
    backend = backends[target](processing_pipeline=ecs_pipeline())
    (query,) = backend.convert(SigmaCollection.from_yaml(RULE.format(detection=detection, condition=condition)),
                               output_format)
    return query


def test_split_field_compared_with_a_field_is_joined_on_the_field_side() -> None:
    (item,) = processed_items("User|fieldref: ParentUser")
    assert item.field == "User"
    assert item.value == [SigmaJoinedFieldReference(PARENT_USER, field_join=USER)]


def test_field_compared_with_the_split_field_is_joined_on_the_reference_side() -> None:
    (item,) = processed_items("ParentUser|fieldref|startswith: User")
    assert item.field == PARENT_USER
    assert item.value == [SigmaJoinedFieldReference("User", starts_with=True, reference_join=USER)]


def test_split_field_compared_with_itself_is_joined_on_both_sides() -> None:
    (item,) = processed_items("User|fieldref|contains: User")
    assert item.value == [SigmaJoinedFieldReference("User", True, True, field_join=USER, reference_join=USER)]


def test_several_references_keep_their_own_sides() -> None:
    (item,) = processed_items("ParentUser|fieldref:\n            - User\n            - Image")
    assert item.value == [SigmaJoinedFieldReference("User", reference_join=USER),
                          SigmaFieldReference("process.executable")]


def test_eql_concatenates_the_parts_inside_the_string_functions() -> None:
    query = convert("User|fieldref|endswith: ParentUser", "es_eql")
    assert query.endswith(f'endsWith~(concat(user.domain, "\\\\", user.name), {PARENT_USER})')


def test_esql_concatenates_the_parts_inside_to_lower() -> None:
    query = convert("ParentUser|fieldref: User", "es_esql")
    assert query.endswith(f'TO_LOWER({PARENT_USER}) == TO_LOWER(CONCAT(user.domain, "\\\\", user.name))')


def test_negated_comparison_guards_every_part() -> None:
    query = convert("User|fieldref: ParentUser", "es_eql", condition="not sel")
    assert query.endswith(f"not (user.domain != null and (user.name != null and ({PARENT_USER} != null and "
                          f'(startsWith~(concat(user.domain, "\\\\", user.name), {PARENT_USER}) and '
                          f'startsWith~({PARENT_USER}, concat(user.domain, "\\\\", user.name))))))')


def test_dsl_script_gets_the_parts_and_the_separator() -> None:
    body = json.loads(convert("User|fieldref|startswith: ParentUser", "es_dsl", output_format="query"))
    script = body["bool"]["filter"][-1]["script"]["script"]
    assert script["params"] == {"field": {"fields": ["user.domain", "user.name"], "separator": "\\"},
                                "reference": {"fields": [PARENT_USER], "separator": ""},
                                "operation": "startswith"}


def test_required_fields_name_the_parts_and_the_referenced_field() -> None:
    rule = SigmaCollection.from_yaml(RULE.format(detection="User|fieldref: ParentUser", condition="sel")).rules[0]
    ecs_pipeline().apply(rule)
    assert {"user.domain", "user.name", PARENT_USER} <= set(query_fields(rule))
    assert "User" not in query_fields(rule)


@pytest.mark.parametrize(("target", "reason"), [("es_lucene", "query_string cannot compare two fields"),
                                                ("es_kql", "KQL cannot compare two fields")])
def test_languages_without_field_comparison_refuse_naming_rule_and_both_sides(target: str, reason: str) -> None:
    with pytest.raises(Exception) as error:
        convert("User|fieldref: ParentUser", target)
    assert str(error.value).startswith(
        f"{target}: rule 'Cross user' (6f3c1f2e-0000-4000-8000-000000000001): field reference (fieldref) "
        f"'User' (user.domain + '\\\\' + user.name) equals '{PARENT_USER}': {reason}")


@pytest.mark.parametrize("detection", ["Image|fieldref: Hashes", "Hashes|fieldref: Image"])
def test_fieldref_with_the_per_algorithm_hashes_field_is_refused(detection: str) -> None:
    # Hashes has no single ECS field: comparing with it would compare with a field that does not exist.
    with pytest.raises(Exception, match="Hashes"):
        convert(detection, "es_eql")


USER_PIPELINE_AFTER_ECS = """
name: a user's own field mapping, applied after the ECS pipeline
priority: 100
transformations:
  - type: field_name_mapping
    mapping: {SomeField: some.field}
"""


@pytest.mark.parametrize("target", ["es_dsl", "es_eql", "es_esql"])
@pytest.mark.parametrize("detection", ["User|fieldref: ParentUser", "ParentUser|fieldref|startswith: User"])
def test_a_join_lost_to_a_later_pipeline_fails_instead_of_comparing_a_missing_field(detection: str,
                                                                                    target: str) -> None:
    # pySigma's field mapping rebuilds every SigmaFieldReference as a plain one: the query would compare
    # with a field named `User`, which no event has.
    pipeline = ecs_pipeline() + ProcessingPipeline.from_yaml(USER_PIPELINE_AFTER_ECS)
    backend = backends[target](processing_pipeline=pipeline)
    with pytest.raises(Exception, match="'User' is split into several fields by the integration, but its join was lost"):
        backend.convert(SigmaCollection.from_yaml(RULE.format(detection=detection, condition="sel")))


def test_sigmahq_cross_user_rule_converts(shared_dir: Path) -> None:
    path = shared_dir / "sigma/rules/windows/process_creation/proc_creation_win_susp_cross_user_process_spawn.yml"
    rules = SigmaCollection.from_yaml(path.read_text())
    (query,) = backends["es_eql"](processing_pipeline=ecs_pipeline()).convert(rules)
    assert (f'startsWith~(concat(user.domain, "\\\\", user.name), {PARENT_USER}) and '
            f'startsWith~({PARENT_USER}, concat(user.domain, "\\\\", user.name))') in query
