/* millstream console: plain JS, no build step, no dependencies. Pages are routed by the URL hash and poll
   the JSON API under /console/api every second; charts and graphs are inline SVG. */
"use strict";
const API = "/console/api";
const main = document.getElementById("main");
const errorBox = document.getElementById("error");
let timer = null, pageToken = 0;
const history = {};           // chart series: key -> [[t, value], ...] (last 5 minutes)
const HISTORY_MS = 5 * 60 * 1000;

function esc(v) { return String(v ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c])); }
function fmt(n, d = 0) { if (n === null || n === undefined || Number.isNaN(n)) return "–"; return Number(n).toLocaleString("en-US", {maximumFractionDigits: d, minimumFractionDigits: 0}); }
function rate(n) { return n === null || n === undefined ? "–" : (n >= 100 ? fmt(n) : fmt(n, 1)) + "/s"; }
function bytes(n) { if (n === null || n === undefined) return "–"; const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return fmt(n, i ? 1 : 0) + " " + u[i]; }
function ms(n) { if (n === null || n === undefined) return "–"; if (n < 1000) return fmt(n) + " ms"; if (n < 120000) return fmt(n / 1000, 1) + " s"; return fmt(n / 60000, 1) + " min"; }
function when(t) { return t > 0 ? new Date(t).toISOString().replace("T", " ").replace("Z", "") : "–"; }
function badge(s) { return `<span class="badge ${esc(s)}">${esc(s)}</span>`; }
function enc(s) { return encodeURIComponent(s); }

function errorText(body, status) {
  if (body && typeof body === "object") {
    if (body.error) return body.error;
    if (body.message) return body.message;
    if (Array.isArray(body.errors) && body.errors.length) return body.errors.join("; ");
  }
  return `HTTP ${status}`;
}
async function api(method, path, body) {
  const opts = {method, headers: {"Accept": "application/json"}};
  if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
  let resp;
  try { resp = await fetch(API + path, opts); } catch (e) { throw new Error("cannot reach the console server: " + e.message); }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = {error: text.slice(0, 300)}; }
  if (!resp.ok) { const err = new Error(errorText(data, resp.status)); err.status = resp.status; err.body = data; throw err; }
  return data;
}
function showError(msg) { if (!msg) { errorBox.hidden = true; errorBox.textContent = ""; return; } errorBox.hidden = false; errorBox.textContent = msg; }
function record(key, value) {
  if (value === null || value === undefined || Number.isNaN(value)) return;
  const now = Date.now(), s = history[key] || (history[key] = []);
  s.push([now, value]);
  while (s.length && s[0][0] < now - HISTORY_MS) s.shift();
}

/* ---------------------------------------------------------------- routing and polling */
const pages = {overview: overviewPage, jobs: jobsPage, job: jobPage, topics: topicsPage, topic: topicPage,
  groups: groupsPage, group: groupPage, connectors: connectorsPage, connector: connectorPage, "new-connector": newConnectorPage};
function route() {
  const parts = (location.hash.replace(/^#\/?/, "") || "overview").split("/").map(decodeURIComponent);
  let name = parts[0], arg = parts.slice(1).join("/");
  if (name === "jobs" && arg) name = "job";
  if (name === "topics" && arg) name = "topic";
  if (name === "groups" && arg) name = "group";
  if (name === "connectors" && arg === "new") name = "new-connector";
  else if (name === "connectors" && arg) name = "connector";
  document.querySelectorAll("header nav a").forEach(a => a.classList.toggle("active", name.startsWith(a.dataset.page.replace(/s$/, ""))));
  if (timer) clearInterval(timer);
  timer = null;
  showError("");
  const token = ++pageToken;
  const page = pages[name];
  if (!page) { main.innerHTML = `<div class="msg">No page ${esc(name)}: pick one above.</div>`; return; }
  const ctx = {token, arg, alive: () => token === pageToken};
  page(ctx).catch(e => { if (ctx.alive()) main.innerHTML = `<div class="msg" data-testid="page-error">${esc(e.message)}</div>`; });
}
// Flink's web UI refreshes every 3 s (web.refresh-interval): the overview and job pages do the same, so an open
// console costs a job little; the connectors page polls every second to show a pause within seconds
function poll(ctx, fn, every = 3000) {
  const tick = async () => {
    if (!ctx.alive()) return;
    try { await fn(); showError(""); } catch (e) { if (ctx.alive()) showError(e.message); }
  };
  timer = setInterval(tick, every);
  // a first failure (unknown job, topic, ...) replaces the page with its message and stops polling
  return fn().catch(e => { clearInterval(timer); timer = null; throw e; });
}
window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);

/* ---------------------------------------------------------------- SVG helpers */
function layers(nodes, edges) {
  // column = longest path from a node without inputs (cycles are cut)
  const ins = {}; nodes.forEach(n => ins[n.id] = []);
  edges.forEach(e => { if (ins[e.to] && ins[e.from] !== undefined) ins[e.to].push(e.from); });
  const col = {}, visiting = {};
  const depth = id => {
    if (col[id] !== undefined) return col[id];
    if (visiting[id]) return 0;
    visiting[id] = true;
    let d = 0; ins[id].forEach(p => { d = Math.max(d, depth(p) + 1); });
    visiting[id] = false;
    return col[id] = d;
  };
  nodes.forEach(n => depth(n.id));
  return col;
}
function drawGraph(nodes, edges, opts) {
  const col = layers(nodes, edges), W = opts.w || 190, H = opts.h || 58, GX = opts.gx || 90, GY = 22;
  const byCol = {}; nodes.forEach(n => (byCol[col[n.id]] = byCol[col[n.id]] || []).push(n));
  const pos = {}; let maxRows = 0;
  Object.keys(byCol).forEach(c => { byCol[c].forEach((n, i) => { const h = opts.height ? opts.height(n) : H; pos[n.id] = {x: 20 + c * (W + GX), y: 20 + (byCol[c].slice(0, i).reduce((a, m) => a + (opts.height ? opts.height(m) : H) + GY, 0)), h}; }); maxRows = Math.max(maxRows, byCol[c].reduce((a, m) => a + (opts.height ? opts.height(m) : H) + GY, 0)); });
  const ncols = Object.keys(byCol).length, width = 40 + ncols * (W + GX) - GX, height = 40 + maxRows;
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" data-testid="${opts.testid}">`;
  svg += `<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#8a94a8"/></marker></defs>`;
  edges.forEach(e => {
    const a = pos[e.from], b = pos[e.to]; if (!a || !b) return;
    const x1 = a.x + W, y1 = a.y + a.h / 2, x2 = b.x, y2 = b.y + b.h / 2, mx = (x1 + x2) / 2;
    const live = e.rate > 0;
    svg += `<path class="edge${live ? " live" : ""}" d="M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 2},${y2}" marker-end="url(#arrow)"/>`;
    if (e.label !== undefined) svg += `<text class="rate" data-testid="edge-rate" data-from="${esc(e.from)}" data-to="${esc(e.to)}" data-rate="${e.rate ?? ""}" x="${mx}" y="${(y1 + y2) / 2 - 4}" text-anchor="middle">${esc(e.label)}</text>`;
  });
  nodes.forEach(n => { const p = pos[n.id]; svg += `<g transform="translate(${p.x},${p.y})">${opts.node(n, W, p.h)}</g>`; });
  return svg + "</svg>";
}
function chart(title, key, unit) {
  const s = history[key] || [], W = 420, H = 120, P = 30;
  let body = `<text x="${P}" y="14" font-weight="600">${esc(title)}</text>`;
  if (s.length < 2) return `<svg width="${W}" height="${H}" data-testid="chart">${body}<text x="${P}" y="60" fill="#6b7385">collecting…</text></svg>`;
  const t1 = Date.now(), t0 = t1 - HISTORY_MS, max = Math.max(1e-9, ...s.map(p => p[1])) * 1.1;
  const pts = s.map(([t, v]) => `${(P + (t - t0) / HISTORY_MS * (W - P - 8)).toFixed(1)},${(H - 18 - v / max * (H - 40)).toFixed(1)}`).join(" ");
  body += `<line x1="${P}" y1="${H - 18}" x2="${W - 8}" y2="${H - 18}" stroke="#d8dce4"/>`;
  body += `<text x="${W - 8}" y="14" text-anchor="end" fill="#2f4d8a">${esc(unit(s[s.length - 1][1]))}</text>`;
  body += `<text x="${P}" y="${H - 4}" fill="#6b7385" font-size="10">−5 min</text><text x="${W - 8}" y="${H - 4}" text-anchor="end" fill="#6b7385" font-size="10">now · max ${esc(unit(max / 1.1))}</text>`;
  body += `<polyline fill="none" stroke="#2f6fdf" stroke-width="2" points="${pts}"/>`;
  return `<svg width="${W}" height="${H}" data-testid="chart">${body}</svg>`;
}

/* ---------------------------------------------------------------- overview */
async function overviewPage(ctx) {
  main.innerHTML = `<h1>Overview</h1><div id="ov-errors"></div><h2>Lineage</h2><div class="graph" id="lineage"></div>
    <div class="grid"><div><h2>Jobs</h2><div id="ov-jobs"></div></div><div><h2>Connectors</h2><div id="ov-conns"></div></div></div>
    <h2>Topics</h2><div id="ov-topics"></div>`;
  return poll(ctx, async () => {
    const d = await api("GET", "/overview");
    if (!ctx.alive()) return;
    document.getElementById("log-url").textContent = d.log ? "log: " + d.log : "";
    document.getElementById("ov-errors").innerHTML = d.errors.map(e => `<div class="msg">${esc(e)}</div>`).join("");
    const nodes = d.lineage.nodes, edges = d.lineage.edges.map(e => ({...e, label: rate(e.rate)}));
    document.getElementById("lineage").innerHTML = nodes.length ? drawGraph(nodes, edges, {testid: "lineage", w: 200, gx: 100,
      height: n => n.kind === "job" ? 34 + 16 * n.operators.length : 50,
      node: (n, W, H) => {
        const fill = n.kind === "topic" ? "#eef4ff" : n.kind === "job" ? "#f4f0ff" : "#eaf7ef";
        const stroke = n.kind === "topic" ? "#7fa4e8" : n.kind === "job" ? "#9b86d9" : "#5cb581";
        let g = `<rect width="${W}" height="${H}" rx="6" fill="${fill}" stroke="${stroke}"/>`;
        const kind = n.kind === "connector" ? `${n.embedded ? "in-job " : ""}${n.type || ""} connector` : n.kind;
        g += `<text x="8" y="15" fill="#6b7385" font-size="10">${esc(kind.toUpperCase())}${n.state && !n.embedded ? " · " + esc(n.state) : ""}</text>`;
        const href = n.kind === "topic" ? `#/topics/${enc(n.label)}` : n.kind === "job" ? `#/jobs/${enc(n.jid)}` : (n.embedded ? `#/jobs/${enc(n.id.split(":")[1])}` : `#/connectors/${enc(n.label)}`);
        g += `<a href="${href}"><text x="8" y="31" font-weight="600" data-testid="lineage-node" data-kind="${esc(n.kind)}" data-label="${esc(n.label)}">${esc(n.label.length > 26 ? n.label.slice(0, 25) + "…" : n.label)}</text></a>`;
        if (n.kind === "job") n.operators.forEach((o, i) => { g += `<text x="14" y="${48 + i * 16}" font-size="11">${esc(o.name.slice(0, 20))}</text><text x="${W - 8}" y="${48 + i * 16}" font-size="11" text-anchor="end" fill="#2f4d8a">${esc(rate(o.out))}</text>`; });
        else g += `<text x="${W - 8}" y="44" font-size="11" text-anchor="end" fill="#2f4d8a">${esc(rate(n.rate))}</text>`;
        return g;
      }}) : `<p class="muted" style="padding:10px">Nothing yet: no jobs, connectors or topics.</p>`;
    document.getElementById("ov-jobs").innerHTML = d.jobs.length ? `<table><tr><th>job</th><th>state</th><th>started</th></tr>${d.jobs.map(j => `<tr><td><a href="#/jobs/${enc(j.jid)}">${esc(j.name)}</a></td><td>${badge(j.state)}</td><td>${when(j["start-time"])}</td></tr>`).join("")}</table>` : `<p class="muted">No jobs.</p>`;
    document.getElementById("ov-conns").innerHTML = d.connectors.length ? `<table><tr><th>connector</th><th>type</th><th>state</th><th class="num">records/s</th></tr>${d.connectors.map(c => `<tr><td><a href="#/connectors/${enc(c.name)}">${esc(c.name)}</a></td><td>${esc(c.type)}</td><td>${badge(c.state)}</td><td class="num">${rate(c.rate)}</td></tr>`).join("")}</table>` : `<p class="muted">No Connect worker connectors.</p>`;
    document.getElementById("ov-topics").innerHTML = topicTable(d.topics, true);
  }, 3000);
}
function topicTable(topics, withRate) {
  if (!topics.length) return `<p class="muted">No topics.</p>`;
  return `<table data-testid="topics-table"><tr><th>topic</th><th class="num">partitions</th><th class="num">records</th><th class="num">size</th>${withRate ? `<th class="num">records/s in</th>` : ""}<th>retention</th><th>cleanup</th></tr>` +
    topics.map(t => `<tr><td><a href="#/topics/${enc(t.name)}">${esc(t.name)}</a></td><td class="num">${t.partitions}</td><td class="num">${fmt(t.records)}</td><td class="num">${bytes(t.bytes)}</td>${withRate ? `<td class="num">${rate(t.rate)}</td>` : ""}<td>${t.retention_ms < 0 ? "forever" : ms(t.retention_ms)}${t.retention_bytes >= 0 ? " / " + bytes(t.retention_bytes) : ""}</td><td>${esc(t.cleanup_policy)}</td></tr>`).join("") + `</table>`;
}

/* ---------------------------------------------------------------- jobs */
async function jobsPage(ctx) {
  main.innerHTML = `<h1>Jobs</h1><div id="jobs"></div>`;
  return poll(ctx, async () => {
    const d = await api("GET", "/jobs");
    if (!ctx.alive()) return;
    document.getElementById("jobs").innerHTML = d.errors.map(e => `<div class="msg">${esc(e)}</div>`).join("") + (d.jobs.length ? `<table><tr><th>job</th><th>id</th><th>state</th><th>started</th><th class="num">duration</th><th class="num">vertices</th></tr>${d.jobs.map(j => `<tr><td><a href="#/jobs/${enc(j.jid)}">${esc(j.name)}</a></td><td class="mono">${esc(j.jid)}</td><td>${badge(j.state)}</td><td>${when(j["start-time"])}</td><td class="num">${ms(j.duration)}</td><td class="num">${j.vertices.length}</td></tr>`).join("")}</table>` : `<p class="muted">No jobs in this process. Jobs of other processes show when the console is started with --jobs URL (their --metrics-port).</p>`);
  });
}
function vertexColor(m) {
  const busy = (m.busyTimeMsPerSecond || 0) / 1000;        // Flink: idle blue → busy red
  const r = Math.round(90 + 160 * busy), g = Math.round(150 - 60 * busy), b = Math.round(220 - 170 * busy);
  return `rgb(${r},${g},${b})`;
}
function bpStroke(m) { const bp = (m.backPressuredTimeMsPerSecond || 0) / 1000; return bp >= 0.5 ? "#d8453b" : bp >= 0.1 ? "#e39a1c" : "#2e9e5b"; }
async function jobPage(ctx) {
  const jid = ctx.arg;
  main.innerHTML = `<h1 id="job-title">Job</h1><div id="job-ended"></div>
    <div class="card" id="job-actions" hidden><b>Control</b> <span class="muted">(Flink's REST control endpoints)</span><div class="row">
      <input id="ja-dir" placeholder="savepoint target directory" data-testid="savepoint-dir" style="min-width:280px">
      <button id="ja-savepoint" data-testid="job-savepoint">Savepoint</button>
      <button id="ja-stop" data-testid="job-stop">Stop with savepoint</button>
      <button class="danger" id="ja-cancel" data-testid="job-cancel">Cancel job</button>
      <span id="ja-msg" data-testid="job-action-result"></span></div></div>
    <div id="job-advice"></div><h2>Job graph</h2><div class="graph" id="job-graph"></div>
    <div class="grid" id="job-charts"></div><h2>Vertices</h2><div id="job-vertices"></div><h2>Checkpoints</h2><div id="job-cps"></div>
    <h2>Exceptions</h2><div id="job-exc"></div><h2>Configuration</h2><div id="job-config"></div>`;
  const say = (cls, text) => { document.getElementById("ja-msg").innerHTML = `<span class="${cls}">${esc(text)}</span>`; };
  const savepoint = async (action) => {
    const dir = document.getElementById("ja-dir").value.trim() || null;
    const body = action === "stop" ? {targetDirectory: dir, drain: false} : {"target-directory": dir, "cancel-job": false};
    try {
      say("muted", action === "stop" ? "stopping…" : "taking a savepoint…");
      const trigger = (await api("POST", `/jobs/${enc(jid)}/${action === "stop" ? "stop" : "savepoints"}`, body))["request-id"];
      for (;;) {
        const st = await api("GET", `/jobs/${enc(jid)}/savepoints/${enc(trigger)}`);
        if (st.status.id === "COMPLETED") {
          if (st.operation.location) say("ok", `savepoint written to ${st.operation.location}`);
          else say("field-error", `the savepoint failed: ${st.operation["failure-cause"]["stack-trace"]}`);
          return;
        }
        await new Promise(r => setTimeout(r, 300));
      }
    } catch (e) { say("field-error", e.message); }
  };
  document.getElementById("ja-savepoint").onclick = () => savepoint("savepoint");
  document.getElementById("ja-stop").onclick = () => savepoint("stop");
  document.getElementById("ja-cancel").onclick = async () => {
    if (!confirm("Cancel the job? It ends without a final checkpoint.")) return;
    try { await api("PATCH", `/jobs/${enc(jid)}?mode=cancel`); say("ok", "cancelling…"); } catch (e) { say("field-error", e.message); }
  };
  return poll(ctx, async () => {
    const j = await api("GET", "/jobs/" + enc(jid));
    if (!ctx.alive()) return;
    document.getElementById("job-actions").hidden = ["FINISHED", "FAILED", "CANCELED"].includes(j.state);
    document.getElementById("job-title").innerHTML = `${esc(j.name)} ${badge(j.state)} <span class="muted mono">${esc(j.jid)}</span>`;
    document.getElementById("job-ended").innerHTML = j.ended ? `<div class="msg" data-testid="job-ended">${esc(j.ended)}</div>` : "";
    document.getElementById("job-advice").innerHTML = `<div class="card advice" data-testid="advice"><b>Tuning advice</b><ul>${j.advice.map(a => `<li class="${a.severity}"><b>${esc(a.title)}</b><br><span class="muted">${esc(a.detail)}</span>${a.fix ? `<br>→ ${esc(a.fix)}` : ""}</li>`).join("")}</ul></div>`;
    const vs = j.vertices, edges = [];
    vs.forEach(v => v.inputs.forEach(i => { const src = vs.find(x => x.id === i); edges.push({from: i, to: v.id, rate: src ? src.metrics.numRecordsOutPerSecond : 0, label: src ? rate(src.metrics.numRecordsOutPerSecond) : ""}); }));
    document.getElementById("job-graph").innerHTML = drawGraph(vs, edges, {testid: "job-graph", w: 220, gx: 80, height: () => 96, node: (v, W, H) => {
      const m = v.metrics, fill = vertexColor(m);
      let g = `<rect width="${W}" height="${H}" rx="6" fill="${fill}" fill-opacity="0.18" stroke="${bpStroke(m)}" stroke-width="2.5"/>`;
      g += `<text x="8" y="16" font-weight="600" data-testid="vertex" data-name="${esc(v.name)}" data-in="${m.numRecordsInPerSecond ?? ""}" data-out="${m.numRecordsOutPerSecond ?? ""}">${esc(v.name.slice(0, 28))}</text>`;
      g += `<text x="8" y="32" font-size="11">${esc(v.kind)} · parallelism ${v.parallelism}</text>`;
      g += `<text x="8" y="48" font-size="11">in ${esc(rate(m.numRecordsInPerSecond))} · out ${esc(rate(m.numRecordsOutPerSecond))}</text>`;
      g += `<text x="8" y="64" font-size="11">watermark lag ${m.watermarkLagMs !== undefined ? esc(ms(m.watermarkLagMs)) : "–"}</text>`;
      g += `<text x="8" y="80" font-size="11">busy ${fmt((m.busyTimeMsPerSecond || 0) / 10)}% · back pressure ${fmt((m.backPressuredTimeMsPerSecond || 0) / 10)}%</text>`;
      return g;
    }});
    const sources = vs.filter(v => v.kind === "source");
    record(jid + ":throughput", sources.reduce((a, v) => a + (v.metrics.numRecordsOutPerSecond || 0), 0));
    record(jid + ":lag", Math.max(0, ...vs.map(v => v.metrics["records-lag-max"] || 0)));
    if (j.metrics.lastCheckpointDuration !== undefined) record(jid + ":cp", j.metrics.lastCheckpointDuration);
    document.getElementById("job-charts").innerHTML = `<div class="card">${chart("throughput (sources, records/s)", jid + ":throughput", v => rate(v))}</div><div class="card">${chart("consumer lag (records)", jid + ":lag", v => fmt(v))}</div><div class="card">${chart("checkpoint duration", jid + ":cp", v => ms(v))}</div>`;
    document.getElementById("job-vertices").innerHTML = `<table data-testid="vertices"><tr><th>vertex</th><th>subtask</th><th class="num">records in</th><th class="num">in/s</th><th class="num">records out</th><th class="num">out/s</th><th class="num">watermark</th><th class="num">wm lag</th><th class="num">busy</th><th class="num">back pressure</th><th class="num">lag</th><th>topics</th></tr>` +
      vs.map(v => [["all", v.metrics], ...(v.parallelism > 1 ? (v.subtasks || []).map(s => [s.subtask, s.metrics]) : [])].map(([s, m], k) => `<tr><td>${k === 0 ? esc(v.name) : ""}</td><td>${s}</td><td class="num">${fmt(m.numRecordsIn)}</td><td class="num">${rate(m.numRecordsInPerSecond)}</td><td class="num">${fmt(m.numRecordsOut)}</td><td class="num">${rate(m.numRecordsOutPerSecond)}</td><td class="num">${m.watermark ? when(m.watermark) : "–"}</td><td class="num">${m.watermarkLagMs !== undefined ? ms(m.watermarkLagMs) : "–"}</td><td class="num">${fmt((m.busyTimeMsPerSecond || 0) / 10)}%</td><td class="num">${fmt((m.backPressuredTimeMsPerSecond || 0) / 10)}%</td><td class="num">${fmt(m["records-lag-max"])}</td><td>${k === 0 ? [...v.topics_in.map(t => "← " + t), ...v.topics_out.map(t => "→ " + t)].map(esc).join("<br>") : ""}</td></tr>`).join("")).join("") + `</table>`;
    const cp = j.checkpoints;
    document.getElementById("job-cps").innerHTML = `<p>${cp.counts.completed} completed, ${cp.counts.failed} failed${j.checkpoint_interval_ms ? `, every ${ms(j.checkpoint_interval_ms)}` : " (checkpointing is off)"}</p>` + (cp.history.length ? `<table data-testid="checkpoints"><tr><th class="num">id</th><th>status</th><th>completed</th><th class="num">end to end</th><th class="num">checkpointed size</th><th class="num">state size</th></tr>${cp.history.map(c => `<tr><td class="num">${c.id}</td><td>${badge(c.status)}</td><td>${when(c.latest_ack_timestamp)}</td><td class="num">${ms(c.end_to_end_duration)}</td><td class="num">${bytes(c.checkpointed_size)}</td><td class="num">${bytes(c.state_size)}</td></tr>`).join("")}</table>` : "");
    document.getElementById("job-exc").innerHTML = j.exceptions.length ? j.exceptions.map(e => `<div class="card"><b>${esc(e.exception)}</b> <span class="muted">${when(e.timestamp)}</span><pre>${esc(e.stacktrace)}</pre></div>`).join("") : `<p class="muted">No exceptions recorded${j.restarts ? ` (${j.restarts} restarts)` : ""}.</p>`;
    document.getElementById("job-config").innerHTML = `<table>${Object.entries(j.config).map(([k, v]) => `<tr><td class="mono">${esc(k)}</td><td class="mono">${esc(typeof v === "object" ? JSON.stringify(v) : v)}</td></tr>`).join("")}</table>`;
  });
}

/* ---------------------------------------------------------------- topics */
async function topicsPage(ctx) {
  main.innerHTML = `<h1>Topics</h1><div class="card"><b>Create a topic</b><div class="row"><input id="nt-name" placeholder="name" data-testid="new-topic-name"><input id="nt-parts" type="number" min="1" value="1" style="width:80px" title="partitions"><input id="nt-ret" placeholder="retention.ms (optional)"><select id="nt-clean"><option>delete</option><option>compact</option><option>compact,delete</option></select><button class="primary" id="nt-go" data-testid="create-topic">Create</button><span id="nt-msg"></span></div></div><div id="topics"></div>`;
  document.getElementById("nt-go").onclick = async () => {
    const msg = document.getElementById("nt-msg");
    const config = {"cleanup.policy": document.getElementById("nt-clean").value};
    const ret = document.getElementById("nt-ret").value.trim(); if (ret) config["retention.ms"] = ret;
    try {
      const t = await api("POST", "/topics", {name: document.getElementById("nt-name").value.trim(), partitions: document.getElementById("nt-parts").value, config});
      msg.innerHTML = `<span class="ok" data-testid="topic-created">created ${esc(t.name)}</span>`;
      refresh();
    } catch (e) { msg.innerHTML = `<span class="field-error" data-testid="topic-error">${esc(e.message)}</span>`; }
  };
  const refresh = async () => {
    const d = await api("GET", "/topics");
    if (ctx.alive()) document.getElementById("topics").innerHTML = topicTable(d.topics, false);
  };
  return poll(ctx, refresh, 3000);
}
async function topicPage(ctx) {
  const topic = ctx.arg;
  main.innerHTML = `<h1>Topic <span class="mono">${esc(topic)}</span> <button class="danger" id="t-del" data-testid="delete-topic">Delete topic</button></h1><div id="t-info"></div>
   <h2>Messages</h2><div class="card"><div class="row">
    <select id="b-mode" data-testid="browse-mode"><option value="beginning">from beginning</option><option value="end">newest</option><option value="offset">from offset</option><option value="timestamp">from timestamp</option></select>
    <input id="b-at" placeholder="offset or timestamp" data-testid="browse-at" style="width:180px">
    <select id="b-part"><option value="">all partitions</option></select>
    <select id="b-kf" title="key format"><option value="auto">key: auto</option><option value="json">key: JSON</option><option value="string">key: string</option><option value="avro">key: Avro</option><option value="hex">key: hex</option></select>
    <select id="b-vf" title="value format"><option value="auto">value: auto</option><option value="json">value: JSON</option><option value="string">value: string</option><option value="avro">value: Avro</option><option value="hex">value: hex</option></select>
    <input id="b-filter" placeholder="filter: text, /regex/i, key:…, headers:…" data-testid="browse-filter" style="width:260px">
    <input id="b-limit" type="number" value="50" min="1" max="500" style="width:70px" title="page size">
    <button class="primary" id="b-go" data-testid="browse">Browse</button><button id="b-next" data-testid="browse-next" disabled>Next page</button></div>
    <div id="b-avro" hidden><textarea id="b-schema" placeholder='Avro schema (JSON), e.g. {"type":"record","name":"r","fields":[...]}'></textarea></div>
    <div id="b-msg"></div><div id="b-out"></div></div>
   <h2>Produce a message</h2><div class="card"><div class="row"><input id="p-key" placeholder="key" data-testid="produce-key"><input id="p-part" placeholder="partition (auto)" style="width:130px"><label><input type="checkbox" id="p-json"> value is JSON</label></div>
    <textarea id="p-value" placeholder="value" data-testid="produce-value"></textarea><textarea id="p-headers" placeholder='headers as JSON, e.g. {"source": "console"}' data-testid="produce-headers"></textarea>
    <div class="row"><button class="primary" id="p-go" data-testid="produce">Produce</button><span id="p-msg"></span></div></div>`;
  let cursor = null;
  const showMode = () => { const m = document.getElementById("b-mode").value; document.getElementById("b-at").style.display = m === "offset" || m === "timestamp" ? "" : "none"; };
  document.getElementById("b-mode").onchange = showMode; showMode();
  const fmtSel = () => { document.getElementById("b-avro").hidden = !(document.getElementById("b-kf").value === "avro" || document.getElementById("b-vf").value === "avro"); };
  document.getElementById("b-kf").onchange = fmtSel; document.getElementById("b-vf").onchange = fmtSel;
  const show = v => v.format === "null" ? `<span class="muted">null</span>` : `<span class="mono">${esc(typeof v.value === "string" ? v.value : JSON.stringify(v.value))}</span>${v.error ? ` <span class="field-error">(${esc(v.error)})</span>` : ""}`;
  const browse = async (next) => {
    const q = new URLSearchParams({mode: document.getElementById("b-mode").value, limit: document.getElementById("b-limit").value,
      key_format: document.getElementById("b-kf").value, value_format: document.getElementById("b-vf").value});
    const at = document.getElementById("b-at").value.trim(); if (at) q.set("at", at);
    const part = document.getElementById("b-part").value; if (part !== "") q.set("partition", part);
    const f = document.getElementById("b-filter").value; if (f.trim()) q.set("filter", f);
    if (q.get("key_format") === "avro" || q.get("value_format") === "avro") q.set("avro_schema", document.getElementById("b-schema").value);
    if (next && cursor) q.set("cursor", cursor);
    const msg = document.getElementById("b-msg"), out = document.getElementById("b-out");
    try {
      const d = await api("GET", `/topics/${enc(topic)}/messages?` + q.toString());
      cursor = d.cursor;
      document.getElementById("b-next").disabled = false;
      msg.innerHTML = `<p class="muted">${d.messages.length} message(s), ${d.scanned} scanned${d.end ? ", at the end of the topic" : ""}.</p>`;
      out.innerHTML = d.messages.length ? `<table data-testid="messages"><tr><th class="num">partition</th><th class="num">offset</th><th>timestamp</th><th>key</th><th>value</th><th>headers</th></tr>${d.messages.map(m => `<tr data-testid="message"><td class="num">${m.partition}</td><td class="num">${m.offset}</td><td>${when(m.timestamp)}</td><td>${show(m.key)}</td><td>${show(m.value)}</td><td>${m.headers.map(h => `<span class="mono">${esc(h.key)}=${esc(typeof h.value === "string" ? h.value : JSON.stringify(h.value))}</span>`).join("<br>")}</td></tr>`).join("")}</table>` : `<p class="muted" data-testid="no-messages">No messages ${d.end ? "from there to the end of the topic" : "in this page; try the next page"}.</p>`;
    } catch (e) { msg.innerHTML = `<div class="msg" data-testid="browse-error">${esc(e.message)}</div>`; out.innerHTML = ""; }
  };
  document.getElementById("b-go").onclick = () => { cursor = null; browse(false); };
  document.getElementById("b-next").onclick = () => browse(true);
  document.getElementById("p-go").onclick = async () => {
    const msg = document.getElementById("p-msg");
    try {
      const h = document.getElementById("p-headers").value.trim();
      let headers = {};
      if (h) { try { headers = JSON.parse(h); } catch (e) { throw new Error("headers are not valid JSON: " + e.message + ' (write them as {"name": "value"})'); } }
      const key = document.getElementById("p-key").value;
      const r = await api("POST", `/topics/${enc(topic)}/messages`, {key: key === "" ? null : key, value: document.getElementById("p-value").value, headers, partition: document.getElementById("p-part").value, value_is_json: document.getElementById("p-json").checked});
      msg.innerHTML = `<span class="ok" data-testid="produced">written to partition ${r.partition} at offset ${r.offset}</span>`;
    } catch (e) { msg.innerHTML = `<span class="field-error" data-testid="produce-error">${esc(e.message)}</span>`; }
  };
  document.getElementById("t-del").onclick = async () => {
    if (!confirm(`Delete topic ${topic} and all its records?`)) return;
    try { await api("DELETE", `/topics/${enc(topic)}`); location.hash = "#/topics"; } catch (e) { showError(e.message); }
  };
  let first = true;
  return poll(ctx, async () => {
    const t = await api("GET", `/topics/${enc(topic)}`);
    if (!ctx.alive()) return;
    if (first) { document.getElementById("b-part").innerHTML = `<option value="">all partitions</option>` + t.partition_offsets.map(p => `<option value="${p.partition}">partition ${p.partition}</option>`).join(""); first = false; }
    document.getElementById("t-info").innerHTML = `<p>${t.partitions} partition(s), ${fmt(t.records)} records, ${bytes(t.bytes)}, retention ${t.retention_ms < 0 ? "forever" : ms(t.retention_ms)}, cleanup ${esc(t.cleanup_policy)}${t.groups.length ? `, read by ${t.groups.map(g => `<a href="#/groups/${enc(g)}">${esc(g)}</a>`).join(", ")}` : ""}</p>
      <table data-testid="partitions"><tr><th class="num">partition</th><th class="num">start offset</th><th class="num">end offset</th><th class="num">records</th><th class="num">size</th></tr>${t.partition_offsets.map(p => `<tr><td class="num">${p.partition}</td><td class="num">${p.earliest}</td><td class="num">${p.latest}</td><td class="num">${fmt(p.records)}</td><td class="num">${bytes(p.bytes)}</td></tr>`).join("")}</table>
      <details><summary class="muted">configuration</summary><table>${Object.entries(t.config).map(([k, v]) => `<tr><td class="mono">${esc(k)}</td><td class="mono">${esc(v)}</td></tr>`).join("")}</table></details>`;
  }, 3000);
}

/* ---------------------------------------------------------------- consumer groups */
async function groupsPage(ctx) {
  main.innerHTML = `<h1>Consumer groups</h1><div id="groups"></div>`;
  return poll(ctx, async () => {
    const d = await api("GET", "/groups");
    if (!ctx.alive()) return;
    d.groups.forEach(g => record("group:" + g.group, g.lag));
    document.getElementById("groups").innerHTML = d.groups.length ? `<table><tr><th>group</th><th>topics</th><th class="num">partitions</th><th class="num">lag</th></tr>${d.groups.map(g => `<tr><td><a href="#/groups/${enc(g.group)}">${esc(g.group)}</a></td><td>${g.topics.map(esc).join(", ")}</td><td class="num">${g.partitions}</td><td class="num">${fmt(g.lag)}</td></tr>`).join("")}</table>` : `<p class="muted">No consumer group has committed offsets.</p>`;
  }, 2000);
}
async function groupPage(ctx) {
  const group = ctx.arg;
  main.innerHTML = `<h1>Consumer group <span class="mono">${esc(group)}</span></h1><div class="card" id="g-chart"></div><h2>Members</h2><div id="g-members"></div><h2>Offsets and lag</h2><div id="g-parts"></div>`;
  return poll(ctx, async () => {
    const g = await api("GET", `/groups/${enc(group)}`);
    if (!ctx.alive()) return;
    record("group:" + group, g.lag);
    document.getElementById("g-chart").innerHTML = chart(`total lag: ${fmt(g.lag)} records`, "group:" + group, v => fmt(v));
    document.getElementById("g-members").innerHTML = g.members.length ? `<table><tr><th>member</th><th>assignment</th></tr>${g.members.map(m => `<tr><td class="mono">${esc(m.member_id || m.id || JSON.stringify(m))}</td><td>${esc((m.assignment || []).join(", "))}</td></tr>`).join("")}</table>` : `<p class="muted">This log does not report group members; the committed offsets below are what the group has stored.</p>`;
    document.getElementById("g-parts").innerHTML = `<table data-testid="group-partitions"><tr><th>topic</th><th class="num">partition</th><th class="num">committed</th><th class="num">start</th><th class="num">end</th><th class="num">lag</th></tr>${g.partitions.map(p => `<tr><td><a href="#/topics/${enc(p.topic)}">${esc(p.topic)}</a></td><td class="num">${p.partition}</td><td class="num">${p.committed ?? "–"}</td><td class="num">${p.earliest}</td><td class="num">${p.latest}</td><td class="num">${fmt(p.lag)}</td></tr>`).join("")}</table>`;
  });
}

/* ---------------------------------------------------------------- connectors */
async function connectorsPage(ctx) {
  main.innerHTML = `<h1>Connectors <a href="#/connectors/new"><button class="primary" data-testid="new-connector">New connector</button></a></h1><div id="conns"></div>`;
  return poll(ctx, async () => {
    const d = await api("GET", "/connectors");
    if (!ctx.alive()) return;
    document.getElementById("conns").innerHTML = d.errors.map(e => `<div class="msg">${esc(e)}</div>`).join("") + (d.workers.length ? "" : `<div class="info">This console knows no Connect worker: start it with --connect URL (a worker's REST API), or open the console on a worker's REST port.</div>`) +
      (d.connectors.length ? `<table data-testid="connectors"><tr><th>connector</th><th>type</th><th>class</th><th>state</th><th>tasks</th><th>topics</th><th class="num">records/s</th><th></th></tr>${d.connectors.map(c => `<tr data-testid="connector-row" data-name="${esc(c.name)}"><td><a href="#/connectors/${enc(c.name)}">${esc(c.name)}</a></td><td>${esc(c.type)}</td><td class="mono">${esc(c.class)}</td><td data-testid="connector-state">${badge(c.state)}</td><td>${c.tasks.map(t => badge(t.state)).join(" ")}</td><td>${c.topics.map(esc).join(", ")}</td><td class="num" data-testid="connector-rate" data-rate="${c.rate ?? ""}">${rate(c.rate)}</td><td>${actions(c)}</td></tr>`).join("")}</table>` : (d.workers.length ? `<p class="muted">No connectors.</p>` : ""));
    bindActions(document.getElementById("conns"));
  }, 1000);
}
function actions(c) {
  const b = (a, label, cls = "") => `<button class="${cls}" data-action="${a}" data-name="${esc(c.name)}" data-testid="connector-${a}">${label}</button>`;
  return (c.state === "PAUSED" ? b("resume", "Resume") : b("pause", "Pause")) + " " + b("restart", "Restart") + " " + b("delete", "Delete", "danger");
}
function bindActions(root) {
  root.querySelectorAll("button[data-action]").forEach(btn => btn.onclick = async () => {
    const a = btn.dataset.action, n = btn.dataset.name;
    if (a === "delete" && !confirm(`Delete connector ${n}? (its offsets are kept)`)) return;
    try {
      if (a === "delete") { await api("DELETE", `/connectors/${enc(n)}`); location.hash = "#/connectors"; }
      else await api(a === "restart" ? "POST" : "PUT", `/connectors/${enc(n)}/${a}`);
    } catch (e) { showError(e.message); }
  });
}
async function connectorPage(ctx) {
  const name = ctx.arg;
  main.innerHTML = `<h1>Connector <span class="mono">${esc(name)}</span></h1><div id="c-actions" class="row"></div><div id="c-body"></div>`;
  return poll(ctx, async () => {
    const c = await api("GET", `/connectors/${enc(name)}`);
    if (!ctx.alive()) return;
    const st = c.status;
    document.getElementById("c-actions").innerHTML = `${badge(st.connector.state)} <span class="muted">${esc(c.info.type)} connector on worker ${esc(st.connector.worker_id || c.worker)} (asked ${esc(c.worker)})</span> ` + actions({name, state: st.connector.state});
    bindActions(document.getElementById("c-actions"));
    document.getElementById("c-body").innerHTML = (st.connector.trace ? `<h2>Connector trace</h2><pre>${esc(st.connector.trace)}</pre>` : "") +
      `<h2>Tasks</h2><table><tr><th class="num">task</th><th>state</th><th>worker</th><th>trace</th></tr>${st.tasks.map(t => `<tr><td class="num">${t.id}</td><td>${badge(t.state)}</td><td class="mono">${esc(t.worker_id)}</td><td>${t.trace ? `<pre data-testid="task-trace">${esc(t.trace)}</pre>` : "–"}</td></tr>`).join("")}</table>
      <h2>Configuration <span class="muted">(secrets masked)</span></h2><table>${Object.entries(c.info.config).map(([k, v]) => `<tr><td class="mono">${esc(k)}</td><td class="mono">${esc(v)}</td></tr>`).join("")}</table>`;
  }, 2000);
}
async function newConnectorPage(ctx) {
  const d = await api("GET", "/plugins");
  main.innerHTML = `<h1>New connector</h1><div class="card"><div class="row"><label>plugin <select id="n-plugin" data-testid="plugin">${d.plugins.map(p => `<option value="${esc(p.class)}">${esc(p.class.split(".").pop())} (${esc(p.type)})</option>`).join("")}</select></label><label>name <input id="n-name" data-testid="connector-name"></label></div><div id="n-form" class="form-grid"></div><div class="row"><button id="n-validate">Validate</button><button class="primary" id="n-create" data-testid="create-connector">Create</button><span id="n-msg"></span></div></div>`;
  if (!d.plugins.length) { main.innerHTML = `<h1>New connector</h1><div class="info">This console knows no Connect worker: start it with --connect URL, or open the console on a worker's REST port.</div>`; return; }
  let defs = [];
  const load = async () => {
    const p = document.getElementById("n-plugin").value;
    defs = (await api("GET", `/plugins/${enc(p)}/config`)).configs;
    document.getElementById("n-form").innerHTML = defs.filter(k => !["name", "connector.class"].includes(k.name)).map(k => {
      const input = k.type === "BOOLEAN" ? `<select data-key="${esc(k.name)}"><option value="">(default ${esc(k.default_value ?? "")})</option><option>true</option><option>false</option></select>`
        : `<input data-key="${esc(k.name)}" data-testid="field-${esc(k.name)}" ${k.type === "PASSWORD" ? 'type="password"' : ""} placeholder="${esc(k.default_value ?? (k.required ? "required" : ""))}" style="width:100%">`;
      return `<label title="${esc(k.type)}">${esc(k.name)}${k.required ? " *" : ""}</label><div>${input}<div class="doc">${esc(k.type)} · ${esc(k.documentation || "")}</div><div class="field-error" data-error-for="${esc(k.name)}"></div></div>`;
    }).join("");
  };
  const config = () => {
    const c = {"connector.class": document.getElementById("n-plugin").value, name: document.getElementById("n-name").value.trim()};
    document.querySelectorAll("#n-form [data-key]").forEach(i => { if (i.value !== "") c[i.dataset.key] = i.value; });
    return c;
  };
  const validate = async () => {
    const r = await api("PUT", `/plugins/${enc(document.getElementById("n-plugin").value)}/validate`, config());
    document.querySelectorAll("[data-error-for]").forEach(e => e.textContent = "");
    const other = [];
    r.configs.forEach(c => { if (c.value.errors.length) { const slot = document.querySelector(`[data-error-for="${CSS.escape(c.value.name)}"]`); if (slot) { slot.textContent = c.value.errors.join("; "); slot.dataset.testid = "field-error"; } else other.push(`${c.value.name}: ${c.value.errors.join("; ")}`); } });
    document.getElementById("n-msg").innerHTML = r.error_count ? `<span class="field-error" data-testid="validation-errors">${r.error_count} error(s)${other.length ? ": " + esc(other.join("; ")) : ""}</span>` : `<span class="ok">valid</span>`;
    return r.error_count;
  };
  document.getElementById("n-plugin").onchange = load;
  document.getElementById("n-validate").onclick = () => validate().catch(e => { document.getElementById("n-msg").innerHTML = `<span class="field-error">${esc(e.message)}</span>`; });
  document.getElementById("n-create").onclick = async () => {
    try {
      if (await validate()) return;
      const c = config();
      if (!c.name) throw new Error("give the connector a name");
      await api("POST", "/connectors", {name: c.name, config: c});
      location.hash = "#/connectors/" + enc(c.name);
    } catch (e) { document.getElementById("n-msg").innerHTML = `<span class="field-error" data-testid="create-error">${esc(e.message)}</span>`; }
  };
  await load();
}
