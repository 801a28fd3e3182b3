"""Parsing rule files with libyaml, giving exactly what pySigma's loader gives."""

from __future__ import annotations

import pickle
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
# Scalar tags built by PyYAML's own SafeConstructor functions (bool, int, float, null, timestamp).
_SCALARS = {tag: SafeConstructor.yaml_constructors[tag] for tag in (
    "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp")}


# _RuleLoader.resolve's memo: plain scalar text → tag.
_PLAIN_TAGS: dict[str, str] = {}
_PLAIN_TAGS_LIMIT = 200_000
_MEMOISE_TAGS = True  # False: PyYAML resolves every scalar (tests compare both)
assert not yaml.CSafeLoader.yaml_path_resolvers  # what _RuleLoader.resolve relies on


class Unusual(Exception):
    """The document uses something the fast builder leaves to PyYAML (merge keys, explicit tags,
    duplicate or unhashable keys, recursive aliases): pySigma's loader parses it again."""


class _RuleLoader(yaml.CSafeLoader):
    """libyaml composes the nodes (resolving implicit tags as PyYAML does); the Python objects are then
    built in one pass instead of PyYAML's generic constructor (half of the YAML time on the corpus).
    Strings are the node's text; other scalars go through SafeConstructor's own functions; aliases give
    the same object again, as in PyYAML; `shared` tells whether one did (a YAML alias to a list or map)."""

    shared = False

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        """PyYAML's tag resolution (its Python code runs for every node libyaml composes): a quoted scalar
        is a string, a plain one is resolved once per distinct text (keys and values recur across rules).
        SafeLoader declares no path resolvers, so nothing else enters the answer."""
        if kind is not yaml.ScalarNode or not _MEMOISE_TAGS:
            return super().resolve(kind, value, implicit)
        if not implicit[0]:
            return _STR
        tag = _PLAIN_TAGS.get(value)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(_PLAIN_TAGS) >= _PLAIN_TAGS_LIMIT:
                _PLAIN_TAGS.clear()
            _PLAIN_TAGS[value] = tag
        return tag

    # No path resolvers: PyYAML's bookkeeping of the node path, called for every node, has nothing to do.
    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass

    def construct_document(self, node: yaml.Node) -> Any:
        self._built: dict[int, Any] = {}
        self._open: set[int] = set()
        return self._build(node)

    def _build(self, node: yaml.Node) -> Any:
        tag = node.tag
        if tag == _STR and isinstance(node, yaml.ScalarNode):
            return node.value
        key = id(node)
        if key in self._built:
            self.shared = True
            return self._built[key]
        if key in self._open:
            raise Unusual("recursive alias")
        if isinstance(node, yaml.ScalarNode):
            if tag not in _SCALARS:
                raise Unusual(tag)
            value = _SCALARS[tag](self, node)
        elif tag == _SEQ:
            self._open.add(key)
            value = [self._build(child) for child in node.value]
        elif tag == _MAP:
            self._open.add(key)
            value = {}
            for key_node, value_node in node.value:
                name = self._build(key_node)
                try:
                    if name in value:
                        raise Unusual("duplicate key")
                except TypeError as error:  # unhashable key
                    raise Unusual("unhashable key") from error
                value[name] = self._build(value_node)
        else:  # merge keys, sets, omaps, binary, unknown tags
            raise Unusual(tag)
        self._built[key] = value
        return value


def parse_rule_documents(text: bytes | str) -> list[dict]:
    """YAML documents of a rule file as pySigma's `SigmaYAMLLoader` (libyaml-based, duplicate keys
    rejected) parses them, None documents dropped; its errors too. pySigma's `load_ruleset` uses the
    pure-Python parser instead: 60 % of `sigma convert` time on the corpus."""
    return parse_rule_file(text)[0]


def parse_rule_file(text: bytes | str) -> tuple[list[dict], bool]:
    """parse_rule_documents, and True when the documents share no list or map (no YAML alias to one):
    then every container is a tree of its own (what pySigma's alias-expansion check verifies)."""
    try:
        return parse_common_rule_file(text)
    except Unusual:
        from sigma.rule.base import SigmaYAMLLoader

        return [d for d in yaml.load_all(text, Loader=SigmaYAMLLoader) if d is not None], False


def parse_common_rule_file(text: bytes | str) -> tuple[list[dict], bool]:
    """parse_rule_file for the files the fast builder takes (all but those raising `Unusual`), without
    importing pySigma; yaml.YAMLError for a file that is no YAML."""
    loader = _RuleLoader(text)
    try:  # yaml.load_all, keeping the loader
        documents = []
        while loader.check_data():
            document = loader.get_data()
            if document is not None:
                documents.append(document)
        return documents, not loader.shared
    finally:
        loader.dispose()


def pickled_parse(text: bytes) -> bytes | None:
    """parse_common_rule_file's answer, pickled for a worker process (unpickling takes a tenth of the
    parsing time); None for a file left to the worker: no YAML, or something the fast builder leaves to
    pySigma's loader (the worker parses it again and reports what is wrong)."""
    try:
        return pickle.dumps(parse_common_rule_file(text), pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - any failure: the worker's own parse gives the error
        return None
