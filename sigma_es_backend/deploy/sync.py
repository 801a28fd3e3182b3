"""deploy = convert the rules into detection objects → list what the cluster holds → plan → apply.

One rule that fails to convert or to apply is listed and never stops the others; a rule that fails to
convert is also never pruned (its deployed version stays until the rule converts again).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sigma_es_backend.conversion import convert_paths
from sigma_es_backend.deploy.client import HttpClient
from sigma_es_backend.deploy.kibana import KibanaRules
from sigma_es_backend.deploy.opensearch_alerting import AlertingMonitors
from sigma_es_backend.deploy.plan import Action, Desired, Existing, Plan, make_plan


class Target(Protocol):
    format: str
    default_query_target: str

    def describe(self, body: dict[str, Any]) -> tuple[str, str, str]: ...
    def existing(self, client: HttpClient) -> list[Existing]: ...
    def apply(self, client: HttpClient, actions: list[Action]) -> list[tuple[Action, str | None]]: ...


def make_target(name: str, space: str | None = None) -> Target:
    if name == "kibana":
        return KibanaRules(space)
    if name == "opensearch":
        return AlertingMonitors()
    raise ValueError(f"deploy target '{name}' is not implemented (kibana, opensearch)")


TARGET_NAMES = ("kibana", "opensearch", "opensearch-sa")


@dataclass
class Failure:
    path: str
    key: str | None
    name: str | None
    stage: str  # "convert" | "apply" | "conflict"
    error: str

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "key": self.key, "name": self.name, "stage": self.stage, "error": self.error}


@dataclass
class DesiredSet:
    objects: list[Desired] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    keep: set[str] = field(default_factory=set)  # ids of rules that failed to convert: never pruned
    paths: dict[str, str] = field(default_factory=dict)


def desired_objects(target: Target, paths: Iterable[Path], query_target: str | None = None,
                    backend_options: dict[str, Any] | None = None) -> DesiredSet:
    out = DesiredSet()
    # Worker processes on every core (jobs=None): a rule repository converts in parallel.
    for result in convert_paths(paths, query_target or target.default_query_target, ("ecs",), target.format,
                                backend_options or {}, jobs=None):
        if not result.ok:
            out.failures.append(Failure(result.path, result.rule_id, result.title, "convert", result.error or ""))
            if result.rule_id:
                out.keep.add(result.rule_id.lower())
            continue
        for text in result.queries:
            body = json.loads(text)
            key, name, digest = target.describe(body)
            out.objects.append(Desired(key, name, body, digest))
            out.paths[key] = result.path
    return out


def plan_deploy(target: Target, client: HttpClient, desired: DesiredSet, prune: bool) -> Plan:
    return make_plan(desired.objects, target.existing(client), prune=prune, keep=desired.keep)


def apply_plan(target: Target, client: HttpClient, plan: Plan, desired: DesiredSet,
               progress: Callable[[int], None] | None = None) -> list[Failure]:
    failures = [Failure(desired.paths.get(a.key, ""), a.key, a.name, "conflict", a.reason)
                for a in plan.of("conflict")]
    changes = plan.changes
    # Small batches so a progress bar moves; bulk APIs still take each batch in one request.
    step = 100
    for start in range(0, len(changes), step):
        batch = changes[start:start + step]
        for action, error in target.apply(client, batch):
            if error:
                failures.append(Failure(desired.paths.get(action.key, ""), action.key, action.name, "apply",
                                        f"{action.kind}: {error}"))
        if progress:
            progress(len(batch))
    return failures


def plan_table(plan: Plan) -> str:
    rows = [(a.kind, a.key, a.name + (f" ({a.reason})" if a.reason else "")) for a in plan.actions]
    width = max([len("ACTION")] + [len(r[0]) for r in rows])
    key_width = max([len("RULE ID")] + [len(r[1]) for r in rows])
    lines = [f"{'ACTION':<{width}}  {'RULE ID':<{key_width}}  NAME"]
    lines += [f"{kind:<{width}}  {key:<{key_width}}  {name}" for kind, key, name in rows]
    lines.append(f"plan: {plan.summary()}")
    return "\n".join(lines)
