// tunelab training page (/new): Data Loader, Tuning Type, Data Augmentation, Advanced; the
// "Before launch" box (training jobs, device-hours, the spec YAML) follows every change. The
// page never checks a value itself: it sends the form to /api/v1/plan, where the spec is built
// and validated by the code behind `tunelab plan`, and shows each error next to its field.
"use strict";

const PARAM_ROWS = [  // name, kind, default mode, defaults
  ["learning_rate", "float", "range", {low: "0.02", high: "0.4", scale: "log", value: "0.1"}],
  ["lr_schedule", "choice", "value", {value: "onecycle", values: "constant, step, cosine"}],
  ["step_epochs", "int", "value", {value: "10", low: "2", high: "10"}],
  ["gamma", "float", "value", {value: "0.1", low: "0.05", high: "0.5"}],
  ["weight_decay", "float", "range", {low: "5e-5", high: "5e-3", scale: "log", value: "5e-4"}],
  ["momentum", "float", "value", {value: "0.9", low: "0.8", high: "0.99"}],
  ["optimizer", "choice", "value", {value: "sgd", values: "sgd, adam, adamw"}],
  ["dropout", "float", "range", {low: "0", high: "0.3", value: "0"}],
  ["image_size", "int", "value", {value: "", low: "8", high: "32"}],
  ["width", "int", "value", {value: "16", low: "8", high: "32"}],
  ["depth", "int", "value", {value: "1", low: "1", high: "3"}],
];
const PARAM_NOTES = {lr_schedule: "constant, step (step_epochs, gamma), cosine, onecycle",
                     image_size: "empty: the data's own size", optimizer: "sgd, adam, adamw"};

function errBox(field) { return `<div class="field-error" data-for="${esc(field)}"></div>`; }
function num(id, label, value, extra) {
  return `<label class="f">${esc(label)} <input id="${id}" name="${id}" value="${esc(value)}" size="8" ${extra || ""}></label>${errBox(id)}`;
}

function paramRow([name, kind, mode, d]) {
  const choice = kind === "choice";
  return `<tr data-param="${name}"><td><code>${name}</code></td>
    <td><select class="p-mode">${(choice ? ["value", "values"] : ["value", "range", "values"]).map(m =>
      `<option value="${m}" ${m === mode ? "selected" : ""}>${m}</option>`).join("")}</select></td>
    <td class="p-in"><input class="p-value" value="${esc(d.value || "")}" size="9" title="one value">
      <span class="p-range"><input class="p-low" value="${esc(d.low || "")}" size="7" title="low"> –
      <input class="p-high" value="${esc(d.high || "")}" size="7" title="high">
      <select class="p-scale"><option ${d.scale !== "log" ? "selected" : ""}>linear</option><option ${d.scale === "log" ? "selected" : ""}>log</option></select>
      <input class="p-points" size="3" placeholder="points" title="grid points (grid, floats)"></span>
      <input class="p-values" value="${esc(d.values || "")}" size="18" placeholder="a, b, c" title="comma-separated values"></td>
    <td class="muted small">${esc(PARAM_NOTES[name] || kind)}${errBox("param." + name)}</td></tr>`;
}

function estimateHow(e) {  // how the device-hours were reached (tunelab.estimate)
  const per = e.expected_epochs !== undefined && e.expected_epochs !== e.epochs
    ? `about ${e.expected_epochs.toPrecision(3)} of ${e.epochs}` : `${e.epochs}`;
  return `${e.trials} jobs × ${per} epochs × (${e.epoch_seconds.toFixed(2)} s per epoch + ` +
    `${(e.per_epoch_seconds || 0).toFixed(2)} s for its checkpoint and report), plus ` +
    `${(e.setup_seconds || 0).toFixed(2)} s to set up each job and ` +
    `${(e.startup_seconds || 0).toFixed(1)} s to start each of ${e.slots || 1} worker(s); ` +
    `measured on ${e.device} by a short probe of real training steps` +
    (e.note ? ` (${e.note})` : "") +
    (e.refit_hours ? `; the refit is one more job of ${e.epochs} epochs on every image` : "");
}

async function newPage() {
  document.title = "new job · tunelab";
  main.innerHTML = `<h2>New tuning job</h2><div id="error"></div><div class="new-grid"><form id="new-form" autocomplete="off" onsubmit="return false">
  <section id="sec-data"><h3>Data Loader</h3>
    <label class="f">data set <select id="data" name="data"></select></label>${errBox("data")}
    <p class="muted small" id="data-root"></p>
    <div id="preview" class="preview muted">choose a data set</div>
    <label class="f">batch size <select id="batch_mode"><option value="auto">auto: the largest that fits</option><option value="number">a number</option></select>
      <input id="batch_size" value="128" size="6"></label> <span id="batch-max" class="muted"></span>${errBox("batch_size")}
    ${num("epochs", "epochs", "10")}
    <div class="f">validation <label><input type="radio" name="validation_mode" value="percent" checked> hold out
      <input id="validation_percent" value="20" size="4"> % of each class</label>
      <label><input type="radio" name="validation_mode" value="folder"> a validation folder <select id="validation_data"></select></label></div>
    ${errBox("validation_percent")}${errBox("validation_data")}
  </section>
  <section id="sec-tuning"><h3>Tuning Type</h3>
    <label class="f">name <input id="name" value="job-${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, "")}" size="28"></label>${errBox("name")}
    <label class="f">tuning type <select id="strategy">${[["manual", "Manual (one training job)"], ["grid", "Grid"], ["random", "Random"], ["bayesian", "Bayesian"], ["hyperband", "Hyperband"], ["pbt", "Population Based Training"]].map(([v, t]) =>
      `<option value="${v}" ${v === "pbt" ? "selected" : ""}>${t}</option>`).join("")}</select></label>${errBox("strategy")}
    <table class="grid params" id="params"><thead><tr><th>hyperparameter</th><th>how</th><th>value · range (scale) · values</th><th></th></tr></thead>
    <tbody>${PARAM_ROWS.map(paramRow).join("")}</tbody></table>
    <div class="row">${num("max_trials", "training jobs", "8")}${num("max_parallel", "parallel jobs", "1")}
    ${num("max_runtime", "time limit (job)", "", 'placeholder="e.g. 30m"')}${num("max_trial_runtime", "time limit (each job)", "", 'placeholder="e.g. 5m"')}
    ${num("seed", "seed", "0")}</div>
    <label class="f"><input type="checkbox" id="early_stop"> early stop on validation loss, patience
      <input id="patience" value="5" size="3"> epochs</label>${errBox("patience")}${errBox("early_stop")}
    <label class="f"><input type="checkbox" id="refit"> then retrain the best configuration on every image, validation included (refit: one more training job; export it for the model)</label>${errBox("refit")}
  </section>
  <section id="sec-augment"><h3>Data Augmentation</h3>
    <label class="f"><input type="checkbox" id="hflip"> random horizontal flip</label>
    <p class="muted small">A mirror image is the same thing for most photos, but it confuses classes that differ by left and right (digits, letters, arrows, road signs).</p>${errBox("hflip")}
    <label class="f"><input type="checkbox" id="random_resized_crop"> random resized crop, scale
      <input id="crop_scale_low" value="0.5" size="4"> – <input id="crop_scale_high" value="1.0" size="4"></label>${errBox("crop_scale")}${errBox("random_resized_crop")}
    <div class="row">${num("brightness", "brightness", "0")}${num("contrast", "contrast", "0")}
    ${num("saturation", "saturation", "0")}${num("hue", "hue", "0")}</div>
    <p id="mono-note" class="muted small" hidden>Saturation and hue are off: this data set is monochrome (one grey channel), so there is no colour for them to change.</p>
  </section>
  <section id="sec-advanced"><details id="advanced-box"><summary>Advanced: paste a YAML spec or a SageMaker tuning-job JSON</summary>
    <p class="muted small">When this box is filled it replaces the form. A SageMaker JSON gives the ranges, strategy, objective and limits; the training is the built-in trainer on the data set chosen above.</p>
    <textarea id="advanced" rows="12" cols="80" spellcheck="false"></textarea>${errBox("advanced")}</details></section>
  </form>
  <aside id="before"><h3>Before launch</h3>
    <dl class="facts"><dt>training jobs</dt><dd id="job-count">—</dd>
    <dt>device-hours</dt><dd id="device-hours">—</dd></dl>
    <p id="estimate-how" class="muted small"></p>
    <div id="plan-error" class="field-error" data-for="spec"></div>
    <button id="launch" disabled>Launch</button> <span id="launch-msg" class="muted"></span>
    <h3>Spec that will run <button id="copy-yaml" type="button">Copy</button></h3>
    <pre id="spec-yaml" class="yaml"></pre>
  </aside></div>`;
  const $ = id => document.getElementById(id);
  const S = {seq: 0, shown: 0, timer: null, monochrome: false, plan: null};

  const ds = await api("/datasets");
  $("data-root").textContent = ds.root ? `data sets under ${ds.root} (the server reads nothing outside it)` : "this server has no --data-root: only builtin:digits";
  $("data").innerHTML = ds.datasets.map(d => `<option value="${esc(d)}">${esc(d)}</option>`).join("");
  $("validation_data").innerHTML = ds.datasets.filter(d => !d.startsWith("builtin:")).map(d => `<option value="${esc(d)}">${esc(d)}</option>`).join("");
  if (ds.datasets.length > 1) $("data").value = ds.datasets[1];

  function rowState(tr) {
    const mode = tr.querySelector(".p-mode").value;
    tr.querySelector(".p-value").hidden = mode !== "value";
    tr.querySelector(".p-range").hidden = mode !== "range";
    tr.querySelector(".p-values").hidden = mode !== "values";
    tr.querySelector(".p-points").hidden = $("strategy").value !== "grid";
  }
  function collect() {
    const v = id => $(id).value;
    const params = {};
    document.querySelectorAll("#params tr[data-param]").forEach(tr => {
      const q = c => tr.querySelector(c).value;
      params[tr.dataset.param] = {mode: q(".p-mode"), value: q(".p-value"), low: q(".p-low"),
        high: q(".p-high"), scale: q(".p-scale"), points: q(".p-points"), values: q(".p-values")};
    });
    const mode = document.querySelector('input[name="validation_mode"]:checked').value;
    const f = {name: v("name"), data: v("data"), epochs: v("epochs"),
      batch_size: v("batch_mode") === "auto" ? "auto" : v("batch_size"),
      validation_mode: mode, validation_percent: v("validation_percent"), validation_data: v("validation_data"),
      strategy: v("strategy"), params, max_trials: v("max_trials"), max_parallel: v("max_parallel"),
      max_runtime: v("max_runtime"), max_trial_runtime: v("max_trial_runtime"), seed: v("seed"),
      early_stop: $("early_stop").checked, patience: v("patience"), hflip: $("hflip").checked,
      refit: $("refit").checked,
      random_resized_crop: $("random_resized_crop").checked, crop_scale_low: v("crop_scale_low"),
      crop_scale_high: v("crop_scale_high"), brightness: v("brightness"), contrast: v("contrast"),
      saturation: S.monochrome ? "0" : v("saturation"), hue: S.monochrome ? "0" : v("hue"),
      advanced: v("advanced")};
    return f;
  }
  function showErrors(errors) {
    document.querySelectorAll(".field-error").forEach(el => { el.textContent = ""; });
    document.querySelectorAll(".has-error").forEach(el => el.classList.remove("has-error"));
    for (const [field, msg] of Object.entries(errors || {})) {
      const box = document.querySelector(`.field-error[data-for="${CSS.escape(field)}"]`);
      const target = ($("advanced").value.trim() && field !== "data") ? document.querySelector('.field-error[data-for="advanced"]') : (box || $("plan-error"));
      target.textContent = msg;
      const input = field.startsWith("param.") ? document.querySelector(`tr[data-param="${CSS.escape(field.slice(6))}"]`) : $(field);
      if (input) input.classList.add("has-error");
    }
  }
  async function plan() {
    const seq = ++S.seq;
    $("launch").disabled = true;
    let p;
    try { p = await api("/plan", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({form: collect()})}); }
    catch (e) { showError(e); return; }
    if (seq < S.shown) return;  // an older answer arriving late
    S.shown = seq; S.plan = p;
    showErrors(p.errors);
    if (!p.ok) {
      $("job-count").textContent = "—"; $("device-hours").textContent = "—"; $("spec-yaml").textContent = "";
      $("estimate-how").textContent = "";
    } else {
      $("job-count").textContent = String(p.training_jobs) + (p.grid_size ? ` (grid: ${p.grid_size} combinations)` : "") +
        (p.spec.refit ? " + 1 refit" : "");
      const e = p.estimate;
      $("device-hours").textContent = e ? e.device_hours.toPrecision(2) : "—";
      $("device-hours").title = e ? `about ${dur(e.device_hours * 3600)} of device time` : "";
      $("device-hours").dataset.hours = e ? String(e.device_hours) : "";  // unrounded
      $("estimate-how").textContent = e ? estimateHow(e) : (p.estimate_error || "");
      $("spec-yaml").textContent = p.yaml;
      $("batch-max").textContent = p.batch_max ? `measured maximum for this model, image size and device: ${p.batch_max}` : "";
      $("launch").disabled = seq !== S.seq ? true : false;
    }
    document.body.dataset.planned = String(seq);
  }
  function changed() { clearTimeout(S.timer); $("launch").disabled = true; S.timer = setTimeout(plan, 250); }

  async function preview() {
    const box = $("preview");
    box.textContent = "reading…";
    try {
      const p = await api("/datasets/preview", {method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({data: $("data").value, validation_percent: Number($("validation_percent").value) || 20})});
      S.monochrome = p.monochrome;
      box.classList.remove("muted");
      box.innerHTML = `<p>${p.images} images in ${p.classes.length} classes · ${esc(p.monochrome ? "monochrome (grey)" : "colour")} ·
        trains at ${p.image_size}×${p.image_size} · sizes ${Object.entries(p.sizes).map(([s, n]) => `${esc(s)} (${n})`).join(", ")} ·
        <span id="unreadable">${p.unreadable_count} unreadable file(s)${p.sample ? " in the sample" : ""}</span>${p.unreadable.length ? ": " + p.unreadable.map(esc).join(", ") : ""}</p>
        ${p.sample ? `<p id="sampled" class="small">Sizes, colour, the training size, unreadable files and samples are from a random sample of ${p.sample} of the ${p.images} images (nothing else decoded yet: the job decodes them all when it starts).</p>` : ""}
        <table class="grid" id="class-table"><tr><th>class</th><th>images</th><th>samples</th></tr>
        ${p.classes.map(c => `<tr><td>${esc(c)}</td><td>${p.images_per_class[c]}</td><td>${(p.thumbnails[c] || []).map(u => `<img class="thumb" src="${u}" alt="${esc(c)}">`).join("")}</td></tr>`).join("")}</table>`;
      document.body.dataset.previewed = p.data;
    } catch (e) {
      S.monochrome = false;
      box.innerHTML = `<p class="error">${esc(e.message)}</p>`;
    }
    for (const id of ["saturation", "hue"]) {
      $(id).disabled = S.monochrome;
      $(id).closest("label").classList.toggle("disabled", S.monochrome);
      $(id).title = S.monochrome ? "off: the data is monochrome" : "";
    }
    $("mono-note").hidden = !S.monochrome;
    changed();
  }

  document.querySelectorAll("#params tr[data-param]").forEach(rowState);
  $("new-form").addEventListener("input", ev => { if (ev.target.id !== "data") changed(); });
  // "input" already re-plans every edit; "change" (also fired when a text box loses focus, as
  // on the way to the Launch button) only redraws what the form shows
  $("new-form").addEventListener("change", ev => {
    if (ev.target.classList.contains("p-mode") || ev.target.id === "strategy") document.querySelectorAll("#params tr[data-param]").forEach(rowState);
    if (ev.target.id === "data") preview();
    if (ev.target.id === "batch_mode") $("batch_size").hidden = ev.target.value === "auto";
  });
  $("batch_mode").value = "number";
  $("copy-yaml").onclick = async () => {
    try { await navigator.clipboard.writeText($("spec-yaml").textContent); $("copy-yaml").textContent = "Copied"; }
    catch (e) {  // no clipboard (plain http on another host): select the text instead
      const r = document.createRange(); r.selectNodeContents($("spec-yaml"));
      const s = getSelection(); s.removeAllRanges(); s.addRange(r); $("copy-yaml").textContent = "Selected: Ctrl+C";
    }
  };
  $("launch").onclick = async () => {
    $("launch").disabled = true; $("launch-msg").textContent = "starting…";
    try {
      const r = await api("/launch", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({form: collect()})});
      $("launch-msg").textContent = "launched";
      location.href = jobUrl(r.name);
    } catch (e) {
      $("launch-msg").textContent = "";
      const d = e.detail;
      if (d && d.errors) showErrors(d.errors); else showError(e);
      $("launch").disabled = false;
    }
  };
  if (T.from) {  // "tune again around the best": the narrowed spec, to review and launch
    try {
      const r = await api(jobApi(T.from) + "/tune-again", {method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"});
      $("advanced").value = r.yaml; $("advanced-box").open = true;
    } catch (e) { showError(e); }
  }
  await preview();
}

window.TUNELAB_PAGES = Object.assign(window.TUNELAB_PAGES || {}, {new: newPage});
