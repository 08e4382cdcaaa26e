// The run page: Studio's tabs (overview, metrics, images, child runs, outputs + logs), live while active.
import { api, el, fmtDuration, fmtNum, fmtTime, showError, statusBadge, TERMINAL } from "./common.js";
import { addChart, bindToolbar, reloadVisible } from "./charts.js";

const runId = document.querySelector(".runhead").dataset.run;
let detail = null;
let logOffset = 0;
let counts = {};

function kv(rows) {
  return el("table", { class: "kv" }, rows.filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))));
}

function renderHead(d) {
  document.getElementById("title").textContent = d.displayName ? `${d.displayName} · ${d.runId}` : d.runId;
  document.getElementById("status").replaceChildren(statusBadge(d.status));
  document.getElementById("reason").textContent = d.statusReason || "";
  document.getElementById("cancel").hidden = TERMINAL.has(d.status);
}

function renderOverview(d) {
  const env = d.environment || {};
  const history = el("table", { class: "grid" }, el("tr", {}, el("th", {}, "status"), el("th", {}, "time"), el("th", {}, "reason")),
    d.history.map((h) => el("tr", {}, el("td", {}, statusBadge(h.status)), el("td", {}, fmtTime(h.time)), el("td", {}, h.reason || ""))));
  const metricRows = el("table", { class: "grid" }, el("tr", {}, ["metric", "last", "min", "max", "count"].map((h) => el("th", {}, h))),
    d.metrics.map((m) => el("tr", {}, el("td", {}, m.name), el("td", { class: "num" }, fmtNum(m.last)), el("td", { class: "num" }, fmtNum(m.min)), el("td", { class: "num" }, fmtNum(m.max)), el("td", { class: "num" }, m.count))));
  const extras = d.extras.filter((e) => e.kind !== "confusion_matrix").map((e) =>
    el("tr", {}, el("td", {}, e.name), el("td", {}, e.kind), el("td", {}, el("code", {}, JSON.stringify(e.value).slice(0, 300)))));
  document.getElementById("overview").replaceChildren(
    el("div", { class: "cols" },
      el("div", {}, el("h3", {}, "Run"), kv([
        ["experiment", el("a", { href: `/?q=${encodeURIComponent("exp:" + d.experiment)}` }, d.experiment)],
        ["parent", d.parent ? el("a", { href: `/runs/${d.parent}` }, d.parent) : null],
        ["compute / node", [d.target, d.node && d.node.name].filter(Boolean).join(" / ")],
        ["created", fmtTime(d.created)], ["started", fmtTime(d.started)], ["ended", fmtTime(d.ended)],
        ["duration", fmtDuration(d.duration)], ["command", el("code", {}, d.command || "")],
        ["exit code", d.exitCode], ["signal", d.signal],
        ["model", d.modelId ? el("a", { href: `/models#${d.modelId}` }, d.modelId) : null],
        ["model registration", d.registrationError],
        ["tags", Object.entries(d.tags).map(([k, v]) => el("span", { class: "chip" }, v ? `${k}=${v}` : k))],
        ["parameters", Object.entries(d.params).map(([k, v]) => el("span", { class: "chip p" }, `${k}=${v}`))],
        ["description", d.description],
      ]), el("h3", {}, "Status history"), history),
      el("div", {}, el("h3", {}, "Metrics"), metricRows, extras.length ? el("table", { class: "grid" }, extras) : "",
        el("h3", {}, "Environment"), kv([["name", `${env.name || ""} ${env.version || ""}`], ["hash", el("code", {}, env.hash || "")]]),
        d.packages.length ? el("details", {}, el("summary", {}, `${d.packages.length} packages`), el("pre", {}, d.packages.join("\n"))) : "",
        el("h3", {}, "Snapshot"), kv([["oid", el("code", {}, (d.snapshot.oid || "").slice(0, 16))], ["files", d.snapshotFiles.length]]),
        el("details", {}, el("summary", {}, "snapshot files"), el("ul", { class: "files" }, d.snapshotFiles.map((f) => el("li", {}, `${f.path} (${f.size} B)`)))),
        d.rejectedOutputs.length ? el("div", {}, el("h3", {}, "Rejected outputs"), el("ul", {}, d.rejectedOutputs.map((r) => el("li", {}, `${r.path}: ${r.reason}`)))) : ""),
    ));
}

function renderCharts(d) {
  const box = document.getElementById("charts");
  const names = d.metrics.filter((m) => m.count > 1).map((m) => m.name);
  const have = new Set([...box.querySelectorAll(".chart")].map((c) => c.dataset.metric));
  for (const name of names) if (!have.has(name)) addChart(box, name, [{ run_id: d.runId, label: d.runId }]);
  if (!names.length && !have.size) box.replaceChildren(el("p", { class: "muted" }, "No metric logged more than once yet."));
}

function renderImages(d) {
  // v1's {schema_type, data: {class_labels, matrix}}; runs logged before it stored {labels, matrix}
  const cms = d.extras.filter((e) => e.kind === "confusion_matrix").map((e) => e.value.data
    ? { ...e, value: { labels: e.value.data.class_labels, matrix: e.value.data.matrix } } : e);
  document.getElementById("images").replaceChildren(
    ...d.images.map((img) => el("figure", {}, el("img", { src: `/runs/${d.runId}/files/${img.value}`, alt: img.name, loading: "lazy" }), el("figcaption", {}, img.name))),
    ...cms.map((cm) => el("figure", {}, el("table", { class: "cm" }, el("tr", {}, el("th", {}, "true \\ pred"), cm.value.labels.map((l) => el("th", {}, l))),
      cm.value.matrix.map((row, i) => el("tr", {}, el("th", {}, cm.value.labels[i]), row.map((v, j) => el("td", { class: i === j ? "diag" : "" }, v))))), el("figcaption", {}, cm.name))),
    d.images.length || cms.length ? "" : el("p", { class: "muted" }, "No images logged."));
}

async function renderChildren(d) {
  const box = document.getElementById("children");
  if (!d.children) { box.replaceChildren(el("p", { class: "muted" }, "No child runs.")); return; }
  const kids = await api(`/api/runs?${new URLSearchParams({ parent: d.runId, per_page: 500 })}`);
  const names = [...new Set(kids.runs.flatMap((r) => Object.keys(r.metrics)))].sort();
  const keys = [...new Set(kids.runs.flatMap((r) => Object.keys(r.params)))].sort();
  box.replaceChildren(el("p", {}, el("a", { href: `/compare?runs=${kids.runs.map((r) => r.run_id).join(",")}` }, "Compare all children")),
    el("table", { class: "grid" }, el("tr", {}, el("th", {}, ""), el("th", {}, "run"), el("th", {}, "status"), keys.map((k) => el("th", {}, k)), names.map((n) => el("th", {}, n))),
      kids.runs.map((r) => el("tr", { class: r.best ? "bestrow" : "", "data-run": r.run_id }, el("td", {}, r.best ? el("span", { class: "best" }, "★ best") : ""),
        el("td", {}, el("a", { href: `/runs/${r.run_id}` }, r.display_name || r.run_id)), el("td", {}, statusBadge(r.status)),
        keys.map((k) => el("td", {}, r.params[k] ?? "")), names.map((n) => el("td", { class: "num" }, r.metrics[n] ? fmtNum(r.metrics[n].best) : ""))))));
}

function renderFiles(d) {
  const list = document.getElementById("files");
  list.replaceChildren(...d.files.map((f) => el("li", {},
    el("a", { href: "#outputs", onclick: (e) => { e.preventDefault(); preview(f); } }, f), " ",
    el("a", { href: `/runs/${d.runId}/files/${f}?download=1`, class: "muted small" }, "download"))));
}

async function preview(name) {
  const box = document.getElementById("preview");
  const url = `/runs/${runId}/files/${name}`;
  if (/\.(png|jpe?g|gif|svg)$/i.test(name)) { box.replaceChildren(el("img", { src: url, alt: name })); return; }
  const text = await (await fetch(url)).text();
  if (/\.csv$/i.test(name)) {
    const rows = text.trim().split("\n").slice(0, 200).map((l) => l.split(","));
    box.replaceChildren(el("table", { class: "grid" }, rows.map((r, i) => el("tr", {}, r.map((c) => el(i ? "td" : "th", {}, c))))));
    return;
  }
  box.replaceChildren(el("pre", {}, text.slice(0, 200000)));
}

function appendLog(text) {
  if (!text) return;
  const pre = document.getElementById("log");
  const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 20;
  pre.textContent = (pre.textContent + text).slice(-400000);
  if (atBottom) pre.scrollTop = pre.scrollHeight;
}

function follow() {
  const source = new EventSource(`/api/runs/${runId}/events?offset=${logOffset}`);
  source.onmessage = async (msg) => {
    const ev = JSON.parse(msg.data);
    if (ev.error) { showError(ev.error); return; }
    appendLog(ev.log);
    logOffset = ev.offset;
    const grown = new Set(Object.keys(ev.counts).filter((k) => ev.counts[k] !== counts[k]));
    counts = ev.counts;
    if (ev.status !== detail.status || grown.size || ev.final) {
      detail = await api(`/api/runs/${runId}`);
      render(detail);
      reloadVisible(grown);
    }
    if (ev.final) source.close();
  };
  source.onerror = () => { source.close(); setTimeout(follow, 3000); };
}

function render(d) {
  renderHead(d); renderOverview(d); renderCharts(d); renderImages(d); renderFiles(d);
}

function showTab() {
  const id = (location.hash || "#overview").slice(1);
  for (const s of document.querySelectorAll("section.tab")) s.hidden = s.id !== id;
  for (const a of document.querySelectorAll("nav.tabs a")) a.classList.toggle("active", a.getAttribute("href") === `#${id}`);
  window.dispatchEvent(new Event("resize"));
}

async function main() {
  bindToolbar();
  window.addEventListener("hashchange", showTab);
  showTab();
  try {
    detail = await api(`/api/runs/${runId}`);
    counts = Object.fromEntries(detail.metrics.map((m) => [m.name, m.count]));
    render(detail);
    renderChildren(detail);
    const log = await api(`/api/runs/${runId}/log?offset=-262144`);
    appendLog(log.text);
    logOffset = log.offset;
    if (!TERMINAL.has(detail.status)) follow();
  } catch (err) { showError(err); }
}

document.getElementById("cancel").addEventListener("click", async () => {
  if (!confirm(`Cancel run ${runId}?`)) return;
  try { const r = await api(`/api/runs/${runId}/cancel`, { method: "POST" }); document.getElementById("status").replaceChildren(statusBadge(r.status)); }
  catch (err) { showError(err); }
});
document.getElementById("tagform").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    await api(`/api/runs/${runId}/tags`, { method: "POST", body: { key: document.getElementById("tagkey").value, value: document.getElementById("tagvalue").value } });
    detail = await api(`/api/runs/${runId}`); render(detail);
  } catch (err) { showError(err); }
});
main();
