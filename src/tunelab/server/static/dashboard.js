// tunelab dashboard: draws the page named in window.TUNELAB.page from the REST API (or, in a
// self-contained report, from window.TUNELAB.data). Live pages poll /version every second and
// redraw what changed, without a reload.
"use strict";
const T = window.TUNELAB || {};
const REPORT = !!T.data;
const POLL_MS = 1000;

function takeTokenFromHash() {  // address#token=...: kept for this tab, off the address bar
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    sessionStorage.setItem("tunelab-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return !!m;
}
takeTokenFromHash();
window.addEventListener("hashchange", () => { if (takeTokenFromHash()) location.reload(); });
function token() { return T.token || sessionStorage.getItem("tunelab-token") || ""; }

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, opts) {
  if (REPORT) {
    if (path in T.data) return T.data[path];
    const bare = path.split("?")[0];
    if (bare in T.data) return T.data[bare];
    throw new ApiError(404, "not included in this report");
  }
  const init = Object.assign({}, opts || {});
  init.headers = Object.assign({"X-Tunelab-Token": token()}, init.headers || {});
  const r = await fetch("/api/v1" + path, init);
  if (!r.ok) {
    let msg = r.statusText, detail = null;
    try {
      const b = await r.json();
      detail = b.detail;
      msg = typeof detail === "string" ? detail : (detail && detail.message) || JSON.stringify(detail);
    } catch (e) { /* not JSON */ }
    const err = new ApiError(r.status, msg);
    err.detail = detail;  // a form's errors by field (the training page)
    throw err;
  }
  return r.json();
}

function esc(v) {
  return String(v === null || v === undefined ? "" : v).replace(/[&<>"']/g,
    c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}
function fmt(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(5).replace(/\.?0+$/, "");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}
function when(t) { return t ? new Date(t * 1000).toLocaleString() : "—"; }
function dur(s) {
  if (s === null || s === undefined) return "—";
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? `${h}h ${m}m` : m ? `${m}m ${r}s` : `${r}s`;
}
const jobUrl = n => "/jobs/" + encodeURIComponent(n);
const jobApi = n => "/jobs/" + encodeURIComponent(n);
const main = document.getElementById("main");
const LAYOUT = {margin: {l: 55, r: 15, t: 36, b: 44}, height: 320, font: {size: 12},
                paper_bgcolor: "#fff", plot_bgcolor: "#fafafa",
                legend: {orientation: "h", x: 0, y: 1.02, yanchor: "bottom"}};
const CONFIG = {responsive: true, displaylogo: false};
function layout(extra) {
  const out = Object.assign({}, LAYOUT, extra || {});
  out.xaxis = Object.assign({zeroline: false}, out.xaxis || {});
  return out;
}
function plot(id, traces, extra) {
  const el = document.getElementById(id);
  if (el) Plotly.react(el, traces, layout(extra), CONFIG);
}
function note(id, text) {
  const el = document.getElementById(id);
  if (el) { Plotly.purge(el); el.innerHTML = `<p class="muted">${esc(text)}</p>`; }
}
function showError(e) {
  const box = document.getElementById("error") || main;
  box.innerHTML = `<p class="error">${esc(e.status ? e.status + ": " : "")}${esc(e.message)}</p>`;
}
function badge(status) { return `<span class="badge s-${esc(status)}">${esc(status)}</span>`; }
function countsText(c) { return Object.entries(c || {}).map(([k, v]) => `${v} ${k}`).join(", ") || "none"; }

// ---------------------------------------------------------------------------------- jobs page
async function jobsPage() {
  main.innerHTML = `<h2>Jobs</h2><div id="error"></div>
    <div class="controls"><label>status <select id="status-filter"><option value="">all</option>
    ${["running", "completed", "stopped", "failed", "interrupted", "created"].map(s => `<option>${s}</option>`).join("")}
    </select></label> <button id="compare-btn" disabled>Compare selected</button></div>
    <table id="jobs-table" class="grid"><thead><tr><th></th><th>name</th><th>status</th><th>strategy</th>
    <th>objective</th><th>best</th><th>trials by state</th><th>device-hours</th><th>started</th>
    <th>duration</th></tr></thead><tbody></tbody></table>`;
  const chosen = new Set();
  const btn = document.getElementById("compare-btn");
  btn.onclick = () => {
    location.href = "/compare?" + [...chosen].map(n => "jobs=" + encodeURIComponent(n)).join("&");
  };
  async function draw() {
    const st = document.getElementById("status-filter").value;
    const jobs = await api("/jobs" + (st ? "?status=" + st : ""));
    const body = document.querySelector("#jobs-table tbody");
    body.innerHTML = jobs.map(j => {
      const end = j.ended_at || (j.status === "running" ? Date.now() / 1000 : j.updated_at);
      return `<tr data-job="${esc(j.name)}"><td><input type="checkbox" class="pick" value="${esc(j.name)}" ${chosen.has(j.name) ? "checked" : ""}></td>
      <td><a href="${jobUrl(j.name)}">${esc(j.name)}</a></td><td>${badge(j.status)}</td>
      <td>${esc(j.strategy)}</td><td>${esc(j.goal)} ${esc(j.metric)}</td><td>${fmt(j.best)}</td>
      <td>${esc(countsText(j.counts))}</td><td>${fmt(j.device_hours)}</td><td>${when(j.created_at)}</td>
      <td>${dur(end - j.created_at)}</td></tr>`;
    }).join("") || `<tr><td colspan="10" class="muted">no jobs in this store</td></tr>`;
    body.querySelectorAll(".pick").forEach(cb => cb.onchange = () => {
      cb.checked ? chosen.add(cb.value) : chosen.delete(cb.value);
      btn.disabled = chosen.size < 2 || chosen.size > 5;
    });
  }
  document.getElementById("status-filter").onchange = () => draw().catch(showError);
  await draw();
  if (!REPORT) setInterval(() => draw().catch(showError), 2000);
}

// ----------------------------------------------------------------------------------- job page
const CHARTS = ["history", "curves", "parallel", "importance", "lineage", "rungs", "device"];

async function jobPage() {
  const name = T.job;
  main.innerHTML = `<div id="error"></div><section id="head"></section>
    <section><h3>Leaderboard</h3><div class="controls" id="lb-controls"></div>
    <table id="leaderboard" class="grid"></table><div id="lb-pager" class="controls"></div></section>
    <div class="charts">
    <section><h3>Optimisation history</h3><div id="chart-history" class="chart"></div></section>
    <section><h3>Learning curves <select id="metric-pick"></select></h3><div id="chart-curves" class="chart"></div></section>
    <section><h3>Parallel coordinates</h3><div id="chart-parallel" class="chart"></div></section>
    <section><h3>Parameter importance</h3><div id="chart-importance" class="chart"></div><p id="importance-note" class="muted"></p></section>
    <section class="wide"><h3>Slice plots</h3><div id="slices" class="slices"></div></section>
    <section><h3>PBT lineage (who copied whom)</h3><div id="chart-lineage" class="chart"></div></section>
    <section><h3>Hyperband / early-stopping rungs</h3><div id="chart-rungs" class="chart"></div></section>
    <section><h3>Device-hours</h3><div id="chart-device" class="chart"></div></section>
    <section><h3>Diagnosis</h3><div id="diagnosis"></div></section>
    </div>`;
  const S = {name, head: null, sort: "value", desc: false, state: "", offset: 0, limit: 50,
             metric: null, curves: new Map(), cursor: 0, decisions: [], points: [],
             version: null, importanceKey: null, busy: false, stop: "idle"};
  try {
    await refreshAll(S);
  } catch (e) { showError(e); return; }
  if (!REPORT) setInterval(() => poll(S), POLL_MS);
}

async function poll(S) {
  if (S.busy) return;
  S.busy = true;
  try {
    const v = await api(jobApi(S.name) + "/version");
    if (v.token !== S.version) { await refreshAll(S, v); }
  } catch (e) { showError(e); } finally { S.busy = false; }
}

// Milliseconds each step of the first draw took (read by bench/ui_load.py).
const FIRST_DRAW = {};
async function timed(name, step) {
  const t0 = performance.now();
  const out = await step();
  if (!document.body.dataset.firstDrawnMs) FIRST_DRAW[name] = Math.round(performance.now() - t0);
  return out;
}

async function refreshAll(S, v) {
  const n = jobApi(S.name);
  // the version is read before the data it names: a change made while the page draws moves
  // it past what was drawn, so the next poll redraws (read after drawing, it could hide one)
  const version = v || (REPORT ? {token: "report"} : await timed("version", () => api(n + "/version")));
  const [head, points, decisions] = await timed("fetch", () => Promise.all([
    api(n), api(n + "/points"), api(n + "/decisions")]));
  S.head = head; S.points = points; S.decisions = decisions;
  if (!S.metric) S.metric = head.metric;
  await timed("head", () => drawHead(S));
  await timed("leaderboard", () => drawLeaderboard(S));
  await timed("history", () => drawHistory(S));
  await timed("curves", () => drawCurves(S));
  await timed("parallel", () => drawParallel(S));
  await timed("slices", () => drawSlices(S));
  await timed("lineage", () => drawLineage(S));
  await timed("rungs", () => drawRungs(S));
  await timed("device", () => drawDevice(S));
  await timed("diagnosis", () => drawDiagnosis(S));
  drawImportance(S).catch(showError);  // a forest fit: never holds the rest of the page up
  S.version = version.token;
  document.body.dataset.drawn = String(Date.now());
  if (!document.body.dataset.firstDrawnMs) {
    document.body.dataset.firstDrawnMs = String(performance.now());
    document.body.dataset.firstDrawSteps = JSON.stringify(FIRST_DRAW);
  }
  loadAllCurves(S);
}

function drawHead(S) {
  const h = S.head, lim = h.limits || {};
  const best = h.best_trial;
  const params = best ? Object.entries(best.params).map(([k, v]) => `<code>${esc(k)}=${esc(fmt(v))}</code>`).join(" ") : "";
  const budget = [];
  if (lim.max_trials) budget.push(`trials ${h.trials} / ${lim.max_trials}`);
  else budget.push(`trials ${h.trials}`);
  if (lim.max_runtime) budget.push(`runtime ${dur(h.runtime_seconds)} / ${esc(lim.max_runtime)}`);
  else budget.push(`runtime ${dur(h.runtime_seconds)}`);
  const live = h.status === "running" && !REPORT;
  if (live && S.shownStatus && S.shownStatus !== "running") S.stop = "idle";  // resumed: stoppable again
  S.shownStatus = h.status;
  if (h.stop_requested) S.stop = "sent";
  const stopText = {idle: "Stop job", armed: "Confirm stop", sent: "Stop requested"}[S.stop || "idle"];
  document.getElementById("head").innerHTML = `<h2>${esc(h.name)} ${badge(h.status)}
    ${live ? `<button id="stop-btn" class="danger" ${S.stop === "sent" ? "disabled" : ""}>${stopText}</button>` : ""}</h2>
    ${h.status_reason ? `<p class="muted">${esc(h.status_reason)}</p>` : ""}
    <dl class="facts"><dt>objective</dt><dd>${esc(h.goal)} ${esc(h.metric)}</dd>
    <dt>strategy</dt><dd>${esc(h.strategy)}</dd>
    <dt>best</dt><dd id="best-value">${best ? `${fmt(best.value)} (<a href="${jobUrl(h.name)}/trials/${best.number}">trial ${best.number}</a>) ${params}` : "—"}</dd>
    <dt>budget</dt><dd>${esc(budget.join(" · "))}</dd>
    <dt>trials</dt><dd id="trial-counts">${esc(countsText(h.counts))}</dd>
    <dt>device-hours</dt><dd>${fmt(h.device_hours)} (${h.epochs} epochs reported)</dd>
    <dt>started</dt><dd>${when(h.created_at)}</dd></dl>
    ${h.data && h.data.message ? `<p class="muted">data: ${esc(h.data.message)}</p>` : ""}
    ${REPORT ? "" : `<p><a href="/api/v1${jobApi(h.name)}/model.zip" id="model-link">download the best model (zip)</a></p>`}`;
  const link = document.getElementById("model-link");
  if (link) link.onclick = ev => { ev.preventDefault(); download(link.getAttribute("href")); };
  const btn = document.getElementById("stop-btn");
  if (btn && S.stop !== "sent") {
    btn.onclick = async () => {  // two clicks: the state survives the live redraws
      if (S.stop !== "armed") { S.stop = "armed"; btn.textContent = "Confirm stop"; return; }
      S.stop = "sent"; btn.disabled = true; btn.textContent = "Stop requested";
      try {
        await api(jobApi(h.name) + "/stop", {method: "POST"});
      } catch (e) { S.stop = "idle"; showError(e); btn.disabled = false; btn.textContent = "Stop job"; }
    };
  }
}

async function download(href) {
  try {
    const r = await fetch(href, {headers: {"X-Tunelab-Token": token()}});
    if (!r.ok) { const b = await r.json(); throw new ApiError(r.status, b.detail); }
    const url = URL.createObjectURL(await r.blob());
    const a = document.createElement("a");
    a.href = url; a.download = (href.split("/").slice(-2, -1)[0] || "model") + "-model.zip";
    document.body.appendChild(a); a.click(); a.remove();
  } catch (e) { showError(e); }
}

async function drawLeaderboard(S) {
  const h = S.head;
  const qs = new URLSearchParams({sort: S.sort, descending: S.desc, offset: S.offset, limit: S.limit});
  if (S.state) qs.set("state", S.state);
  const filtering = Object.keys(S.filters || {}).length > 0;
  const page = filtering ? filteredPage(S) : await api(jobApi(S.name) + "/trials?" + qs.toString());
  const params = Object.keys(h.search_space || {}).slice(0, 8);
  const cols = [["number", "#"], ["state", "state"], ["value", h.metric], ["steps", "steps"],
                ["device_seconds", "device s"]];
  const arrow = k => S.sort === k ? (S.desc ? " ▼" : " ▲") : "";
  const table = document.getElementById("leaderboard");
  table.innerHTML = `<thead><tr><th>rank</th>${cols.map(([k, t]) => `<th class="sortable" data-sort="${k}">${esc(t)}${arrow(k)}</th>`).join("")}
    ${params.map(p => `<th>${esc(p)}</th>`).join("")}<th>error</th></tr></thead><tbody>
    ${page.rows.map(r => `<tr class="${h.best_trial && h.best_trial.number === r.number ? "best" : ""}">
      <td>${fmt(r.rank)}</td><td><a href="${jobUrl(h.name)}/trials/${r.number}">${r.number}</a></td><td>${badge(r.state)}</td>
      <td>${fmt(r.value)}</td><td>${fmt(r.steps)}</td><td>${fmt(r.device_seconds)}</td>
      ${params.map(p => `<td>${esc(fmt(r.params[p]))}</td>`).join("")}
      <td class="err">${esc((r.error || "").slice(0, 80))}</td></tr>`).join("")}</tbody>`;
  table.dataset.rows = String(page.rows.length);
  table.dataset.total = String(page.total);
  if (!REPORT) {
    table.querySelectorAll("th.sortable").forEach(th => th.onclick = () => {
      const k = th.dataset.sort;
      if (S.sort === k) S.desc = !S.desc; else { S.sort = k; S.desc = false; }
      S.offset = 0;
      drawLeaderboard(S).catch(showError);
    });
    const ctl = document.getElementById("lb-controls");
    if (!ctl.dataset.ready) {
      ctl.dataset.ready = "1";
      ctl.innerHTML = `<label>state <select id="state-filter"><option value="">all</option>
        ${["running", "completed", "pruned", "paused", "failed", "timed_out", "stopped", "pending", "lost"].map(s => `<option>${s}</option>`).join("")}</select></label>`;
      document.getElementById("state-filter").onchange = ev => {
        S.state = ev.target.value; S.offset = 0; drawLeaderboard(S).catch(showError);
      };
      ctl.insertAdjacentHTML("beforeend", `<span id="param-filters">${params.map(p => {
        const sp = h.search_space[p] || {};
        if (sp.type === "choice") return `<label>${esc(p)} <select data-p="${esc(p)}" data-b="eq"><option value="">any</option>${(sp.values || []).map(v => `<option value="${esc(JSON.stringify(v))}">${esc(fmt(v))}</option>`).join("")}</select></label>`;
        return `<label>${esc(p)} <input data-p="${esc(p)}" data-b="lo" size="6" placeholder="min"> – <input data-p="${esc(p)}" data-b="hi" size="6" placeholder="max"></label>`;
      }).join("")}</span>`);
      ctl.querySelectorAll("#param-filters [data-p]").forEach(el => el.oninput = el.onchange = () => {
        const f = {};
        ctl.querySelectorAll("#param-filters [data-p]").forEach(e => {
          if (e.value.trim() === "") return;
          const v = e.dataset.b === "eq" ? JSON.parse(e.value) : Number(e.value);
          if (e.dataset.b !== "eq" && !Number.isFinite(v)) return;
          (f[e.dataset.p] = f[e.dataset.p] || {})[e.dataset.b] = v;
        });
        S.filters = f; S.offset = 0; drawLeaderboard(S).catch(showError);
      });
    }
  }
  const pager = document.getElementById("lb-pager");
  const last = Math.min(page.total, S.offset + page.rows.length);
  pager.innerHTML = `<span class="muted">${page.total ? S.offset + 1 : 0}–${last} of ${page.total}</span>
    ${REPORT ? "" : `<button id="lb-prev" ${S.offset === 0 ? "disabled" : ""}>previous</button>
    <button id="lb-next" ${last >= page.total ? "disabled" : ""}>next</button>`}`;
  if (!REPORT) {
    document.getElementById("lb-prev").onclick = () => { S.offset = Math.max(0, S.offset - S.limit); drawLeaderboard(S).catch(showError); };
    document.getElementById("lb-next").onclick = () => { S.offset += S.limit; drawLeaderboard(S).catch(showError); };
  }
}

// The leaderboard filtered by parameter ranges: drawn from every trial's point (already loaded
// for the charts), ranked and sorted here as the server ranks (by value under the goal).
function filteredPage(S) {
  const sign = S.head.goal === "minimize" ? 1 : -1;
  const byValue = (a, b) => (a.value === null) - (b.value === null) || sign * (a.value - b.value) || a.number - b.number;
  const ranked = S.points.filter(p => p.value !== null && (p.state === "completed" || p.state === "pruned")).sort(byValue);
  const rank = new Map(ranked.map((p, i) => [p.number, i + 1]));
  const keep = p => (!S.state || p.state === S.state) && Object.entries(S.filters).every(([k, f]) => {
    const v = p.params[k];
    if ("eq" in f) return v === f.eq;
    return typeof v === "number" && (!("lo" in f) || v >= f.lo) && (!("hi" in f) || v <= f.hi);
  });
  const key = S.sort === "value" ? null : S.sort;
  const rows = S.points.filter(keep).sort((a, b) => key === null ? byValue(a, b) : ((a[key] ?? -Infinity) > (b[key] ?? -Infinity) ? 1 : (a[key] ?? -Infinity) < (b[key] ?? -Infinity) ? -1 : a.number - b.number));
  if (S.desc) rows.reverse();
  return {total: rows.length, rows: rows.slice(S.offset, S.offset + S.limit).map(p => Object.assign({rank: rank.get(p.number) ?? null, error: null}, p))};
}

function finished(S) {
  return S.points.filter(p => (p.state === "completed" || p.state === "pruned") && p.value !== null);
}
function better(a, b, goal) { return b === null || (goal === "minimize" ? a < b : a > b); }

function drawHistory(S) {
  const pts = finished(S), goal = S.head.goal;
  if (!pts.length) return note("chart-history", "no finished trial yet");
  const xs = pts.map(p => p.number), ys = pts.map(p => p.value);
  let cur = null;
  const best = ys.map(v => (cur = better(v, cur, goal) ? v : cur));
  plot("chart-history", [
    {x: xs, y: ys, mode: "markers", name: "trial", marker: {size: 6, color: "#6c8ebf"},
     hovertemplate: "trial %{x}: %{y}<extra></extra>"},
    {x: xs, y: best, mode: "lines", name: "best so far", line: {shape: "hv", color: "#d62728", width: 2}}],
    {xaxis: {title: {text: "trial"}, zeroline: false}, yaxis: {title: {text: S.head.metric}}});
}

// A job of many trials: the curves of the best CURVES_FIRST are fetched and drawn first (a few
// per cent of the bytes), and every trial's follow in the background, then live by cursor.
const CURVES_FIRST = 100;

function curvesQuery(S, extra) {
  return jobApi(S.name) + "/curves?metric=" + encodeURIComponent(S.metric) + (extra || "");
}

async function drawCurves(S) {
  const pick = document.getElementById("metric-pick");
  const metrics = S.head.metrics.length ? S.head.metrics : [S.head.metric];
  if (pick.dataset.list !== metrics.join(",")) {
    pick.dataset.list = metrics.join(",");
    pick.innerHTML = metrics.map(m => `<option ${m === S.metric ? "selected" : ""}>${esc(m)}</option>`).join("");
    pick.onchange = () => {
      S.metric = pick.value; S.curves = new Map(); S.cursor = 0; S.curvesAll = false; S.curvesLoading = null;
      drawCurves(S).then(() => loadAllCurves(S)).catch(showError);
    };
  }
  if (!REPORT && !S.curvesAll && S.points.length > CURVES_FIRST) {
    if (!S.curvesLoading) {
      const sign = S.head.goal === "minimize" ? 1 : -1;
      const top = S.points.filter(p => p.value !== null).sort((a, b) => sign * (a.value - b.value))
        .slice(0, CURVES_FIRST).map(p => p.number);
      const first = await api(curvesQuery(S, top.map(n => "&trials=" + n).join("")));
      S.curves = new Map(first.curves.map(c => [c.trial, {steps: c.steps, values: c.values}]));
      S.curvesNote = `the best ${top.length} of ${S.points.length} trials; the others are loading…`;
      S.curvesLoading = "next";  // fetched once the page is drawn (loadAllCurves)
    }
    return renderCurves(S);  // the best trials' curves until every trial's arrive
  }
  const got = await api(curvesQuery(S, S.cursor ? "&after=" + S.cursor : ""));
  for (const c of got.curves) {
    const have = S.curves.get(c.trial) || {steps: [], values: []};
    have.steps.push(...c.steps); have.values.push(...c.values);
    S.curves.set(c.trial, have);
  }
  S.cursor = Math.max(S.cursor, got.cursor);
  S.curvesAll = true;
  renderCurves(S);
}

// Every trial's curves, after the first draw: their bytes (megabytes on a big job) and their
// parse never delay the rest of the page.
function loadAllCurves(S) {
  if (S.curvesLoading !== "next") return;
  const metric = S.metric;
  S.curvesLoading = api(curvesQuery(S)).then(all => {
    if (S.metric !== metric) return;
    S.curves = new Map(all.curves.map(c => [c.trial, {steps: c.steps, values: c.values}]));
    S.cursor = all.cursor; S.curvesAll = true; S.curvesNote = "";
    renderCurves(S);
    document.body.dataset.curvesAll = String(Date.now());
  }).catch(showError);
}

function renderCurves(S) {
  if (!S.curves.size) return note("chart-curves", "no reports yet");
  const bestN = S.head.best_trial ? S.head.best_trial.number : null;
  const x = [], y = [], cd = [];
  for (const [n, c] of S.curves) {
    if (n === bestN) continue;
    for (let i = 0; i < c.steps.length; i++) { x.push(c.steps[i]); y.push(c.values[i]); cd.push(n); }
    x.push(null); y.push(null); cd.push(null);
  }
  const traces = [{x, y, customdata: cd, mode: "lines", name: "trials", connectgaps: false,
    line: {color: "rgba(100,120,160,0.35)", width: 1},
    hovertemplate: "trial %{customdata} step %{x}: %{y}<extra></extra>"}];
  if (bestN !== null && S.curves.has(bestN)) {
    const b = S.curves.get(bestN);
    traces.push({x: b.steps, y: b.values, mode: "lines+markers", name: `best (trial ${bestN})`,
                 line: {color: "#d62728", width: 3}, marker: {size: 4}});
  }
  const at = (n, step) => { const c = S.curves.get(n); if (!c) return null; const i = c.steps.lastIndexOf(step); return i < 0 ? null : c.values[i]; };
  for (const [action, label, symbol] of [["pause", "paused", "triangle-down"], ["exploit", "copied (PBT)", "star"], ["stop", "stopped early", "x"]]) {
    const ds = S.decisions.filter(d => d.action === action);
    if (!ds.length) continue;
    traces.push({x: ds.map(d => d.step), y: ds.map(d => at(d.trial, d.step)), mode: "markers", name: label,
                 customdata: ds.map(d => d.trial), marker: {symbol, size: 9},
                 hovertemplate: `${label}: trial %{customdata} at step %{x}<extra></extra>`});
  }
  plot("chart-curves", traces, {xaxis: {title: {text: "step"}}, yaxis: {title: {text: S.metric}},
    title: {text: S.curvesNote || "", font: {size: 11, color: "#777"}}});
}

const VIRIDIS = ["#440154", "#46327e", "#365c8d", "#277f8e", "#1fa187", "#4ac16d", "#a0da39", "#fde725"];

// Parallel coordinates drawn as SVG lines (plotly's parcoords needs WebGL, which a machine
// without a GPU renders in software, seconds per draw): one axis per parameter and one for the
// objective, each trial a line, coloured by its value (bright = better).
function drawParallel(S) {
  const pts = finished(S);
  const names = Object.keys(S.head.search_space || {});
  if (pts.length < 2 || !names.length) return note("chart-parallel", "needs two finished trials");
  const axes = names.map(n => {
    const spec = S.head.search_space[n] || {};
    const raw = pts.map(p => p.params[n]);
    if (raw.every(v => typeof v === "number")) {
      const log = spec.scale === "log" && raw.every(v => v > 0);
      const vals = raw.map(v => log ? Math.log10(v) : v);
      const lo = Math.min(...vals), hi = Math.max(...vals);
      return {name: n, y: vals.map(v => hi > lo ? (v - lo) / (hi - lo) : 0.5),
              ticks: [[0, fmt(log ? 10 ** lo : lo)], [1, fmt(log ? 10 ** hi : hi)]]};
    }
    const cats = [...new Set(raw.map(v => String(v)))].sort();
    const k = Math.max(1, cats.length - 1);
    return {name: n, y: raw.map(v => cats.indexOf(String(v)) / k), ticks: cats.map((c, i) => [i / k, c])};
  });
  const vals = pts.map(p => p.value);
  const lo = Math.min(...vals), hi = Math.max(...vals);
  axes.push({name: S.head.metric, y: vals.map(v => hi > lo ? (v - lo) / (hi - lo) : 0.5),
             ticks: [[0, fmt(lo)], [1, fmt(hi)]]});
  const good = v => hi > lo ? (S.head.goal === "minimize" ? (hi - v) / (hi - lo) : (v - lo) / (hi - lo)) : 1;
  const bins = VIRIDIS.map(() => ({x: [], y: [], n: []}));
  pts.forEach((p, i) => {
    const b = bins[Math.min(VIRIDIS.length - 1, Math.floor(good(p.value) * VIRIDIS.length))];
    axes.forEach((a, j) => { b.x.push(j); b.y.push(a.y[i]); b.n.push(p.number); });
    b.x.push(null); b.y.push(null); b.n.push(null);
  });
  const traces = bins.map((b, i) => ({x: b.x, y: b.y, customdata: b.n, mode: "lines", showlegend: false,
    line: {color: VIRIDIS[i], width: 1}, opacity: 0.7, hovertemplate: "trial %{customdata}<extra></extra>"}));
  traces.push({x: [null], y: [null], mode: "markers", showlegend: false, hoverinfo: "skip",
    marker: {color: [lo, hi], cmin: lo, cmax: hi, colorscale: "Viridis", showscale: true,
             reversescale: S.head.goal === "minimize", colorbar: {title: {text: S.head.metric}, thickness: 12}}});
  const shapes = axes.map((_, j) => ({type: "line", x0: j, x1: j, y0: 0, y1: 1, line: {color: "#444", width: 1}}));
  const annotations = axes.flatMap((a, j) => a.ticks.map(([y, t]) => ({x: j, y, text: esc(t), showarrow: false,
    xanchor: "left", xshift: 3, font: {size: 10, color: "#333"}, bgcolor: "rgba(255,255,255,0.7)"})));
  plot("chart-parallel", traces, {shapes, annotations, hovermode: "closest",
    xaxis: {tickvals: axes.map((_, j) => j), ticktext: axes.map(a => a.name), range: [-0.2, axes.length - 0.6], showgrid: false},
    yaxis: {visible: false, range: [-0.06, 1.06]}, margin: {l: 20, r: 10, t: 20, b: 40}});
}

function drawSlices(S) {
  const box = document.getElementById("slices");
  const names = Object.keys(S.head.search_space || {});
  const pts = finished(S);
  if (!pts.length || !names.length) { box.innerHTML = `<p class="muted">no finished trial yet</p>`; return; }
  if (box.dataset.names !== names.join(",")) {
    box.dataset.names = names.join(",");
    box.innerHTML = names.map((n, i) => `<div id="chart-slice-${i}" class="chart slice"></div>`).join("");
  }
  names.forEach((n, i) => plot(`chart-slice-${i}`, [{
    x: pts.map(p => p.params[n]), y: pts.map(p => p.value), customdata: pts.map(p => p.number),
    mode: "markers", marker: {color: pts.map(p => p.number), colorscale: "Blues", size: 6},
    hovertemplate: `${n}=%{x}: %{y} (trial %{customdata})<extra></extra>`}],
    {height: 240, xaxis: {title: {text: n}, type: (S.head.search_space[n] || {}).scale === "log" ? "log" : undefined},
     yaxis: {title: {text: S.head.metric}}, showlegend: false}));
}

function drawLineage(S) {
  const ex = S.decisions.filter(d => d.action === "exploit" && d.donor !== null);
  if (!ex.length) return note("chart-lineage", "no member copied another (not a PBT job, or no copy yet)");
  const x = [], y = [], text = [];
  for (const d of ex) {
    x.push(d.donor_step ?? d.step, d.step, null); y.push(d.donor, d.trial, null);
    text.push(`trial ${d.donor} (step ${d.donor_step})`, `trial ${d.trial} copied it at step ${d.step}`, null);
  }
  plot("chart-lineage", [{x, y, text, mode: "lines+markers", name: "copy", hoverinfo: "text",
    line: {color: "#9467bd"}, marker: {size: 7, symbol: "arrow-bar-right"}}],
    {xaxis: {title: {text: "step"}}, yaxis: {title: {text: "trial"}}, showlegend: false});
}

function drawRungs(S) {
  const ds = S.decisions.filter(d => d.action !== "exploit");
  const stepsRun = S.points.map(p => p.steps).filter(s => s !== null);
  if (!ds.length) return note("chart-rungs", "no scheduler paused or stopped a trial early");
  const steps = [...new Set(ds.map(d => d.step))].sort((a, b) => a - b);
  const reached = steps.map(s => stepsRun.filter(r => r >= s).length);
  const traces = [{x: steps.map(String), y: reached, type: "bar", name: "trials that reached the rung", marker: {color: "#aec7e8"}}];
  for (const action of [...new Set(ds.map(d => d.action))]) {
    traces.push({x: steps.map(String), y: steps.map(s => ds.filter(d => d.step === s && d.action === action).length),
                 type: "bar", name: action});
  }
  plot("chart-rungs", traces, {barmode: "group", xaxis: {title: {text: "rung (step)"}, type: "category"},
                               yaxis: {title: {text: "trials"}}});
}

function drawDevice(S) {
  const pts = S.points.filter(p => p.ended_at !== null).sort((a, b) => a.ended_at - b.ended_at);
  if (!pts.length) return note("chart-device", "no trial has ended yet");
  let sum = 0;
  const x = pts.map(p => new Date(p.ended_at * 1000));
  const y = pts.map(p => (sum += p.device_seconds) / 3600);
  plot("chart-device", [{x, y, mode: "lines", fill: "tozeroy", name: "device-hours", line: {color: "#2ca02c"}}],
       {yaxis: {title: {text: "device-hours (cumulative)"}}});
}

function drawDiagnosis(S) {
  const d = S.head.diagnosis;
  document.getElementById("diagnosis").innerHTML = d
    ? `<p><strong>${esc(d.kind)}</strong>: ${esc(d.summary)}</p><ul>${d.advice.map(a => `<li>${esc(a)}</li>`).join("")}</ul>`
    : `<p class="muted">no train_/val_ metrics to diagnose over- or under-fitting.</p>`;
}

async function drawImportance(S) {
  const key = S.points.length + ":" + finished(S).length;
  if (key === S.importanceKey) return;
  S.importanceKey = key;
  let imp;
  try { imp = await api(jobApi(S.name) + "/importance"); } catch (e) { S.importanceKey = null; throw e; }
  if (!document.body.dataset.importanceMs) document.body.dataset.importanceMs = String(performance.now());
  document.getElementById("importance-note").textContent =
    `${imp.method}, ${imp.trials_used} finished trials${imp.note ? " — " + imp.note : ""}`;
  if (!imp.params.length) return note("chart-importance", imp.note || "not enough trials");
  const ps = imp.params.slice().reverse();
  plot("chart-importance", [{type: "bar", orientation: "h", x: ps.map(p => p.importance), y: ps.map(p => p.name),
    marker: {color: "#ff7f0e"}}], {xaxis: {title: {text: "share of importance"}, range: [0, 1]}, margin: {l: 110, r: 15, t: 20, b: 40}});
}

// --------------------------------------------------------------------------------- trial page
async function trialPage() {
  const S = {version: null, busy: false};
  const draw = async () => {
    const t = await api(jobApi(T.job) + "/trials/" + T.trial);
    main.innerHTML = `<div id="error"></div><h2><a href="${jobUrl(t.job)}">${esc(t.job)}</a> · trial ${t.number} ${badge(t.state)}</h2>
      <dl class="facts"><dt>value</dt><dd>${fmt(t.value)}</dd><dt>steps</dt><dd>${fmt(t.steps)}</dd>
      <dt>attempt</dt><dd>${t.attempt}${t.retry_of !== null ? ` (retry of ${t.retry_of})` : ""}</dd>
      <dt>segments</dt><dd>${t.segments}</dd><dt>device</dt><dd>${dur(t.device_seconds)}</dd>
      <dt>started</dt><dd>${when(t.started_at)}</dd><dt>ended</dt><dd>${when(t.ended_at)}</dd></dl>
      <h3>Parameters</h3><table class="grid">${Object.entries(t.params).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(fmt(v))}</td></tr>`).join("")}</table>
      <div class="charts"><section><h3>Loss per epoch</h3><div id="chart-loss" class="chart"></div></section>
      <section><h3>Accuracy per epoch</h3><div id="chart-acc" class="chart"></div></section></div>
      <h3>Diagnosis</h3><div>${t.diagnosis ? `<p><strong>${esc(t.diagnosis.kind)}</strong>: ${esc(t.diagnosis.summary)}</p><ul>${t.diagnosis.advice.map(a => `<li>${esc(a)}</li>`).join("")}</ul>` : `<p class="muted">nothing to diagnose</p>`}</div>
      <h3>Decisions</h3><table class="grid" id="decisions"><tr><th>trial</th><th>step</th><th>action</th><th>donor</th><th>reason</th><th>new params</th></tr>
      ${t.decisions.map(d => `<tr><td>${d.trial}</td><td>${d.step}</td><td>${esc(d.action)}</td><td>${fmt(d.donor)}${d.donor_step !== null ? ` @ ${d.donor_step}` : ""}</td><td>${esc(d.reason)}</td><td>${esc(d.params ? JSON.stringify(d.params) : "")}</td></tr>`).join("") || `<tr><td colspan="6" class="muted">none</td></tr>`}</table>
      <h3>Checkpoints</h3><table class="grid"><tr><th>step</th><th>size</th><th>sha256</th><th>kept</th></tr>
      ${t.checkpoints.map(c => `<tr><td>${c.step}</td><td>${c.size}</td><td><code>${esc(c.sha256.slice(0, 16))}…</code></td><td>${c.deleted ? "deleted" : "yes"}</td></tr>`).join("") || `<tr><td colspan="4" class="muted">none</td></tr>`}</table>
      ${t.error ? `<h3>Error</h3><p class="error">${esc(t.error)}</p>` : ""}
      ${t.traceback ? `<pre class="traceback">${esc(t.traceback)}</pre>` : ""}`;
    const keys = [...new Set(t.reports.flatMap(r => Object.keys(r.metrics)))];
    const series = pred => keys.filter(pred).map(k => ({x: t.reports.map(r => r.step), y: t.reports.map(r => r.metrics[k]),
      mode: "lines+markers", name: k}));
    const loss = series(k => /loss/.test(k)), acc = series(k => /acc/.test(k));
    const rest = series(k => !/loss|acc/.test(k));
    if (loss.length || rest.length) plot("chart-loss", loss.length ? loss : rest, {xaxis: {title: {text: "epoch (step)"}}});
    else note("chart-loss", "no reports");
    if (acc.length) plot("chart-acc", acc, {xaxis: {title: {text: "epoch (step)"}}});
    else note("chart-acc", "no accuracy metric reported");
    document.body.dataset.drawn = String(Date.now());
  };
  try { await draw(); } catch (e) { showError(e); return; }
  if (REPORT) return;
  setInterval(async () => {
    if (S.busy) return;
    S.busy = true;
    try {
      const v = await api(jobApi(T.job) + "/version");
      if (S.version !== null && v.token !== S.version) await draw();
      S.version = v.token;
    } catch (e) { showError(e); } finally { S.busy = false; }
  }, POLL_MS);
}

// ------------------------------------------------------------------------------- compare page
async function comparePage() {
  const names = T.jobs || [];
  if (names.length < 2) {
    const jobs = await api("/jobs");
    main.innerHTML = `<h2>Compare jobs</h2><p>Pick 2 to 5 jobs:</p><form id="pick" action="/compare">
      ${jobs.map(j => `<label class="pick"><input type="checkbox" name="jobs" value="${esc(j.name)}"> ${esc(j.name)} (${esc(j.goal)} ${esc(j.metric)})</label>`).join("")}
      <p><button type="submit">Compare</button></p></form>`;
    return;
  }
  let c;
  try { c = await api("/compare?" + names.map(n => "jobs=" + encodeURIComponent(n)).join("&")); }
  catch (e) { main.innerHTML = `<div id="error"></div>`; showError(e); return; }
  const params = [...new Set(c.jobs.flatMap(j => j.best ? Object.keys(j.best.params) : []))];
  main.innerHTML = `<div id="error"></div><h2>Compare ${c.jobs.map(j => `<a href="${jobUrl(j.name)}">${esc(j.name)}</a>`).join(" · ")}</h2>
    <div class="charts"><section><h3>Best so far against trials</h3><div id="chart-cmp-trials" class="chart"></div></section>
    <section><h3>Best so far against device-hours</h3><div id="chart-cmp-hours" class="chart"></div></section></div>
    <h3>Best of each job</h3><table class="grid" id="compare-best"><tr><th>job</th><th>status</th><th>strategy</th><th>best</th><th>device-hours</th>${params.map(p => `<th>${esc(p)}</th>`).join("")}</tr>
    ${c.jobs.map(j => `<tr><td>${esc(j.name)}</td><td>${badge(j.status)}</td><td>${esc(j.strategy)}</td><td>${fmt(j.best ? j.best.value : null)}</td><td>${fmt(j.device_hours)}</td>
      ${params.map(p => `<td>${esc(j.best && p in j.best.params ? fmt(j.best.params[p]) : "—")}</td>`).join("")}</tr>`).join("")}</table>
    <h3>Settings that differ</h3><table class="grid" id="compare-diff"><tr><th>setting</th>${c.jobs.map(j => `<th>${esc(j.name)}</th>`).join("")}</tr>
    ${c.differences.map(d => `<tr><td><code>${esc(d.key)}</code></td>${d.values.map(v => `<td>${esc(fmt(v))}</td>`).join("")}</tr>`).join("") || `<tr><td colspan="6" class="muted">none</td></tr>`}</table>`;
  plot("chart-cmp-trials", c.jobs.map(j => ({x: j.trials, y: j.best_so_far, mode: "lines", line: {shape: "hv"}, name: j.name})),
       {xaxis: {title: {text: "finished trials"}}, yaxis: {title: {text: c.jobs[0].metric}}});
  plot("chart-cmp-hours", c.jobs.map(j => ({x: j.device_hours_at, y: j.best_so_far, mode: "lines", line: {shape: "hv"}, name: j.name})),
       {xaxis: {title: {text: "device-hours"}}, yaxis: {title: {text: c.jobs[0].metric}}});
  document.body.dataset.drawn = String(Date.now());
}

const PAGES = {jobs: jobsPage, job: jobPage, trial: trialPage, compare: comparePage};
// pages and additions from other scripts (new.js, jobctl.js) register in window.TUNELAB_PAGES
// and window.TUNELAB_AFTER; they load after this one, so start once the document is parsed
function startPage() {
  const extra = window.TUNELAB_PAGES || {};
  (PAGES[T.page] || extra[T.page] || jobsPage)().catch(showError);
  (window.TUNELAB_AFTER || []).forEach(fn => fn(T.page));
}
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", startPage);
else startPage();
