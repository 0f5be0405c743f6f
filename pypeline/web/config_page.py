"""Dashboard config page: the loaded config file and, for write keys, a live-validated editor with DAG preview."""
from __future__ import annotations

from flask import render_template

from pypeline.http.context import runtime
from pypeline.web.views import bp

__all__ = ["config_page"]


def _loaded_text(path: str) -> tuple[str | None, str | None]:
    """(text, None) of the loaded config file, or (None, why it cannot be shown)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read(), None
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"the config file cannot be read: {exc}"


@bp.route("/config", methods=["GET"])
def config_page() -> str:
    """The loaded config; a write key also gets an editor validated on each change (nothing is saved)."""
    path = runtime().config.path
    text, problem = _loaded_text(path)
    return render_template("pypeline_config.html", path=path, text=text, problem=problem)
