// The page: draw -> POST /api/predict (read by the network the header's switch names) ->
// the steps, every layer's maps and the answer; the Learn panel trains the live network.
"use strict";

import { $, api, network, state } from "./api.js";
import { clearLayers, listenForHover, showLayers, showSteps } from "./layers.js";
import { listen, loadInfo, poll, showKernels } from "./learn.js";

const SEND_SIDE = 140;          // the drawing is sent at 140x140 grey levels (0-255)
const PEN_WIDTH = 20;           // px on the 280x280 pad: strokes as thick as the USPS digits'
const EMPTY_NOTE = "draw a digit in the box: the network reads it after every stroke";

// ---------------------------------------------------------------- drawing
const pad = $("pad");
const ctx = pad.getContext("2d");
let strokes = [];
let current = null;
let cropBox = null;   // the ink box of the last answer, outlined on the pad

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

function outlineCrop() {
  if (!cropBox || current) return;
  ctx.strokeStyle = "#c52"; ctx.lineWidth = 1;
  ctx.strokeRect(...cropBox);
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
  redrawPad();   // without the crop outline
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
let pending = false, again = false;

async function predict() {
  if (!strokes.length) return;
  if (pending) { again = true; return; }
  pending = true;
  try {
    const r = await api("/api/predict", { image: greyLevels(), model: state.reading });
    $("predict-error").textContent = "";
    if (strokes.length) showAnswer(r);
  } catch (err) {
    $("predict-error").textContent = err.message;
  } finally {
    pending = false;
    if (again) { again = false; predict(); }
  }
}

function clearAnswer() {
  const a = $("answer");
  a.textContent = "?";
  a.className = "empty";
  a.dataset.digit = "";
  $("answer-note").textContent = EMPTY_NOTE;
  $("answer-note").className = "note";
  $("scores").innerHTML = "";
  state.answer = null;
  cropBox = null;
  clearLayers();
  const m = network();
  if (m) $("threshold").textContent = m.threshold === null ? m.threshold_note
    : `Reject when the gap between the two best scores is below ${m.threshold.toFixed(3)}: that ${m.threshold_note}.`;
}

function showAnswer(r) {
  state.answer = r;
  const a = $("answer");
  a.textContent = String(r.digit);
  a.className = r.rejected ? "rejected" : "";
  a.dataset.digit = String(r.digit);
  a.dataset.answers = String(Number(a.dataset.answers || 0) + 1);   // how many answers shown so far
  a.dataset.model = r.model;
  const verdict = r.threshold === null ? "no reject threshold (no test set)"
    : r.rejected ? `rejected: not sure (gap ${r.gap.toFixed(3)} < ${r.threshold.toFixed(3)})`
    : `accepted (gap ${r.gap.toFixed(3)} ≥ ${r.threshold.toFixed(3)})`;
  $("answer-note").textContent = `read by the ${r.model} network (${r.arch}); ${verdict}`;
  $("answer-note").className = r.rejected ? "note rejected" : "note";
  const lo = Math.min(0, ...r.scores), hi = Math.max(...r.scores);
  const best = r.scores.indexOf(hi);
  $("scores").innerHTML = '<span class="score-head">digit</span><span class="score-head">score</span><span></span>' +
    r.scores.map((s, k) => {
      const w = hi > lo ? (100 * (s - lo) / (hi - lo)) : 0;
      return `<span class="digit">${k}</span><span class="bar-track"><span class="bar${k === best ? " best" : ""}" style="width:${w.toFixed(1)}%"></span></span>` +
             `<span class="value">${s.toFixed(3)}</span>`;
    }).join("");
  cropBox = showSteps(r, pad);
  redrawPad();
  outlineCrop();
  showLayers(r);
}

// ---------------------------------------------------------------- start
redrawPad();
clearAnswer();
listenForHover();
listen(predict);
loadInfo().then(() => { clearAnswer(); showKernels(); poll(); }).catch((err) => { $("model-info").textContent = err.message; });
