// What every part of the page shares: the API call, the element look-up, and the page's
// state (the networks the server holds, and which one this tab reads the drawing with).
"use strict";

const TOKEN = document.querySelector('meta[name="lenet-token"]').content;

export const $ = (id) => document.getElementById(id);

export const state = {
  info: null,          // GET /api/info: {loaded, live, version, architectures, recipes, ...}
  reading: "loaded",   // "loaded" or "live": the network the drawing is read by, in this tab
  answer: null,        // the last /api/predict answer shown
};

// the description of the network being read (its layers, threshold, source)
export const network = () => (state.info ? state.info[state.reading] || state.info.loaded : null);

export async function api(path, body) {
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

export const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
