"""YAML as the agent reads it: safe, strict, and bounded.

PyYAML's safe loader accepts three things that hurt an operator here:
- a key given twice: the second silently wins (two `sites:` keys drop the first);
- aliases that expand without bound: a 1 KB "billion laughs" file makes
  anything that walks the result (validation, interpolation) run for minutes;
- deep nesting, which ends in a RecursionError.
Each is a `YamlProblem` naming the line, for the config's error.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# How many more values aliases may add to a file than it spells out.
MAX_ALIAS_EXPANSION = 100_000
MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlProblem(Exception):
    """The text cannot be used as config; the message names the line."""


# libyaml's parser where PyYAML has it (its wheels do): a 2,000-site config loads in
# 0.7 s rather than 1.8, and libyaml bounds the nesting depth itself.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):  # type: ignore[misc,valid-type]
    pass


def _mapping_without_duplicates(loader: _StrictLoader, node: MappingNode) -> dict[Any, Any]:
    seen: dict[Any, Node] = {}
    for key_node, _ in node.value:
        if key_node.tag == MERGE_TAG:
            continue  # `<<: *defaults` then a key of its own is how overrides are written
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:
            continue  # an unhashable key: construct_mapping says so
        if first is not None:
            raise YamlProblem(
                f"line {key_node.start_mark.line + 1}: key {key!r} is given twice "
                f"(first on line {first.start_mark.line + 1}); only one is kept "
                "by YAML, so say it once"
            )
        seen[key] = key_node
    return SafeConstructor.construct_mapping(loader, node, deep=True)


_StrictLoader.add_constructor("tag:yaml.org,2002:map", _mapping_without_duplicates)


def load_yaml(text: str) -> Any:
    """The document in `text`; raise YamlProblem or yaml.YAMLError."""
    loader = _StrictLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise YamlProblem("nested too deeply to be a config file") from None
        if node is None:
            return None
        _check_alias_expansion(node)
        try:
            return loader.construct_document(node)
        except RecursionError:
            raise YamlProblem("nested too deeply to be a config file") from None
    finally:
        loader.dispose()


def _check_alias_expansion(root: Node) -> None:
    """Raise YamlProblem when aliases make the document much larger than its text."""
    distinct = _count_distinct(root)
    limit = distinct + MAX_ALIAS_EXPANSION
    sizes: dict[int, int] = {}
    for node in _post_order(root):
        children = _children(node)
        size = 1 + sum(sizes[id(child)] for child in children)
        if size > limit and all(sizes[id(child)] <= limit for child in children):
            raise YamlProblem(
                f"line {node.start_mark.line + 1}: aliases (*name) here expand to more than "
                f"{limit:,} values, far more than the file spells out; write the values out "
                "instead"
            )
        sizes[id(node)] = min(size, limit + 1)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _count_distinct(root: Node) -> int:
    return sum(1 for _ in _post_order(root))


def _post_order(root: Node) -> list[Node]:
    """Each distinct node once, children before parents; a node that contains itself
    (a recursive alias) is a YamlProblem."""
    order: list[Node] = []
    state: dict[int, bool] = {}  # id -> finished
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            state[id(node)] = True
            order.append(node)
            continue
        if id(node) in state:
            if not state[id(node)]:
                raise YamlProblem(
                    f"line {node.start_mark.line + 1}: an alias refers to the "
                    "value that contains it"
                )
            continue
        state[id(node)] = False
        stack.append((node, True))
        if not isinstance(node, ScalarNode):
            stack.extend((child, False) for child in reversed(_children(node)))
    return order
