/* Pypeline dashboard: polls the JSON API and updates the server-rendered pages in place. No build step. */
(function () {
  "use strict";
  var API = document.querySelector('meta[name="pypeline-api"]').content;
  var CSRF = document.querySelector('meta[name="pypeline-csrf"]').content;
  var UI = API.replace(/\/api\/v1$/, "") + "/ui";
  var page = document.body.dataset.page;

  function api(path, options) {
    options = options || {};
    var headers = {"Accept": "application/json", "X-Pypeline-CSRF": CSRF};
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(API + path, {method: options.method || "GET", headers: headers, credentials: "same-origin",
                              body: options.body === undefined ? undefined : JSON.stringify(options.body)})
      .then(function (resp) {
        return resp.json().catch(function () { return {}; }).then(function (data) {
          if (!resp.ok) {
            var err = new Error((data && data.message) || ("HTTP " + resp.status));
            err.status = resp.status; err.data = data; throw err;
          }
          return data;
        });
      });
  }

  function flash(message, ok) {
    var box = document.getElementById("flash");
    if (!box) return;
    box.textContent = message; box.hidden = !message; box.className = "flash" + (ok ? " ok" : "");
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k]; else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }

  function badge(status) { return el("span", {"class": "badge st-" + status, text: status.toLowerCase()}); }

  function fmtTime(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString();
  }

  function fmtDuration(start, end) {
    if (!start) return "";
    var s = ((end ? new Date(end) : new Date()) - new Date(start)) / 1000;
    if (s < 0) s = 0;
    return s < 60 ? s.toFixed(2) + "s" : Math.floor(s / 60) + "m " + Math.round(s % 60) + "s";
  }

  function localiseTimes(root) {
    (root || document).querySelectorAll(".ts[data-ts]").forEach(function (n) { n.textContent = fmtTime(n.dataset.ts); });
    (root || document).querySelectorAll(".dur[data-start]").forEach(function (n) {
      n.textContent = fmtDuration(n.dataset.start, n.dataset.end);
    });
  }

  /* Call fn repeatedly; fn returns (a promise of) the delay in ms before the next call. */
  function poll(fn, firstMs) {
    function tick() {
      Promise.resolve(fn()).then(function (nextMs) { setTimeout(tick, nextMs); }, function (err) {
        flash("Live update failed: " + err.message);
        setTimeout(tick, 5000);
      });
    }
    setTimeout(tick, firstMs);
  }

  /* ---------------------------------------------------------------- runs list */
  function runsPage() {
    var b = document.body.dataset, tbody = document.querySelector("#runs-table tbody");
    var q = "?limit=" + b.limit + "&offset=" + b.offset;
    if (b.filterPipeline) q += "&pipeline_id=" + encodeURIComponent(b.filterPipeline);
    if (b.filterStatus) q += "&status=" + encodeURIComponent(b.filterStatus);
    if (b.filterOrigin) q += "&origin=" + encodeURIComponent(b.filterOrigin);
    (b.filterTag || "").split(",").filter(Boolean).forEach(function (t) { q += "&tag=" + encodeURIComponent(t); });
    poll(function () {
      return api("/runs/" + q).then(function (page) {
        document.getElementById("runs-total").textContent = page.total;
        tbody.replaceChildren.apply(tbody, page.items.length ? page.items.map(function (r) {
          return el("tr", {"data-run": r.id}, [
            el("td", {}, [el("a", {href: UI + "/runs/" + encodeURIComponent(r.id)}, [el("code", {text: r.id.slice(0, 8)})])]),
            el("td", {}, [el("a", {href: UI + "/pipelines/" + encodeURIComponent(r.pipeline_id), text: r.pipeline_id})]),
            el("td", {}, [badge(r.status)]),
            el("td", {text: String(r.attempt)}),
            el("td", {text: (r.nodes_total - r.nodes_left) + "/" + r.nodes_total}),
            el("td", {text: r.origin || ""}),
            el("td", {"class": "tags"}, (r.tags || []).map(function (t) { return el("span", {"class": "tag", text: t}); })),
            el("td", {text: fmtTime(r.created_at)}),
            el("td", {text: fmtDuration(r.started_at, r.finished_at)})
          ]);
        }) : [el("tr", {"class": "empty"}, [el("td", {colspan: "9", text: "No runs yet."})])]);
        return 2000;
      });
    }, 2000);
  }

  /* ---------------------------------------------------------------- one run */
  /* Run statuses from which each control action is allowed (mirrors pypeline.status.RUN_TRANSITIONS). */
  var ACTIONS = {cancel: ["PENDING", "QUEUED", "RUNNING", "PAUSED"], pause: ["RUNNING"], resume: ["PAUSED"],
                 retry: ["FAILED", "CANCELLED"]};
  var ORDER = ["FAILED", "RUNNING", "RETRYING", "QUEUED", "PENDING", "CANCELLED", "SKIPPED", "SUCCESS"];

  function nodeStates(nodes) {
    var plain = {}, inst = {};
    nodes.forEach(function (n) {
      if (n.instance) (inst[n.node] = inst[n.node] || []).push(n); else plain[n.node] = n;
    });
    var out = {};
    Object.keys(plain).concat(Object.keys(inst)).forEach(function (name) {
      var list = inst[name] || [], base = plain[name];
      if (!base) base = list.slice().sort(function (a, b) { return ORDER.indexOf(a.status) - ORDER.indexOf(b.status); })[0];
      out[name] = {status: base.status, duration: base.duration, instances: list.length,
                   done: list.filter(function (r) { return r.status === "SUCCESS"; }).length};
    });
    return out;
  }

  function renderRun(run) {
    var status = document.getElementById("run-status");
    status.className = "badge st-" + run.status; status.textContent = run.status.toLowerCase();
    document.getElementById("run-attempt").textContent = run.attempt;
    document.getElementById("run-progress").textContent = (run.nodes_total - run.nodes_left) + "/" + run.nodes_total + " nodes";
    var fin = document.getElementById("run-finished"); fin.textContent = fmtTime(run.finished_at);
    var err = document.getElementById("run-error");
    err.hidden = !run.error;
    err.textContent = run.error ? "Failed at " + run.failed_node + ": " + run.error : "";
    document.getElementById("run-result").textContent = run.result === null || run.result === undefined ? "" : JSON.stringify(run.result, null, 2);
    var states = nodeStates(run.nodes);
    document.querySelectorAll("svg.dag g.node").forEach(function (g) {
      var st = states[g.dataset.node];
      if (!st) return;
      g.setAttribute("class", "node st-" + st.status);
      var meta = st.status.toLowerCase();
      if (st.duration !== null && st.duration !== undefined) meta += " · " + st.duration.toFixed(2) + "s";
      if (st.instances) meta += " · " + st.done + "/" + st.instances;
      g.querySelector("text.meta").textContent = meta;
    });
    var tbody = document.querySelector("#nodes-table tbody");
    tbody.replaceChildren.apply(tbody, run.nodes.map(function (n) {
      var detail = n.error ? el("span", {"class": "error-text", text: n.error}) : el("code", {text: n.result_summary || ""});
      return el("tr", {"data-node": n.node, "data-instance": n.instance}, [
        el("td", {text: n.node + (n.instance ? "[" + n.instance + "]" : "")}),
        el("td", {}, [badge(n.status)]),
        el("td", {text: String(n.attempts)}), el("td", {text: String(n.retries)}),
        el("td", {text: fmtTime(n.started_at)}), el("td", {text: fmtTime(n.finished_at)}),
        el("td", {text: n.duration === null || n.duration === undefined ? "" : n.duration.toFixed(3) + "s"}),
        el("td", {"class": "detail"}, [detail])
      ]);
    }));
    document.querySelectorAll("#run-actions button").forEach(function (btn) {
      btn.disabled = ACTIONS[btn.dataset.action].indexOf(run.status) < 0;
    });
    document.body.dataset.terminal = run.terminal ? "true" : "false";
  }

  function refreshEvents(runId) {
    return api("/runs/" + encodeURIComponent(runId) + "/events").then(function (events) {
      var ul = document.getElementById("events");
      ul.replaceChildren.apply(ul, events.length ? events.map(function (e) {
        var parts = [el("span", {text: fmtTime(e.created_at) + " "}), el("b", {text: e.name})];
        if (e.node) parts.push(" on " + e.node);
        if (e.data !== null && e.data !== undefined) parts.push(" ", el("code", {text: JSON.stringify(e.data)}));
        return el("li", {}, parts);
      }) : [el("li", {"class": "empty", text: "No events."})]);
    });
  }

  /* Follow a run's captured node output: append new chunks (cursor `next`) until the run is finished. */
  function followLogs(runId) {
    var pre = document.getElementById("run-logs"), select = document.getElementById("logs-node");
    var live = document.getElementById("logs-live");
    if (!pre) return;
    var cursor = 0, last = null, generation = 0;
    function reset() { cursor = 0; last = null; generation += 1; pre.textContent = ""; }
    select.addEventListener("change", reset);
    poll(function () {
      var mine = generation, q = "?after=" + cursor + (select.value ? "&node=" + encodeURIComponent(select.value) : "");
      return api("/runs/" + encodeURIComponent(runId) + "/logs" + q).then(function (page) {
        if (mine !== generation) return 0;
        page.items.forEach(function (item) {
          var key = item.node + "[" + item.instance + "]#" + item.attempt;
          if (key !== last) {
            pre.appendChild(document.createTextNode("==> " + item.node + (item.instance ? "[" + item.instance + "]" : "") +
                                                    " (attempt " + item.attempt + ") <==\n"));
            last = key;
          }
          pre.appendChild(document.createTextNode(item.text));
        });
        cursor = page.next;
        live.hidden = page.terminal;
        return page.items.length ? 200 : (page.terminal ? 5000 : 1000);
      });
    }, 200);
  }

  function runPage() {
    var runId = document.body.dataset.run, wasTerminal = document.body.dataset.terminal === "true";
    followLogs(runId);
    var refresh = function () {
      return api("/runs/" + encodeURIComponent(runId)).then(function (run) { renderRun(run); return run; });
    };
    // Fast polling while the run is live, slow once it is finished (a retry or resume makes it live again).
    poll(function () {
      return refresh().then(function (run) {
        var events = run.terminal && !wasTerminal ? refreshEvents(runId) : null;
        wasTerminal = run.terminal;
        return Promise.resolve(events).then(function () { return run.terminal ? 5000 : 700; });
      });
    }, 500);
    document.querySelectorAll("#run-actions button").forEach(function (btn) {
      btn.addEventListener("click", function () {
        btn.disabled = true;
        api("/runs/" + encodeURIComponent(runId) + "/" + btn.dataset.action, {method: "POST", body: {}})
          .then(function () { flash(btn.dataset.action + ": done", true); return refresh(); })
          .then(function () { return refreshEvents(runId); })
          .catch(function (e) { flash(btn.dataset.action + " failed: " + e.message); btn.disabled = false; });
      });
    });
  }

  /* ---------------------------------------------------------------- one pipeline */
  function pipelinePage() {
    var button = document.getElementById("run-button");
    if (!button) return;
    button.addEventListener("click", function () {
      var text = document.getElementById("payload").value.trim(), payload;
      try { payload = text ? JSON.parse(text) : null; } catch (e) { flash("chain_payload is not valid JSON: " + e.message); return; }
      var tagBox = document.getElementById("run-tags");
      var tags = tagBox ? tagBox.value.split(",").map(function (t) { return t.trim(); }).filter(Boolean) : [];
      button.disabled = true;
      api("/pipelines/" + encodeURIComponent(document.body.dataset.pipeline) + "/invoke",
          {method: "POST", body: {chain_payload: payload, tags: tags}})
        .then(function (resp) { window.location.href = UI + "/runs/" + encodeURIComponent(resp.run_id); })
        .catch(function (e) { flash("Could not start the run: " + e.message); button.disabled = false; });
    });
  }

  /* ---------------------------------------------------------------- schedules */
  function schedulesPage() {
    document.querySelectorAll("button[data-schedule]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        var enable = btn.dataset.enabled !== "true";
        btn.disabled = true;
        api("/schedules/" + encodeURIComponent(btn.dataset.schedule) + "/" + (enable ? "enable" : "disable"), {method: "POST", body: {}})
          .then(function (doc) {
            var next = btn.closest("tr").querySelector(".next-run");
            if (next) next.textContent = fmtTime(doc.nextRunAt);
            btn.dataset.enabled = enable ? "true" : "false";
            btn.textContent = enable ? "enabled" : "disabled";
            btn.className = "switch" + (enable ? " on" : "");
            flash("Schedule " + btn.dataset.schedule + (enable ? " enabled" : " disabled"), true);
          })
          .catch(function (e) { flash("Could not change the schedule: " + e.message); })
          .then(function () { btn.disabled = false; });
      });
    });
  }

  /* ---------------------------------------------------------------- one batch run */
  function batchPage() {
    var id = document.body.dataset.batchRun;
    function render(b) {
      var status = document.getElementById("batch-status");
      status.className = "badge st-" + b.status; status.textContent = b.status.toLowerCase();
      document.getElementById("batch-keys").textContent = b.keys_listed + (b.listing_done ? "" : "+");
      document.getElementById("batch-chunks").textContent = b.chunks_succeeded + " succeeded · " + b.chunks_failed +
        " failed · " + b.chunks_running + " running · " + b.chunks_dispatched + " dispatched";
      var bar = document.getElementById("batch-progress");
      bar.max = Math.max(b.chunks_dispatched, 1); bar.value = b.chunks_succeeded + b.chunks_failed + b.chunks_cancelled;
      var err = document.getElementById("batch-error"); err.hidden = !b.error; err.textContent = b.error || "";
      document.querySelectorAll("#batch-actions button").forEach(function (btn) {
        btn.disabled = btn.dataset.action === "stop" ? b.status !== "RUNNING"
                                                     : ["PAUSED", "FAILED", "CANCELLED"].indexOf(b.status) < 0;
      });
      return b;
    }
    function refreshChunks() {
      return api("/batch-runs/" + encodeURIComponent(id) + "/chunks?limit=500").then(function (chunks) {
        var tbody = document.querySelector("#chunks-table tbody");
        tbody.replaceChildren.apply(tbody, chunks.length ? chunks.map(function (c) {
          return el("tr", {"data-chunk": String(c.chunk)}, [
            el("td", {text: String(c.chunk)}),
            el("td", {}, [el("a", {href: UI + "/runs/" + encodeURIComponent(c.run_id)}, [el("code", {text: c.run_id.slice(0, 8)})])]),
            el("td", {text: String(c.key_count)}), el("td", {}, [el("code", {text: c.first_key || ""})]),
            el("td", {}, [el("code", {text: c.last_key || ""})]), el("td", {}, [badge(c.status)])
          ]);
        }) : [el("tr", {"class": "empty"}, [el("td", {colspan: "6", text: "No chunks yet."})])]);
      });
    }
    var refresh = function () { return api("/batch-runs/" + encodeURIComponent(id)).then(render); };
    poll(function () {
      return refresh().then(function (b) { return refreshChunks().then(function () { return b.terminal ? 5000 : 1000; }); });
    }, 1000);
    document.querySelectorAll("#batch-actions button").forEach(function (btn) {
      btn.addEventListener("click", function () {
        btn.disabled = true;
        api("/batch-runs/" + encodeURIComponent(id) + "/" + btn.dataset.action, {method: "POST", body: {}})
          .then(function (b) { flash(btn.dataset.action + ": done", true); render(b); return refreshChunks(); })
          .catch(function (e) { flash(btn.dataset.action + " failed: " + e.message); btn.disabled = false; });
      });
    });
  }

  localiseTimes();
  if (page === "runs") runsPage();
  else if (page === "batch") batchPage();
  else if (page === "run") runPage();
  else if (page === "pipeline") pipelinePage();
  else if (page === "schedules") schedulesPage();
})();
