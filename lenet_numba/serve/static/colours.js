// How values become colours, and the keys that say so. Hidden maps: grey ink, +max black
// and -max white like the digits themselves; signed quantities (the input, the kernels):
// red above zero, blue below.
"use strict";

export const clamp = (t) => Math.max(-1, Math.min(1, t));

export const inkColour = (range) => (v) => {
  const g = Math.round(255 * (1 - clamp(v / range)) / 2);
  return [g, g, g];
};

export const signColour = (range) => (v) => {
  const t = clamp(v / range);
  return t >= 0 ? [255, Math.round(255 * (1 - t)), Math.round(255 * (1 - t))]
                : [Math.round(255 * (1 + t)), Math.round(255 * (1 + t)), 255];
};

export const css = ([r, g, b]) => `rgb(${r},${g},${b})`;

// A key: a gradient from -range to +range with its end values and what they mean.
export function keyHtml(colour, range, low, high, what) {
  const stops = [-1, -0.5, 0, 0.5, 1].map((t) => css(colour(range)(t * range))).join(",");
  const fmt = (v) => (Number.isInteger(v) ? `${v > 0 ? "+" : v < 0 ? "\u2212" : ""}${Math.abs(v)}`
    : (v < 0 ? "\u2212" : "+") + Math.abs(v).toFixed(Math.abs(v) < 0.1 ? 3 : 2));
  return `<span class="key" title="${what}"><span class="key-end">${fmt(-range)} ${low}</span>` +
         `<i class="gradient" style="background:linear-gradient(90deg,${stops})"></i>` +
         `<span class="key-end">${fmt(range)} ${high}</span></span>`;
}

// Draw an h x w grid of values into a canvas (one pixel per value; CSS scales it up, pixelated).
export function drawGrid(canvas, values, h, w, colour) {
  canvas.width = w; canvas.height = h;
  const c = canvas.getContext("2d");
  const img = c.createImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    const [r, g, b] = colour(values[i]);
    img.data[4 * i] = r; img.data[4 * i + 1] = g; img.data[4 * i + 2] = b; img.data[4 * i + 3] = 255;
  }
  c.putImageData(img, 0, 0);
}
