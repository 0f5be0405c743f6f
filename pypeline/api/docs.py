"""The OpenAPI document at /api/v1/openapi.json and a self-contained HTML reference at /api/v1/docs."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify, render_template_string

from pypeline.api.blueprint import ApiBlueprint
from pypeline.api.context import extension

__all__ = ["blp", "operations"]

blp = ApiBlueprint("pypeline_api_docs", __name__)

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


@blp.route("/openapi.json", methods=["GET"])
def openapi_json() -> Response:
    """The OpenAPI 3 document of this API."""
    return jsonify(extension().api.spec.to_dict())


@blp.route("/docs", methods=["GET"], strict_slashes=False)
def docs() -> str:
    """A readable reference of every operation, generated from the OpenAPI document."""
    spec = extension().api.spec.to_dict()
    info = spec.get("info", {})
    return render_template_string(_TEMPLATE, title=info.get("title", "API"), version=info.get("version", ""),
                                  description=info.get("description", ""), groups=operations(spec),
                                  spec_url=extension().url_prefix + "/openapi.json")
