// The preprocessing steps and every layer's maps for the last answer, each unit large
// enough to read; hovering (or tapping) a unit says its value and what feeds it, and
// outlines those inputs in the layer before.
"use strict";

import { $, escapeHtml, network, state } from "./api.js";
import { drawGrid, inkColour, keyHtml, signColour } from "./colours.js";

const MAP_PX = 64;        // a map is drawn about this wide, whatever its size in units
const UNIT_PX = 24;       // a dense unit's cell
const ACTIVATION_RANGE = { tanh: 1, "scaled-tanh": 1.7159 };

const rangeOf = (activation, values) =>
  ACTIVATION_RANGE[activation] || Math.max(1e-6, ...values.map(Math.abs));

export function showSteps(r, pad) {
  const crop = $("step-crop"), cc = crop.getContext("2d");
  const k = pad.width / r.crop.width;
  const sx = r.crop.left * k, sy = r.crop.top * k, sw = (r.crop.right - r.crop.left) * k, sh = (r.crop.bottom - r.crop.top) * k;
  const s = 96 / Math.max(sw, sh);
  cc.fillStyle = "#fff"; cc.fillRect(0, 0, 96, 96);
  cc.drawImage(pad, sx, sy, sw, sh, (96 - sw * s) / 2, (96 - sh * s) / 2, sw * s, sh * s);
  const flat = r.input16.flat();   // as grey ink (+1 black), then as signed input values
  drawGrid($("step-16"), flat, 16, 16, inkColour(1));
  drawGrid($("step-input"), flat, 16, 16, signColour(1));
  $("steps-key").innerHTML = `<span>16×16:</span>${keyHtml(inkColour, 1, "paper", "ink", "grey level")}` +
    `<span>input:</span>${keyHtml(signColour, 1, "", "", "input value")}`;
  return [sx, sy, sw, sh];
}

export function clearLayers() {
  $("layers").innerHTML = '<p class="empty-state">Draw a digit: every layer\'s maps for it appear here, from the first convolution to the 10 outputs.</p>';
  $("layer-key").innerHTML = "";
  $("steps-key").innerHTML = "";
  $("unit-details").textContent = "hover over (or tap) a unit to see its value and what feeds it";
  layoutKey = "";
  for (const id of ["step-16", "step-input"]) drawGrid($(id), new Array(256).fill(-1), 16, 16, inkColour(1));
  const cc = $("step-crop").getContext("2d");
  cc.fillStyle = "#fff"; cc.fillRect(0, 0, 96, 96);
}

let layoutKey = "";

function layerTitle(l, i, n) {
  const [c, h, w] = l.shape;
  if (i === n - 1) return `${l.name}: ${c} outputs, one per digit`;
  return h > 1 || w > 1 ? `${l.name}: ${c} maps ${h}×${w}` : `${l.name}: ${c} units`;
}

function layout(layers) {
  const n = layers.length;
  $("layers").innerHTML = layers.map((l, i) => {
    const [c, h, w] = l.shape;
    let body;
    if (h > 1 || w > 1) {
      const zoom = Math.max(2, Math.round(MAP_PX / w));
      body = Array.from({ length: c }, (_, k) =>
        `<span class="map-wrap" data-map="${k}" title="map ${k}"><canvas class="map" style="width:${w * zoom}px;height:${h * zoom}px"></canvas></span>`).join("");
    } else {
      const out = i === n - 1;
      body = `<div class="units${out ? " outputs" : ""}" style="grid-template-columns:repeat(${Math.min(c, 10)}, ${UNIT_PX}px)">` +
        Array.from({ length: c }, (_, k) => `<span class="unit" data-unit="${k}">${out ? k : ""}</span>`).join("") + "</div>";
    }
    return `<div class="layer" data-layer="${l.name}" data-index="${i}"><div class="layer-title">${layerTitle(l, i, n)}</div>` +
           `<div class="maps">${body}</div></div>`;
  }).join("");
}

export function showLayers(r) {
  const layers = r.layers, net = network();
  const key = r.arch + layers.map((l) => l.name + l.shape.join("x")).join(",");
  if (key !== layoutKey) { layoutKey = key; layout(layers); }
  const hidden = rangeOf(net.activation, []);
  const outRange = rangeOf(net.output_activation, r.scores);
  $("layer-key").innerHTML = keyHtml(inkColour, hidden, "", "", "a hidden unit's value") + ` <span>unit value (${net.activation})</span>` +
    (outRange !== hidden ? ` · outputs: ${keyHtml(inkColour, outRange, "", "", "an output's value")}` : "");
  const box = $("layers");
  layers.forEach((l, i) => {
    const [c, h, w] = l.shape;
    const el = box.children[i];
    const range = i === layers.length - 1 ? outRange : hidden;
    if (h > 1 || w > 1) {
      el.querySelectorAll("canvas.map").forEach((cv, k) => drawGrid(cv, l.maps[k].flat(), h, w, inkColour(range)));
    } else {
      const colour = inkColour(range);
      el.querySelectorAll(".unit").forEach((u, k) => {
        const [g] = colour(l.maps[k][0][0]);
        u.style.background = `rgb(${g},${g},${g})`;
        u.style.color = g < 128 ? "#fff" : "#000";
      });
    }
  });
  refreshDetails();
}

// ---------------------------------------------------------------- hover details

let pointed = null;   // {layer index, map, row, col} under the pointer

function unitAt(target, e) {
  const layerEl = target.closest(".layer");
  if (!layerEl) return null;
  const i = Number(layerEl.dataset.index);
  const unit = target.closest(".unit");
  if (unit) return { i, map: Number(unit.dataset.unit), row: 0, col: 0 };
  const wrap = target.closest(".map-wrap");
  if (!wrap || !state.answer) return null;
  const [, h, w] = state.answer.layers[i].shape;
  const rect = wrap.firstElementChild.getBoundingClientRect();
  const col = Math.floor((e.clientX - rect.left) / rect.width * w), row = Math.floor((e.clientY - rect.top) / rect.height * h);
  if (row < 0 || col < 0 || row >= h || col >= w) return null;
  return { i, map: Number(wrap.dataset.map), row, col };
}

const span = (a, b) => (a === b ? `${a}` : `${a}–${b}`);
const list = (xs) => (xs.length > 8 ? `${xs.slice(0, 8).join(", ")}, …` : xs.join(", "));

// What feeds unit u of layer i: a text, and the boxes to outline in the layer before
// ({target: canvas, rows [a, b], cols [c, d]} in that canvas's units).
function feeds(u) {
  const r = state.answer, net = network(), layers = r.layers, d = net.layers[u.i];
  const srcName = u.i === 0 ? "the 16×16 input" : layers[u.i - 1].name;
  const srcShape = u.i === 0 ? net.input_shape : layers[u.i - 1].shape;
  const srcCanvas = (m) => (u.i === 0 ? $("step-input")
    : $("layers").children[u.i - 1].querySelectorAll("canvas.map")[m]);
  const act = u.i === layers.length - 1 ? net.output_activation : net.activation;
  if (d.kind === "conv") {
    const top = u.row * d.stride - d.pad, left = u.col * d.stride - d.pad;
    const rows = [Math.max(0, top), Math.min(srcShape[1] - 1, top + d.kernel - 1)];
    const cols = [Math.max(0, left), Math.min(srcShape[2] - 1, left + d.kernel - 1)];
    const maps = d.connected[u.map].flatMap((on, m) => (on ? [m] : []));
    const padded = rows[1] - rows[0] + 1 < d.kernel || cols[1] - cols[0] + 1 < d.kernel ? ", the rest padding" : "";
    return {
      text: `← a ${d.kernel}×${d.kernel} window (rows ${span(...rows)}, cols ${span(...cols)}${padded}) of ${srcName}` +
            `${srcShape[0] > 1 ? ` maps ${list(maps)} (${maps.length} of ${srcShape[0]})` : ""}, weighted by map ${u.map}'s kernels, + bias, through ${act}`,
      boxes: maps.map((m) => ({ target: srcCanvas(m), rows, cols })),
    };
  }
  if (d.kind === "subsample") {
    const rows = [2 * u.row, 2 * u.row + 1], cols = [2 * u.col, 2 * u.col + 1];
    return { text: `← the mean of the 2×2 block (rows ${span(...rows)}, cols ${span(...cols)}) of ${srcName} map ${u.map}, × weight + bias, through ${act}`,
             boxes: [{ target: srcCanvas(u.map), rows, cols }] };
  }
  const n = srcShape[0] * srcShape[1] * srcShape[2];
  const whole = u.i === 0 || srcShape[1] > 1 || srcShape[2] > 1
    ? Array.from({ length: srcShape[0] }, (_, m) => ({ target: srcCanvas(m), rows: [0, srcShape[1] - 1], cols: [0, srcShape[2] - 1] }))
    : [{ target: $("layers").children[u.i - 1].querySelector(".units"), whole: true }];
  return { text: `← all ${n} units of ${srcName}, weighted, + bias, through ${act}`, boxes: whole };
}

function outline(target, rows, cols, cls) {
  if (!target) return;
  const box = document.createElement("i");
  box.className = cls;
  const [h, w] = [target.height || 1, target.width || 1];
  const sy = target.clientHeight / h, sx = target.clientWidth / w;
  const [r0, r1] = rows || [0, h - 1], [c0, c1] = cols || [0, w - 1];
  Object.assign(box.style, { left: `${target.offsetLeft + c0 * sx}px`, top: `${target.offsetTop + r0 * sy}px`,
                             width: `${(c1 - c0 + 1) * sx}px`, height: `${(r1 - r0 + 1) * sy}px` });
  target.parentElement.appendChild(box);
}

function refreshDetails() {
  document.querySelectorAll("i.feed, i.here").forEach((b) => b.remove());
  const u = pointed, r = state.answer;
  if (!u || !r || !r.layers[u.i]) return;
  const l = r.layers[u.i], last = u.i === r.layers.length - 1;
  const v = l.maps[u.map][u.row][u.col];
  const where = l.shape[1] > 1 || l.shape[2] > 1 ? ` map ${u.map}, row ${u.row} col ${u.col}` : last ? ` output for digit ${u.map}` : ` unit ${u.map}`;
  const f = feeds(u);
  $("unit-details").innerHTML = `<b>${escapeHtml(l.name)}${where}: ${v.toFixed(4)}</b> ${escapeHtml(f.text)}`;
  for (const b of f.boxes) {
    if (b.whole) { b.target && b.target.classList.add("fed"); continue; }
    outline(b.target, b.rows, b.cols, "feed");
  }
  const el = $("layers").children[u.i];
  if (l.shape[1] > 1 || l.shape[2] > 1) outline(el.querySelectorAll("canvas.map")[u.map], [u.row, u.row], [u.col, u.col], "here");
}

function point(e) {
  const u = unitAt(e.target, e);
  if (!u) return;
  if (pointed && u.i === pointed.i && u.map === pointed.map && u.row === pointed.row && u.col === pointed.col) return;
  pointed = u;
  document.querySelectorAll(".fed").forEach((x) => x.classList.remove("fed"));
  refreshDetails();
}

export function listenForHover() {
  $("layers").addEventListener("pointermove", point);
  $("layers").addEventListener("pointerdown", point);   // a tap on a phone
}
