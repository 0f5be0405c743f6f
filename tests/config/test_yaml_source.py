"""The YAML layer: safe parsing, positions of key paths, env interpolation."""
from __future__ import annotations

import textwrap

from pypeline.config.yaml_source import ParseResult, SourceMap, parent_path, parse_yaml


def parse(text: str, env: dict[str, str] | None = None) -> ParseResult:
    """Parse dedented YAML text with an explicit environment."""
    return parse_yaml(textwrap.dedent(text), "t.yaml", env=env or {})


def test_positions_of_keys_values_and_items() -> None:
    result = parse("""\
        pipelines:
          demo:
            config:
              dagAdjacency:
                fetch: [a, b]
        """)
    source = result.source
    assert source.keys["pipelines.demo.config.dagAdjacency.fetch"] == (5, 9)
    assert source.values["pipelines.demo.config.dagAdjacency.fetch"] == (5, 16)
    assert source.values["pipelines.demo.config.dagAdjacency.fetch[1]"] == (5, 20)
    assert source.locate("pipelines.demo.config.dagAdjacency.fetch[1]") == (5, 20)
    # a missing key is located at the closest existing parent's key
    assert source.locate("pipelines.demo.config.taskDefinitions") == (3, 5)
    assert result.issues == []


def test_parent_path() -> None:
    assert parent_path("a.b[2]") == "a.b"
    assert parent_path("a.b") == "a"
    assert parent_path("a") == ""


def test_safe_load_semantics() -> None:
    result = parse("""\
        a: yes
        b: 1.5
        c: ~
        d: 2024-01-02
        e: !!set {x, y}
        """)
    assert result.data["a"] is True and result.data["b"] == 1.5 and result.data["c"] is None
    assert str(result.data["d"]) == "2024-01-02" and result.data["e"] == {"x", "y"}


def test_unsafe_tag_is_an_issue() -> None:
    result = parse("a: !!python/object/apply:os.system [echo hi]\n")
    (issue,) = result.issues
    assert issue.line == 1 and "could not determine a constructor" in issue.message


def test_duplicate_key_keeps_the_first_value() -> None:
    result = parse("a: 1\nb: 2\na: 3\n")
    (issue,) = result.issues
    assert (issue.line, issue.column, issue.path) == (3, 1, "a")
    assert issue.message == "duplicate key 'a' (first defined on line 1)"
    assert result.data == {"a": 1, "b": 2}
    assert "a" not in result.source.failed


def test_syntax_error_position() -> None:
    result = parse("a: [1, 2\nb: 3\n")
    (issue,) = result.issues
    assert result.data is None and issue.message.startswith("invalid YAML:") and issue.line == 2


def test_multiple_documents_are_rejected() -> None:
    result = parse("a: 1\n---\nb: 2\n")
    assert result.data is None and "expected a single document" in result.issues[0].message


def test_empty_text() -> None:
    result = parse("# nothing\n")
    assert result.data is None and result.issues == []


def test_env_interpolation_forms() -> None:
    env = {"SET": "value", "NUM": "8", "EMPTY": ""}
    result = parse("""\
        a: ${SET}
        b: ${SET:default}
        c: ${UNSET:redis://h:1/0}
        d: ${NUM}
        e: "${NUM}"
        f: ${UNSET:}
        g: x${SET}
        h: ${EMPTY:fallback}
        i: ${UNSET:true}
        """, env)
    assert result.data == {"a": "value", "b": "value", "c": "redis://h:1/0", "d": 8, "e": "8", "f": None,
                           "g": "x${SET}", "h": None, "i": True}
    assert result.issues == []


def test_env_unset_without_default() -> None:
    result = parse("a:\n  b: ${NOT_THERE}\n")
    (issue,) = result.issues
    assert issue.message == "environment variable NOT_THERE is not set and has no default"
    assert (issue.line, issue.column, issue.path) == (2, 6, "a.b")
    assert "a.b" in result.source.failed


def test_recursive_alias_is_an_issue() -> None:
    result = parse("a: &x [*x]\n")
    assert "recursive YAML alias" in result.issues[0].message


def test_merge_keys() -> None:
    result = parse("""\
        base: &b {x: 1, y: 2}
        other: &o {y: 9, z: 3}
        m:
          <<: [*b, *o]
          x: 0
        """)
    assert result.data["m"] == {"x": 0, "y": 2, "z": 3}
    assert result.source.values["m"] == (4, 3)


def test_complex_keys_are_issues() -> None:
    result = parse("? [a, b]\n: 1\nc: 2\n")
    assert result.data == {"c": 2} and "complex mapping keys" in result.issues[0].message


def test_source_map_issue_fallback() -> None:
    source = SourceMap("f.yaml")
    issue = source.issue("msg", "nowhere.at.all")
    assert (issue.file, issue.line, issue.column, issue.path) == ("f.yaml", None, None, "nowhere.at.all")
