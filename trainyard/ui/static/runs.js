// The runs table: server-side paging, sorting and filtering; child runs fold under their parent.
import { api, el, fmtDuration, fmtNum, fmtTime, showError, statusBadge } from "./common.js";

const params = new URLSearchParams(location.search);
const state = {
  q: params.get("q") || "", sort: params.get("sort") || "created", order: params.get("order") || "desc",
  page: Number(params.get("page") || 1), per_page: 50, metrics: (params.get("metrics") || "").split(",").filter(Boolean),
};
const selected = new Set();
const expanded = new Set();
const AGGS = ["last", "best", "min", "max"];

function columns(metricNames) {
  const ms = state.metrics.length ? state.metrics : metricNames.slice(0, 3);
  return [
    { key: "status", label: "Status" }, { key: "experiment", label: "Experiment" }, { key: "name", label: "Name / run" },
    { key: "created", label: "Start" }, { key: "duration", label: "Duration" }, { key: "compute", label: "Compute / node" },
    { key: null, label: "Tags" }, { key: null, label: "Parameters" },
    ...ms.flatMap((m) => AGGS.map((a) => ({ key: `metrics.${m}.${a}`, label: `${m} ${a}`, metric: m, agg: a }))),
  ];
}

function cells(run, cols, child) {
  const tags = Object.entries(run.tags || {}).map(([k, v]) => el("span", { class: "chip" }, v ? `${k}=${v}` : k));
  const ps = Object.entries(run.params || {}).map(([k, v]) => el("span", { class: "chip p" }, `${k}=${v}`));
  const fold = run.children ? el("button", { class: "fold", "data-fold": run.run_id, onclick: () => toggle(run.run_id) },
    expanded.has(run.run_id) ? "▾" : "▸", ` ${run.children}`) : "";
  const pick = el("input", { type: "checkbox", "data-pick": run.run_id, checked: selected.has(run.run_id) || undefined,
    onchange: (e) => { e.target.checked ? selected.add(run.run_id) : selected.delete(run.run_id); updateCompare(); } });
  const row = [
    el("td", {}, pick), el("td", {}, statusBadge(run.status, run.status_reason), run.status_reason ? el("div", { class: "muted small reason" }, run.status_reason.split("\n")[0].slice(0, 60)) : ""), el("td", {}, run.experiment),
    el("td", { class: child ? "child" : "" }, fold, run.best ? el("span", { class: "best", title: `best ${run.primary_metric}` }, "★ best ") : "",
      el("a", { href: `/runs/${run.run_id}` }, run.display_name || run.run_id),
      run.display_name ? el("div", { class: "muted small" }, run.run_id) : ""),
    el("td", { class: "nowrap", title: fmtTime(run.created) }, fmtTime(run.started || run.created)), el("td", { class: "num" }, fmtDuration(run.duration)),
    el("td", {}, [run.compute, run.node].filter(Boolean).join(" / ")), el("td", { class: "chips" }, tags), el("td", { class: "chips" }, ps),
  ];
  for (const c of cols.filter((c) => c.metric)) {
    const m = (run.metrics || {})[c.metric];
    row.push(el("td", { class: "num" }, m ? fmtNum(m[c.agg]) : ""));
  }
  return row;
}

async function toggle(id) {
  expanded.has(id) ? expanded.delete(id) : expanded.add(id);
  await load();
}

function updateCompare() {
  const btn = document.getElementById("compare-btn");
  btn.disabled = selected.size < 2;
  btn.textContent = `Compare selected (${selected.size})`;
}

function sortableTh(c, label, attrs = {}) {
  const active = c.key === state.sort;
  const th = el("th", { ...attrs, class: attrs.class || "sortable", "data-sort": c.key, title: `sort by ${c.label}` }, label,
    active ? (state.order === "desc" ? " ↓" : " ↑") : "");
  th.addEventListener("click", () => {
    state.order = state.sort === c.key && state.order === "desc" ? "asc" : "desc";
    state.sort = c.key; state.page = 1; load();
  });
  return th;
}

function header(cols) {
  // two rows: plain columns span both; each metric spans its last / best / min / max
  const top = el("tr", {}, el("th", { rowspan: 2 }, ""));
  const sub = el("tr", {});
  for (const c of cols.filter((c) => !c.metric)) top.append(c.key ? sortableTh(c, c.label, { rowspan: 2 }) : el("th", { rowspan: 2 }, c.label));
  const metrics = [...new Set(cols.filter((c) => c.metric).map((c) => c.metric))];
  for (const m of metrics) {
    top.append(el("th", { colspan: AGGS.length, class: "group" }, m));
    for (const c of cols.filter((c) => c.metric === m)) sub.append(sortableTh(c, c.agg, { class: "sortable sub" }));
  }
  return [top, sub];
}

async function load() {
  const qs = new URLSearchParams({ q: state.q, sort: state.sort, order: state.order, page: state.page, per_page: state.per_page });
  history.replaceState(null, "", `/?${new URLSearchParams({ q: state.q, sort: state.sort, order: state.order, page: state.page, metrics: state.metrics.join(",") })}`);
  try {
    const data = await api(`/api/runs?${qs}`);
    showError(null);
    const cols = columns(data.metric_names);
    const table = document.getElementById("runs");
    table.tHead.replaceChildren(...header(cols));
    const rows = [];
    for (const run of data.runs) {
      rows.push(el("tr", { "data-run": run.run_id }, cells(run, cols, false)));
      if (expanded.has(run.run_id)) {
        const kids = await api(`/api/runs?${new URLSearchParams({ parent: run.run_id, sort: state.sort, order: state.order, per_page: 500 })}`);
        for (const k of kids.runs) rows.push(el("tr", { "data-run": k.run_id, "data-parent": run.run_id, class: k.best ? "childrow bestrow" : "childrow" }, cells(k, cols, true)));
      }
    }
    if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: cols.length + 1, class: "muted" },
      state.q ? "No run matches this filter." : "No runs yet: `trainyard submit job.yml` (or Experiment.submit) starts one.")));
    table.tBodies[0].replaceChildren(...rows);
    const pages = Math.max(1, Math.ceil(data.total / data.per_page));
    document.getElementById("count").textContent = `${data.total} runs`;
    document.getElementById("pageinfo").textContent = `page ${data.page} of ${pages}`;
    document.getElementById("prev").disabled = data.page <= 1;
    document.getElementById("next").disabled = data.page >= pages;
    const pickMetrics = document.getElementById("metric-cols");
    if (!pickMetrics.options.length) {
      pickMetrics.replaceChildren(...data.metric_names.map((m) => el("option", { value: m, selected: cols.some((c) => c.metric === m) || undefined }, m)));
      pickMetrics.size = Math.min(6, Math.max(1, data.metric_names.length));
    }
  } catch (err) { showError(err); }
}

document.getElementById("q").value = state.q;
document.getElementById("filter").addEventListener("submit", (e) => { e.preventDefault(); state.q = document.getElementById("q").value; state.page = 1; load(); });
document.getElementById("prev").addEventListener("click", () => { state.page -= 1; load(); });
document.getElementById("next").addEventListener("click", () => { state.page += 1; load(); });
document.getElementById("metric-cols").addEventListener("change", (e) => { state.metrics = [...e.target.selectedOptions].map((o) => o.value); load(); });
document.getElementById("compare-btn").addEventListener("click", () => { location.href = `/compare?runs=${[...selected].join(",")}`; });
load();
setInterval(() => { if (!document.hidden) load(); }, 10000);
