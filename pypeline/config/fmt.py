"""`pypeline fmt`: canonical key order and indentation of a config file, keeping its comments (ruamel.yaml).

The canonical order of a mapping is the order of its key table in pypeline.config.schema (the order the JSON
Schema and docs/config-errors.md list them in); keys a table does not know keep their relative order after the
known ones; ids (pipelines, nodes, schedules, batches) keep the author's order. A comment stays attached to the
key line it follows.
"""
from __future__ import annotations

import difflib
import io
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.error import YAMLError as RuamelYAMLError
from ruamel.yaml.tokens import CommentToken

from pypeline.config import codes
from pypeline.config.nesting import ROOT, Nest, nest_of
from pypeline.config.schema import Table
from pypeline.errors import ConfigError, ConfigIssue

__all__ = ["format_text", "unified_diff"]


def _yaml() -> YAML:
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096  # never re-wrap long lines
    rt.indent(mapping=2, sequence=4, offset=2)
    return rt


def _pick(nest: Nest, value: CommentedMap, parent: CommentedMap) -> Table:
    """The table of a nested mapping: the one its selector names, else the one sharing most keys with it."""
    if nest.selector is not None and parent.get(nest.selector) in nest.selector_values:
        return nest.tables[nest.selector_values.index(parent[nest.selector])]
    return max(nest.tables, key=lambda t: len(set(t.fields) & set(value)))


def _tail_slot(container: Any, key: Any) -> tuple[list[Any], int]:
    """Where the comment after the last line of `container[key]` lives: (comment list, index in it)."""
    value = container[key]
    block = isinstance(value, (CommentedMap, CommentedSeq)) and not value.fa.flow_style()
    if block and len(value) and not getattr(value, "merge", None):  # a flow value's comment sits on its key
        last = list(value)[-1] if isinstance(value, CommentedMap) else len(value) - 1
        return _tail_slot(value, last)
    slots = container.ca.items.setdefault(key, [None, None, None, None])
    return slots, 0 if isinstance(container, CommentedSeq) else 2


def _split(token: CommentToken | None) -> tuple[str, str]:
    """(end of the key's own line incl. its comment, the full comment lines after it)."""
    if token is None:
        return "\n", ""
    cut = token.value.find("\n")
    return (token.value, "") if cut < 0 else (token.value[: cut + 1], token.value[cut + 1:])


def _move_keys(node: CommentedMap, order: list[Any], *, root: bool = False) -> None:
    """Reorder a mapping's keys; comment lines between keys stay in place (before the same next key)."""
    original = list(node)
    slots = {key: _tail_slot(node, key) for key in original}
    own: dict[Any, str] = {}
    before: dict[Any, str] = {}  # key -> full comment lines that preceded it; None -> trailing lines
    for i, key in enumerate(original):
        slot, index = slots[key]
        own[key], rest = _split(slot[index])
        before[original[i + 1] if i + 1 < len(original) else None] = rest
    for key in order:
        node.move_to_end(key)
    orphan = before.get(order[0], "")  # lines that preceded a key which is now first
    if orphan and root:  # at the top of the file they can stay before it
        if node.ca.comment is None:
            node.ca.comment = [None, None]
        node.ca.comment[1] = [*(node.ca.comment[1] or []), CommentToken(orphan, CommentMark(0), None)]
        orphan = ""
    for i, key in enumerate(order):
        following = before.get(order[i + 1], "") if i + 1 < len(order) else before.get(None, "")
        text = own[key] + (orphan if i == 0 else "") + following  # a nested orphan follows the moved key
        slot, index = slots[key]
        if text == "\n":
            slot[index] = None
        elif slot[index] is not None:
            slot[index].value = text
        else:
            slot[index] = CommentToken(text, CommentMark(0), None)


def _reorder(node: Any, table: Table) -> None:
    if not isinstance(node, CommentedMap):
        return
    if not node.merge:  # keys merged in with `<<:` have no position of their own: leave such mappings alone
        rank = {key: i for i, key in enumerate(table.fields)}
        original = list(node)
        order = sorted(original, key=lambda k: (rank.get(k, len(rank)), original.index(k)))
        if order != original:
            _move_keys(node, order, root=table is ROOT)
    for key in list(node):
        nest = nest_of(table, key) if isinstance(key, str) else None
        if nest is None or not nest.tables:
            continue
        value = node[key]
        if nest.how == "object" and isinstance(value, CommentedMap):
            _reorder(value, _pick(nest, value, node))
        elif nest.how == "values" and isinstance(value, CommentedMap):
            for item in value.values():
                _reorder(item, nest.tables[0])
        elif nest.how == "items" and isinstance(value, CommentedSeq):
            for item in value:
                _reorder(item, nest.tables[0])


def format_text(text: str, filename: str = "<string>") -> str:
    """The formatted text of a config; raises ConfigError when it is not YAML or formatting would change data."""
    rt = _yaml()
    try:
        data = rt.load(text)
    except RuamelYAMLError as exc:
        raise ConfigError([ConfigIssue(f"cannot format: invalid YAML: {exc}", file=filename,
                                       code=codes.YAML_SYNTAX.id)]) from None
    if data is None:
        return text
    _reorder(data, ROOT)
    out = io.StringIO()
    rt.dump(data, out)
    formatted = out.getvalue()
    if _plain(text) != _plain(formatted):  # a safety net: formatting must never change what the file says
        raise ConfigError([ConfigIssue("cannot format: the result would not load to the same data",
                                       file=filename, code=codes.GENERIC.id)])
    return formatted


def _plain(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return ("unparseable", text)


def unified_diff(before: str, after: str, filename: str) -> str:
    """A unified diff of the formatting change, for `fmt --check`."""
    return "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        fromfile=f"{filename} (current)", tofile=f"{filename} (formatted)"))
