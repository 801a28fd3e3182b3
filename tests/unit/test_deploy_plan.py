"""The deploy plan (pure): desired objects vs. what the cluster holds."""

from __future__ import annotations

from sigma_es_backend.deploy.plan import Desired, Existing, make_plan


def want(key: str, digest: str = "h1") -> Desired:
    return Desired(key, f"rule {key}", {"k": key}, digest)


def have(key: str | None, remote: str, digest: str | None = "h1", managed: bool = True) -> Existing:
    return Existing(key, remote, f"deployed {key}", digest, managed)


def kinds(plan) -> list[tuple[str, str, str | None]]:
    return [(a.kind, a.key, a.remote_id) for a in plan.actions]


def test_first_run_creates_everything() -> None:
    assert kinds(make_plan([want("a"), want("b")], [])) == [("create", "a", None), ("create", "b", None)]


def test_second_run_with_unchanged_rules_changes_nothing() -> None:
    plan = make_plan([want("a"), want("b")], [have("a", "1"), have("b", "2")])
    assert kinds(plan) == [("unchanged", "a", "1"), ("unchanged", "b", "2")]
    assert plan.changes == []


def test_changed_rule_updates_in_place() -> None:
    plan = make_plan([want("a", "h2"), want("b")], [have("a", "1"), have("b", "2")])
    assert kinds(plan) == [("update", "a", "1"), ("unchanged", "b", "2")]
    assert plan.of("update")[0].body == {"k": "a"}


def test_removed_rule_is_kept_without_prune_and_deleted_with_it() -> None:
    existing = [have("a", "1"), have("gone", "9")]
    assert kinds(make_plan([want("a")], existing)) == [("unchanged", "a", "1")]
    assert kinds(make_plan([want("a")], existing, prune=True)) == [("unchanged", "a", "1"), ("delete", "gone", "9")]


def test_prune_never_touches_unmanaged_objects() -> None:
    plan = make_plan([want("a")], [have("a", "1"), have("theirs", "7", managed=False), have(None, "8", managed=False)],
                     prune=True)
    assert kinds(plan) == [("unchanged", "a", "1")]


def test_unmanaged_object_with_our_key_is_a_conflict_not_an_overwrite() -> None:
    plan = make_plan([want("a")], [have("a", "7", managed=False)])
    (action,) = plan.actions
    assert (action.kind, action.reason) == ("conflict", "an object with this id exists and is not managed by sigma-es")


def test_rule_that_failed_to_convert_is_not_pruned() -> None:
    plan = make_plan([want("a")], [have("a", "1"), have("broken", "2")], prune=True, keep=["broken"])
    assert kinds(plan) == [("unchanged", "a", "1")]


def test_duplicates_from_an_interrupted_run_converge_to_one() -> None:
    # A create that happened but whose response was lost, then a second run: two monitors for one rule.
    existing = [have("a", "1", "old"), have("a", "2", "h1"), have("b", "3"), have("b", "4")]
    plan = make_plan([want("a"), want("b")], existing)
    assert kinds(plan) == [("unchanged", "a", "2"), ("delete", "a", "1"), ("unchanged", "b", "3"),
                           ("delete", "b", "4")]


def test_two_rules_with_one_id_conflict() -> None:
    plan = make_plan([want("a"), want("a", "h2")], [])
    assert [a.kind for a in plan.actions] == ["create", "conflict"]


def test_summary_counts_every_kind() -> None:
    plan = make_plan([want("a"), want("b", "h2"), want("c")], [have("a", "1"), have("b", "2"), have("z", "3")],
                     prune=True)
    assert plan.summary() == "1 create, 1 update, 1 unchanged, 1 delete, 0 conflict"
