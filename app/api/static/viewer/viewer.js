// tka live viewer: the current sequence (or ?sequence=<id>) as its rendered sheet, redrawn when any
// client changes it. State comes over REST (openapi.yaml); the WebSocket at /ws (asyncapi.yaml) only
// says when to fetch again. After a disconnect it reconnects with backoff and resumes with
// ?since=<last event_id>, so nothing that happened meanwhile is missed.
//
// Options: ?sequence=<id> pins a sequence (else it follows the current one); ?size=<px> draws it
// at that many pixels per pictograph (else it fits the window); ?transparent=1 paints no
// background (OBS browser sources); ?controls=0 hides the bar. #token=<token>: the server's token,
// when it has one, sent as a Bearer header and in the WebSocket's auth frame (a URL fragment never
// reaches a server or its logs).
"use strict";

(() => {
  const params = new URLSearchParams(location.search);
  const truthy = (v) => v !== null && !["0", "false", "no", "off"].includes(v.toLowerCase());
  const options = {
    pinned: params.get("sequence") || null,
    size: params.get("size"),
    transparent: truthy(params.get("transparent")),
    controls: params.get("controls") === null || truthy(params.get("controls")),
  };
  const token = new URLSearchParams(location.hash.slice(1)).get("token") || null;

  const $ = (id) => document.getElementById(id);
  const ui = {
    word: $("word"), count: $("beat-count"), name: $("name"), undo: $("undo"), redo: $("redo"),
    store: $("store"), connection: $("connection"), message: $("message"), sheet: $("sheet"),
  };
  document.documentElement.classList.toggle("transparent", options.transparent);
  document.documentElement.classList.toggle("bare", !options.controls);
  document.documentElement.classList.toggle("fit", !options.size);

  const state = {
    shownId: options.pinned, // the sequence on screen: the pinned one or the current one
    sequence: null,          // its last REST representation
    drawn: null,             // "<id>@<version>" of the sheet on screen
    deleted: null,           // {id, name} once the shown sequence was deleted
    lastEventId: null,       // the newest event this page has accounted for (resume point)
    busy: false,             // an undo/redo request is in flight
    history: null,           // {can_undo, can_redo, undo_description, redo_description}
  };

  // ---- REST ---------------------------------------------------------------------------------

  async function api(method, path, body) {
    const headers = { Accept: "application/json, application/problem+json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method, headers, cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      return { ok: false, status: 0, body: null, detail: "the server cannot be reached" };
    }
    let json = null;
    try { json = await response.json(); } catch { /* not JSON */ }
    const detail = (json && (json.detail || json.message)) || `${response.status} ${response.statusText}`;
    return { ok: response.ok, status: response.status, body: json, detail };
  }

  const seqPath = (id) => `/api/sequences/${encodeURIComponent(id)}`;

  // ---- what is on screen ----------------------------------------------------------------------

  function showMessage(text, kind = "info") {
    ui.message.hidden = !text;
    ui.message.textContent = text || "";
    ui.message.dataset.kind = kind;
  }

  function showText(seq) {
    const word = seq ? seq.word : "";
    const n = seq ? seq.length : 0;
    ui.word.textContent = word;
    ui.count.textContent = seq ? `${n} ${n === 1 ? "beat" : "beats"}` : "";
    ui.name.textContent = seq && seq.name !== word ? seq.name : "";
    document.title = word ? `${word} · TKA viewer` : "TKA viewer";
  }

  function clearSheet() {
    state.drawn = null;
    ui.sheet.replaceChildren();
    delete ui.sheet.dataset.version;
    delete ui.sheet.dataset.sequence;
  }

  function showNothing(text, kind) {
    state.sequence = null;
    showText(null);
    clearSheet();
    showMessage(text, kind);
  }

  function showDeleted() {
    const name = state.deleted.name ? `“${state.deleted.name}”` : "This sequence";
    showNothing(`${name} was deleted.${state.history && state.history.can_undo ? " Undo brings it back." : ""}`);
  }

  // The SVG comes from our own server; still, nothing in it may run in this page.
  function sanitize(root) {
    for (const el of root.querySelectorAll("script, foreignObject, iframe, object, embed")) el.remove();
    for (const el of [root, ...root.querySelectorAll("*")]) {
      for (const attr of [...el.attributes]) {
        const value = attr.value.trim().toLowerCase();
        if (attr.name.toLowerCase().startsWith("on") || value.startsWith("javascript:")) el.removeAttribute(attr.name);
      }
    }
  }

  async function drawSheet(seq) {
    const key = `${seq.id}@${seq.version}`;
    if (state.drawn === key) return true;
    const query = options.size ? `?size=${encodeURIComponent(options.size)}` : "";
    const headers = { Accept: "image/svg+xml" };
    if (token) headers.Authorization = `Bearer ${token}`;
    let text;
    ui.sheet.setAttribute("aria-busy", "true");
    try {
      // no-cache: the browser revalidates its copy with If-None-Match (a 304 costs no drawing).
      const response = await fetch(`${seqPath(seq.id)}/image.svg${query}`, { headers, cache: "no-cache" });
      if (!response.ok) {
        showMessage(`The picture could not be drawn (${response.status}).`, "error");
        return response.status !== 0 && response.status < 500;
      }
      text = await response.text();
    } catch {
      return false;
    } finally {
      ui.sheet.removeAttribute("aria-busy");
    }
    const doc = new DOMParser().parseFromString(text, "image/svg+xml");
    const svg = doc.documentElement;
    if (svg.localName !== "svg" || doc.getElementsByTagName("parsererror").length) {
      showMessage("The server sent a picture this page cannot read.", "error");
      return true;
    }
    sanitize(svg);
    for (const beat of svg.querySelectorAll("g.beat")) beat.setAttribute("data-testid", "beat");
    const node = document.importNode(svg, true);
    node.setAttribute("role", "img");
    if (!node.getAttribute("aria-label")) node.setAttribute("aria-label", seq.word || seq.name);
    ui.sheet.replaceChildren(node);
    ui.sheet.dataset.sequence = seq.id;
    ui.sheet.dataset.version = String(seq.version);
    state.drawn = key;
    return true;
  }

  function showHistory() {
    const h = state.history;
    const id = state.shownId;
    const canUndo = Boolean(id && h && h.can_undo);
    const canRedo = Boolean(id && h && h.can_redo);
    ui.undo.disabled = state.busy || !canUndo;
    ui.redo.disabled = state.busy || !canRedo;
    ui.undo.title = canUndo ? `Undo: ${h.undo_description}` : "Nothing to undo";
    ui.redo.title = canRedo ? `Redo: ${h.redo_description}` : "Nothing to redo";
  }

  // ---- loading: one at a time; what is asked meanwhile runs once more after it -------------------

  const dirty = { sequence: false, history: false };
  let running = false;
  let refreshed = false; // refresh() was called at least once
  let retryTimer = null;

  function refresh({ sequence = true, history = true } = {}) {
    refreshed = true;
    dirty.sequence ||= sequence;
    dirty.history ||= history || sequence;
    if (running) return;
    running = true;
    (async () => {
      try {
        while (dirty.sequence || dirty.history) {
          if (dirty.sequence) {
            dirty.sequence = false;
            if (!(await loadSequence())) retryLater();
          } else {
            dirty.history = false;
            await loadHistory();
          }
        }
      } finally {
        running = false;
      }
    })();
  }

  // After a failure the server could not answer (down, 503): try again, once, a little later.
  function retryLater(seconds = 3) {
    if (retryTimer !== null) return;
    retryTimer = setTimeout(() => { retryTimer = null; refresh(); }, seconds * 1000);
  }

  // True when done (whatever the answer), false when worth retrying.
  async function loadSequence() {
    if (options.pinned && state.deleted && state.deleted.id === options.pinned) {
      showDeleted();
      return true;
    }
    const answer = await api("GET", options.pinned ? seqPath(options.pinned) : "/api/current-sequence");
    if (!answer.ok) return failed(answer);
    const seq = answer.body.data;
    if (!seq) { // no current sequence
      if (state.deleted && state.deleted.id === state.shownId) {
        showDeleted();
      } else {
        state.shownId = null;
        state.history = null;
        showHistory();
        showNothing("No current sequence. Make one current (PUT /api/current-sequence) or open ?sequence=<id>.");
      }
      return true;
    }
    if (seq.id !== state.shownId) state.history = null;
    state.shownId = seq.id;
    state.deleted = null;
    state.sequence = seq;
    showText(seq);
    showMessage("");
    return drawSheet(seq);
  }

  function failed(answer) {
    if (options.pinned && (answer.status === 404 || answer.status === 400)) { // 400: not an id at all
      showNothing(`There is no sequence ${options.pinned}.`, "error");
      return true;
    }
    if (answer.status === 401) {
      showNothing("This server needs its token: open the page as /viewer/#token=<token>.", "error");
      return true;
    }
    if (answer.status === 0 || answer.status >= 500) {
      showMessage(`Waiting for the server: ${answer.detail}.`, "error");
      return false;
    }
    showMessage(answer.detail, "error");
    return true;
  }

  let historyAsked = 0;
  async function loadHistory() {
    const id = state.shownId;
    if (!id || !(state.sequence || state.deleted)) { state.history = null; showHistory(); return; } // none to ask about
    const asked = ++historyAsked;
    const answer = await api("GET", `/api/commands/history?sequence_id=${encodeURIComponent(id)}&limit=1`);
    if (asked !== historyAsked || id !== state.shownId) return; // a newer answer is coming
    if (answer.ok) state.history = answer.body;
    showHistory();
    if (state.deleted) showDeleted(); // its "Undo brings it back" follows can_undo
  }

  // ---- undo / redo ------------------------------------------------------------------------------

  async function command(kind) {
    const id = state.shownId;
    if (!id || state.busy) return;
    state.busy = true;
    showHistory();
    const answer = await api("POST", `/api/commands/${kind}`, { sequence_id: id });
    state.busy = false;
    if (answer.ok) {
      const { can_undo, can_redo, undo_description, redo_description } = answer.body;
      state.history = { can_undo, can_redo, undo_description, redo_description };
      if (answer.body.data === null) state.deleted = { id, name: state.sequence ? state.sequence.name : null };
      else state.deleted = null; // undoing a delete brings it back
    } else {
      showMessage(`${kind === "undo" ? "Undo" : "Redo"} failed: ${answer.detail}`, "error");
    }
    showHistory();
    // The events this caused redraw the page too; this makes it independent of the stream.
    if (state.deleted && state.deleted.id === id) showDeleted();
    else refresh();
  }

  ui.undo.addEventListener("click", () => command("undo"));
  ui.redo.addEventListener("click", () => command("redo"));

  // ---- the event stream -------------------------------------------------------------------------

  const BACKOFF_MS = [250, 500, 1000, 2000, 4000];
  const MAX_BACKOFF_MS = 5000;
  let socket = null;
  let attempt = 0;
  let reconnectTimer = null;
  let silenceTimer = null;
  let heartbeatSeconds = 25;
  let gaveUp = false;

  function setConnection(text) {
    ui.connection.textContent = text;
    ui.connection.dataset.state = text.replace(/…$/, "");
  }

  function setStore(status, retryAfter) {
    ui.store.hidden = status !== "unavailable";
    ui.store.textContent = status === "unavailable"
      ? `database unavailable${retryAfter ? `, retry in ${retryAfter} s` : ""}` : "";
  }

  function advance(eventId) {
    if (typeof eventId === "number" && (state.lastEventId === null || eventId > state.lastEventId)) {
      state.lastEventId = eventId;
    }
  }

  function connect() {
    reconnectTimer = null;
    if (socket) return;
    const query = new URLSearchParams();
    if (state.lastEventId !== null) query.set("since", String(state.lastEventId));
    query.append("event_type", "sequence.*");
    query.append("event_type", "command.*");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws?${query}`);
    socket = ws;
    setConnection(attempt === 0 && state.lastEventId === null ? "connecting…" : "reconnecting…");
    ws.addEventListener("open", () => {
      if (token && socket === ws) ws.send(JSON.stringify({ type: "auth", token }));
      expectWithin(ws, 10);
    });
    ws.addEventListener("message", (m) => {
      if (socket !== ws) return;
      expectWithin(ws, heartbeatSeconds * 2 + 5);
      let message;
      try { message = JSON.parse(m.data); } catch { return; }
      onMessage(message);
    });
    ws.addEventListener("close", (e) => {
      if (socket === ws) closed(e.code, e.reason);
    });
  }

  // A connection that stays silent beyond two heartbeats is dead (sleep, a lost network): drop it.
  function expectWithin(ws, seconds) {
    clearTimeout(silenceTimer);
    silenceTimer = setTimeout(() => {
      if (socket !== ws) return;
      socket = null;
      ws.close();
      closed(1006, "silent");
    }, seconds * 1000);
  }

  function closed(code, reason) {
    socket = null;
    clearTimeout(silenceTimer);
    if (code === 1008) { // the token is missing or wrong: retrying will not help
      gaveUp = true;
      setConnection("offline");
      showMessage(`The server refused the connection (${reason || "token"}): open the page as /viewer/#token=<token>.`,
        "error");
      return;
    }
    if (!navigator.onLine) { setConnection("offline"); return; } // "online" reconnects
    setConnection("reconnecting…");
    const base = code === 4008 ? 0 : BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
    attempt += 1;
    const delay = Math.min(MAX_BACKOFF_MS, base * (0.8 + Math.random() * 0.4));
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (socket || gaveUp) return;
    clearTimeout(reconnectTimer);
    connect();
  }

  window.addEventListener("online", reconnectNow);
  window.addEventListener("offline", () => { if (!socket) setConnection("offline"); });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) reconnectNow(); });

  function onMessage(message) {
    switch (message.type) {
      case "connection_established": {
        heartbeatSeconds = Number(message.heartbeat_interval) || heartbeatSeconds;
        attempt = 0;
        setConnection("connected");
        setStore("available");
        if (state.lastEventId === null) {
          // A fresh stream starts after this id: what the page loads from now on is at least that new.
          advance(message.last_event_id);
          refresh();
        } else if (state.sequence === null) {
          refresh(); // the page has not loaded yet (or failed to): the replay alone would not draw it
        }
        break;
      }
      case "event":
        if (state.lastEventId !== null && message.event_id <= state.lastEventId) return; // seen
        advance(message.event_id);
        onEvent(message);
        break;
      case "resync_required": // the log cannot replay what was missed: reload it all
        state.lastEventId = message.last_event_id;
        refresh();
        break;
      case "store_status":
        advance(message.last_event_id);
        setStore(message.status, message.retry_after);
        if (message.status === "available" && retryTimer !== null) {
          clearTimeout(retryTimer);
          retryTimer = null;
          refresh();
        }
        break;
      case "heartbeat":
      case "pong":
        advance(message.last_event_id);
        break;
      case "error":
        if (message.code === "slow_consumer") state.lastEventId = message.resume_since; // close 4008 follows
        else if (message.code !== "already_authenticated") console.warn("tka stream:", message.code, message.message);
        break;
      default: // resumed, filters_updated, and any type added later
        break;
    }
  }

  function onEvent(event) {
    const type = event.event_type || "";
    const data = event.data || {};
    // A new sequence becomes the current one too (without a current_changed event).
    if (type === "sequence.current_changed" || (type === "sequence.created" && event.sequence_id !== state.shownId)) {
      if (!options.pinned) {
        state.deleted = null;
        refresh();
      }
      return;
    }
    if (type.startsWith("command.")) { // the undo/redo state may have changed (it is one shared history)
      refresh({ sequence: false });
      return;
    }
    if (!state.shownId || event.sequence_id !== state.shownId) return;
    if (type === "sequence.deleted") {
      const seq = data.sequence || state.sequence;
      state.deleted = { id: state.shownId, name: data.sequence_name || (seq && seq.name) || null };
      showDeleted();
      refresh({ sequence: false });
      return;
    }
    state.deleted = null;
    refresh();
  }

  // ---- start ------------------------------------------------------------------------------------

  showHistory();
  connect();
  // The first load follows the stream's hello (so no change can fall between the two); a page whose
  // stream does not come up (a proxy without WebSockets) still shows the sequence once.
  setTimeout(() => { if (!refreshed) refresh(); }, 1500);
  window.tkaViewer = { state, options }; // for people debugging in the console
})();
