"""Mapping files (mappings/**/*.yml): loading with line numbers and schema validation.

A mapping file holds any of
  pipeline:           the pipeline variant its data sources belong to (default `ecs`); a variant's data
                      sources replace the `ecs` ones with the same log source, the others stay
  field_capabilities: {ecs.field: {type: …, caseless: …}}
  field_sets:         {name: {SigmaField: target}}
  data_sources:       [{id, title, logsource: {product, category, service}, index: […],
                        filter: {ecs.field: value | [values]}, field_sets: [names], fields: {…},
                        integrations: [{package, integration, version}], setup: markdown,
                        fields_under: {prefix: [SigmaField, …]}}]
  unsupported:        [{logsource: {product, category, service}, reason: …}]
`integrations` (the Elastic integration packages that ship the data, with a semver range) and `setup`
(what to enable so the events exist) are optional; detection outputs carry them to the analyst.
A field target is an ECS field name, a list of them (the value may be in either), or a transform:
  {split_domain_user: {domain: …, name: …}}   "DOMAIN\\name" split over two fields
  {hashes: {ALGO: field, …}}                  "ALGO=digest,…" → one field per algorithm
  {value_map: {field: …, values: {sigma value: ecs value | [ecs values]}}}  the integration rewrites a
                                               closed set of values (Sysmon Initiated "true" → "egress")
  {token_list: field}                          a whitespace-separated list stored as an array of tokens
  {unavailable: reason}                        the shipper drops or reshapes the field beyond exact query
`fields_under` maps each listed Sigma field to the same name under the prefix (e.g. Windows EventData
fields that the integration leaves in `winlog.event_data.*`); explicit `fields` win over it.
`unsupported` names log sources no Elastic integration collects: rules for them fail with that reason.
Every problem found is reported at once, each with file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from sigma_es_backend.backends.common import FieldCapabilities
from sigma_es_backend.conversion.context import Integration

BASE_PIPELINE = "ecs"


class MappingError(ValueError):
    """One or more problems in mapping files; the message lists each as `path:line: problem`."""


@dataclass(frozen=True)
class Location:
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class SplitDomainUser:
    domain: str
    name: str


@dataclass(frozen=True)
class Hashes:
    algorithms: dict[str, str]


@dataclass(frozen=True)
class ValueMap:
    """A field whose closed set of values the integration rewrites into another field."""

    field: str
    values: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class TokenList:
    """The integration splits a whitespace-separated list (Security PrivilegeList) into an array of tokens."""

    field: str


@dataclass(frozen=True)
class Unavailable:
    """The field exists in the raw event but the shipper drops or reshapes it: no exact query exists."""

    reason: str


FieldTarget = str | tuple[str, ...] | SplitDomainUser | Hashes | ValueMap | TokenList | Unavailable


@dataclass(frozen=True)
class DataSource:
    id: str
    title: str
    product: str | None
    category: str | None
    service: str | None
    index: tuple[str, ...]
    filter: dict[str, tuple[str, ...]]
    fields: dict[str, FieldTarget]
    location: Location
    integrations: tuple[Integration, ...] = ()
    setup: str | None = None
    pipeline: str = "ecs"

    @property
    def logsource_label(self) -> str:
        return "/".join(v for v in (self.product, self.category, self.service) if v)


@dataclass(frozen=True)
class UnsupportedLogsource:
    """A Sigma log source without an Elastic integration counterpart, and why."""

    product: str | None
    category: str | None
    service: str | None
    reason: str
    location: Location

    @property
    def logsource_label(self) -> str:
        return "/".join(v for v in (self.product, self.category, self.service) if v)


@dataclass
class MappingSet:
    data_sources: list[DataSource] = field(default_factory=list)
    field_capabilities: dict[str, FieldCapabilities] = field(default_factory=dict)
    unsupported: list[UnsupportedLogsource] = field(default_factory=list)
    # Field capabilities a variant's shipper adds or changes (Elastic Defend's extra `.caseless` subfields).
    variant_capabilities: dict[str, dict[str, FieldCapabilities]] = field(default_factory=dict)

    def capabilities_for(self, variant: str = "ecs") -> dict[str, FieldCapabilities]:
        return {**self.field_capabilities, **self.variant_capabilities.get(variant, {})}

    @property
    def variants(self) -> list[str]:
        return sorted({ds.pipeline for ds in self.data_sources} | {BASE_PIPELINE})

    def data_sources_for(self, variant: str = "ecs") -> list[DataSource]:
        """The variant's data sources, plus the base pipeline's for log sources the variant leaves out."""
        base = [ds for ds in self.data_sources if ds.pipeline == BASE_PIPELINE]
        if variant == BASE_PIPELINE:
            return base
        own = [ds for ds in self.data_sources if ds.pipeline == variant]
        claimed = {(ds.product, ds.category, ds.service) for ds in own}
        return own + [ds for ds in base if (ds.product, ds.category, ds.service) not in claimed]


def mappings_dir() -> Path:
    """The mapping files: inside the installed wheel, else the checkout's top-level mappings/."""
    packaged = Path(str(resources.files("sigma_es_backend"))) / "mappings"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "mappings"
    if checkout.is_dir():
        return checkout
    raise MappingError(f"mapping files not found (looked in {packaged} and {checkout})")


# --- YAML with line numbers ------------------------------------------------------------------------
class _Node:
    """A YAML value together with the line it starts on (1-based)."""

    __slots__ = ("value", "line")

    def __init__(self, value: Any, line: int):
        self.value = value
        self.line = line


def _compose(path: Path) -> _Node | None:
    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open("rb") as stream:
        root = yaml.compose(stream, Loader=loader_cls)
    return _wrap(root) if root is not None else None


def _scalar(node: yaml.ScalarNode) -> Any:
    """The value safe_load gives a scalar node (its tag was resolved when composing); a constructor per
    call, as safe_load does, so no state is shared. Re-emitting and re-parsing each scalar, as before,
    took 0.15 s of every conversion run's start-up."""
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def _wrap(node: yaml.Node) -> _Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        value: dict[str, _Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merged = _wrap(value_node)
                if isinstance(merged.value, dict):
                    for k, v in merged.value.items():
                        value.setdefault(k, v)
                continue
            key = _scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else yaml.safe_load(yaml.serialize(key_node))
            value[str(key)] = _wrap(value_node)
        return _Node(value, line)
    if isinstance(node, yaml.SequenceNode):
        return _Node([_wrap(n) for n in node.value], line)
    return _Node(_scalar(node), line)


# --- validation ------------------------------------------------------------------------------------
class _Validator:
    def __init__(self, path: Path):
        self.path = path
        self.problems: list[str] = []

    def problem(self, node: _Node | None, message: str) -> None:
        line = node.line if node is not None else 1
        self.problems.append(f"{self.path}:{line}: {message}")

    def mapping(self, node: _Node, what: str, allowed: set[str], required: set[str] = frozenset()) -> dict:
        if not isinstance(node.value, dict):
            self.problem(node, f"{what} must be a mapping")
            return {}
        for key in node.value:
            if key not in allowed:
                self.problem(node.value[key], f"unknown key '{key}' in {what} (allowed: {', '.join(sorted(allowed))})")
        for key in required:
            if key not in node.value:
                self.problem(node, f"{what} lacks required key '{key}'")
        return node.value

    def string(self, node: _Node | None, what: str) -> str | None:
        if node is None:
            return None
        if not isinstance(node.value, str) or not node.value:
            self.problem(node, f"{what} must be a non-empty string")
            return None
        return node.value

    def string_list(self, node: _Node, what: str, allow_scalar: bool = False) -> tuple[str, ...]:
        if allow_scalar and isinstance(node.value, str | int):
            return (str(node.value),)
        if not isinstance(node.value, list) or not node.value:
            self.problem(node, f"{what} must be a non-empty list of strings")
            return ()
        out = []
        for item in node.value:
            if isinstance(item.value, str | int) and not isinstance(item.value, bool):
                out.append(str(item.value))
            else:
                self.problem(item, f"{what} must hold strings")
        return tuple(out)


def _field_target(v: _Validator, node: _Node, sigma_field: str) -> FieldTarget | None:
    if isinstance(node.value, str):
        return node.value
    if isinstance(node.value, list):
        targets = v.string_list(node, f"targets of field '{sigma_field}'")
        return targets or None
    if isinstance(node.value, dict) and len(node.value) == 1:
        kind, params = next(iter(node.value.items()))
        if kind == "split_domain_user":
            spec = v.mapping(params, "split_domain_user", {"domain", "name"}, {"domain", "name"})
            domain, name = v.string(spec.get("domain"), "domain"), v.string(spec.get("name"), "name")
            return SplitDomainUser(domain, name) if domain and name else None
        if kind == "hashes":
            if not isinstance(params.value, dict) or not params.value:
                v.problem(params, "hashes must map algorithm names to fields")
                return None
            algorithms = {}
            for algo, target in params.value.items():
                target_field = v.string(target, f"hash field for {algo}")
                if target_field:
                    algorithms[algo.upper()] = target_field
            return Hashes(algorithms)
        if kind == "value_map":
            spec = v.mapping(params, "value_map", {"field", "values"}, {"field", "values"})
            target_field = v.string(spec.get("field"), "value_map field")
            values_node = spec.get("values")
            if values_node is None:
                return None
            if not isinstance(values_node.value, dict) or not values_node.value:
                v.problem(values_node, "value_map values must map Sigma values to ECS values")
                return None
            values = {str(key): v.string_list(mapped, f"value_map value for {key!r}", allow_scalar=True)
                      for key, mapped in values_node.value.items()}
            return ValueMap(target_field, values) if target_field and all(values.values()) else None
        if kind == "unavailable":
            reason = v.string(params, "unavailable reason")
            return Unavailable(reason) if reason else None
        if kind == "token_list":
            target_field = v.string(params, "token_list field")
            return TokenList(target_field) if target_field else None
        v.problem(node, f"unknown transform '{kind}' for field '{sigma_field}' "
                        "(known: split_domain_user, hashes, value_map, token_list, unavailable)")
        return None
    v.problem(node, f"field '{sigma_field}' must map to a field name, a list of them, or one transform")
    return None


def _fields(v: _Validator, node: _Node, what: str) -> dict[str, FieldTarget]:
    if not isinstance(node.value, dict):
        v.problem(node, f"{what} must be a mapping of Sigma field → ECS field")
        return {}
    out: dict[str, FieldTarget] = {}
    for sigma_field, target_node in node.value.items():
        target = _field_target(v, target_node, sigma_field)
        if target is not None:
            out[sigma_field] = target
    return out


def _integrations(v: _Validator, node: _Node) -> tuple[Integration, ...]:
    if not isinstance(node.value, list) or not node.value:
        v.problem(node, "integrations must be a non-empty list of {package, integration, version}")
        return ()
    out = []
    for item in node.value:
        spec = v.mapping(item, "integration", {"package", "integration", "version"}, {"package", "version"})
        package, version = v.string(spec.get("package"), "package"), v.string(spec.get("version"), "version")
        if package and version:
            out.append(Integration(package, version, v.string(spec.get("integration"), "integration")))
    return tuple(out)


def _fields_under(v: _Validator, node: _Node) -> dict[str, FieldTarget]:
    if not isinstance(node.value, dict):
        v.problem(node, "fields_under must map a field prefix to a list of Sigma field names")
        return {}
    out: dict[str, FieldTarget] = {}
    for prefix, names_node in node.value.items():
        if not prefix.endswith("."):
            v.problem(names_node, f"fields_under prefix '{prefix}' must end with '.'")
            continue
        for name in v.string_list(names_node, f"fields under '{prefix}'"):
            if name in out:
                v.problem(names_node, f"field '{name}' is listed twice in fields_under")
            out[name] = prefix + name
    return out


def _logsource(v: _Validator, node: _Node | None, seen: dict[tuple, Location],
               location: Location, variant: str = BASE_PIPELINE) -> tuple[str | None, str | None, str | None]:
    """Validate a logsource mapping and check that no other entry claims the same one."""
    logsource = v.mapping(node, "logsource", {"product", "category", "service"}) if node is not None else {}
    product, category, service = (v.string(logsource.get(k), k) for k in ("product", "category", "service"))
    if not (product or category or service):
        v.problem(node, "logsource needs product, category or service")
    key = (variant, product, category, service)
    if key in seen:
        v.problem(node, f"logsource already mapped at {seen[key]}")
    seen[key] = location
    return product, category, service


def load_mapping_files(paths: list[Path]) -> MappingSet:
    """Load and validate mapping files; raises MappingError listing every problem found."""
    problems: list[str] = []
    raw_sources: list[tuple[_Validator, _Node, str]] = []
    raw_unsupported: list[tuple[_Validator, _Node]] = []
    field_sets: dict[str, dict[str, FieldTarget]] = {}
    result = MappingSet()
    for path in sorted(paths):
        v = _Validator(path)
        try:
            root = _compose(path)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            line = mark.line + 1 if mark else 1
            problems.append(f"{path}:{line}: invalid YAML: {getattr(error, 'problem', error)}")
            continue
        if root is None:
            continue
        top = v.mapping(root, "mapping file",
                        {"pipeline", "field_capabilities", "field_sets", "data_sources", "unsupported"})
        variant = v.string(top.get("pipeline"), "pipeline") or BASE_PIPELINE
        if "field_capabilities" in top:
            caps_node = top["field_capabilities"]
            for name, spec_node in (caps_node.value or {}).items():
                spec = v.mapping(spec_node, f"field_capabilities of '{name}'", {"type", "caseless"}, {"type"})
                if "type" in spec:
                    ftype = v.string(spec["type"], "type") or "keyword"
                    caseless = v.string(spec.get("caseless"), "caseless")
                    target = (result.field_capabilities if variant == BASE_PIPELINE
                              else result.variant_capabilities.setdefault(variant, {}))
                    target[name] = FieldCapabilities(ftype, caseless)
        if "field_sets" in top:
            for name, set_node in top["field_sets"].value.items():
                if name in field_sets:
                    v.problem(set_node, f"field set '{name}' is defined twice")
                field_sets[name] = _fields(v, set_node, f"field set '{name}'")
        if "data_sources" in top:
            node = top["data_sources"]
            if not isinstance(node.value, list):
                v.problem(node, "data_sources must be a list")
            else:
                raw_sources.extend((v, item, variant) for item in node.value)
        if "unsupported" in top:
            node = top["unsupported"]
            if not isinstance(node.value, list):
                v.problem(node, "unsupported must be a list")
            else:
                raw_unsupported.extend((v, item) for item in node.value)
        problems.extend(v.problems)
        v.problems = []

    seen_ids: dict[str, Location] = {}
    seen_logsources: dict[tuple, Location] = {}
    for v, node, variant in raw_sources:
        spec = v.mapping(node, "data source", {"id", "title", "logsource", "index", "filter", "field_sets", "fields",
                                               "fields_under", "integrations", "setup"},
                         {"id", "logsource", "index"})
        if "fields" not in spec and "fields_under" not in spec:
            v.problem(node, "data source lacks required key 'fields' (or 'fields_under')")
        location = Location(v.path, node.line)
        ds_id = v.string(spec.get("id"), "id") or "?"
        if ds_id in seen_ids:
            v.problem(spec["id"], f"data source id '{ds_id}' already used at {seen_ids[ds_id]}")
        seen_ids[ds_id] = location
        product, category, service = _logsource(v, spec.get("logsource"), seen_logsources, location, variant)
        index = v.string_list(spec["index"], "index") if "index" in spec else ()
        filters: dict[str, tuple[str, ...]] = {}
        if "filter" in spec:
            filter_spec = spec["filter"]
            if not isinstance(filter_spec.value, dict):
                v.problem(filter_spec, "filter must map ECS fields to values")
            else:
                for fname, fnode in filter_spec.value.items():
                    filters[fname] = v.string_list(fnode, f"filter value of '{fname}'", allow_scalar=True)
        fields: dict[str, FieldTarget] = {}
        if "field_sets" in spec:
            for set_name_node in spec["field_sets"].value or []:
                if set_name_node.value not in field_sets:
                    v.problem(set_name_node, f"unknown field set '{set_name_node.value}'")
                else:
                    fields.update(field_sets[set_name_node.value])
        if "fields_under" in spec:
            fields.update(_fields_under(v, spec["fields_under"]))
        if "fields" in spec:
            fields.update(_fields(v, spec["fields"], f"fields of '{ds_id}'"))
        integrations = _integrations(v, spec["integrations"]) if "integrations" in spec else ()
        result.data_sources.append(DataSource(
            id=ds_id, title=v.string(spec.get("title"), "title") or ds_id,
            product=product, category=category, service=service, index=index,
            filter=filters, fields=fields, location=location, pipeline=variant,
            integrations=integrations, setup=v.string(spec.get("setup"), "setup"),
        ))
        problems.extend(v.problems)
        v.problems = []
    for v, node in raw_unsupported:
        spec = v.mapping(node, "unsupported log source", {"logsource", "reason"}, {"logsource", "reason"})
        location = Location(v.path, node.line)
        product, category, service = _logsource(v, spec.get("logsource"), seen_logsources, location)
        reason = v.string(spec.get("reason"), "reason")
        if reason:
            result.unsupported.append(UnsupportedLogsource(product, category, service, reason, location))
        problems.extend(v.problems)
        v.problems = []
    if problems:
        raise MappingError("invalid mapping files:\n" + "\n".join(problems))
    return result


def load_default_mappings() -> MappingSet:
    return load_mapping_files(sorted(mappings_dir().rglob("*.yml")))
