// The web page of `vigil serve` (docs/api.md): lists the sources with their status (GET /v1/sources every few
// seconds), shows the chosen one's latest frame (GET /v1/sources/{id}/frame), its caption timeline (GET …/captions,
// then live `segment`, `answer` and `alert` events from GET …/events) and an ask box whose answer streams in
// (POST /v1/chat/completions with stream: true). Server-Sent Events are read through fetch, not EventSource, so the
// API key can go in the Authorization header; the events stream resumes with Last-Event-ID after a drop.
// `?source=ID` in the address chooses the source to show first.

"use strict";

const state = {
  key: sessionStorage.getItem("vigil-key") || "",
  selected: null,
  events: null,
  frameURL: null,
  asking: false,
};
const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// MARK: - HTTP

function withKey(headers) {
  const out = Object.assign({}, headers || {});
  if (state.key) out["Authorization"] = "Bearer " + state.key;
  return out;
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = withKey(opts.headers);
  const response = await fetch(path, opts);
  if (response.status === 401) {
    $("key-form").hidden = false;
    throw new Error("This server needs an API key: enter it above.");
  }
  return response;
}

async function apiJSON(path, options) {
  const response = await api(path, options);
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(body && body.error ? body.error.message : response.statusText);
  return body;
}

// Reads a text/event-stream body, calling onEvent({type, id, data}) per event; comments are skipped.
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = { type: "message", id: null, data: [] };
      for (const line of block.split("\n")) {
        if (line === "" || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") event.type = value;
        else if (field === "id") event.id = value;
        else if (field === "data") event.data.push(value);
      }
      if (event.data.length) onEvent({ type: event.type, id: event.id, data: event.data.join("\n") });
    }
  }
}

// MARK: - Formatting

function clock(seconds) {
  const total = Math.max(0, Math.floor(seconds || 0));
  const h = Math.floor(total / 3600), m = Math.floor(total / 60) % 60, s = total % 60;
  const mmss = String(m).padStart(2, "0") + ":" + String(s).padStart(2, "0");
  return h > 0 ? h + ":" + mmss : mmss;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// MARK: - Sources

async function refreshSources() {
  let list;
  try {
    list = await apiJSON("/v1/sources");
    $("notice").textContent = "";
  } catch (error) {
    $("notice").textContent = error.message;
    return;
  }
  renderSources(list.data);
  const wanted = state.selected || params.get("source") || (list.data[0] && list.data[0].id);
  const chosen = list.data.find((s) => s.id === wanted) || list.data[0];
  if (chosen && chosen.id !== state.selected) select(chosen.id);
  if (chosen) renderStatus(chosen);
}

function renderSources(sources) {
  const list = $("sources");
  list.replaceChildren();
  $("no-sources").hidden = sources.length > 0;
  for (const source of sources) {
    const s = source.status;
    const item = element("li", "source" + (source.id === state.selected ? " selected" : ""));
    item.dataset.id = source.id;
    const title = element("div");
    title.append(element("span", "name", source.id + " "), element("span", "state " + s.state, s.state));
    const figures = element(
      "div", "figures",
      clock(s.media_time) + " · " + (s.fps_processed || 0).toFixed(2) + " fps · lag " + (s.lag_s || 0).toFixed(1) +
        " s · dropped " + (s.dropped || 0));
    item.append(title, figures);
    item.addEventListener("click", () => select(source.id));
    list.append(item);
  }
}

function renderStatus(source) {
  const s = source.status;
  const rows = [
    ["state", s.state], ["media time", clock(s.media_time)], ["fps in / processed",
      (s.fps_in || 0).toFixed(1) + " / " + (s.fps_processed || 0).toFixed(2)],
    ["lag", (s.lag_s || 0).toFixed(2) + " s"], ["dropped", String(s.dropped || 0)],
    ["KV tokens", String(s.kv_tokens || 0)], ["questions", (s.questions_answered || 0) + " answered, " +
      source.questions_queued + " queued"], ["alerts", String(source.alerts.length)],
  ];
  const list = $("status");
  list.replaceChildren();
  for (const [name, value] of rows) list.append(element("dt", "", name), element("dd", "", value));
}

function select(id) {
  if (state.selected === id) return;
  state.selected = id;
  for (const item of document.querySelectorAll(".source")) item.classList.toggle("selected", item.dataset.id === id);
  $("detail").hidden = false;
  $("source-name").textContent = id;
  $("timeline").replaceChildren();
  $("answer").textContent = "";
  $("answer").dataset.state = "idle";
  $("answer-meta").textContent = "";
  loadCaptions(id);
  follow(id);
  refreshFrame();
}

async function refreshFrame() {
  const id = state.selected;
  if (!id) return;
  try {
    const response = await api("/v1/sources/" + encodeURIComponent(id) + "/frame");
    if (!response.ok || id !== state.selected) return;
    const url = URL.createObjectURL(await response.blob());
    $("frame").src = url;
    if (state.frameURL) URL.revokeObjectURL(state.frameURL);
    state.frameURL = url;
  } catch (error) {
    // The next refresh tries again.
  }
}

// MARK: - Timeline

function addToTimeline(kind, start, end, text, className) {
  const item = element("li", className || "");
  item.append(element("span", "time", clock(start) + (end !== undefined ? "–" + clock(end) : "")));
  item.append(element("span", "kind", kind), document.createTextNode(text));
  const list = $("timeline");
  list.prepend(item);
  while (list.children.length > 500) list.lastChild.remove();
}

async function loadCaptions(id) {
  try {
    const response = await api("/v1/sources/" + encodeURIComponent(id) + "/captions?format=jsonl");
    if (!response.ok || id !== state.selected) return;
    const text = await response.text();
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      const entry = JSON.parse(line);
      if (entry.text) addToTimeline(entry.level, entry.start, entry.end, entry.text);
    }
  } catch (error) {
    // Captions are optional; live events still arrive.
  }
}

function onSourceEvent(event) {
  if (event.type === "segment") addToTimeline(event.kind || "segment", event.start, event.end, event.text);
  else if (event.type === "answer" && !event.error) {
    addToTimeline("answer", event.asked_at, undefined, event.question + " → " + event.text, "answer");
  } else if (event.type === "alert") {
    addToTimeline("alert", event.at, undefined, event.condition, "alert");
  } else if (event.type === "error") addToTimeline("error", 0, undefined, event.message, "alert");
}

// Follows the chosen source's events, reconnecting with Last-Event-ID after a drop.
async function follow(id) {
  if (state.events) state.events.abort();
  const controller = new AbortController();
  state.events = controller;
  let lastID = null;
  while (!controller.signal.aborted && state.selected === id) {
    try {
      const headers = lastID ? { "Last-Event-ID": lastID } : {};
      const response = await api(
        "/v1/sources/" + encodeURIComponent(id) + "/events?types=segment,answer,alert,error",
        { headers, signal: controller.signal });
      if (response.ok) {
        await readEvents(response, (e) => {
          if (e.id) lastID = e.id;
          onSourceEvent(JSON.parse(e.data));
        });
      }
    } catch (error) {
      if (controller.signal.aborted) return;
    }
    await sleep(2000);
  }
}

// MARK: - Asking

async function ask(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question || !state.selected || state.asking) return;
  state.asking = true;
  $("ask-button").disabled = true;
  const answer = $("answer");
  const meta = $("answer-meta");
  answer.textContent = "";
  answer.dataset.state = "asking";
  meta.textContent = "";
  try {
    const response = await api("/v1/chat/completions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        model: "stream:" + state.selected, stream: true, stream_options: { include_usage: true },
        messages: [{ role: "user", content: question }],
      }),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => null);
      throw new Error(body && body.error ? body.error.message : response.statusText);
    }
    answer.dataset.state = "streaming";
    await readEvents(response, (e) => {
      if (e.data === "[DONE]") return;
      const chunk = JSON.parse(e.data);
      if (chunk.error) throw new Error(chunk.error.message);
      for (const choice of chunk.choices || []) {
        if (choice.delta && choice.delta.content) answer.textContent += choice.delta.content;
      }
      if (chunk.vigil) {
        const v = chunk.vigil;
        const seen = (v.evidence || []).map((e) => clock(e.start) + "–" + clock(e.end)).join(", ");
        meta.textContent = "asked at " + clock(v.asked_at) + " · first token " + (v.ttft_ms / 1000).toFixed(2) +
          " s · total " + (v.total_ms / 1000).toFixed(2) + " s" + (seen ? " · seen " + seen : "");
      }
    });
    answer.dataset.state = "done";
  } catch (error) {
    answer.dataset.state = "error";
    meta.textContent = error.message;
  } finally {
    state.asking = false;
    $("ask-button").disabled = false;
  }
}

// MARK: - Start

$("ask-form").addEventListener("submit", ask);
$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.key = $("key").value.trim();
  sessionStorage.setItem("vigil-key", state.key);
  $("key-form").hidden = true;
  refreshSources();
  if (state.selected) { const id = state.selected; state.selected = null; select(id); }
});

fetch("/health").then((r) => r.json()).then((h) => { if (h.model) $("model").textContent = h.model; }).catch(() => {});
refreshSources();
setInterval(refreshSources, 3000);
setInterval(refreshFrame, 2000);
