// Metric charts (uPlot): one chart per metric, one series per run; data is fetched only when the chart
// scrolls into view, downsampled by the server to <= 2000 points; zooming asks for the range at full
// resolution; EMA smoothing and step/time x-axis are applied on the client.
import uPlot from "./vendor/uPlot.esm.js";
import { api, el } from "./common.js";

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
export const settings = { x: "step", smoothing: 0 };
const charts = new Set();
const observer = new IntersectionObserver((entries) => {
  for (const e of entries) if (e.isIntersecting) { observer.unobserve(e.target); e.target._chart.load(); }
}, { rootMargin: "200px" });

export function ema(ys, alpha) {
  if (!alpha) return ys;
  const out = new Array(ys.length);
  let acc = null;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (y === null || y === undefined) { out[i] = null; continue; }
    acc = acc === null ? y : alpha * acc + (1 - alpha) * y;
    out[i] = acc;
  }
  return out;
}

class Chart {
  constructor(container, name, sources) {
    this.name = name; this.sources = sources; this.raw = null; this.plot = null; this.range = null;
    this.box = el("div", { class: "chart", "data-metric": name }, el("div", { class: "chart-title" }, name), el("div", { class: "chart-body muted" }, "…"));
    this.box._chart = this;
    container.append(this.box);
    charts.add(this);
    observer.observe(this.box);
  }

  async fetch(range) {
    const qs = new URLSearchParams({ x: settings.x, max_points: 2000 });
    if (range) { qs.set("x0", range[0]); qs.set("x1", range[1]); }
    const parts = await Promise.all(this.sources.map((s) =>
      api(`/api/runs/${s.run_id}/metrics/${encodeURIComponent(this.name)}?${qs}`).catch(() => ({ x: [], y: [] }))));
    this.info = parts;
    return parts;
  }

  async load(range = null) {
    this.loaded = true;
    this.range = range;
    const parts = await this.fetch(range);
    this.raw = uPlot.join(parts.map((p) => [p.x, p.y]));
    const note = parts.some((p) => p.downsampled) ? " (downsampled; zoom for full resolution)" : "";
    this.box.querySelector(".chart-title").textContent = this.name + note;
    this.draw(range !== null);
    this.box.dataset.points = this.raw[0].length;
    this.box.dataset.series = parts.length;
  }

  data() {
    return [this.raw[0], ...this.raw.slice(1).map((ys) => ema(ys, settings.smoothing))];
  }

  draw(keepZoom) {
    const body = this.box.querySelector(".chart-body");
    if (this.plot && keepZoom) { this.ignore = true; this.plot.setData(this.data(), false); this.ignore = false; return; }
    if (this.plot) this.plot.destroy();
    body.replaceChildren();
    body.classList.remove("muted");
    const width = Math.max(300, body.clientWidth || 460);
    const opts = {
      width, height: 220, scales: { x: { time: settings.x === "time" } }, legend: { show: this.sources.length > 1 },
      series: [{ label: settings.x }, ...this.sources.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 1.25, spanGaps: true, points: { show: false } }))],
      axes: [{}, { size: 60 }],
      hooks: { setScale: [(u, key) => { if (key === "x" && !this.ignore && u.status === 1) this.zoomed(u); }] },
    };
    this.plot = new uPlot(opts, this.data(), body);
    this.plot.over.addEventListener("dblclick", () => this.load(null));
  }

  zoomed(u) {
    const { min, max } = u.scales.x;
    const full = this.raw[0];
    if (!full.length || (min <= full[0] && max >= full[full.length - 1])) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load([min, max]), 150);
  }

  redraw() { if (this.raw) this.draw(this.range !== null); }
}

export function addChart(container, name, sources) { return new Chart(container, name, sources); }
export function clearCharts() { for (const c of charts) c.plot?.destroy(); charts.clear(); }
export function reloadVisible(names = null) {
  for (const c of charts) if (c.loaded && c.range === null && (!names || names.has(c.name))) c.load(null);
}

export function bindToolbar(root = document) {
  const smooth = root.getElementById("smooth"), xaxis = root.getElementById("xaxis");
  smooth?.addEventListener("input", () => {
    settings.smoothing = Number(smooth.value);
    root.getElementById("smoothval").textContent = smooth.value;
    for (const c of charts) c.redraw();
  });
  xaxis?.addEventListener("change", () => {
    settings.x = xaxis.value;
    for (const c of charts) { if (c.plot) { c.plot.destroy(); c.plot = null; } if (c.loaded) c.load(null); }
  });
}
