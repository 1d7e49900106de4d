// Showing a run: one line per event, and the answer (or a report's Markdown) with its citations. Every string
// from the server (model text, passage titles, quotes, plan headings) goes in as text, never as HTML.
import { $, el } from "./dom.js";

export function describe(event) {
  const d = event.data || {};
  switch (event.type) {
    case "run_started": return d.resumed ? "Resumed" : "Started";
    case "node_started": return `${event.node || d.node || "step"} started`;
    case "node_finished": return `${event.node || d.node || "step"} finished`;
    case "search": return `Searched "${d.query}" (${d.hit_ids ? d.hit_ids.length : d.hits} passages)`;
    case "outline": return `Drafted the plan: ${(d.sections || []).length} sections`;
    case "awaiting_approval": return "Waiting for your approval of the plan";
    case "plan_approved": return d.edited ? "Plan approved, as you edited it" : "Plan approved as drafted";
    case "report": return "Report put together";
    case "section": return `Section "${d.heading}" written (${d.sentences} sentences)`;
    case "evidence": return `Evidence found${d.count !== undefined ? `: ${d.count}` : ""}`;
    case "patches": return `Using ${(d.ids || []).length} of your corrections`;
    case "warning": return d.message || "warning";
    case "budget_reached": return d.message || "Dollar budget reached";
    case "answer": return "Answer written";
    case "run_finished": return `Finished (${d.status || "done"})`;
    case "error": return d.error || "error";
    default: return event.type;
  }
}

export function citationsOf(result) {
  return (result.citations || []).map((c, i) => ({ ...c, n: c.n || i + 1 }));
}

export function renderAnswer(result) {
  const box = $("answer");
  box.replaceChildren();
  const cites = citationsOf(result);
  const known = new Set(cites.map((c) => String(c.n)));
  let blocks = String(result.answer || "").split(/\n\s*\n/);
  if (result.report && cites.length) {
    // The Sources list of a report's Markdown: the page lists the same citations below, quotes included.
    const sources = blocks.lastIndexOf("## Sources");
    if (sources >= 0) blocks = blocks.slice(0, sources);
  }
  for (const para of blocks) {
    const heading = para.match(/^(#{1,6})\s+([^\n]*)$/);
    if (heading) {
      box.append(el(heading[1].length === 1 ? "h3" : "h4", { class: "answer-heading" }, heading[2]));
      continue;
    }
    const note = para.match(/^_([^\n]*)_$/);
    if (note) {
      box.append(el("p", { class: "muted" }, el("em", {}, note[1])));
      continue;
    }
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
    const where = [c.passage_id, c.page ? `p. ${c.page}` : ""].filter(Boolean).join(", ");
    const details = el("details", { id: `cite-${c.n}` },
      el("summary", {}, `[${c.n}] ${c.title || c.passage_id} `, el("span", { class: "pid" }, where)),
      el("blockquote", {}, c.quote || ""));
    if (c.url) {
      // Only a web address becomes a link (a javascript: one would run on click); anything else is text.
      const web = /^https?:\/\//i.test(c.url);
      details.append(web ? el("a", { href: c.url, rel: "noopener noreferrer", target: "_blank" }, c.url)
        : el("span", { class: "pid" }, c.url));
    }
    list.append(el("li", {}, details));
  }
  if (!cites.length) list.append(el("li", { class: "muted" }, "No sources cited."));
  const used = result.patches_used || [];
  $("patches-used").hidden = !used.length;
  $("patches-used").textContent = used.length ? `This answer used your corrections: ${used.join(", ")}` : "";
  $("answer-title").textContent = result.report ? "Report" : "Answer";
  $("answer-section").hidden = false;
}

function openCitation(n) {
  const details = $(`cite-${n}`);
  if (!details) return;
  details.open = true;
  details.querySelector("summary").focus();
  details.scrollIntoView({ block: "nearest", behavior: "smooth" });
}
