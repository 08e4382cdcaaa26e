// Compare: overlaid charts per metric, the parameters that differ, a metric table and, for a sweep's
// children, parallel coordinates of the hyperparameters against the primary metric.
import { api, el, fmtNum, showError, statusBadge } from "./common.js";
import { addChart, bindToolbar } from "./charts.js";

const ids = (new URLSearchParams(location.search).get("runs") || "").split(",").filter(Boolean);

function label(r) { return r.display_name || r.run_id; }

function drawParallel(runs, keys, metric, goal) {
  const canvas = document.getElementById("parallel");
  const ctx = canvas.getContext("2d");
  const axes = [...keys, metric];
  const W = canvas.width, H = canvas.height, pad = 40, top = 30, bottom = H - 30;
  const value = (r, k) => (k === metric ? r.metrics[metric]?.best : r.params[k]);
  const scales = axes.map((k) => {
    const vals = runs.map((r) => value(r, k)).filter((v) => v !== undefined && v !== null);
    const nums = vals.map(Number);
    if (nums.every((n) => !Number.isNaN(n))) {
      const lo = Math.min(...nums), hi = Math.max(...nums);
      return { pos: (v) => (hi === lo ? 0.5 : (Number(v) - lo) / (hi - lo)), ticks: [lo, hi] };
    }
    const cats = [...new Set(vals.map(String))].sort();
    return { pos: (v) => (cats.length < 2 ? 0.5 : cats.indexOf(String(v)) / (cats.length - 1)), ticks: cats };
  });
  const xs = axes.map((_, i) => pad + (i * (W - 2 * pad)) / Math.max(1, axes.length - 1));
  const ms = runs.map((r) => r.metrics[metric]?.best).filter((v) => v !== undefined);
  const mlo = Math.min(...ms), mhi = Math.max(...ms);
  ctx.clearRect(0, 0, W, H);
  ctx.font = "12px sans-serif";
  for (const r of runs) {
    const m = r.metrics[metric]?.best;
    const t = m === undefined || mhi === mlo ? 0.5 : (m - mlo) / (mhi - mlo);
    const good = goal === "minimize" ? 1 - t : t;
    ctx.strokeStyle = `hsl(${Math.round(good * 120)}, 70%, 45%)`;
    ctx.lineWidth = r.best ? 3 : 1.5;
    ctx.beginPath();
    axes.forEach((k, i) => {
      const v = value(r, k);
      const y = bottom - (v === undefined ? 0 : scales[i].pos(v)) * (bottom - top);
      i ? ctx.lineTo(xs[i], y) : ctx.moveTo(xs[i], y);
    });
    ctx.stroke();
  }
  ctx.fillStyle = "#222"; ctx.strokeStyle = "#888"; ctx.lineWidth = 1;
  axes.forEach((k, i) => {
    ctx.beginPath(); ctx.moveTo(xs[i], top); ctx.lineTo(xs[i], bottom); ctx.stroke();
    ctx.textAlign = "center"; ctx.fillText(k, xs[i], top - 10);
    const tk = scales[i].ticks;
    ctx.fillText(String(typeof tk[tk.length - 1] === "number" ? fmtNum(tk[tk.length - 1]) : tk[tk.length - 1]), xs[i], top + 12);
    ctx.fillText(String(typeof tk[0] === "number" ? fmtNum(tk[0]) : tk[0]), xs[i], bottom + 16);
  });
}

async function main() {
  bindToolbar();
  if (!ids.length) { document.getElementById("hint").hidden = false; return; }
  try {
    const data = await api(`/api/compare?runs=${ids.join(",")}`);
    const runs = data.runs;
    const head = el("tr", {}, el("th", {}, "parameter"), runs.map((r) => el("th", {}, el("a", { href: `/runs/${r.run_id}` }, label(r)))));
    const diffKeys = Object.keys(data.param_diff);
    document.getElementById("diff").replaceChildren(head.cloneNode(true),
      ...(diffKeys.length ? diffKeys.map((k) => el("tr", { "data-param": k }, el("th", {}, k), runs.map((r) => el("td", {}, data.param_diff[k][r.run_id] ?? "—"))))
        : [el("tr", {}, el("td", { colspan: runs.length + 1, class: "muted" }, "All parameters are the same."))]));
    const mhead = el("tr", {}, el("th", {}, "metric (best / last)"), runs.map((r) => el("th", {}, label(r), " ", statusBadge(r.status))));
    document.getElementById("mtable").replaceChildren(mhead, ...data.metric_names.map((n) => el("tr", {}, el("th", {}, n),
      runs.map((r) => el("td", { class: "num" }, r.metrics[n] ? `${fmtNum(r.metrics[n].best)} / ${fmtNum(r.metrics[n].last)}` : "")))));
    if (data.primary_metric && runs.length > 1) {
      document.getElementById("parallel-box").hidden = false;
      document.getElementById("pc-metric").textContent = `against ${data.primary_metric.name} (${data.primary_metric.goal})`;
      drawParallel(runs, diffKeys, data.primary_metric.name, data.primary_metric.goal);
    }
    const box = document.getElementById("charts");
    const sources = runs.map((r) => ({ run_id: r.run_id, label: label(r) }));
    for (const name of data.series) addChart(box, name, sources.filter((s) => runs.find((r) => r.run_id === s.run_id).metrics[name]));
  } catch (err) { showError(err); }
}
main();
