// The sleuth web page: run a question, follow its events live, read the cited answer or report, approve a
// report's plan, ask a follow-up, correct an answer. Plain browser JavaScript modules, no build step.
import { citationsOf, describe, renderAnswer } from "./answer.js";
import { api, followEvents, setToken, token } from "./api.js";
import { $, el } from "./dom.js";
import { addSection, readPlan, showPlan } from "./plan.js";

let current = null; // the job shown: { jobId, kind, question, collection, result, lastSeq }

// --- running and following jobs ---------------------------------------------------------------------
function researchOptions() {
  const form = $("form").value;
  return { form, approve_plan: form === "report" && $("approve-plan").checked };
}

function updateOptions() {
  const research = document.querySelector("input[name=mode]:checked").value === "research";
  $("form").disabled = !research;
  $("approve-plan").disabled = !research || $("form").value !== "report";
}

function busy(flag) {
  for (const id of ["run-button", "plan-approve", "follow-up-button"]) $(id).disabled = flag;
}

function clearView() {
  $("progress").replaceChildren();
  $("progress-section").hidden = false;
  for (const id of ["answer-section", "correction-section", "plan-section"]) $(id).hidden = true;
}

async function runQuestion(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) return;
  const mode = document.querySelector("input[name=mode]:checked").value;
  const collection = $("collection").value.trim() || null;
  const body = mode === "research" ? { question, collection, ...researchOptions() } : { question, collection };
  await startJob(mode, body);
}

async function askFollowUp(event) {
  event.preventDefault();
  const question = $("follow-up").value.trim();
  if (!question || !current) return;
  await startJob("research", { question, collection: current.collection, follow_up: current.jobId });
}

async function startJob(mode, body) {
  busy(true);
  clearView();
  setStatus("queued");
  try {
    const job = mode === "ask"
      ? await api("/v1/ask", { method: "POST", body: { ...body, wait: false } })
      : await api("/v1/research", { method: "POST", body });
    current = { jobId: job.id, kind: job.kind, question: body.question, collection: body.collection,
      result: null, lastSeq: -1 };
    history.replaceState(null, "", `#job=${encodeURIComponent(job.id)}`);
    await watchJob(job.id, -1);
  } catch (error) {
    setStatus("failed");
    addProgress({ type: "error", data: { error: error.message } });
  } finally {
    busy(false);
  }
}

// Follow a job's events after seq `after` until its stream ends, then show where it ended.
async function watchJob(jobId, after) {
  await followEvents(jobId, after, (name, payload) => {
    if (name === "result") {
      showJob(payload);
      return true;
    }
    setStatus("running");
    addProgress(payload);
    return false;
  });
}

// A job as the API gives it (`GET /v1/jobs/{id}`, or the stream's last message): its answer, its plan to
// approve, or why it failed.
function showJob(job) {
  setStatus(job.status);
  const request = job.request || {};
  current = { jobId: job.id, kind: job.kind, question: request.question || "",
    collection: request.collection || null, result: job.result, lastSeq: job.event_count - 1 };
  if (job.status === "succeeded") {
    renderAnswer(job.result);
    $("follow-up-form").hidden = job.kind !== "research";
    $("follow-up").value = "";
  } else if (job.status === "awaiting_approval") {
    showPlan(job.result && job.result.outline);
    $("plan-section").hidden = false;
  } else if (job.status !== "queued" && job.status !== "running") {
    addProgress({ type: "error", data: { error: job.error || job.status } });
  }
  loadJobs();
}

async function openJob(jobId) {
  busy(true);
  clearView();
  try {
    const job = await api(`/v1/jobs/${encodeURIComponent(jobId)}?events=true`);
    history.replaceState(null, "", `#job=${encodeURIComponent(job.id)}`);
    for (const event of job.events || []) addProgress(event);
    showJob(job);
    if (job.status === "queued" || job.status === "running") await watchJob(job.id, job.event_count - 1);
  } catch (error) {
    setStatus("failed");
    addProgress({ type: "error", data: { error: error.message } });
  } finally {
    busy(false);
  }
}

async function approvePlan(event) {
  event.preventDefault();
  if (!current) return;
  const status = $("plan-status");
  busy(true);
  try {
    const path = `/v1/research/${encodeURIComponent(current.jobId)}/plan`;
    await api(path, { method: "POST", body: { plan: readPlan() } });
  } catch (error) {
    // The job stays paused: say what the API found wrong and leave the edits in place.
    status.className = "bad";
    status.textContent = `Not approved: ${error.message}`;
    busy(false);
    return;
  }
  $("plan-section").hidden = true;
  setStatus("queued");
  try {
    await watchJob(current.jobId, current.lastSeq);
  } catch (error) {
    setStatus("failed");
    addProgress({ type: "error", data: { error: error.message } });
  } finally {
    busy(false);
  }
}

async function loadJobs() {
  const status = $("jobs-status");
  const list = $("jobs");
  if (!token()) { status.textContent = "Enter a token to see your jobs."; return; }
  try {
    const jobs = await api("/v1/jobs?limit=20");
    status.className = "muted";
    status.textContent = jobs.length ? "" : "No jobs yet.";
    list.replaceChildren(...jobs.map((job) => el("li", { "data-job": job.id, class: `job-${job.status}` },
      el("div", { class: "q" }, (job.request && job.request.question) || job.kind),
      el("div", { class: "meta" }, el("span", { class: `badge ${job.status}` }, job.status),
        ` ${job.kind} · ${job.id} · ${new Date(job.created_at).toLocaleString()}`),
      el("button", { type: "button", "aria-label": `open job ${job.id}`, onclick: () => openJob(job.id) },
        job.status === "awaiting_approval" ? "Review plan" : "Open"))));
  } catch (error) {
    status.className = "bad";
    status.textContent = error.message;
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
  if (value) setToken(value);
  const status = $("token-status");
  try {
    await api("/v1/jobs?limit=1"); // any role may list its jobs, on any server (feedback may be off)
    status.className = "ok";
    status.textContent = "Token accepted.";
    loadPatches();
    loadJobs();
    const opened = location.hash.match(/^#job=([A-Za-z0-9_-]+)$/);
    if (opened && !current) openJob(opened[1]);
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
  $("plan-form").addEventListener("submit", approvePlan);
  $("plan-add-section").addEventListener("click", addSection);
  $("follow-up-form").addEventListener("submit", askFollowUp);
  $("jobs-refresh").addEventListener("click", loadJobs);
  $("open-job-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("open-job-id").value.trim();
    if (id) openJob(id);
  });
  for (const input of document.querySelectorAll("input[name=mode]")) input.addEventListener("change", updateOptions);
  $("form").addEventListener("change", updateOptions);
  updateOptions();
  if (token()) { $("token").value = token(); useToken(); }
});
