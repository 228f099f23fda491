// Training from the page: start, cancel, save; poll the run and draw its error per pass
// and the kernels of the network being read. A run trains the live network; the loaded
// one never changes, and the switch in the header says which one reads the drawing.
"use strict";

import { $, api, escapeHtml, state } from "./api.js";
import { drawGrid, keyHtml, signColour } from "./colours.js";

const BUSY = ["starting", "running", "cancelling"];
let polling = false, seenVersion = -1, kernelsShown = "";
let onNewWeights = () => {};

export async function loadInfo() {
  state.info = await api("/api/info");
  const live = $("model-switch").querySelector('input[value="live"]');
  live.disabled = !state.info.live;
  if (!state.info.live && state.reading === "live") choose("loaded");
  showModel();
  if (!$("arch").options.length) {
    $("arch").innerHTML = state.info.architectures.map((a) => `<option value="${a.name}" title="${escapeHtml(a.description)}">${a.name}</option>`).join("");
    $("recipe").innerHTML = state.info.recipes.map((r) => `<option value="${r.name}" title="${escapeHtml(r.description)}">${r.name}</option>`).join("");
    $("arch").value = state.info.loaded.arch;
    $("epochs").max = state.info.limits.max_epochs;
  }
  $("save").title = state.info.can_save ? "save the live run's network into the server's --save-dir" : "saving is off (start the server with --save-dir)";
  return state.info;
}

export function showModel() {
  const m = state.info[state.reading] || state.info.loaded;
  $("model-info").textContent = `${m.arch} (${m.params} parameters): ${m.source}`;
  $("threshold").textContent = m.threshold === null ? m.threshold_note
    : `Reject when the gap between the two best scores is below ${m.threshold.toFixed(3)}: that ${m.threshold_note}.`;
  document.body.dataset.reading = state.reading;
}

// the switch: which network reads the drawing in this tab
export function choose(which) {
  state.reading = which;
  $("model-switch").querySelector(`input[value="${which}"]`).checked = true;
  if (state.info) showModel();
}

export function listen(newWeights) {
  onNewWeights = newWeights;
  $("model-switch").addEventListener("change", (e) => { choose(e.target.value); showKernels(true); onNewWeights(); });
  $("train-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const passes = $("epochs").value;   // empty: the recipe's number of passes for this network
      await api("/api/train", { arch: $("arch").value, recipe: $("recipe").value, seed: Number($("seed").value),
                                epochs: passes === "" ? null : Number(passes) });
      watchLive = true;   // this tab asked for the run: it reads with it as soon as it exists
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
}

let watchLive = false;

export async function poll() {
  if (polling) return;
  polling = true;
  try {
    for (;;) {
      const st = await api("/api/train");
      showTraining(st);
      if (st.version !== seenVersion) {
        seenVersion = st.version;
        await loadInfo();
        if (watchLive && state.info.live) { watchLive = false; choose("live"); }
        await showKernels();
        onNewWeights();   // the drawing, read again (by the newest weights if reading the live run)
      }
      if (!BUSY.includes(st.state)) break;
      await new Promise((ok) => setTimeout(ok, 300));
    }
  } catch (err) {
    $("train-state").textContent = err.message;
  } finally {
    polling = false;
  }
}

function showTraining(st) {
  const busy = BUSY.includes(st.state);
  $("train").disabled = busy;
  $("cancel").disabled = !busy || st.state === "cancelling";
  $("save").disabled = busy || !st.can_save || !["done", "cancelled"].includes(st.state);
  if (st.state === "idle") return drawCurve(st);
  const p = st.progress ? ` pass ${st.progress.epoch}: ${st.progress.done}/${st.progress.total}` : "";
  const last = st.history.length ? st.history[st.history.length - 1] : null;
  const err = last ? `; after pass ${last.epoch}: train ${(100 * last.train_error).toFixed(2)}%, test ${(100 * last.test_error).toFixed(2)}%` : "";
  if (!$("train-state").textContent.startsWith("saved as") || busy)
    $("train-state").textContent = st.state === "failed" ? `failed: ${st.error}` : `${st.state}${busy ? p : ""}${err}`;
  drawCurve(st);
}

const niceStep = (span, most) => [1, 2, 5, 10, 20, 25, 50, 100].find((s) => span / s <= most) || Math.ceil(span / most);

export function drawCurve(st) {
  const svg = $("curve"), W = 320, H = 190, L = 40, B = 34, T = 8, R = 10;
  const n = Math.max(st.job ? st.job.epochs : 1, st.history.length, 1);
  // the error axis in round percentages: a top that is a whole number of nice steps
  const peak = 100 * Math.max(0.05, ...st.history.map((h) => Math.max(h.train_error, h.test_error || 0)));
  const ystep = [0.5, 1, 2, 2.5, 5, 10, 20, 25, 50].find((s) => peak / s <= 5) || 100;
  const ymax = Math.ceil(peak / ystep - 1e-9) * ystep / 100;
  const x = (e) => L + (W - L - R) * (n > 1 ? (e - 1) / (n - 1) : 0.5);
  const y = (v) => T + (H - B - T) * (1 - v / ymax);
  const line = (key, cls) => {
    const pts = st.history.map((h) => `${x(h.epoch).toFixed(1)},${y(h[key]).toFixed(1)}`);
    return `<polyline class="${cls}" fill="none" stroke-width="2" points="${pts.join(" ")}"/>` +
           st.history.map((h) => `<circle class="${cls}-dot" cx="${x(h.epoch).toFixed(1)}" cy="${y(h[key]).toFixed(1)}" r="2.5"><title>pass ${h.epoch}: ${(100 * h[key]).toFixed(2)}%</title></circle>`).join("");
  };
  const step = niceStep(n, 8);
  const xticks = [1, ...Array.from({ length: Math.floor(n / step) }, (_, k) => (k + 1) * step).filter((e) => e > 1 && e <= n)];
  const yticks = Array.from({ length: Math.round(100 * ymax / ystep) + 1 }, (_, k) => k * ystep / 100);
  svg.dataset.passes = String(st.history.length);
  svg.innerHTML =
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#888"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#888"/>` +
    yticks.map((v) => `<line x1="${L - 3}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>` +
                      `<text class="tick y" x="${L - 5}" y="${y(v) + 3}" text-anchor="end">${+(100 * v).toFixed(1)}%</text>`).join("") +
    xticks.map((e) => `<line x1="${x(e)}" x2="${x(e)}" y1="${H - B}" y2="${H - B + 3}" stroke="#888"/>` +
                      `<text class="tick x" x="${x(e)}" y="${H - B + 13}" text-anchor="middle">${e}</text>`).join("") +
    `<text class="axis" x="${(L + W - R) / 2}" y="${H - 4}" text-anchor="middle">pass (of ${n})</text>` +
    (st.history.length ? "" : `<text class="empty" x="${(L + W - R) / 2}" y="${(T + H - B) / 2}" text-anchor="middle">${st.state === "idle" ? "no run yet: Train to see the error per pass" : "waiting for the first pass…"}</text>`) +
    line("train_error", "tr") + line("test_error", "te");
}

export async function showKernels(force = false) {
  const which = state.info.live && state.reading === "live" ? "live" : "loaded";
  const r = await api(`/api/kernels?model=${which}`);
  const key = `${which}:${r.version}`;
  if (key === kernelsShown && !force) return;
  kernelsShown = key;
  const box = $("kernels");
  const names = Object.keys(r.kernels).slice(0, 2);   // C1 and C2 (H1 and H2)
  box.innerHTML = names.map((n) => `<div class="layer"><div class="layer-title">${n} kernels of the ${which} network: a column per output map, a row per input map</div>` +
    `<div class="key-row" data-kernel-key="${n}"></div><div class="kernel-grid" data-kernels="${n}"></div></div>`).join("");
  for (const n of names) {
    const { weights, connected } = r.kernels[n];
    const range = Math.max(1e-6, ...weights.flat(3).map(Math.abs));
    box.querySelector(`[data-kernel-key="${n}"]`).innerHTML = keyHtml(signColour, range, "", "", "weight") + " weight; faded: not connected";
    const grid = box.querySelector(`[data-kernels="${n}"]`);
    grid.style.gridTemplateColumns = `repeat(${weights.length}, 20px)`;
    for (let i = 0; i < weights[0].length; i++) {   // a row per input map, a column per output map
      weights.forEach((row, o) => {
        const k = row[i], cv = document.createElement("canvas");
        cv.className = "map kernel";
        cv.title = `${n}: output map ${o} from input map ${i}${connected[o][i] ? "" : " (not connected)"}`;
        cv.style.opacity = connected[o][i] ? "1" : "0.15";
        drawGrid(cv, k.flat(), k.length, k[0].length, signColour(range));
        grid.appendChild(cv);
      });
    }
  }
}
