// fmtune Studio: each page's behaviour, over the REST API (/api/v1). No framework, nothing loaded from elsewhere.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

class ApiError extends Error {
  constructor(status, message, problems) { super(message); this.status = status; this.problems = problems || []; }
}

async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) { options.body = JSON.stringify(body); options.headers["Content-Type"] = "application/json"; }
  const response = await fetch("/api/v1" + path, options);
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
  if (!response.ok) {
    const error = (data && data.error) || { message: text || response.statusText, problems: [] };
    throw new ApiError(response.status, error.message, error.problems);
  }
  return data;
}

function showErrors(box, error) {
  box.replaceChildren();
  if (!error) return;
  const problems = error.problems && error.problems.length ? error.problems.map((p) => p.message) : [error.message];
  for (const message of problems) box.append(el("div", { text: message }));
}

const fmt = {
  loss: (x) => (typeof x === "number" ? x.toFixed(4) : "–"),
  duration: (s) => {
    if (s === null || s === undefined) return "–";
    s = Math.round(s);
    return s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min` : s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
  },
  time: (iso) => (iso ? iso.slice(0, 19).replace("T", " ") : "–"),
  percent: (f) => `${Math.round(100 * (f || 0))} %`,
};

function badge(status) { return el("span", { class: `badge ${status}`, text: status }); }

// --- Models: filter the server-rendered table ---------------------------------------------------------------
function modelsPage() {
  const search = $("#search"), task = $("#task"), rows = [...document.querySelectorAll("#models tbody tr")];
  const apply = () => {
    const needle = search.value.trim().toLowerCase();
    let shown = 0;
    for (const row of rows) {
      const ok = (!needle || row.dataset.text.includes(needle)) && (!task.value || row.dataset.task === task.value);
      row.hidden = !ok;
      shown += ok ? 1 : 0;
    }
    $("#count").textContent = `${shown} of ${rows.length} models`;
  };
  search.addEventListener("input", apply);
  task.addEventListener("change", apply);
  apply();
}

// --- New fine-tune ----------------------------------------------------------------------------------------
const MAIN_HYPERPARAMETERS = ["epoch", "epochs", "max_steps", "learning_rate", "per_device_train_batch_size", "batch_size",
  "instruction_tuned", "chat_dataset", "max_input_length", "peft_type", "lora_r", "lora_alpha", "validation_split_ratio",
  "precision", "resolution", "with_prior_preservation"];

function newPage(data) {
  const state = { model: null, channels: { training: null, validation: null }, fields: {}, spec: data.spec };
  const modelSelect = $("#model");

  function hyperparameters() {
    const values = {};
    for (const [name, field] of Object.entries(state.fields)) {
      if (field.input.value !== field.initial) values[name] = field.input.value;
    }
    return values;
  }

  function spec() {
    const channels = {};
    for (const name of ["training", "validation"]) {
      const path = $(`#${name}-path`).value.trim();
      const where = path || state.channels[name];
      if (where) channels[name] = where;
    }
    const body = { model_id: modelSelect.value, channels, hyperparameters: hyperparameters(),
      tiny_random: $("#tiny-random").checked, accept_eula: $("#accept-eula").checked };
    const name = $("#job-name").value.trim();
    if (name) body.job_name = name;
    return body;
  }

  function clearProblems() {
    document.querySelectorAll(".field-error").forEach((node) => { node.textContent = ""; });
    document.querySelectorAll(".field.invalid").forEach((node) => node.classList.remove("invalid"));
  }

  // Each problem on its own field when it names one; the rest in `box`.
  function markProblems(error, box) {
    clearProblems();
    const rest = [];
    for (const problem of error.problems || []) {
      const slot = problem.key && document.getElementById(`err-${problem.key}`);
      if (slot) {
        slot.textContent = problem.message;
        const field = slot.closest(".field");
        if (field) field.classList.add("invalid");
      } else rest.push(problem);
    }
    showErrors(box, rest.length || !(error.problems || []).length ? { message: error.message, problems: rest } : null);
  }

  function fieldFor(row) {
    const id = `hp-${row.name}`;
    const input = row.choices.length
      ? el("select", { id, name: row.name }, ...row.choices.map((c) => el("option", { value: c, text: c })))
      : el("input", { type: "text", id, name: row.name });
    const initial = state.spec && row.name in state.spec.hyperparameters ? String(state.spec.hyperparameters[row.name]) : row.default;
    input.value = initial;
    state.fields[row.name] = { input, initial: row.default };
    input.addEventListener("input", scheduleCheck);
    input.addEventListener("change", scheduleCheck);
    return el("div", { class: "field" }, el("label", { for: id, text: row.name }), input,
      el("div", { class: "help", text: `${row.description} (${row.accepted})` }),
      el("div", { class: "field-error", id: `err-${row.name}` }));
  }

  async function loadModel() {
    const model = await api("GET", `/models/${encodeURIComponent(modelSelect.value)}`);
    state.model = model;
    state.fields = {};
    $("#model-info").textContent = `${model.task}: ${model.task_description}. ${model.parameters_billion}B parameters, ${model.license} license.`;
    $("#eula-row").hidden = !model.eula_required;
    $("#data-help").textContent = model.task === "text-to-image"
      ? "A folder of images of one subject, with dataset_info.json holding the instance prompt (JumpStart's DreamBooth layout)."
      : "Domain adaptation: .csv/.txt/.json(l) text. Instruction tuning: .jsonl rows shaped by template.json (set instruction_tuned=True). Chat: .jsonl with messages (chat_dataset=True).";
    const main = $("#hp-main"), more = $("#hp-more");
    main.replaceChildren(); more.replaceChildren();
    for (const row of model.hyperparameters) (MAIN_HYPERPARAMETERS.includes(row.name) ? main : more).append(fieldFor(row));
    $("#memory").textContent = model.estimated_peak_memory;
    if (state.spec) scheduleCheck();
  }

  let timer = null;
  function scheduleCheck() { clearTimeout(timer); timer = setTimeout(check, 250); }

  async function check() {
    try {
      const result = await api("POST", `/models/${encodeURIComponent(modelSelect.value)}/memory`, { hyperparameters: hyperparameters() });
      clearProblems();
      showErrors($("#start-errors"), null);
      $("#memory").textContent = result.estimated_peak_memory;
    } catch (error) {
      markProblems(error, $("#start-errors"));
    }
  }

  async function upload(channel) {
    const input = $(`#${channel}-files`), status = $(`#${channel}-status`);
    if (!input.files.length) return;
    const form = new FormData();
    for (const file of input.files) form.append("file", file, file.name);
    status.textContent = `uploading ${input.files.length} file(s)…`;
    $(`#err-channels\\.${channel}`).textContent = "";
    try {
      const dataset = await api("POST", "/datasets?name=" + encodeURIComponent(input.files[0].name), form);
      state.channels[channel] = dataset.id;
      $(`#${channel}-path`).value = "";
      status.textContent = `uploaded: ${dataset.files} file(s), ${(dataset.bytes / 1024).toFixed(1)} KB (dataset ${dataset.id})`;
    } catch (error) {
      state.channels[channel] = null;
      status.textContent = "";
      $(`#err-channels\\.${channel}`).textContent = error.message;
    }
  }

  function renderPreview(result) {
    $("#preview").hidden = false;
    const counts = Object.entries(result.counts).map(([k, v]) => `${v} ${k.replace("_", " ")}`).join(", ");
    const where = result.validation_source ? ` — validation: ${result.validation_source}` : "";
    $("#preview-summary").textContent = `Detected: ${result.mode}. ${counts}${where}.` +
      (result.max_input_length ? ` max_input_length ${result.max_input_length}.` : "");
    const rows = $("#preview-rows");
    rows.replaceChildren();
    for (const row of result.rows) {
      const sample = el("div", { class: "sample" }, el("span", { class: "origin", text: row.origin }));
      for (const segment of row.segments) sample.append(segment.learned ? el("mark", { text: segment.text }) : segment.text);
      rows.append(sample);
    }
    const hist = $("#hist"), labels = $("#hist-labels");
    hist.replaceChildren(); labels.replaceChildren();
    if (result.lengths) {
      const top = Math.max(1, ...result.lengths.histogram.map((b) => b.count));
      for (const bin of result.lengths.histogram) {
        hist.append(el("div", { style: `height:${(100 * bin.count) / top}%`, title: `${bin.from}–${bin.to} tokens: ${bin.count}` }));
      }
      labels.append(el("span", { text: "1" }), el("span", { text: `${result.max_input_length} tokens` }));
      $("#hist-note").textContent = `${result.lengths.examples} of ${result.lengths.of} examples measured; ${result.lengths.truncated} longer than max_input_length (cut).`;
    } else {
      $("#hist-note").textContent = "";
    }
    $("#preview-notices").replaceChildren(...result.notices.map((n) => el("p", { class: "notice", text: `note: ${n}` })));
  }

  async function preview() {
    showErrors($("#data-errors"), null);
    $("#preview").hidden = true;
    $("#preview-button").disabled = true;
    try {
      renderPreview(await api("POST", "/datasets/preview", spec()));
      clearProblems();
    } catch (error) {
      markProblems(error, $("#data-errors"));
    } finally {
      $("#preview-button").disabled = false;
    }
  }

  async function showCode() {
    try {
      const code = await api("POST", "/jobs/command", spec());
      $("#code-cli").textContent = code.cli;
      $("#code-sdk").textContent = code.sdk;
      $("#code").hidden = false;
      showErrors($("#start-errors"), null);
    } catch (error) {
      markProblems(error, $("#start-errors"));
    }
  }

  async function start() {
    $("#start").disabled = true;
    try {
      const job = await api("POST", "/jobs", spec());
      window.location = `/jobs/${encodeURIComponent(job.name)}`;
    } catch (error) {
      markProblems(error, $("#start-errors"));
      $("#start").disabled = false;
    }
  }

  if (state.spec) {
    for (const [name, where] of Object.entries(state.spec.channels)) {
      const input = $(`#${name}-path`);
      if (input) input.value = where;
    }
    $("#tiny-random").checked = state.spec.tiny_random;
    $("#accept-eula").checked = state.spec.accept_eula;
  }
  modelSelect.addEventListener("change", () => { state.spec = null; loadModel(); });
  for (const channel of ["training", "validation"]) $(`#${channel}-files`).addEventListener("change", () => upload(channel));
  $("#preview-button").addEventListener("click", preview);
  $("#show-code").addEventListener("click", showCode);
  $("#start").addEventListener("click", start);
  loadModel();
}

// --- Jobs list: refreshed from the job store every 2 s ---------------------------------------------------------
function jobsPage(data) {
  const body = $("#jobs tbody");
  function render(jobs) {
    $("#no-jobs").hidden = jobs.length > 0;
    body.replaceChildren(...jobs.map((job) => el("tr", { "data-job": job.name },
      el("td", {}, el("a", { href: `/jobs/${encodeURIComponent(job.name)}`, text: job.name }), el("div", { class: "muted small", text: job.model })),
      el("td", {}, badge(job.status)),
      el("td", {}, el("div", { class: "bar" }, el("div", { style: `width:${100 * job.progress}%` })),
        el("span", { class: "small muted", text: job.total_steps ? `step ${job.step}/${job.total_steps}` : "" })),
      el("td", { text: fmt.duration(job.eta_seconds) }),
      el("td", { text: fmt.loss(job.best_eval_loss) }),
      el("td", { class: "small", text: fmt.time(job.created) }))));
  }
  render(data.jobs);
  setInterval(async () => { try { render(await api("GET", "/jobs")); } catch (e) { /* the next refresh retries */ } }, 2000);
}

// --- One job: live log, loss chart, progress, actions --------------------------------------------------------
function drawChart(svg, steps, epochs) {
  const W = 900, H = 260, L = 48, R = 12, T = 12, B = 28;
  svg.replaceChildren();
  const ns = "http://www.w3.org/2000/svg";
  const node = (tag, attrs) => { const n = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); svg.append(n); return n; };
  // an evaluation job's steps are its progress: they carry no loss
  const trainPoints = steps.filter((s) => typeof s.loss === "number").map((s) => [s.step, s.loss]);
  // An epoch's evaluation sits at its last step (epoch 0, the untrained model, at step 0).
  const lastStep = (epoch) => Math.max(0, ...steps.filter((s) => s.epoch === epoch).map((s) => s.step));
  const evalPoints = epochs.filter((e) => typeof e.eval_loss === "number").map((e) => [e.step ?? lastStep(e.epoch), e.eval_loss]);
  const all = [...trainPoints, ...evalPoints];
  if (!all.length) { const t = node("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }); t.textContent = "waiting for the first step…"; return; }
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const x0 = Math.min(0, ...xs), x1 = Math.max(1, ...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const pad = (y1 - y0) * 0.08 || 0.1;
  const X = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const Y = (y) => T + (1 - (y - (y0 - pad)) / (y1 + pad - (y0 - pad))) * (H - T - B);
  node("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#ccd" });
  node("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#ccd" });
  for (let i = 0; i <= 4; i++) {
    const y = y0 - pad + ((y1 + pad - (y0 - pad)) * i) / 4;
    node("line", { x1: L, y1: Y(y), x2: W - R, y2: Y(y), stroke: "#eef" });
    const label = node("text", { x: L - 6, y: Y(y) + 4, "text-anchor": "end" }); label.textContent = y.toFixed(2);
  }
  const xl = node("text", { x: W - R, y: H - 8, "text-anchor": "end" }); xl.textContent = `step ${x1}`;
  if (trainPoints.length) node("polyline", { points: trainPoints.map((p) => `${X(p[0])},${Y(p[1])}`).join(" "), fill: "none", stroke: "#2f5bd3", "stroke-width": 1.6, class: "train-line" });
  for (const p of evalPoints) node("circle", { cx: X(p[0]), cy: Y(p[1]), r: 4.5, fill: "#d2691e", class: "eval-point" });
}

function jobPage(data) {
  let job = data.job;
  const name = job.name, steps = new Map(), epochs = new Map();
  const log = $("#log"), svg = $("#chart");
  let drawPending = false;
  const redraw = () => {
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(() => { drawPending = false; drawChart(svg, [...steps.values()].sort((a, b) => a.step - b.step), [...epochs.values()]); });
  };

  function renderSummary() {
    const status = $("#status");
    status.textContent = job.status;
    status.className = `badge ${job.status}`;
    $("#progress-bar").style.width = `${100 * job.progress}%`;
    $("#progress-text").textContent = job.total_steps ? ` step ${job.step} of ${job.total_steps} (${fmt.percent(job.progress)})` : ` ${fmt.percent(job.progress)}`;
    $("#eta").textContent = job.status === "InProgress" ? fmt.duration(job.eta_seconds) : "–";
    $("#best").textContent = fmt.loss(job.best_eval_loss);
    $("#failure").textContent = job.failure_reason ? `Reason: ${job.failure_reason}` : "";
    const active = job.status === "InProgress" || job.status === "Pending";
    $("#stop").disabled = !active;
    $("#resume").disabled = !(job.status === "Failed" || job.status === "Stopped");
    $("#deploy").disabled = !job.model_dir;
    $("#delete").disabled = active;
    const downloads = $("#downloads");
    if (job.artifacts.length) {
      downloads.replaceChildren(...job.artifacts.map((kind) => el("a", { class: "button secondary", href: `/api/v1/jobs/${encodeURIComponent(name)}/artifacts/${kind}`,
        text: kind === "report" ? "evaluation report" : kind, target: kind === "report" ? "_blank" : null })));
    }
    if (job.previews.length) {
      $("#previews-panel").hidden = false;
      $("#previews").replaceChildren(...job.previews.map((file) => el("figure", {},
        el("img", { src: `/api/v1/jobs/${encodeURIComponent(name)}/previews/${encodeURIComponent(file)}`, alt: file, loading: "lazy" }), file)));
    }
  }

  function follow() {
    log.textContent = "";
    steps.clear(); epochs.clear();
    const source = new EventSource(`/api/v1/jobs/${encodeURIComponent(name)}/events`);
    source.addEventListener("log", (e) => {
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.append(JSON.parse(e.data) + "\n");
      if (atBottom) log.scrollTop = log.scrollHeight;
    });
    source.addEventListener("step", (e) => {
      const record = JSON.parse(e.data);
      steps.set(record.step, record);
      if (record.total_steps) {
        job.step = record.step; job.total_steps = record.total_steps;
        job.progress = Math.min(record.step / record.total_steps, 1);
        $("#progress-bar").style.width = `${100 * job.progress}%`;
        $("#progress-text").textContent = ` step ${job.step} of ${job.total_steps} (${fmt.percent(job.progress)})`;
      }
      redraw();
    });
    source.addEventListener("epoch", (e) => { const record = JSON.parse(e.data); epochs.set(record.epoch, record); redraw(); });
    source.addEventListener("status", (e) => { job = JSON.parse(e.data); renderSummary(); });
    source.addEventListener("end", async () => {
      source.close();
      job = await api("GET", `/jobs/${encodeURIComponent(name)}`);
      renderSummary();
      redraw();
    });
    source.onerror = () => { /* EventSource reconnects by itself; the stream starts over from the beginning */ log.textContent = ""; steps.clear(); epochs.clear(); };
  }

  async function act(button, method, path, then) {
    button.disabled = true;
    showErrors($("#job-errors"), null);
    try { const result = await api(method, path); await then(result); } catch (error) { showErrors($("#job-errors"), error); renderSummary(); }
  }
  $("#stop").addEventListener("click", () => act($("#stop"), "POST", `/jobs/${encodeURIComponent(name)}/stop`, async (j) => { job = j; renderSummary(); }));
  $("#resume").addEventListener("click", () => act($("#resume"), "POST", `/jobs/${encodeURIComponent(name)}/resume`, async (j) => { job = j; renderSummary(); follow(); }));
  $("#delete").addEventListener("click", () => {
    if (!window.confirm(`Delete job ${name} and its folder?`)) return;
    act($("#delete"), "DELETE", `/jobs/${encodeURIComponent(name)}`, async () => { window.location = "/jobs"; });
  });
  $("#deploy").addEventListener("click", async () => {
    $("#deploy").disabled = true;
    $("#deploy").textContent = "Deploying…";
    try {
      const endpoint = await api("POST", "/endpoints", { job: name });
      window.location = `/playground/${encodeURIComponent(endpoint.name)}`;
    } catch (error) {
      showErrors($("#job-errors"), error);
      $("#deploy").textContent = "Deploy";
      renderSummary();
    }
  });
  renderSummary();
  redraw();
  follow();
}

// --- Endpoints ----------------------------------------------------------------------------------------------
function endpointsPage(data) {
  const body = $("#endpoints tbody");
  function render(endpoints) {
    $("#no-endpoints").hidden = endpoints.length > 0;
    body.replaceChildren(...endpoints.map((e) => el("tr", { "data-endpoint": e.name },
      el("td", {}, el("a", { href: `/playground/${encodeURIComponent(e.name)}`, text: e.name }), el("div", { class: "muted small", text: e.task })),
      el("td", { text: e.models.join(", ") || e.error || e.model }),
      el("td", { class: "small", text: e.url }),
      el("td", {}, el("div", { class: "actions" },
        el("a", { class: "button secondary", href: `/playground/${encodeURIComponent(e.name)}`, text: "Playground" }),
        el("button", { class: "danger", type: "button", text: "Delete", onclick: async (event) => {
          event.target.disabled = true;
          try { await api("DELETE", `/endpoints/${encodeURIComponent(e.name)}`); render(await api("GET", "/endpoints")); }
          catch (error) { showErrors($("#deploy-errors"), error); event.target.disabled = false; }
        } }))))));
  }
  render(data.endpoints);
  $("#deploy-model-button").addEventListener("click", async () => {
    const adapters = {};
    for (const line of $("#deploy-adapters").value.split("\n")) {
      const [key, ...rest] = line.split("=");
      if (key.trim()) adapters[key.trim()] = rest.join("=").trim();
    }
    $("#deploy-model-button").disabled = true;
    try {
      const endpoint = await api("POST", "/endpoints", { model: $("#deploy-model").value.trim(), adapters });
      window.location = `/playground/${encodeURIComponent(endpoint.name)}`;
    } catch (error) { showErrors($("#deploy-errors"), error); }
    $("#deploy-model-button").disabled = false;
  });
}

// --- Playground: compare, chat, images ----------------------------------------------------------------------
function playgroundPage(data) {
  const endpoint = data.endpoint, base = `/endpoints/${encodeURIComponent(endpoint.name)}`, errors = $("#play-errors");
  if (endpoint.task === "text-to-image") {
    $("#generate").addEventListener("click", async () => {
      $("#generate").disabled = true;
      showErrors(errors, null);
      const gallery = $("#images");
      gallery.replaceChildren();
      try {
        for (const model of endpoint.models) {
          const result = await api("POST", `${base}/images`, { prompt: $("#image-prompt").value, model,
            steps: Number($("#image-steps").value), seed: Number($("#image-seed").value) });
          gallery.append(el("figure", {}, el("img", { src: `data:image/png;base64,${result.data[0].b64_json}`, alt: model, style: "width:256px;height:256px" }), model));
        }
      } catch (error) { showErrors(errors, error); }
      $("#generate").disabled = false;
    });
    return;
  }
  $("#compare").addEventListener("click", async () => {
    const prompt = $("#compare-prompt").value.trim();
    if (!prompt) return;
    $("#compare").disabled = true;
    showErrors(errors, null);
    const sides = ["left", "right"];
    for (const side of sides) $(`#answer-${side}`).textContent = "…";
    try {
      const result = await api("POST", `${base}/compare`, { prompt, models: sides.map((s) => $(`#compare-${s}`).value) });
      result.answers.forEach((answer, i) => {
        $(`#answer-${sides[i]}`).textContent = answer.text + (answer.finish_reason === "length" ? "  [stopped at the length limit]" : "");
      });
    } catch (error) { showErrors(errors, error); }
    $("#compare").disabled = false;
  });
  const messages = [], chat = $("#chat");
  const show = (message) => { chat.append(el("div", { class: `msg ${message.role}`, text: message.content })); chat.scrollTop = chat.scrollHeight; };
  async function send() {
    const text = $("#chat-input").value.trim();
    if (!text) return;
    $("#chat-input").value = "";
    messages.push({ role: "user", content: text });
    show(messages[messages.length - 1]);
    $("#chat-send").disabled = true;
    try {
      const reply = await api("POST", `${base}/chat`, { messages, model: $("#chat-model").value, max_tokens: 128 });
      const message = { role: "assistant", content: reply.choices[0].message.content };
      messages.push(message);
      show(message);
    } catch (error) { messages.pop(); showErrors(errors, error); }
    $("#chat-send").disabled = false;
  }
  $("#chat-send").addEventListener("click", send);
  $("#chat-input").addEventListener("keydown", (e) => { if (e.key === "Enter") send(); });
  $("#chat-clear").addEventListener("click", () => { messages.length = 0; chat.replaceChildren(); });
}

const PAGES = { models: modelsPage, new: newPage, jobs: jobsPage, job: jobPage, endpoints: endpointsPage, playground: playgroundPage };

document.addEventListener("DOMContentLoaded", () => {
  const page = PAGES[document.body.dataset.page];
  if (page) page(JSON.parse($("#page-data").textContent));
});
