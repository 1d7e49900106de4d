// Talking to the sleuth API: the token (kept for this tab only), JSON requests with readable errors, and a job's
// events as Server-Sent Events read from a fetch() body, so the token travels in a header, not the URL.
const TOKEN_KEY = "sleuth-token";

export function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
export function setToken(value) { sessionStorage.setItem(TOKEN_KEY, value); }

// FastAPI's 422 lists problems as {loc, msg}: say each one as "where: what", without the "body" prefix.
function errorText(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((problem) => {
      const where = (problem.loc || []).filter((part) => part !== "body").join(".");
      const what = String(problem.msg || "invalid").replace(/^Value error, /, "");
      return where ? `${where}: ${what}` : what;
    }).join("; ");
  }
  return JSON.stringify(detail);
}

export async function api(path, options = {}) {
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${token()}` };
  if (options.body !== undefined && typeof options.body !== "string") {
    headers["Content-Type"] = "application/json";
    options = { ...options, body: JSON.stringify(options.body) };
  }
  const response = await fetch(path, { ...options, headers });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
  if (!response.ok) throw new Error(`${response.status}: ${errorText((data && data.detail) || data)}`);
  return data;
}

// Calls onEvent(name, data) for each message after seq `after` (-1: from the start) until the stream ends
// or onEvent returns true.
export async function followEvents(jobId, after, onEvent) {
  const response = await fetch(`/v1/jobs/${encodeURIComponent(jobId)}/events?after=${after}`, {
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
