"""Machine-readable forms of config issues: JSON records for tools and GitHub Actions annotations for CI."""
from __future__ import annotations

from typing import Any

from pypeline.config.codes import lookup
from pypeline.errors import ConfigIssue

__all__ = ["issue_record", "github_annotation"]


def issue_record(issue: ConfigIssue) -> dict[str, Any]:
    """{file, line, column, key_path, code, name, message, suggestion} of one issue (the `--format json` item)."""
    return {
        "file": issue.file,
        "line": issue.line,
        "column": issue.column,
        "key_path": issue.path,
        "code": issue.code,
        "name": lookup(issue.code).name,
        "message": issue.message,
        "suggestion": issue.suggestion,
    }


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(issue: ConfigIssue) -> str:
    """`::error file=…,line=…,col=…,title=PYP101 unknown-key::message` for a GitHub Actions log."""
    props = [f"file={_escape_property(issue.file)}"]
    if issue.line is not None:
        props.append(f"line={issue.line}")
        if issue.column is not None:
            props.append(f"col={issue.column}")
    props.append(f"title={_escape_property(str(lookup(issue.code)))}")
    where = f"[{issue.path}] " if issue.path else ""
    return f"::error {','.join(props)}::{_escape_data(where + issue.message)}"
