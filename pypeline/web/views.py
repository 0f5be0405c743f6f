"""Dashboard pages: runs (live, filtered), a run with its DAG and logs, pipelines, schedules, batches; login."""
from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, abort, g, redirect, render_template, request, session, url_for
from werkzeug.exceptions import HTTPException

from pypeline.errors import AuthError, InvalidInputError, NotFoundError, PypelineError
from pypeline.http.auth import SESSION_CSRF, KeyAuth, authenticate, csrf_token, login_session, logout_session
from pypeline.http.constants import UI_PREFIX
from pypeline.http.context import extension, runtime
from pypeline.http.input_checks import bad_id, bad_query
from pypeline.scheduler.spec import describe_interval
from pypeline.services import batches as batch_service
from pypeline.services import keys as key_service
from pypeline.services import runs as run_service
from pypeline.services import schedules as schedule_service
from pypeline.services.layout import Layout, layout_dag
from pypeline.services.pipelines import pipeline_document, pipeline_documents
from pypeline.status import Status
from pypeline.web.state import node_states

__all__ = ["dashboard_blueprint"]

dashboard_blueprint = Blueprint("pypeline_dashboard", __name__, url_prefix=UI_PREFIX, template_folder="templates",
                                static_folder="static", static_url_path="/static")
bp = dashboard_blueprint
bp.add_app_template_global(describe_interval, "describe_interval")
_OPEN_ENDPOINTS = {f"{bp.name}.login", f"{bp.name}.logout", f"{bp.name}.static"}
STATUSES = [s.value for s in Status]


@bp.before_request
def _require_login() -> Any:
    if request.endpoint in _OPEN_ENDPOINTS:
        return None
    ext = extension()
    try:
        authenticate(ext.auth, "read")
    except key_service.ScopeError as exc:
        return _error_page(403, str(exc))
    except AuthError as exc:
        if isinstance(ext.auth, KeyAuth):
            return redirect(url_for(".login", next=request.full_path.rstrip("?")))
        return _error_page(401, str(exc))
    return None


@bp.before_request
def _check_input() -> Any:
    """Ids and query values with control characters (`%00`) or absurd lengths never reach the store."""
    malformed = bad_id(request.view_args)
    if malformed is not None:
        return _error_page(404, f"not found: the id {malformed[1]}")
    problems = bad_query(request.args.items(multi=True))
    if problems:
        key, reasons = next(iter(problems.items()))
        return _error_page(400, f"invalid query parameter {key!r}: {reasons[0]}")
    return None


#: Sent with every dashboard page: no framing (clickjacking), no MIME sniffing, no URL leaks to other sites.
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@bp.after_request
def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _csrf_ok() -> bool:
    expected = session.get(SESSION_CSRF, "")
    return bool(expected) and hmac.compare_digest(request.form.get("csrf", ""), expected)


@bp.context_processor
def _context() -> dict[str, Any]:
    principal = g.get("pypeline_principal")
    return {"api_prefix": extension().url_prefix, "csrf_token": csrf_token(), "principal": principal,
            "can_write": principal is not None and principal.scope == "write", "statuses": STATUSES,
            "builtin_auth": isinstance(extension().auth, KeyAuth)}


def _error_page(status: int, message: str) -> tuple[str, int]:
    return render_template("pypeline_error.html", status=status, message=message), status


@bp.errorhandler(PypelineError)
def _on_pypeline_error(exc: PypelineError) -> tuple[str, int]:
    status = 404 if isinstance(exc, NotFoundError) else 400 if isinstance(exc, InvalidInputError) else 500
    return _error_page(status, str(exc))


@bp.errorhandler(HTTPException)
def _on_http_error(exc: HTTPException) -> tuple[str, int]:
    return _error_page(exc.code or 500, exc.description or exc.name)


# ---------------------------------------------------------------------------------------------- login
@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Log in with an API key (built-in key auth only); the key itself is not kept in the session."""
    if not isinstance(extension().auth, KeyAuth):
        abort(404)
    target = request.values.get("next", "")
    if not target.startswith(UI_PREFIX + "/"):  # never redirect off-site
        target = url_for(".runs")
    error = None
    if request.method == "POST":
        if not _csrf_ok():
            # Login CSRF: only a form this dashboard served may log this browser in.
            error = "the login form expired; try again"
        else:
            try:
                info = key_service.verify_key(runtime(), request.form.get("key", ""), "read")
            except AuthError as exc:
                error = str(exc)
            else:
                login_session(info.id)
                return redirect(target)
    return render_template("pypeline_login.html", error=error, next=target, csrf=csrf_token()), \
        401 if error else 200


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    """Forget the dashboard session (only when the form carries the session's CSRF token)."""
    if not _csrf_ok():
        return _error_page(403, "the logout form expired or came from another site; reload the page and try again")
    logout_session()
    return redirect(url_for(".login"))


# ---------------------------------------------------------------------------------------------- pages
def _pipeline_layout(doc: dict[str, Any]) -> Layout:
    return layout_dag(doc["levels"], [tuple(e) for e in doc["edges"]])


@bp.route("/", methods=["GET"])
def runs() -> str:
    """Runs, newest first, with live status; filtered by pipeline, status, origin and tags."""
    pipeline_id = request.args.get("pipeline") or None
    status = request.args.get("status") or None
    origin = request.args.get("origin", "").strip() or None
    tag_text = request.args.get("tag", "")
    tags = [t for t in (part.strip() for part in tag_text.split(",")) if t]
    offset = request.args.get("offset", 0, type=int)  # out of range: the service refuses it (400 page)
    items, total = run_service.list_runs(runtime(), pipeline_id=pipeline_id, status=status, origin=origin, tags=tags,
                                         limit=50, offset=offset)
    return render_template("pypeline_runs.html", runs=items, total=total, pipeline=pipeline_id, status=status,
                           origin=origin or "", tag=",".join(tags), offset=offset, limit=50,
                           pipelines=list(runtime().config.pipelines))


@bp.route("/runs/<run_id>", methods=["GET"])
def run(run_id: str) -> str:
    """One run: its DAG coloured by node state, node timings/errors/retries, events and result."""
    rt = runtime()
    record = run_service.get_run(rt, run_id)
    try:
        doc: dict[str, Any] | None = pipeline_document(rt, record["pipeline_id"])
    except NotFoundError:  # the pipeline was removed from config since the run
        doc = None
    return render_template("pypeline_run.html", run=record, pipeline=doc,
                           layout=_pipeline_layout(doc) if doc else None, states=node_states(record["nodes"]),
                           events=run_service.run_events(rt, run_id))


@bp.route("/pipelines/", methods=["GET"])
def pipelines() -> str:
    """Declared pipelines with their run counts."""
    rt = runtime()
    docs = pipeline_documents(rt)
    counts = {d["id"]: run_service.list_runs(rt, pipeline_id=d["id"], limit=1)[1] for d in docs}
    return render_template("pypeline_pipelines.html", pipelines=docs, counts=counts)


@bp.route("/pipelines/<pipeline_id>", methods=["GET"])
def pipeline(pipeline_id: str) -> str:
    """A pipeline: its DAG, nodes, recent runs and a form to start a run."""
    rt = runtime()
    doc = pipeline_document(rt, pipeline_id)
    recent, total = run_service.list_runs(rt, pipeline_id=pipeline_id, limit=10)
    return render_template("pypeline_pipeline.html", pipeline=doc, layout=_pipeline_layout(doc), runs=recent,
                           total=total)


@bp.route("/schedules/", methods=["GET"])
def schedules() -> str:
    """Schedules with enable/disable switches."""
    return render_template("pypeline_schedules.html", schedules=schedule_service.list_schedules(runtime()))


@bp.route("/batches/", methods=["GET"])
def batches() -> str:
    """Batch runs, newest first, with their chunk progress; and the batches declared in config."""
    rt = runtime()
    offset = request.args.get("offset", 0, type=int)  # out of range: the service refuses it (400 page)
    items, total = batch_service.list_batch_runs(rt, limit=50, offset=offset)
    return render_template("pypeline_batches.html", batch_runs=items, total=total, offset=offset, limit=50,
                           declared=sorted(rt.config.batches))


@bp.route("/batches/<batch_run_id>", methods=["GET"])
def batch_run(batch_run_id: str) -> str:
    """One batch run: progress, its chunks and their runs, stop/resume."""
    rt = runtime()
    record = batch_service.batch_status(rt, batch_run_id)
    chunks = batch_service.batch_chunks(rt, batch_run_id, limit=500)
    return render_template("pypeline_batch.html", batch=record, chunks=chunks)
