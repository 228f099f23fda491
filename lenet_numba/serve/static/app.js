// The page: draw -> POST /api/predict -> draw the steps, maps and answer; train -> poll
// GET /api/train and redraw the curve, the kernels and (new weights) the answer.
"use strict";

const TOKEN = document.querySelector('meta[name="lenet-token"]').content;
const SEND_SIDE = 140;          // the drawing is sent at 140x140 grey levels (0-255)
const PEN_WIDTH = 20;           // px on the 280x280 pad: strokes as thick as the USPS digits'
const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const opts = { headers: { "X-Lenet-Token": TOKEN } };
  if (body !== undefined) {
    opts.method = "POST";
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  const data = await res.json();
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

// ---------------------------------------------------------------- drawing
const pad = $("pad");
const ctx = pad.getContext("2d");
let strokes = [];
let current = null;

function redrawPad() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  ctx.strokeStyle = "#000";
  ctx.lineWidth = PEN_WIDTH;
  ctx.lineCap = ctx.lineJoin = "round";
  for (const s of strokes) {
    ctx.beginPath();
    ctx.moveTo(s[0][0], s[0][1]);
    for (const [x, y] of s) ctx.lineTo(x, y);
    if (s.length === 1) ctx.lineTo(s[0][0] + 0.1, s[0][1]);
    ctx.stroke();
  }
}

function padPoint(e) {
  const r = pad.getBoundingClientRect();
  return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
}

pad.addEventListener("pointerdown", (e) => {
  e.preventDefault();
  pad.setPointerCapture(e.pointerId);
  current = [padPoint(e)];
  strokes.push(current);
  redrawPad();
});
pad.addEventListener("pointermove", (e) => {
  if (!current) return;
  current.push(padPoint(e));
  redrawPad();
});
function endStroke() {
  if (!current) return;
  current = null;
  predict();
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);
$("clear").onclick = () => { strokes = []; redrawPad(); clearAnswer(); };
$("undo").onclick = () => { strokes.pop(); redrawPad(); strokes.length ? predict() : clearAnswer(); };

function greyLevels() {
  const small = document.createElement("canvas");
  small.width = small.height = SEND_SIDE;
  const sctx = small.getContext("2d");
  sctx.drawImage(pad, 0, 0, SEND_SIDE, SEND_SIDE);
  const px = sctx.getImageData(0, 0, SEND_SIDE, SEND_SIDE).data;
  const rows = [];
  for (let y = 0; y < SEND_SIDE; y++) {
    const row = new Array(SEND_SIDE);
    for (let x = 0; x < SEND_SIDE; x++) row[x] = px[4 * (y * SEND_SIDE + x)];
    rows.push(row);
  }
  return rows;
}

// ---------------------------------------------------------------- predicting
let pending = false, again = false, info = null;

async function predict() {
  if (!strokes.length) return;
  if (pending) { again = true; return; }
  pending = true;
  try {
    const r = await api("/api/predict", { image: greyLevels() });
    $("predict-error").textContent = "";
    showAnswer(r);
  } catch (err) {
    $("predict-error").textContent = err.message;
  } finally {
    pending = false;
    if (again) { again = false; predict(); }
  }
}

function clearAnswer() {
  $("answer").textContent = "–";
  $("answer").className = "";
  $("reject-note").textContent = "";
  $("scores").innerHTML = "";
  $("layers").innerHTML = "";
  layerKey = "";
  for (const id of ["step-crop", "step-16", "step-input"]) $(id).getContext("2d").clearRect(0, 0, 96, 96);
}

function showAnswer(r) {
  const a = $("answer");
  a.textContent = String(r.digit);
  a.className = r.rejected ? "rejected" : "";
  a.dataset.answers = String(Number(a.dataset.answers || 0) + 1);   // how many answers shown so far
  $("reject-note").textContent = r.rejected ? "reject: not sure" : "";
  const lo = Math.min(0, ...r.scores), hi = Math.max(...r.scores);
  const best = r.scores.indexOf(hi);
  const rows = r.scores.map((s, k) => {
    const w = hi > lo ? (100 * (s - lo) / (hi - lo)) : 0;
    return `<span>${k}</span><span class="bar${k === best ? " best" : ""}" style="width:${w.toFixed(1)}%"></span>` +
           `<span>${s.toFixed(3)}</span>`;
  });
  $("scores").innerHTML = rows.join("");
  $("threshold").textContent = r.threshold === null
    ? `gap between the two best: ${r.gap.toFixed(3)}; ${info ? info.model.threshold_note : ""}`
    : `gap between the two best: ${r.gap.toFixed(3)}; rejected below ${r.threshold.toFixed(3)}`;
  showSteps(r);
  showLayers(r.layers);
}

// ---------------------------------------------------------------- pictures
function drawGrid(canvas, values, h, w, colour) {
  canvas.width = w; canvas.height = h;
  const c = canvas.getContext("2d");
  const img = c.createImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    const [r, g, b] = colour(values[i]);
    img.data[4 * i] = r; img.data[4 * i + 1] = g; img.data[4 * i + 2] = b; img.data[4 * i + 3] = 255;
  }
  c.putImageData(img, 0, 0);
}

// ink: +range black, -range white (like the digits); diverging: +red, -blue
const inkColour = (range) => (v) => { const g = Math.round(255 * (1 - Math.max(-1, Math.min(1, v / range))) / 2); return [g, g, g]; };
const signColour = (range) => (v) => {
  const t = Math.max(-1, Math.min(1, v / range));
  return t >= 0 ? [255, Math.round(255 * (1 - t)), Math.round(255 * (1 - t))] : [Math.round(255 * (1 + t)), Math.round(255 * (1 + t)), 255];
};

function showSteps(r) {
  const crop = $("step-crop"), cc = crop.getContext("2d");
  const k = pad.width / r.crop.width;
  const sx = r.crop.left * k, sy = r.crop.top * k, sw = (r.crop.right - r.crop.left) * k, sh = (r.crop.bottom - r.crop.top) * k;
  const s = 96 / Math.max(sw, sh);
  redrawPad();   // without the previous crop box
  cc.fillStyle = "#fff"; cc.fillRect(0, 0, 96, 96);
  cc.drawImage(pad, sx, sy, sw, sh, (96 - sw * s) / 2, (96 - sh * s) / 2, sw * s, sh * s);
  ctx.strokeStyle = "#c52"; ctx.lineWidth = 1;   // the crop box on the pad, until the next stroke
  ctx.strokeRect(sx, sy, sw, sh);
  const flat = r.input16.flat();   // as grey ink (+1 black), then as signed input values
  drawGrid($("step-16"), flat, 16, 16, inkColour(1));
  drawGrid($("step-input"), flat, 16, 16, signColour(1));
}

let layerKey = "";

// hidden maps on the activation's own scale: tanh in [-1, 1], scaled tanh in [-1.7159, 1.7159]
const activationRange = () => (info && info.model.activation === "scaled-tanh" ? 1.7159 : 1);

function showLayers(layers) {
  const box = $("layers");
  const key = layers.map((l) => l.name + l.shape.join("x")).join(",");
  if (key !== layerKey) {
    layerKey = key;
    box.innerHTML = layers.map((l, i) =>
      `<div class="layer" data-layer="${l.name}"><div class="layer-title">${l.name}: ${l.shape[0]}` +
      (l.shape[1] > 1 ? ` maps ${l.shape[1]}×${l.shape[2]}` : (i === layers.length - 1 ? " outputs" : " units")) +
      `</div><div class="maps"></div></div>`).join("");
  }
  layers.forEach((l, i) => {
    const maps = box.children[i].querySelector(".maps");
    const [c, h, w] = l.shape;
    const last = i === layers.length - 1;
    const range = last ? Math.max(1e-6, ...l.maps.flat(2).map(Math.abs)) : activationRange();
    if (h > 1 || w > 1) {
      while (maps.children.length < c) maps.appendChild(document.createElement("canvas"));
      const zoom = Math.max(2, Math.round(32 / w));
      l.maps.forEach((m, k) => {
        const cv = maps.children[k];
        cv.className = "map";
        cv.style.width = `${w * zoom}px`; cv.style.height = `${h * zoom}px`;
        drawGrid(cv, m.flat(), h, w, inkColour(range));
      });
    } else {
      if (!maps.children.length) maps.appendChild(document.createElement("canvas"));
      const cv = maps.children[0];
      cv.className = "map";
      const zoom = Math.min(14, Math.floor(440 / c));
      cv.style.width = `${c * zoom}px`; cv.style.height = `${zoom}px`;
      drawGrid(cv, l.maps.map((m) => m[0][0]), 1, c, inkColour(range));
    }
  });
}

// ---------------------------------------------------------------- learning
let polling = false, seenVersion = -1, kernelsVersion = -1;

async function loadInfo() {
  info = await api("/api/info");
  const m = info.model;
  $("model-info").textContent = `${m.arch} (${m.params} parameters): ${m.source}`;
  $("threshold").textContent = m.threshold === null ? m.threshold_note : `reject below a gap of ${m.threshold.toFixed(3)}: ${m.threshold_note}`;
  if (!$("arch").options.length) {
    $("arch").innerHTML = info.architectures.map((a) => `<option value="${a.name}" title="${a.description}">${a.name}</option>`).join("");
    $("recipe").innerHTML = info.recipes.map((r) => `<option value="${r.name}" title="${r.description}">${r.name}</option>`).join("");
    $("arch").value = m.arch;
    $("epochs").max = info.limits.max_epochs;
  }
  $("save").title = info.can_save ? "save into the server's --save-dir" : "saving is off (start the server with --save-dir)";
  return info;
}

$("train-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    const passes = $("epochs").value;   // empty: the recipe's number of passes for this network
    await api("/api/train", { arch: $("arch").value, recipe: $("recipe").value, seed: Number($("seed").value),
                              epochs: passes === "" ? null : Number(passes) });
    poll();
  } catch (err) {
    $("train-state").textContent = err.message;
  }
});
$("cancel").onclick = async () => { try { await api("/api/train/cancel", {}); } catch (err) { $("train-state").textContent = err.message; } };
$("save").onclick = async () => {
  try { const r = await api("/api/save", {}); $("train-state").textContent = `saved as ${r.saved}`; }
  catch (err) { $("train-state").textContent = err.message; }
};

async function poll() {
  if (polling) return;
  polling = true;
  try {
    for (;;) {
      const st = await api("/api/train");
      showTraining(st);
      if (st.version !== seenVersion) {
        seenVersion = st.version;
        await loadInfo();
        await showKernels();
        predict();   // the drawing, read by the newest weights
      }
      if (!["starting", "running", "cancelling"].includes(st.state)) break;
      await new Promise((ok) => setTimeout(ok, 300));
    }
  } catch (err) {
    $("train-state").textContent = err.message;
  } finally {
    polling = false;
  }
}

function showTraining(st) {
  const busy = ["starting", "running", "cancelling"].includes(st.state);
  $("train").disabled = busy;
  $("cancel").disabled = !busy || st.state === "cancelling";
  $("save").disabled = busy || !st.can_save || !["done", "cancelled"].includes(st.state);
  const p = st.progress ? ` pass ${st.progress.epoch}: ${st.progress.done}/${st.progress.total}` : "";
  const last = st.history.length ? st.history[st.history.length - 1] : null;
  const err = last ? `; after pass ${last.epoch}: train ${(100 * last.train_error).toFixed(2)}%, test ${(100 * last.test_error).toFixed(2)}%` : "";
  $("train-state").textContent = st.state === "failed" ? `failed: ${st.error}` : `${st.state}${busy ? p : ""}${err}`;
  drawCurve(st);
}

function drawCurve(st) {
  const svg = $("curve"), W = 320, H = 180, L = 34, B = 20;
  const n = Math.max(st.job ? st.job.epochs : 1, st.history.length, 1);
  const ymax = Math.max(0.05, ...st.history.map((h) => Math.max(h.train_error, h.test_error || 0)));
  const x = (e) => L + (W - L - 8) * (n > 1 ? (e - 1) / (n - 1) : 0.5);
  const y = (v) => 8 + (H - B - 8) * (1 - v / ymax);
  const line = (key, cls) => {
    const pts = st.history.map((h) => `${x(h.epoch).toFixed(1)},${y(h[key]).toFixed(1)}`);
    return `<polyline class="${cls}" fill="none" stroke-width="2" points="${pts.join(" ")}"/>` +
           st.history.map((h) => `<circle class="${cls}-dot" cx="${x(h.epoch).toFixed(1)}" cy="${y(h[key]).toFixed(1)}" r="2.5"/>`).join("");
  };
  svg.dataset.passes = String(st.history.length);
  svg.innerHTML =
    `<line x1="${L}" y1="${H - B}" x2="${W - 4}" y2="${H - B}" stroke="#888"/><line x1="${L}" y1="6" x2="${L}" y2="${H - B}" stroke="#888"/>` +
    `<text x="2" y="12" font-size="10">${(100 * ymax).toFixed(1)}%</text><text x="2" y="${H - B}" font-size="10">0%</text>` +
    `<text x="${W / 2}" y="${H - 4}" font-size="10">pass (of ${n})</text>` +
    `<style>.tr{stroke:#3a7}.te{stroke:#c52}.tr-dot{fill:#3a7}.te-dot{fill:#c52}</style>` +
    line("train_error", "tr") + line("test_error", "te");
}

async function showKernels() {
  const r = await api("/api/kernels");
  if (r.version === kernelsVersion) return;
  kernelsVersion = r.version;
  const box = $("kernels");
  const names = Object.keys(r.kernels).slice(0, 2);   // C1 and C2 (H1 and H2)
  box.innerHTML = names.map((n) => `<div class="layer"><div class="layer-title">${n} kernels (columns: output maps, rows: input maps; faded: not connected)</div><div class="maps" data-kernels="${n}"></div></div>`).join("");
  for (const n of names) {
    const { weights, connected } = r.kernels[n];
    const range = Math.max(1e-6, ...weights.flat(3).map(Math.abs));
    const maps = box.querySelector(`[data-kernels="${n}"]`);
    for (let i = 0; i < weights[0].length; i++) {   // a row per input map, a column per output map
      const line = document.createElement("div");
      weights.forEach((row, o) => {
        const k = row[i], cv = document.createElement("canvas");
        cv.className = "map";
        cv.style.width = cv.style.height = "20px";
        cv.style.opacity = connected[o][i] ? "1" : "0.15";
        drawGrid(cv, k.flat(), k.length, k[0].length, signColour(range));
        line.appendChild(cv);
      });
      maps.appendChild(line);
    }
  }
}

redrawPad();
loadInfo().then(() => { showKernels(); poll(); }).catch((err) => { $("model-info").textContent = err.message; });
