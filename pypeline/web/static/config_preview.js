/* Config page: validate the edited YAML on the server (debounced), mark errors by line, draw each pipeline's DAG. */
(function () {
  "use strict";
  var API = document.querySelector('meta[name="pypeline-api"]').content;
  var CSRF = document.querySelector('meta[name="pypeline-csrf"]').content;
  var SVG = "http://www.w3.org/2000/svg";
  var DEBOUNCE_MS = 400;
  var editor = document.getElementById("config-text");
  var lines = document.getElementById("config-lines");
  var status = document.getElementById("config-status");
  var list = document.getElementById("config-errors");
  var dags = document.getElementById("config-dags");
  var timer = null, sequence = 0;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svgEl(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /* The same drawing as the pypeline_dag.html macro, from the layout the API computed (pypeline.services.layout). */
  function drawDag(graph, index) {
    var layout = graph.layout, marker = "arrow-preview-" + index;
    var svg = svgEl("svg", {"class": "dag", viewBox: "0 0 " + Math.round(layout.width) + " " + Math.round(layout.height),
                            width: Math.round(layout.width), height: Math.round(layout.height), role: "img",
                            "aria-label": "graph of " + graph.id, "data-pipeline": graph.id});
    var defs = svgEl("defs");
    var arrow = svgEl("marker", {id: marker, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7,
                                 orient: "auto"});
    arrow.appendChild(svgEl("path", {d: "M0,0 L10,5 L0,10 z", "class": "arrowhead"}));
    defs.appendChild(arrow); svg.appendChild(defs);
    layout.edges.forEach(function (e) {
      svg.appendChild(svgEl("path", {"class": "edge", d: e.d, "marker-end": "url(#" + marker + ")",
                                     "data-source": e.source, "data-target": e.target}));
    });
    layout.boxes.forEach(function (b) {
      var g = svgEl("g", {"class": "node st-NONE", "data-node": b.name});
      g.appendChild(svgEl("title", {}, b.name));
      g.appendChild(svgEl("rect", {x: b.x.toFixed(1), y: b.y.toFixed(1), width: b.w.toFixed(1), height: b.h.toFixed(1),
                                   rx: 7}));
      g.appendChild(svgEl("text", {"class": "name", x: (b.x + b.w / 2).toFixed(1), y: (b.y + 19).toFixed(1)}, b.label));
      var handler = graph.handlers[b.name] || "", target = (graph.subpipelines || {})[b.name];
      g.appendChild(svgEl("text", {"class": "meta", x: (b.x + b.w / 2).toFixed(1), y: (b.y + 36).toFixed(1)},
                          target ? "pipeline " + target : handler.split(".").pop()));
      svg.appendChild(g);
    });
    var box = el("div", {"class": "dag-wrap"});
    box.appendChild(el("h3", {}, graph.name + " "));
    box.firstChild.appendChild(el("code", {}, graph.id));
    box.appendChild(svg);
    return box;
  }

  function markLines(text, errors) {
    var byLine = {};
    errors.forEach(function (e) { if (e.line) (byLine[e.line] = byLine[e.line] || []).push(e); });
    var items = text.split("\n").map(function (content, i) {
      var n = i + 1, found = byLine[n];
      var li = el("li", {"data-line": n, "class": found ? "has-error" : ""}, content || " ");
      if (found) li.title = found.map(function (e) { return e.code + " " + e.message; }).join("\n");
      return li;
    });
    lines.replaceChildren.apply(lines, items);
  }

  function show(result, text) {
    markLines(text, result.errors);
    list.replaceChildren.apply(list, result.errors.map(function (e) {
      var where = e.line ? "line " + e.line + (e.column ? ":" + e.column : "") : "file";
      var li = el("li", {"class": "config-error", "data-line": e.line || "", "data-code": e.code});
      li.appendChild(el("span", {"class": "where"}, where));
      li.appendChild(el("code", {}, e.code + " " + e.name));
      li.appendChild(document.createTextNode(" " + (e.key_path ? "[" + e.key_path + "] " : "") + e.message));
      return li;
    }));
    status.textContent = result.valid ? "valid: " + result.pipelines.length + " pipeline(s)"
                                      : result.errors.length + " error(s)";
    status.className = result.valid ? "ok-text" : "error-text";
    dags.replaceChildren.apply(dags, result.pipelines.map(drawDag));
  }

  function check() {
    var text = editor.value, mine = ++sequence;
    status.textContent = "checking…";
    fetch(API + "/config/validate", {
      method: "POST", credentials: "same-origin", body: JSON.stringify({text: text}),
      headers: {"Accept": "application/json", "Content-Type": "application/json", "X-Pypeline-CSRF": CSRF}
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok) throw new Error((data && data.message) || ("HTTP " + resp.status));
        return data;
      });
    }).then(function (result) {
      if (mine === sequence) show(result, text);  // a slower answer to an older text is dropped
    }).catch(function (err) {
      if (mine === sequence) { status.textContent = "could not check: " + err.message; status.className = "error-text"; }
    });
  }

  editor.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(check, DEBOUNCE_MS);
  });
  check();
})();
