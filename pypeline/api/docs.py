"""The OpenAPI document (/api/v1/openapi.json), Swagger UI (/api/v1/docs) and a plain reference page.

Public by default so a browser can open them; `PYPELINE_DOCS_REQUIRE_KEY=true` requires a read key.
Swagger UI's assets are served from the `swagger-ui-bundle` package (no CDN: it works offline); without
that package /api/v1/docs is the self-contained reference page.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from flask import Response, current_app, jsonify, render_template_string, send_from_directory
from werkzeug.exceptions import NotFound

from pypeline.api.blueprint import ApiBlueprint
from pypeline.http.auth import authenticate
from pypeline.http.constants import API_EXTENSION_KEYS
from pypeline.http.context import extension

__all__ = ["blp", "operations", "swagger_ui_folder", "SWAGGER_ASSETS"]

blp = ApiBlueprint("pypeline_api_docs", __name__, public=True)

#: The Swagger UI files the page loads (nothing else of the package is served).
SWAGGER_ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
                            "favicon-32x32.png", "favicon-16x16.png"})


def swagger_ui_folder() -> Path | None:
    """The folder of the installed swagger-ui-bundle assets, or None."""
    if importlib.util.find_spec("swagger_ui_bundle") is None:
        return None
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


@blp.before_request
def _require_key_if_configured() -> None:
    if extension().runtime.settings.docs_require_key:
        authenticate(extension().auth, "read")


_SWAGGER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<link rel="stylesheet" href="{{ assets }}/swagger-ui.css">
<link rel="icon" type="image/png" href="{{ assets }}/favicon-32x32.png" sizes="32x32">
<style>body{margin:0;background:#fafafa}</style></head><body>
<div id="swagger-ui"></div>
<script src="{{ assets }}/swagger-ui-bundle.js"></script>
<script src="{{ assets }}/swagger-ui-standalone-preset.js"></script>
<script>
window.onload = function () {
  window.ui = SwaggerUIBundle({url: {{ spec_url|tojson }}, dom_id: "#swagger-ui", deepLinking: true,
    validatorUrl: null, presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout"});
};
</script>
<noscript><a href="{{ reference_url }}">Plain reference page</a></noscript>
</body></html>"""

_METHODS = ("get", "post", "put", "patch", "delete")

# No CDN assets (Swagger UI is not reachable offline): a plain page generated from the spec itself.
_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#1f2933;padding:0 1rem}
h1{margin-bottom:.2rem} .op{border:1px solid #d9e2ec;border-radius:6px;margin:.6rem 0;padding:.5rem .8rem}
.m{display:inline-block;min-width:4.2rem;font-weight:700;text-transform:uppercase}
.get{color:#0b69a3}.post{color:#2f8132}.put,.patch{color:#b26b00}.delete{color:#ba2525}
code{background:#f0f4f8;padding:0 .25rem;border-radius:3px} .tag{margin-top:1.6rem;border-bottom:2px solid #d9e2ec}
small{color:#52606d} ul{margin:.3rem 0}
</style></head><body>
<h1>{{ title }} <small>{{ version }}</small></h1>
<p>{{ description }}</p>
<p>Machine-readable document: <a href="{{ spec_url }}">{{ spec_url }}</a>.
Send your key in the <code>accesskey</code> header or as <code>Authorization: Bearer &lt;key&gt;</code>.</p>
{% for tag, ops in groups %}
<h2 class="tag">{{ tag }}</h2>
{% for op in ops %}
<div class="op"><span class="m {{ op.method }}">{{ op.method }}</span> <code>{{ op.path }}</code>
 {% if op.public %}<small>(no key)</small>{% endif %}
 <div>{{ op.summary }}</div>
 {% if op.params %}<ul>{% for p in op.params %}<li><code>{{ p }}</code></li>{% endfor %}</ul>{% endif %}
 <small>Responses: {{ op.responses|join(", ") }}</small></div>
{% endfor %}{% endfor %}
</body></html>"""


def operations(spec: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The spec's operations grouped by tag, in path order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for path, item in spec.get("paths", {}).items():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = [f"{p['in']}: {p['name']}" for p in (item.get("parameters", []) + op.get("parameters", []))]
            if "requestBody" in op:
                params.append("body: " + ", ".join(op["requestBody"].get("content", {})))
            groups.setdefault((op.get("tags") or ["other"])[0], []).append({
                "method": method, "path": path, "summary": op.get("summary", ""), "params": params,
                "responses": sorted(op.get("responses", {})), "public": op.get("security") == [],
            })
    return list(groups.items())


def _spec() -> dict[str, Any]:
    """The OpenAPI document of the API mounted on the current app."""
    spec: dict[str, Any] = current_app.extensions[API_EXTENSION_KEYS[0]].spec.to_dict()
    return spec


@blp.route("/openapi.json", methods=["GET"])
def openapi_json() -> Response:
    """The OpenAPI 3 document of this API."""
    return jsonify(_spec())


@blp.route("/docs", methods=["GET"], strict_slashes=False)
def docs() -> str:
    """Swagger UI for the OpenAPI document (the plain reference page when swagger-ui-bundle is absent)."""
    if swagger_ui_folder() is None:
        return reference()
    info = _spec().get("info", {})
    prefix = extension().url_prefix
    return render_template_string(_SWAGGER_PAGE, title=info.get("title", "API"), assets=prefix + "/docs/assets",
                                  spec_url=prefix + "/openapi.json", reference_url=prefix + "/docs/reference")


@blp.route("/docs/assets/<path:filename>", methods=["GET"])
def swagger_asset(filename: str) -> Response:
    """One of Swagger UI's static files."""
    folder = swagger_ui_folder()
    if folder is None or filename not in SWAGGER_ASSETS:
        raise NotFound()
    return send_from_directory(folder, filename, max_age=86400)


@blp.route("/docs/reference", methods=["GET"])
def reference() -> str:
    """A readable reference of every operation, generated from the OpenAPI document (no JavaScript)."""
    spec = _spec()
    info = spec.get("info", {})
    return render_template_string(_TEMPLATE, title=info.get("title", "API"), version=info.get("version", ""),
                                  description=info.get("description", ""), groups=operations(spec),
                                  spec_url=extension().url_prefix + "/openapi.json")
