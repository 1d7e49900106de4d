// The sleuth web page: run a question, follow its events live, read the cited answer, correct it.
// Plain browser JavaScript, no build step. Events stream over fetch() so the token travels in a header.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "sleuth-token";
let current = null; // { question, result } of the last finished run

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${token()}` };
  if (options.body && typeof options.body !== "string") {
    headers["Content-Type"] = "application/json";
    options = { ...options, body: JSON.stringify(options.body) };
  }
  const response = await fetch(path, { ...options, headers });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const detail = data && data.detail;
    const message = typeof detail === "string" ? detail : JSON.stringify(detail || data);
    throw new Error(`${response.status}: ${message}`);
  }
  return data;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

// --- streaming events (Server-Sent Events parsed from a fetch body) ---------------------------------
async function followEvents(jobId, onEvent) {
  const response = await fetch(`/v1/jobs/${encodeURIComponent(jobId)}/events`, {
    headers: { Authorization: `Bearer ${token()}`, Accept: "text/event-stream" },
  });
  if (!response.ok) throw new Error(`${response.status}: could not follow the job`);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) {
        const stop = onEvent(name, JSON.parse(data.join("\n")));
        if (stop) { reader.cancel(); return; }
      }
    }
  }
}

function describe(event) {
  const d = event.data || {};
  switch (event.type) {
    case "run_started": return "Started";
    case "node_started": return `${event.node || d.node || "step"} started`;
    case "node_finished": return `${event.node || d.node || "step"} finished`;
    case "search": return `Searched "${d.query}" (${(d.hit_ids || []).length} passages)`;
    case "evidence": return `Evidence found${d.count !== undefined ? `: ${d.count}` : ""}`;
    case "patches": return `Using ${(d.ids || []).length} of your corrections`;
    case "warning": return d.message || "warning";
    case "budget_reached": return d.message || "budget reached";
    case "answer": return "Answer written";
    case "run_finished": return `Finished (${d.status || "done"})`;
    case "error": return d.error || "error";
    default: return event.type;
  }
}

// --- the answer --------------------------------------------------------------------------------------
function citationsOf(result) {
  return (result.citations || []).map((c, i) => ({ ...c, n: c.n || i + 1 }));
}

function renderAnswer(result) {
  const box = $("answer");
  box.replaceChildren();
  const cites = citationsOf(result);
  const known = new Set(cites.map((c) => String(c.n)));
  const paragraphs = String(result.answer || "").split(/\n\s*\n/);
  for (const para of paragraphs) {
    const p = el("p");
    // Split on [n] markers; each known marker becomes a button that opens that source's quote.
    for (const part of para.split(/(\[\d+\])/)) {
      const m = part.match(/^\[(\d+)\]$/);
      if (m && known.has(m[1])) {
        p.append(el("button", { type: "button", class: "cite", "aria-label": `source ${m[1]}`,
          onclick: () => openCitation(m[1]) }, m[1]));
      } else {
        p.append(part.replace(/^#+\s*/, ""));
      }
    }
    box.append(p);
  }
  const list = $("citations");
  list.replaceChildren();
  for (const c of cites) {
    const details = el("details", { id: `cite-${c.n}` },
      el("summary", {}, `[${c.n}] ${c.title || c.passage_id} `, el("span", { class: "pid" }, c.passage_id)),
      el("blockquote", {}, c.quote || ""));
    list.append(el("li", {}, details));
  }
  if (!cites.length) list.append(el("li", { class: "muted" }, "No sources cited."));
  const used = result.patches_used || [];
  $("patches-used").hidden = !used.length;
  $("patches-used").textContent = used.length ? `This answer used your corrections: ${used.join(", ")}` : "";
  $("answer-section").hidden = false;
}

function openCitation(n) {
  const details = $(`cite-${n}`);
  if (!details) return;
  details.open = true;
  details.querySelector("summary").focus();
  details.scrollIntoView({ block: "nearest", behavior: "smooth" });
}

// --- running a question ------------------------------------------------------------------------------
async function runQuestion(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) return;
  const mode = document.querySelector("input[name=mode]:checked").value;
  const collection = $("collection").value.trim() || null;
  const button = $("run-button");
  button.disabled = true;
  $("progress").replaceChildren();
  $("progress-section").hidden = false;
  $("answer-section").hidden = true;
  $("correction-section").hidden = true;
  setStatus("queued");
  try {
    const body = { question, collection };
    const job = mode === "ask"
      ? await api("/v1/ask", { method: "POST", body: { ...body, wait: false } })
      : await api("/v1/research", { method: "POST", body });
    await followEvents(job.id, (name, payload) => {
      if (name === "result") {
        setStatus(payload.status);
        if (payload.status === "succeeded") {
          current = { question, result: payload.result };
          renderAnswer(payload.result);
        } else {
          addProgress({ type: "error", data: { error: payload.error || payload.status } });
        }
        return true;
      }
      setStatus("running");
      addProgress(payload);
      return false;
    });
  } catch (error) {
    setStatus("failed");
    addProgress({ type: "error", data: { error: error.message } });
  } finally {
    button.disabled = false;
  }
}

function setStatus(status) {
  const badge = $("job-status");
  badge.textContent = status;
  badge.className = `badge ${status}`;
}

function addProgress(event) {
  const cls = event.type === "warning" || event.type === "error" ? event.type : "";
  $("progress").append(el("li", { class: cls }, el("span", { class: "kind" }, event.type), describe(event)));
  $("progress").lastChild.scrollIntoView({ block: "nearest" });
}

// --- corrections -------------------------------------------------------------------------------------
function openCorrection() {
  if (!current) return;
  $("c-query").value = current.question;
  $("c-answer").value = current.result.answer || "";
  $("c-evidence").value = "";
  $("c-note").value = "";
  $("correction-status").textContent = "";
  const box = $("c-passages");
  box.replaceChildren();
  for (const c of citationsOf(current.result)) {
    if (c.kind === "patch" || String(c.passage_id).startsWith("patch:")) continue;
    const id = `c-pass-${c.n}`;
    box.append(el("label", { class: "inline", for: id },
      el("input", { type: "checkbox", id, value: c.passage_id, "data-quote": c.quote || "" }),
      `[${c.n}] ${c.title || c.passage_id}`));
  }
  $("c-passages-box").hidden = !box.children.length;
  $("correction-section").hidden = false;
  $("c-answer").focus();
}

async function submitCorrection(event) {
  event.preventDefault();
  const status = $("correction-status");
  const picked = [...document.querySelectorAll("#c-passages input:checked")];
  const quotes = picked.map((box) => box.dataset.quote).filter(Boolean);
  const evidence = [$("c-evidence").value.trim(), ...quotes].filter(Boolean).join("\n");
  try {
    const patch = await api("/v1/feedback", { method: "POST", body: {
      query: $("c-query").value.trim(), answer: $("c-answer").value.trim(), evidence,
      evidence_passage_ids: picked.map((box) => box.value), note: $("c-note").value.trim(),
    } });
    const warn = (patch.flags || []).length ? ` (flagged: ${patch.flags.join(", ")})` : "";
    const conflicts = (patch.conflicts || []).length ? ` Conflicts with ${patch.conflicts.join(", ")}.` : "";
    status.className = "ok";
    status.textContent = `Saved correction ${patch.id}${warn}.${conflicts}`;
    loadPatches();
  } catch (error) {
    status.className = "bad";
    status.textContent = `Not saved: ${error.message}`;
  }
}

async function loadPatches() {
  const status = $("patches-status");
  const list = $("patches");
  if (!token()) { status.textContent = "Enter a token to see your corrections."; return; }
  try {
    const all = $("patches-all").checked ? "all" : "active";
    const patches = await api(`/v1/feedback?status=${all}`);
    list.replaceChildren();
    status.className = "muted";
    status.textContent = patches.length ? "" : "No corrections yet.";
    for (const p of patches.slice().reverse()) {
      const item = el("li", { class: `status-${p.status}`, "data-patch": p.id },
        el("div", { class: "q" }, p.query),
        el("div", {}, p.answer),
        el("div", { class: "meta" }, `${p.id} · ${p.status} · ${new Date(p.created_at).toLocaleString()}`
          + ((p.flags || []).length ? ` · ${p.flags.join(", ")}` : "")));
      if (p.status === "active") {
        item.append(el("button", { type: "button", "aria-label": `retract correction ${p.id}`,
          onclick: () => retract(p.id) }, "Retract"));
      }
      list.append(item);
    }
  } catch (error) {
    status.className = "bad";
    status.textContent = error.message;
  }
}

async function retract(id) {
  if (!confirm(`Retract correction ${id}? It stays on record but is no longer used.`)) return;
  try {
    await api(`/v1/feedback/${encodeURIComponent(id)}`, { method: "DELETE" });
  } catch (error) {
    $("patches-status").className = "bad";
    $("patches-status").textContent = error.message;
  }
  loadPatches();
}

// --- token -------------------------------------------------------------------------------------------
async function useToken(event) {
  if (event) event.preventDefault();
  const value = $("token").value.trim();
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  const status = $("token-status");
  try {
    await api("/v1/feedback?status=active");
    status.className = "ok";
    status.textContent = "Token accepted.";
    loadPatches();
  } catch (error) {
    status.className = "bad";
    status.textContent = error.message;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("token-form").addEventListener("submit", useToken);
  $("question-form").addEventListener("submit", runQuestion);
  $("correct-button").addEventListener("click", openCorrection);
  $("correction-form").addEventListener("submit", submitCorrection);
  $("c-cancel").addEventListener("click", () => { $("correction-section").hidden = true; });
  $("patches-refresh").addEventListener("click", loadPatches);
  $("patches-all").addEventListener("change", loadPatches);
  if (token()) { $("token").value = token(); useToken(); }
});
