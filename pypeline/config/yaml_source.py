"""Safe YAML parsing that keeps the line/column of every key path and interpolates `${VAR}` values."""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pypeline.config import codes
from pypeline.config.codes import ErrorCode
from pypeline.errors import ConfigIssue

__all__ = ["PypelineYamlLoader", "SourceMap", "ParseResult", "parse_yaml", "join_path", "index_path", "parent_path",
           "MAX_ALIAS_EXPANSIONS", "NON_PRINTABLE"]

#: A whole scalar `${VAR}` or `${VAR:default}`; the default may itself contain ':'.
ENV_PATTERN = re.compile(r"^\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<default>.*))?\}$", re.DOTALL)

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"

Position = tuple[int, int]

#: Most node visits that alias references (`*name`, `<<: *name`) may add while building the tree: generous for
#: real configs (a `<<: *defaults` of 20 keys used 500 times is 10,000), fatal to an exponential "billion laughs".
#: A visit at a key path longer than 64 characters counts once more per 64 characters.
MAX_ALIAS_EXPANSIONS = 50_000

#: Characters YAML forbids in a stream (PyYAML's Reader check), found before parsing so the error has a position.
NON_PRINTABLE = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")

_FAILED = object()  # marker: a node could not be constructed (an issue was recorded)
_STR_TAG = "tag:yaml.org,2002:str"


# libyaml's parser (when PyYAML was built with it) composes ~4x faster and still gives every node its line/column;
# construction stays PyYAML's SafeConstructor either way, so the result is exactly safe_load's.
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _AliasBombError(Exception):
    """Alias references expanded past MAX_ALIAS_EXPANSIONS."""

    def __init__(self, path: str) -> None:
        super().__init__("too many alias expansions")
        self.path = path


class PypelineYamlLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """A private safe loader subclass: composing with it never touches the global `yaml.SafeLoader`."""

    def __init__(self, stream: str) -> None:
        self._resolved: dict[tuple[str, tuple[bool, bool]], str] = {}
        super().__init__(stream)

    def resolve(self, kind: type[Node], value: Any, implicit: Any) -> str:
        """PyYAML's implicit tag resolution, memoised per scalar text (configs repeat keys and values a lot)."""
        if kind is not ScalarNode or self.yaml_path_resolvers:
            resolved: str = super().resolve(kind, value, implicit)
            return resolved
        key = (value, implicit)
        tag = self._resolved.get(key)
        if tag is None:
            tag = self._resolved[key] = super().resolve(kind, value, implicit)
        return tag


def join_path(path: str, key: object) -> str:
    """Dotted key path of `key` inside the mapping at `path`."""
    return f"{path}.{key}" if path else str(key)


def index_path(path: str, index: int) -> str:
    """Key path of item `index` of the list at `path`."""
    return f"{path}[{index}]"


def parent_path(path: str) -> str:
    """The path one level up (`a.b[2]` -> `a.b`, `a.b` -> `a`, `a` -> ``)."""
    cut = max(path.rfind("."), path.rfind("["))
    return path[:cut] if cut > 0 else ""


@dataclass
class SourceMap:
    """Where each key path sits in the file: key positions, value positions, and paths whose value failed."""

    filename: str
    keys: dict[str, Position] = field(default_factory=dict)
    values: dict[str, Position] = field(default_factory=dict)
    #: Paths whose value could not be built (an issue was already reported there).
    failed: set[str] = field(default_factory=set)

    def locate(self, path: str, *, key: bool = False) -> Position | None:
        """1-based (line, column) of a path's key or value, falling back to the nearest known ancestor."""
        current = path
        prefer_key = key
        while True:
            if prefer_key and current in self.keys:
                return self.keys[current]
            if current in self.values:
                return self.values[current]
            if current in self.keys:
                return self.keys[current]
            if not current:
                return None
            # a missing key is best shown at its parent's key line (`load:` rather than the mapping below it)
            current = parent_path(current)
            prefer_key = True

    def issue(
        self, message: str, path: str, *, key: bool = False, code: ErrorCode = codes.GENERIC,
        suggestion: str | None = None,
    ) -> ConfigIssue:
        """A ConfigIssue for `path`, located in this file."""
        pos = self.locate(path, key=key)
        line, column = pos if pos else (None, None)
        return ConfigIssue(message=message, path=path, file=self.filename, line=line, column=column, code=code.id,
                           suggestion=suggestion)


@dataclass
class ParseResult:
    """The plain Python tree of a YAML text, its SourceMap and the issues met while building it."""

    data: Any
    source: SourceMap
    issues: list[ConfigIssue]


def _pos(mark: yaml.Mark | None) -> Position | None:
    return (mark.line + 1, mark.column + 1) if mark is not None else None


class _TreeBuilder:
    """Builds Python values from a composed node tree, recording marks and env-interpolating scalars."""

    def __init__(self, loader: PypelineYamlLoader, source: SourceMap, env: Mapping[str, str]) -> None:
        self.loader = loader
        self.source = source
        self.env = env
        self.issues: list[ConfigIssue] = []
        self._stack: set[int] = set()
        self._built: set[int] = set()
        self._alias_visits = 0
        self._expanding: str | None = None  # key path of the outermost alias being expanded

    def _error(
        self, message: str, path: str, mark: yaml.Mark | None, *, failed: bool = True,
        code: ErrorCode = codes.YAML_VALUE,
    ) -> None:
        pos = _pos(mark)
        line, column = pos if pos else (None, None)
        self.issues.append(ConfigIssue(message, path, self.source.filename, line, column, code.id))
        if failed:
            self.source.failed.add(path)

    def build(self, node: Node, path: str) -> Any:
        """Python value of `node` found at key path `path`."""
        pos = _pos(node.start_mark)
        if pos is not None:
            self.source.values[path] = pos
        if id(node) in self._stack:
            self._error("recursive YAML alias: a value may not contain itself", path, node.start_mark,
                        code=codes.YAML_ALIAS)
            return None
        outermost = False
        if id(node) in self._built:  # an alias: the same node again, costing a visit per inner node
            if self._expanding is None:
                self._expanding, outermost = path, True
            self._alias_visits += 1 + len(path) // 64  # long key paths cost more (they are built and hashed)
            if self._alias_visits > MAX_ALIAS_EXPANSIONS:
                raise _AliasBombError(self._expanding)
        else:
            self._built.add(id(node))
        self._stack.add(id(node))
        try:
            if isinstance(node, ScalarNode):
                return self._scalar(node, path)
            if isinstance(node, MappingNode) and node.tag == _MAP_TAG:
                return self._mapping(node, path)
            if isinstance(node, SequenceNode) and node.tag == _SEQ_TAG:
                return [self.build(item, index_path(path, i)) for i, item in enumerate(node.value)]
            value = self._construct(node, path)  # !!set, !!omap...: plain safe_load result, no inner marks
            return None if value is _FAILED else value
        finally:
            self._stack.discard(id(node))
            if outermost:
                self._expanding = None

    def _construct(self, node: Node, path: str) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            self._error(f"invalid YAML value: {exc.problem or exc}", path, exc.problem_mark or node.start_mark)
        except (yaml.YAMLError, TypeError, ValueError) as exc:
            self._error(f"invalid YAML value: {exc}", path, node.start_mark)
        return _FAILED

    def _scalar(self, node: ScalarNode, path: str) -> Any:
        # a plain string is its text (SafeConstructor.construct_yaml_str); skip the generic constructor for it
        value: Any = node.value if node.tag == _STR_TAG else self._construct(node, path)
        if value is _FAILED:
            return None
        if not isinstance(value, str):
            return value
        match = ENV_PATTERN.match(value.strip())
        if match is None:
            return value
        name: str = match.group("name")
        default: str | None = match.group("default")  # None: `${VAR}` without `:default`
        text = self.env.get(name, default)
        if text is None:
            self._error(f"environment variable {name} is not set and has no default", path, node.start_mark,
                        code=codes.ENV_UNSET)
            return None
        if node.style:  # quoted or block: the value stays a string (libyaml marks plain with "", PyYAML None)
            return text
        # plain: resolve like an unquoted YAML scalar, so `maxTtl: ${TTL:60}` is the integer 60
        tag = self.loader.resolve(ScalarNode, text, (True, False))
        value = self._construct(ScalarNode(tag, text, node.start_mark, node.end_mark), path)
        return None if value is _FAILED else value

    def _mapping(self, node: MappingNode, path: str) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merges: list[tuple[Node, Node]] = []
        own: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            (merges if key_node.tag == _MERGE_TAG else own).append((key_node, value_node))
        for _merge_key, value_node in merges:
            self._merge_into(result, value_node, path)
        seen: dict[Any, Position | None] = {}
        for key_node, value_node in own:
            if not isinstance(key_node, ScalarNode):
                self._error("complex mapping keys (lists or mappings used as keys) are not supported",
                            path, key_node.start_mark, failed=False, code=codes.COMPLEX_KEY)
                continue
            key = (key_node.value if key_node.tag == _STR_TAG
                   else self._construct(key_node, join_path(path, key_node.value)))
            if key is _FAILED:
                continue
            key_path = join_path(path, key)
            if key in seen:
                first = seen[key]
                where = f" (first defined on line {first[0]})" if first else ""
                # the first value stays and is still validated, so no 'failed' mark here
                self._error(f"duplicate key '{key}'{where}", key_path, key_node.start_mark, failed=False,
                            code=codes.DUPLICATE_KEY)
                continue
            seen[key] = _pos(key_node.start_mark)
            key_pos = _pos(key_node.start_mark)
            if key_pos is not None:
                self.source.keys[key_path] = key_pos
            result[key] = self.build(value_node, key_path)
        return result

    def _merge_into(self, result: dict[Any, Any], value_node: Node, path: str) -> None:
        """Apply a `<<:` merge; with a list of mappings the earlier ones win, as in PyYAML."""
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        own_position = self.source.values.get(path)
        for source in reversed(sources):
            merged = self.build(source, path)
            if own_position is not None:
                self.source.values[path] = own_position
            if isinstance(merged, dict):
                result.update(merged)
            elif merged is not None:
                self._error("a '<<' merge key needs a mapping or a list of mappings", path, source.start_mark,
                            failed=False, code=codes.BAD_MERGE)


def _syntax_issue(exc: yaml.YAMLError, filename: str) -> ConfigIssue:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        text = ": ".join(part for part in (exc.context, exc.problem) if part) or str(exc)
        pos = _pos(mark)
        line, column = pos if pos else (None, None)
        return ConfigIssue(f"invalid YAML: {text}", "", filename, line, column, codes.YAML_SYNTAX.id)
    return ConfigIssue(f"invalid YAML: {exc}", "", filename, None, None, codes.YAML_SYNTAX.id)


def _too_deep(filename: str) -> ConfigIssue:
    return ConfigIssue("invalid YAML: nested too deeply", "", filename, code=codes.YAML_SYNTAX.id)


def _position_of(text: str, index: int) -> Position:
    """1-based (line, column) of character `index` of `text`."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _control_character_issue(text: str, filename: str) -> ConfigIssue | None:
    found = NON_PRINTABLE.search(text)
    if found is None:
        return None
    line, column = _position_of(text, found.start())
    return ConfigIssue(f"invalid YAML: control character {ord(found.group()):#04x} is not allowed in a config file",
                       "", filename, line, column, codes.CONTROL_CHARACTER.id)


def parse_yaml(text: str, filename: str = "<string>", env: Mapping[str, str] | None = None) -> ParseResult:
    """Parse one YAML document with safe_load semantics into Python values plus a SourceMap; never raises."""
    source = SourceMap(filename)
    bad_character = _control_character_issue(text, filename)
    if bad_character is not None:
        return ParseResult(None, source, [bad_character])
    try:
        loader = PypelineYamlLoader(text)
    except yaml.YAMLError as exc:  # the reader's own checks (encoding, stray characters) run here
        return ParseResult(None, source, [_syntax_issue(exc, filename)])
    try:
        try:
            root = loader.get_single_node()
        except yaml.YAMLError as exc:
            return ParseResult(None, source, [_syntax_issue(exc, filename)])
        except RecursionError:
            return ParseResult(None, source, [_too_deep(filename)])
        if root is None:
            return ParseResult(None, source, [])
        builder = _TreeBuilder(loader, source, os.environ if env is None else env)
        try:
            data = builder.build(root, "")
        except RecursionError:
            return ParseResult(None, source, [_too_deep(filename)])
        except _AliasBombError as exc:
            message = (f"invalid YAML: aliases expand to more than {MAX_ALIAS_EXPANSIONS:,} values (an alias "
                       "bomb?); repeat fewer or smaller anchors")
            return ParseResult(None, source, [source.issue(message, parent_path(exc.path) or exc.path, key=True,
                                                           code=codes.ALIAS_BOMB)])
        return ParseResult(data, source, builder.issues)
    finally:
        loader.dispose()
