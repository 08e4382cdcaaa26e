// Models, datasets, computes and services: tables from the JSON API, details on click.
import { api, el, fmtTime, showError } from "./common.js";

const page = location.pathname.slice(1);
const list = document.getElementById("list");
const detail = document.getElementById("detail");

function table(headers, rows) {
  return el("table", { class: "grid" }, el("tr", {}, headers.map((h) => el("th", {}, h))), rows);
}

async function models() {
  const ms = await api("/api/models");
  list.replaceChildren(ms.length ? table(["model", "framework", "run", "registered", "files", "deployments"], ms.map((m) =>
    el("tr", { id: m.id, "data-model": m.id }, el("td", {}, el("a", { href: `#${m.id}`, onclick: () => showModel(m) }, m.id)),
      el("td", {}, `${m.framework || ""} ${m.framework_version || ""}`),
      el("td", {}, m.lineage?.run_id ? el("a", { href: `/runs/${m.lineage.run_id}` }, m.lineage.run_id) : ""),
      el("td", {}, fmtTime(m.created)), el("td", {}, (m.files || []).length), el("td", {}, (m.deployments || []).join(", "))))) :
    el("p", { class: "muted" }, "No models registered yet."));
  const want = decodeURIComponent(location.hash.slice(1));
  const m = ms.find((x) => x.id === want);
  if (m) showModel(m);
}

function showModel(m) {
  detail.replaceChildren(el("h2", {}, m.id), el("table", { class: "kv" },
    Object.entries({ description: m.description, tags: JSON.stringify(m.tags || {}), run: m.lineage?.run_id, experiment: m.lineage?.experiment,
      metrics: JSON.stringify(m.lineage?.metrics || {}), environment: m.lineage?.environment?.hash }).filter(([, v]) => v)
      .map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))),
  el("h3", {}, "Files"), table(["path", "size", "sha256"], (m.files || []).map((f) => el("tr", {}, el("td", {}, f.path), el("td", {}, f.size), el("td", {}, el("code", {}, (f.sha256 || "").slice(0, 16)))))));
}

async function datasets() {
  const ds = await api("/api/datasets");
  list.replaceChildren(ds.length ? table(["dataset", "versions", "files", "size", "registered"], ds.map((d) =>
    el("tr", { "data-dataset": d.id }, el("td", {}, el("a", { href: `#${d.id}`, onclick: () => showDataset(d) }, d.id)),
      el("td", {}, (d.versions || []).map((v) => el("a", { href: `#${d.name}:${v}`, class: "chip", onclick: () => showDataset({ id: `${d.name}:${v}` }) }, `v${v}`))), el("td", {}, d.files),
      el("td", {}, `${(d.bytes / 1e6).toFixed(1)} MB`), el("td", {}, fmtTime(d.created))))) : el("p", { class: "muted" }, "No datasets registered yet."));
}

async function showDataset(d) {
  const [name, version] = d.id.split(":");
  const full = await api(`/api/datasets/${name}/${version}`);
  detail.replaceChildren(el("h2", {}, d.id), el("p", {}, `sources: ${full.sources.join(", ")}`), el("p", {}, `manifest ${full.manifest}`),
    el("img", { src: `/datasets/${name}/${version}/preview.png`, alt: "preview grid (MNIST / CIFAR-10 formats)", class: "preview",
      onerror: (e) => e.target.replaceWith(el("p", { class: "muted" }, "No image preview: the files are neither MNIST idx nor CIFAR-10 batches.")) }),
    el("details", {}, el("summary", {}, `${full.paths.length} files`), el("pre", {}, full.paths.slice(0, 1000).join("\n"))));
}

async function computes() {
  const cs = await api("/api/computes");
  list.replaceChildren(...cs.map((c) => {
    const box = el("div", { class: "compute", "data-compute": c.name }, el("h2", {}, `${c.name} `, el("span", { class: "muted" }, c.type)),
      table(["node", "address", "gpus", "slots"], (c.nodes || [{ name: "localhost" }]).map((n) =>
        el("tr", {}, el("td", {}, n.name), el("td", {}, n.host ? `${n.host}:${n.port || 22}` : ""), el("td", {}, n.gpus ?? 0), el("td", {}, n.slots ?? "")))),
      el("div", { class: "live muted" }, "checking nodes…"));
    api(`/api/computes/${c.name}/status`).then((rows) => box.querySelector(".live").replaceChildren(
      table(["node", "reachable", "python", "free slots", "running", "queued", "free disk"], rows.map((r) => el("tr", {},
        el("td", {}, r.node), el("td", {}, r.reachable ? "yes" : `NO ${r.error || ""}`), el("td", {}, r.python || ""), el("td", {}, r.free_slots ?? ""),
        el("td", {}, (r.running || []).join(", ")), el("td", {}, (r.queued || []).join(", ")), el("td", {}, r.free_disk ? `${(r.free_disk / 1e9).toFixed(1)} GB` : "")))))).catch((e) => { box.querySelector(".live").textContent = String(e.message); });
    return box;
  }));
}

async function services() {
  const ss = await api("/api/services");
  list.replaceChildren(ss.length ? table(["service", "state", "compute", "models", "restarts", "scoring URI"], ss.map((s) =>
    el("tr", { "data-service": s.name }, el("td", {}, el("a", { href: `#${s.name}`, onclick: () => showService(s.name) }, s.name)),
      el("td", { class: "status" }, s.state || ""), el("td", {}, s.compute || ""), el("td", {}, (s.models || []).join(", ")),
      el("td", {}, s.restarts || 0), el("td", {}, el("code", {}, scoringUri(s)))))) :
    el("p", { class: "muted" }, "No services deployed (Model.deploy or `trainyard models deploy`)."));
  const want = decodeURIComponent(location.hash.slice(1));
  if (ss.some((s) => s.name === want)) showService(want);
}

function scoringUri(s) {
  if (s.scoring_uri) return s.scoring_uri;
  return s.node_scoring_uri ? `${s.node_scoring_uri}; the dashboard forwards "try it" to it` : "";
}

async function showService(name) {
  const s = await api(`/api/services/${encodeURIComponent(name)}`);
  const input = el("textarea", { id: "try-input", rows: 4, cols: 60 }, '{"data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}');
  const out = el("pre", { id: "try-output" });
  const tryIt = el("button", { id: "try-it", onclick: async () => {
    out.textContent = "";
    try { out.textContent = JSON.stringify((await api(`/api/services/${encodeURIComponent(name)}/score`, { method: "POST", body: input.value })).response); }
    catch (err) { out.textContent = String(err.message); }
  } }, "Score");
  detail.replaceChildren(el("h2", {}, s.name, " ", el("span", { class: "status", id: "service-state" }, s.state || "")),
    el("table", { class: "kv" }, Object.entries({ reason: s.reason, restarts: String(s.restarts || 0), compute: s.compute,
      node: s.node?.name, models: (s.models || []).join(", "), "scoring URI": scoringUri(s),
      auth: s.auth_enabled ? "key (sent by the dashboard)" : "none" }).filter(([, v]) => v)
      .map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))),
    el("h3", {}, "Try it"), input, tryIt, out,
    el("h3", {}, "Log"), el("pre", { class: "log", id: "service-log" }, s.log_tail || s.log_error || ""));
}

const pages = { models, datasets, computes, services };
pages[page]().catch(showError);
