// tunelab job controls (job page): resume, delete, export, tune again around the best, refit,
// evaluate on a test folder, predict uploaded images. Every action is a POST with the token;
// the server does it through the CLI's own code (a new tuner process for resume).
"use strict";

function jobControls() {
  const name = T.job;
  const head = document.getElementById("head");
  if (!head || REPORT) return;
  const box = document.createElement("section");
  box.id = "controls"; box.className = "controls-box";
  box.innerHTML = `<h3>Control</h3><div id="ctl-process" class="muted small"></div>
    <div id="ctl-buttons" class="controls"></div><div id="ctl-error"></div>
    <div id="ctl-model" hidden>
      <div class="controls"><label>evaluate on a test folder <select id="eval-data"></select></label>
        <button id="eval-btn" type="button">Evaluate</button></div><div id="eval-out"></div>
      <div class="controls"><label>predict images <input type="file" id="predict-files" accept="image/*" multiple></label>
        <button id="predict-btn" type="button">Predict</button> <span class="muted small">images only, at most 5 MiB each</span></div>
      <div id="predict-out"></div></div>`;
  head.after(box);
  const $ = id => document.getElementById(id);
  const S = {status: null, best: null, armed: false, builtin: false, refit: false};
  const post = (path, body) => api(jobApi(name) + path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body || {})});
  const fail = e => { $("ctl-error").innerHTML = `<p class="error">${esc(e.message)}</p>`; };

  api("/datasets").then(ds => {
    $("eval-data").innerHTML = ds.datasets.filter(d => !d.startsWith("builtin:")).map(d => `<option value="${esc(d)}">${esc(d)}</option>`).join("");
  }).catch(fail);

  function buttons() {
    const st = S.status, done = st !== "running";
    const b = [];
    if (["interrupted", "stopped", "failed"].includes(st)) b.push(`<button id="resume-btn" type="button">Resume</button>`);
    if (S.best !== null) b.push(`<button id="export-btn" type="button">Export best model</button>`);
    if (S.best !== null && S.builtin && !S.refit) b.push(`<a id="again-link" href="/new?from=${encodeURIComponent(name)}">Tune again around the best</a>`);
    if (S.best !== null && S.builtin && !S.refit && done) b.push(`<button id="refit-btn" type="button" title="A new one-trial job: the best trial's hyperparameters and epochs, trained on the training and validation images together; its model is exported from its last epoch">Refit on all images</button>`);
    if (done) b.push(`<button id="delete-btn" type="button" class="danger">${S.armed ? "Confirm delete" : "Delete job"}</button>`);
    $("ctl-buttons").innerHTML = b.join(" ");
    $("ctl-model").hidden = S.best === null || !S.builtin;  // the built-in image classifier's
    const on = (id, fn) => { const el = $(id); if (el) el.onclick = fn; };
    on("resume-btn", async () => {
      $("resume-btn").disabled = true;
      try { await post("/resume"); $("ctl-process").textContent = "resuming…"; } catch (e) { fail(e); $("resume-btn").disabled = false; }
    });
    on("export-btn", async () => {
      try {
        const r = await fetch("/api/v1" + jobApi(name) + "/model.zip", {headers: {"X-Tunelab-Token": token()}});
        if (!r.ok) { const j = await r.json(); throw new ApiError(r.status, j.detail); }
        const blob = await r.blob();
        const a = document.createElement("a");
        a.href = URL.createObjectURL(blob); a.download = name + "-model.zip";
        document.body.appendChild(a); a.click(); a.remove();
        $("ctl-error").innerHTML = `<p id="export-done">exported: ${esc(name)}-model.zip (${(blob.size / 1024).toFixed(0)} KiB: TorchScript model.pt and model.json)</p>`;
      } catch (e) { fail(e); }
    });
    on("refit-btn", async () => {
      $("refit-btn").disabled = true;
      try { const r = await post("/refit"); location.href = "/jobs/" + encodeURIComponent(r.name); } catch (e) { fail(e); $("refit-btn").disabled = false; }
    });
    on("delete-btn", async () => {
      if (!S.armed) { S.armed = true; buttons(); return; }
      try { await post("/delete"); location.href = "/"; } catch (e) { S.armed = false; buttons(); fail(e); }
    });
  }

  async function poll() {
    try {
      const [h, p] = await Promise.all([api(jobApi(name)), api(jobApi(name) + "/process")]);
      const best = h.best_trial ? h.best_trial.number : null;
      S.builtin = !!(h.data && h.data.message);  // a built-in image job records its data
      S.refit = !!(h.static && h.static.train_on_validation);  // a refit is not refitted
      const status = p.tuner_gone ? "interrupted" : h.status;
      if (status !== S.status || best !== S.best) { S.status = status; S.best = best; buttons(); }
      let text = "";
      if (p.kind) text = `${p.kind === "resume" ? "resumed" : "launched"} from this page: process ${p.pid}, ` +
        (p.alive ? "running" : `ended${p.returncode !== null ? " (exit " + p.returncode + ")" : ""}`) +
        (p.error ? ` — error: ${p.error}` : "");
      if (status === "interrupted") text += (text ? "; " : "") + "its tuner is gone (its lease ran out): Resume continues the job from its checkpoints";
      $("ctl-process").textContent = text;
    } catch (e) { fail(e); }
  }

  $("eval-btn").onclick = async () => {
    $("eval-out").innerHTML = `<p class="muted">evaluating…</p>`;
    try {
      const ev = await post("/evaluate", {data: $("eval-data").value});
      $("eval-out").innerHTML = `<p id="eval-accuracy">accuracy ${(ev.accuracy * 100).toFixed(1)}% on ${ev.n} images of ${esc(ev.data)}</p>
        <table class="grid" id="eval-classes"><tr><th>class</th><th>precision</th><th>recall</th></tr>
        ${ev.classes.filter(c => c in ev.recall).map(c => `<tr><td>${esc(c)}</td><td>${(ev.precision[c] * 100).toFixed(1)}%</td><td>${(ev.recall[c] * 100).toFixed(1)}%</td></tr>`).join("")}</table>
        <div id="chart-confusion" class="chart"></div>`;
      plot("chart-confusion", [{type: "heatmap", z: ev.confusion, x: ev.classes, y: ev.classes, colorscale: "Blues", reversescale: true,
        text: ev.confusion.map(r => r.map(String)), texttemplate: "%{text}", hovertemplate: "true %{y}, predicted %{x}: %{z}<extra></extra>"}],
        {title: {text: "confusion matrix"}, xaxis: {title: {text: "predicted"}}, yaxis: {title: {text: "true"}, autorange: "reversed"}});
    } catch (e) { $("eval-out").innerHTML = ""; fail(e); }
  };
  $("predict-btn").onclick = async () => {
    const files = [...$("predict-files").files];
    const rows = [];
    for (const f of files) {
      try {
        const r = await api(jobApi(name) + "/predict?filename=" + encodeURIComponent(f.name),
          {method: "POST", headers: {"Content-Type": "application/octet-stream"}, body: f});
        rows.push(`<tr><td>${esc(f.name)}</td><td>${r.error ? `<span class="error">${esc(r.error)}</span>` : r.top.map(t => `${esc(t.class)} ${(t.probability * 100).toFixed(1)}%`).join(", ")}</td></tr>`);
      } catch (e) { rows.push(`<tr><td>${esc(f.name)}</td><td class="error">${esc(e.message)}</td></tr>`); }
    }
    $("predict-out").innerHTML = `<table class="grid" id="predict-table"><tr><th>image</th><th>top classes</th></tr>${rows.join("")}</table>`;
  };
  poll();
  setInterval(poll, 2000);
}

window.TUNELAB_AFTER = (window.TUNELAB_AFTER || []).concat([page => { if (page === "job") jobControls(); }]);
