"""The sync plan: desired detection objects vs. what the cluster holds → create / update / unchanged /
delete / conflict. Pure: no I/O, so every case is a unit test.

Objects are matched by key (the Sigma rule id). Only objects carrying our marker (`managed`) are ever
updated or deleted; an unmanaged object with a desired key is a conflict, left alone and reported.
Several managed objects with one key (a run killed between create and its record, on an API without
upsert) are converged: one is kept, the others are deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

ActionKind = Literal["create", "update", "unchanged", "delete", "conflict"]
CHANGES: tuple[ActionKind, ...] = ("create", "update", "delete")


@dataclass(frozen=True)
class Desired:
    key: str
    name: str
    body: dict[str, Any] = field(repr=False, compare=False)
    hash: str


@dataclass(frozen=True)
class Existing:
    key: str | None
    remote_id: str
    name: str
    hash: str | None
    managed: bool


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    key: str
    name: str
    remote_id: str | None = None
    body: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.kind, "key": self.key, "name": self.name, "remote_id": self.remote_id,
                **({"reason": self.reason} if self.reason else {})}


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]

    def of(self, *kinds: ActionKind) -> list[Action]:
        return [a for a in self.actions if a.kind in kinds]

    @property
    def changes(self) -> list[Action]:
        return self.of(*CHANGES)

    def counts(self) -> dict[str, int]:
        return {kind: len(self.of(kind)) for kind in ("create", "update", "unchanged", "delete", "conflict")}

    def summary(self) -> str:
        return ", ".join(f"{n} {kind}" for kind, n in self.counts().items())


def make_plan(desired: Iterable[Desired], existing: Iterable[Existing], prune: bool = False,
              keep: Iterable[str] = ()) -> Plan:
    """`keep`: keys not desired but not to prune either (rules that failed to convert this run)."""
    managed: dict[str, list[Existing]] = {}
    unmanaged: set[str] = set()
    for obj in existing:
        if obj.managed and obj.key:
            managed.setdefault(obj.key, []).append(obj)
        elif obj.key:
            unmanaged.add(obj.key)
    actions: list[Action] = []
    seen: set[str] = set()
    for want in sorted(desired, key=lambda d: d.key):
        if want.key in seen:
            actions.append(Action("conflict", want.key, want.name, reason="two rules share this id"))
            continue
        seen.add(want.key)
        have = sorted(managed.get(want.key, []), key=lambda e: (e.hash != want.hash, e.remote_id))
        if have:
            current, duplicates = have[0], have[1:]
            if current.hash == want.hash:
                actions.append(Action("unchanged", want.key, want.name, current.remote_id))
            else:
                actions.append(Action("update", want.key, want.name, current.remote_id, want.body))
            actions.extend(Action("delete", want.key, d.name, d.remote_id, reason="duplicate") for d in duplicates)
        elif want.key in unmanaged:
            actions.append(Action("conflict", want.key, want.name,
                                  reason="an object with this id exists and is not managed by sigma-es"))
        else:
            actions.append(Action("create", want.key, want.name, body=want.body))
    kept = set(keep)
    for key in sorted(managed):
        if key in seen:
            continue
        if prune and key not in kept:
            actions.extend(Action("delete", key, e.name, e.remote_id) for e in managed[key])
        elif len(managed[key]) > 1:  # not desired but ours and duplicated: converge to one
            actions.extend(Action("delete", key, e.name, e.remote_id, reason="duplicate")
                           for e in sorted(managed[key], key=lambda e: e.remote_id)[1:])
    return Plan(tuple(actions))
