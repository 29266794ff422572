// Plaza community console: plain ES module, no framework, no build step.
//
// It signs in with a token (kept in sessionStorage only), then talks to the REST API described
// in docs/api.md. Every text that comes from the server or from a plugin is put on the page with
// textContent (never as HTML): plugin names, reasons and error messages are not trusted.

const TOKEN_KEY = "plaza-console-token";

// ---------------------------------------------------------------------------------------------
// Words for admins
// ---------------------------------------------------------------------------------------------

/** What each capability allows, in plain words (see the capability table in README.md). */
const CAPABILITIES = {
  "messages:read": {
    title: "Read all messages in your community",
    detail: "Receives the full text of every message as it is posted, edited or deleted.",
    sensitive: true,
  },
  "messages:read.mentions": {
    title: "Read messages that mention it",
    detail: "Receives only the messages that mention the plugin by name.",
  },
  "messages:send": {
    title: "Send messages in your community",
    detail: "Posts messages and replies, and edits its own messages. It is paced so it cannot flood a channel.",
  },
  "messages:manage": {
    title: "Delete other members' messages",
    detail: "Removes messages written by members.",
  },
  "members:read": {
    title: "See member profiles and the member list",
    detail: "Looks up members' profiles and roles, lists the members, and hears when a profile changes.",
    sensitive: true,
  },
  "members:identity": {
    title: "See who members really are",
    detail: "Without this, the plugin only sees a stand-in name for each member, different from the one other plugins see.",
    sensitive: true,
  },
  "members:moderate": {
    title: "Mute, kick or ban members",
    detail: "Takes moderation actions against members. Owners and admins can never be moderated by a plugin.",
  },
  "reactions:read": {
    title: "See reactions",
    detail: "Hears when someone adds or removes an emoji reaction.",
  },
  "moderation:review": {
    title: "Check messages before they are posted",
    detail: "Sees each new message before anyone else and can hold it back or change it.",
  },
  "storage:kv": {
    title: "Keep its own data",
    detail: "A small private storage space in this community, with a size limit.",
  },
  "http:fetch": {
    title: "Connect to outside websites",
    detail: "Makes secure web requests, only to the websites it lists. (This server does not allow it yet.)",
  },
  schedule: {
    title: "Set timers",
    detail: "Does things later, or on a repeating schedule.",
  },
  commands: {
    title: "Offer slash commands",
    detail: "Members can type its /commands in chat.",
  },
};

function capabilityTitle(cap) {
  return CAPABILITIES[cap]?.title ?? `Use “${cap}”`;
}

/** Failure reason codes (README: Sandbox and limits) in plain words. */
const FAILURE_REASONS = {
  "cpu-budget": "used too much processing time",
  "fuel-budget": "ran out of its work budget",
  "wall-clock": "took too long",
  "memory-limit": "used too much memory",
  "stack-overflow": "went too deep (stack overflow)",
  "output-limit": "produced too much output",
  "guest-trap": "crashed",
  "guest-error": "reported an error",
  "instantiate-failed": "could not start",
  "store-failed": "could not save its work on the server",
};

/** "guest-trap: boom" → "Crashed: boom"; unknown texts are shown as they are. */
function describeFailure(text) {
  if (!text) return "";
  const m = /^([a-z-]+):\s*(.*)$/s.exec(text);
  if (m && FAILURE_REASONS[m[1]]) {
    const words = FAILURE_REASONS[m[1]];
    return `${words[0].toUpperCase()}${words.slice(1)}${m[2] ? `: ${m[2]}` : ""}`;
  }
  return text;
}

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

function formatTime(ms) {
  if (ms === null || ms === undefined) return "";
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return String(ms);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

function formatBytes(n) {
  if (typeof n !== "number") return "";
  if (n >= 1024 * 1024) return `${Math.round((n / (1024 * 1024)) * 10) / 10} MB`;
  if (n >= 1024) return `${Math.round((n / 1024) * 10) / 10} KB`;
  return `${n} bytes`;
}

/** The state of an install, in words, with a tone for its badge. */
function pluginState(p) {
  const breaker = p.breaker?.state ?? p.delivery?.breaker;
  if (!p.enabled) {
    return { key: "off", tone: "muted", text: "Turned off",
      explain: "It receives no events while it is off: what happens meanwhile is not delivered to it later." };
  }
  if (breaker === "open") {
    const at = p.breaker?.retry_at_ms;
    return { key: "quarantined", tone: "bad", text: "Quarantined after repeated failures",
      explain: `It failed several times in a row, so Plaza paused it. Its events are kept and wait for it.${
        at ? ` Plaza will try again at ${formatTime(at)}.` : ""}` };
  }
  if (breaker === "half-open") {
    return { key: "trial", tone: "warn", text: "Being tried again after failures",
      explain: "Plaza is trying one waiting event to see if the plugin works again." };
  }
  return { key: "running", tone: "good", text: "Running",
    explain: "It receives your community's events." };
}

/** Waiting and failed events in words. */
function deliveryWords(p) {
  const d = p.delivery ?? {};
  const parts = [];
  const waiting = d.lag ?? p.breaker?.held_events ?? 0;
  if (waiting > 0) parts.push(plural(waiting, "event waiting", "events waiting"));
  if ((d.dead_letters ?? 0) > 0) parts.push(plural(d.dead_letters, "failed event", "failed events"));
  if (parts.length === 0) return "Up to date";
  return parts.join(" · ");
}

function healthWords(p) {
  const h = p.health ?? {};
  const parts = [];
  if (h.recent_failures) parts.push(plural(h.recent_failures, "recent failure", "recent failures"));
  if (h.recent_denied_calls) {
    parts.push(plural(h.recent_denied_calls, "blocked attempt", "blocked attempts") + " to do something it is not allowed to");
  }
  return parts.length ? parts.join(", ") : "No problems recently";
}

/** Audit log kinds (host/src/admin, host/src/dispatch) in words. */
function auditWords(e) {
  const cap = e.capability ? capabilityTitle(e.capability) : "";
  switch (e.kind) {
    case "install": return "Installed";
    case "uninstall": return "Uninstalled";
    case "grant": return `Allowed: ${cap}`;
    case "revoke": return `Permission taken away: ${cap}`;
    case "enable": return "Turned on";
    case "disable": return "Turned off";
    case "config": return "Settings changed";
    case "limits": return "Limits changed";
    case "upgrade": return "Upgraded";
    case "upgrade-pending": return `Upgrade waiting for approval; it asks to: ${cap}`;
    case "reject-upgrade": return "Upgrade rejected";
    case "approve": return "Upgrade approved";
    case "denied": return `Blocked: it tried to ${cap ? cap.charAt(0).toLowerCase() + cap.slice(1) : "do something"} without permission`;
    case "effect": return "Did something";
    case "failure": return `Failed: it ${FAILURE_REASONS[e.outcome] ?? e.outcome}`;
    case "breaker-open": return "Quarantined after repeated failures";
    case "breaker-closed": return "Working again after quarantine";
    case "breaker-reset": return "Quarantine lifted by an admin";
    case "dead-letter": return "Gave up on an event";
    case "dead-letter-replay": return "A failed event was sent again";
    case "review-policy": return "Message review policy changed";
    case "signing-policy": return "Package signing policy changed";
    case "http": return /^\d+$/.test(e.outcome) ? `Web request: ${e.detail}` : `Web request stopped (${e.outcome}): ${e.detail}`;
    case "secret": return `Secret ${e.outcome}: ${e.detail}`;
    case "install-refused": return `Install refused: ${e.detail}`;
    case "upgrade-refused": return `Upgrade refused: ${e.detail}`;
    case "key-rotated": return `The developer moved to a new signing key: ${e.detail}`;
    default: return e.kind;
  }
}

function auditTone(kind) {
  if (["denied", "failure", "breaker-open", "dead-letter", "install-refused", "upgrade-refused"].includes(kind)) return "bad";
  if (["disable", "revoke", "reject-upgrade", "uninstall", "upgrade-pending"].includes(kind)) return "warn";
  return "";
}

/** One event (docs/events.md) in words. */
function eventWords(ev) {
  if (!ev || typeof ev !== "object") return "An event";
  const who = (m) => (m && typeof m === "object" ? m.display_name || m.id : m) || "someone";
  const channel = ev.channel ? ` in #${ev.channel}` : "";
  const quote = (t) => {
    if (!t) return "";
    const s = String(t);
    return `: “${s.length > 140 ? `${s.slice(0, 140)}…` : s}”`;
  };
  switch (ev.type) {
    case "member-joined": return `${who(ev.member)} joined`;
    case "member-left": return `${who(ev.member)} left`;
    case "member-updated": return `${who(ev.member)}'s profile changed`;
    case "message-posted": return `${who(ev.author)} posted a message${channel}${quote(ev.text)}`;
    case "message-edited": return `${who(ev.author)} edited a message${channel}${quote(ev.text)}`;
    case "message-deleted": return `A message${channel} was deleted`;
    case "message-pinned": return `${who(ev.member)} pinned a message${channel}`;
    case "message-unpinned": return `${who(ev.member)} unpinned a message${channel}`;
    case "reaction-added": return `${who(ev.member)} reacted ${ev.emoji ?? ""}${channel}`;
    case "reaction-removed": return `${who(ev.member)} removed a reaction${channel}`;
    case "member-muted": return `${who(ev.member)} was muted`;
    case "member-banned": return `${who(ev.member)} was banned`;
    case "command-invoked": {
      const args = Array.isArray(ev.args) && ev.args.length ? ` ${ev.args.join(" ")}` : "";
      return `${who(ev.member)} used /${ev.name ?? ""}${args}${channel}`;
    }
    case "plugin-installed": return "The plugin was installed";
    case "plugin-uninstalled": return "The plugin was uninstalled";
    case "config-changed": return "The plugin's settings changed";
    case "plugin-upgraded": return `The plugin was upgraded from ${ev.from_version} to ${ev.to_version}`;
    case "timer-fired": return `A timer went off${ev.name ? ` (${ev.name})` : ""}`;
    default: return `An event of type ${ev.type ?? "unknown"}`;
  }
}

/** An API error (`{"error":{"code","message"}}`) in words. */
function errorWords(err) {
  if (err instanceof ApiError) {
    // The server's message, as a sentence, with its `code quotes` as plain quotes.
    let msg = String(err.message ?? "").trim().replace(/`([^`]*)`/g, "“$1”");
    if (msg) msg = `${msg[0].toUpperCase()}${msg.slice(1)}${/[.!?]$/.test(msg) ? "" : "."}`;
    switch (err.code) {
      case "unauthenticated": return "Your sign-in is no longer valid. The token may have been revoked. Please sign in again.";
      case "forbidden": return `This token is not allowed to do that. ${msg}`;
      case "not-found": return `It could not be found. ${msg}`;
      case "conflict": return `That cannot be done right now. ${msg}`;
      case "bad-request": return `The server did not accept the request. ${msg}`;
      case "payload-too-large": return `That is too large. ${msg}`;
      case "timeout": return `The server took too long to answer. Please try again. ${msg}`;
      case "internal": return `Something went wrong on the server. ${msg}`;
      default: return msg || `The server answered with an error (${err.status}).`;
    }
  }
  if (err instanceof NetworkError) {
    return "The Plaza server could not be reached. Check your connection, then try again.";
  }
  return `Something went wrong in this page: ${err?.message ?? err}`;
}

// ---------------------------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

class NetworkError extends Error {}

const enc = encodeURIComponent;

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    // Relative to the console's address, so a console served under a path prefix still works.
    res = await fetch(new URL(path.replace(/^\//, ""), document.baseURI), init);
  } catch (e) {
    throw new NetworkError(String(e));
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const e = data?.error;
    throw new ApiError(res.status, e?.code ?? `http-${res.status}`, e?.message ?? (text.slice(0, 300) || res.statusText));
  }
  return data;
}

const c = (community) => `/v1/communities/${enc(community)}`;
const p = (community, plugin) => `${c(community)}/plugins/${enc(plugin)}`;

// ---------------------------------------------------------------------------------------------
// DOM helpers
// ---------------------------------------------------------------------------------------------

/** Builds an element: h("p", {class: "x", testid: "y"}, "text", child, ...). Text is never HTML. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "testid") el.dataset.testid = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const $ = (id) => document.getElementById(id);

function badge(tone, text, testid) {
  return h("span", { class: `badge ${tone ? `badge-${tone}` : ""}`, testid }, text);
}

let noticeTimer = null;

/** A success message, read out by screen readers. */
let noticeAt = 0;

function notify(text) {
  noticeAt = Date.now();
  const n = $("notice");
  n.textContent = text;
  n.classList.add("visible");
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => n.classList.remove("visible"), 8000);
}

function showError(err) {
  if (err instanceof ApiError && err.status === 401) {
    signOut("Your sign-in is no longer valid. The token may have been revoked. Please sign in again.");
    return;
  }
  $("error-text").textContent = errorWords(err);
  $("error-banner").hidden = false;
  $("notice").classList.remove("visible");
}

function clearError() {
  $("error-banner").hidden = true;
  $("error-text").textContent = "";
}

/** Asks before something important. Resolves to true when the admin confirms. */
function confirmAction({ title, body, ok, danger }) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  const bodyEl = $("confirm-body");
  bodyEl.replaceChildren(...(Array.isArray(body) ? body : [body]).map((t) => (t instanceof Node ? t : h("p", {}, t))));
  const okButton = $("confirm-ok");
  okButton.textContent = ok;
  okButton.className = `button ${danger ? "danger" : "primary"}`;
  const opener = document.activeElement;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        if (opener && document.contains(opener)) opener.focus();
        resolve(dialog.returnValue === "ok");
      },
      { once: true },
    );
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}

/** Runs an action from a button: disables it meanwhile, shows errors in words. */
async function run(button, action) {
  clearError();
  if (button) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
  }
  try {
    return await action();
  } catch (e) {
    showError(e);
    return undefined;
  } finally {
    if (button && document.contains(button)) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Session and routing
// ---------------------------------------------------------------------------------------------

const state = {
  quiet: false, // redraw in place (after an action), without "Loading…" and without moving focus
  me: null, // GET /v1/me
  communities: [], // ids the token may administer
};

function route() {
  // #/c/{community}/{view}[/{plugin}][?plugin=p]
  const raw = location.hash.replace(/^#\/?/, "");
  const [pathPart, query = ""] = raw.split("?");
  const parts = pathPart.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query);
  if (parts[0] !== "c" || !parts[1]) return { community: null, view: "plugins", params };
  return { community: parts[1], view: parts[2] || "plugins", plugin: parts[3], params };
}

function href(community, view, plugin, params) {
  let s = `#/c/${enc(community)}/${view}`;
  if (plugin) s += `/${enc(plugin)}`;
  if (params) {
    const q = new URLSearchParams(params).toString();
    if (q) s += `?${q}`;
  }
  return s;
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.me = null;
  state.communities = [];
  $("session").hidden = true;
  $("tabs").hidden = true;
  clearError();
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  renderSignIn(message);
}

async function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  const me = await api("GET", "/v1/me");
  let communities = Array.isArray(me?.communities) ? me.communities : [];
  try {
    const list = await api("GET", "/v1/communities");
    if (Array.isArray(list)) communities = list.map((x) => (typeof x === "string" ? x : x.id));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) throw e;
    // Otherwise keep what /v1/me said.
  }
  state.me = me;
  state.communities = communities;
}

function renderSession(current) {
  const me = state.me;
  const role = me.role === "operator" ? "Operator" : "Community admin";
  $("who").textContent = me.name ? `${me.name} · ${role}` : role;
  $("session").hidden = false;
  const picker = $("community-picker");
  const single = $("community-single");
  if (state.communities.length > 1) {
    picker.replaceChildren(...state.communities.map((id) => h("option", { value: id, selected: id === current }, id)));
    picker.value = current;
    $("community-picker-wrap").hidden = false;
    single.hidden = true;
  } else {
    $("community-picker-wrap").hidden = true;
    single.hidden = !current;
    single.textContent = current ? `Community: ${current}` : "";
  }
  const tabs = $("tabs");
  tabs.hidden = !current;
  if (current) {
    const view = route().view;
    for (const [id, v] of [["tab-plugins", "plugins"], ["tab-activity", "activity"], ["tab-failed", "failed"]]) {
      const a = $(id);
      a.href = href(current, v);
      if (view === v) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
  }
}

/** Replaces the main area and moves focus to its heading (for keyboard and screen-reader users). */
function setMain(...children) {
  const main = $("main");
  const scroll = window.scrollY;
  main.replaceChildren(...children.flat().filter((x) => x !== null && x !== undefined && x !== false));
  main.removeAttribute("aria-busy");
  const heading = main.querySelector("h1");
  if (state.quiet) {
    window.scrollTo(0, scroll);
    if (heading) heading.tabIndex = -1;
  } else if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

function loading(text = "Loading…") {
  if (state.quiet) return;
  const main = $("main");
  main.setAttribute("aria-busy", "true");
  main.replaceChildren(h("p", { class: "loading", testid: "loading" }, text));
}

let renderSeq = 0;

/** The Refresh buttons: redraw in place and keep focus on the (new) Refresh button. */
async function refreshInPlace() {
  await render({ quiet: true });
  notify("Updated.");
  document.querySelector('[data-testid="refresh"]')?.focus();
}

/** Draws the page for the current address. `quiet`: redraw in place, without "Loading…". */
async function render({ quiet = false } = {}) {
  state.quiet = quiet;
  const seq = ++renderSeq;
  const current = () => seq === renderSeq;
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) {
    signOut();
    return;
  }
  if (!state.me) {
    loading("Signing in…");
    try {
      await signIn(token);
    } catch (e) {
      if (!current()) return;
      if (e instanceof ApiError && e.status === 401) signOut("Your sign-in has ended. Please sign in again.");
      else {
        renderSignIn();
        showError(e);
      }
      return;
    }
    if (!current()) return;
  }
  const r = route();
  if (state.communities.length === 0) {
    renderSession(null);
    setMain(
      h("h1", {}, "No communities"),
      h("p", { class: "card", testid: "no-communities" },
        state.me.role === "operator"
          ? "There are no communities yet."
          : "This token does not give access to any community. Ask your operator for a new one."),
    );
    return;
  }
  if (!r.community || !state.communities.includes(r.community)) {
    const fallback = sessionStorage.getItem("plaza-console-community");
    const pick = state.communities.includes(fallback) ? fallback : state.communities[0];
    location.replace(href(pick, "plugins"));
    return;
  }
  sessionStorage.setItem("plaza-console-community", r.community);
  renderSession(r.community);
  try {
    if (r.view === "plugins" && r.plugin) await renderPlugin(r.community, r.plugin, current);
    else if (r.view === "activity") await renderActivity(r.community, r.params, current);
    else if (r.view === "failed") await renderFailed(r.community, r.params, current);
    else await renderPlugins(r.community, current);
  } catch (e) {
    if (!current()) return;
    showError(e);
    setMain(
      h("h1", {}, "This page could not be loaded"),
      h("p", {}, errorWords(e)),
      h("p", {}, h("button", { type: "button", class: "button", onclick: () => render() }, "Try again")),
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Sign in
// ---------------------------------------------------------------------------------------------

function renderSignIn(message) {
  $("session").hidden = true;
  $("tabs").hidden = true;
  const input = h("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "off",
    autocapitalize: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": "token-help",
    testid: "token-input",
  });
  const error = h("p", { class: "field-error", id: "sign-in-error", role: "alert", testid: "sign-in-error", hidden: !message }, message ?? "");
  const show = h("input", { type: "checkbox", id: "show-token", testid: "show-token" });
  show.addEventListener("change", () => {
    input.type = show.checked ? "text" : "password";
  });
  const submit = h("button", { type: "submit", class: "button primary", testid: "sign-in" }, "Sign in");
  const form = h(
    "form",
    { class: "card sign-in", testid: "sign-in-form", novalidate: true },
    h("h1", {}, "Sign in"),
    h("p", {}, "Sign in to look after the plugins in your community."),
    h("label", { for: "token" }, "Access token"),
    h("p", { class: "help", id: "token-help" },
      "Paste the token your Plaza operator gave you (it starts with “plaz_”). It is kept only in this browser tab and is forgotten when you close the tab or sign out."),
    input,
    h("label", { class: "check", for: "show-token" }, show, " Show the token"),
    error,
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    error.hidden = true;
    if (!token) {
      error.textContent = "Please paste your access token first.";
      error.hidden = false;
      input.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = "Signing in…";
    try {
      await signIn(token);
    } catch (e) {
      sessionStorage.removeItem(TOKEN_KEY);
      state.me = null;
      error.textContent =
        e instanceof ApiError && e.status === 401
          ? "That token was not accepted. Check that you pasted all of it, or ask your operator for a new one."
          : errorWords(e);
      error.hidden = false;
      submit.disabled = false;
      submit.textContent = "Sign in";
      input.focus();
      return;
    }
    notify(`Signed in${state.me?.name ? ` as ${state.me.name}` : ""}.`);
    if (location.hash) render();
    else location.hash = "#/";
  });
  const main = $("main");
  main.replaceChildren(form);
  main.removeAttribute("aria-busy");
  input.focus();
}

// ---------------------------------------------------------------------------------------------
// Plugins
// ---------------------------------------------------------------------------------------------

function grantSummary(p) {
  const requested = p.requested ?? [];
  const granted = requested.filter((r) => r.granted).length;
  if (requested.length === 0) return "Asks for no permissions";
  return `${granted} of ${plural(requested.length, "permission", "permissions")} allowed`;
}

async function renderPlugins(community, current) {
  loading();
  const plugins = await api("GET", `${c(community)}/plugins`);
  if (!current()) return;
  const refresh = h("button", { type: "button", class: "button quiet", testid: "refresh" }, "Refresh");
  refresh.addEventListener("click", () => run(refresh, refreshInPlace));
  const items = (plugins ?? []).map((pl) => {
    const st = pluginState(pl);
    const dl = pl.delivery ?? {};
    const delivery = deliveryWords(pl);
    return h(
      "li",
      { class: `card plugin-card state-${st.key}`, testid: `plugin-card-${pl.plugin}`, "data-plugin": pl.plugin },
      h("div", { class: "card-head" },
        h("h2", {},
          h("a", { href: href(community, "plugins", pl.plugin), testid: `open-plugin-${pl.plugin}` },
            h("span", { class: "plugin-name", testid: "plugin-name" }, pl.plugin))),
        badge(st.tone, st.text, "plugin-state")),
      h("p", { class: "meta" }, "Version ", h("span", { testid: "plugin-version" }, pl.version)),
      pl.description ? h("p", { class: "description", testid: "plugin-description" }, pl.description) : null,
      h("ul", { class: "facts" },
        h("li", { testid: "plugin-grants-summary" }, grantSummary(pl)),
        h("li", { testid: "plugin-delivery", class: (dl.dead_letters ?? 0) > 0 ? "tone-bad" : (dl.lag ?? 0) > 0 ? "tone-warn" : "" }, delivery),
        h("li", { testid: "plugin-health", class: pl.health?.recent_failures ? "tone-bad" : "" }, healthWords(pl)),
      ),
      pl.pending_upgrade
        ? h("p", { class: "callout warn", testid: "plugin-upgrade-notice" },
          `Version ${pl.pending_upgrade.version} is waiting for your approval.`)
        : null,
      h("p", { class: "actions" },
        h("a", { class: "button", href: href(community, "plugins", pl.plugin), testid: `manage-plugin-${pl.plugin}` },
          "Manage ", h("span", { class: "visually-hidden" }, pl.plugin))),
    );
  });
  setMain(
    h("div", { class: "page-head" },
      h("h1", {}, "Plugins in ", h("span", { class: "community" }, community)),
      refresh),
    h("p", { class: "intro" },
      "These plugins are installed in your community. Open one to see what it asks for, choose what it may do, or turn it off."),
    items.length
      ? h("ul", { class: "plugin-list", testid: "plugin-list" }, items)
      : h("p", { class: "card empty", testid: "no-plugins" }, "No plugins are installed in this community yet."),
  );
}

async function loadPlugin(community, plugin) {
  return api("GET", p(community, plugin));
}

async function renderPlugin(community, plugin, current) {
  loading();
  const pl = await loadPlugin(community, plugin);
  if (!current()) return;
  const st = pluginState(pl);
  const name = pl.plugin;
  // After an action: say what happened, redraw in place, and keep keyboard focus on the control
  // that was used.
  const again = async (message, focusTestid) => {
    notify(message);
    await render({ quiet: true });
    if (focusTestid) document.querySelector(`[data-testid="${CSS.escape(focusTestid)}"]`)?.focus();
  };

  // The kill switch.
  const kill = h("button", {
    type: "button",
    class: `button ${pl.enabled ? "danger" : "primary"}`,
    testid: "kill-switch",
    "data-enabled": String(pl.enabled),
  }, pl.enabled ? `Turn off ${name}` : `Turn on ${name}`);
  kill.addEventListener("click", async () => {
    const ok = pl.enabled
      ? await confirmAction({
        title: `Turn off ${name}?`,
        body: [
          `${name} will stop at once: it will not receive events, answer commands or send messages.`,
          "What happens while it is off is not delivered to it later: when you turn it back on, it starts from new events.",
        ],
        ok: `Turn off ${name}`,
        danger: true,
      })
      : await confirmAction({
        title: `Turn on ${name}?`,
        body: [`${name} will start receiving new events again. Events from while it was off are not delivered to it.`],
        ok: `Turn on ${name}`,
      });
    if (!ok) return;
    const done = await run(kill, () => api("POST", `${p(community, name)}/${pl.enabled ? "disable" : "enable"}`));
    if (done !== undefined) await again(pl.enabled ? `${name} is turned off.` : `${name} is turned on.`, "kill-switch");
  });

  // Permissions.
  const requested = pl.requested ?? [];
  const permissions = requested.map((r) => {
    const info = CAPABILITIES[r.capability] ?? { title: capabilityTitle(r.capability), detail: "" };
    const toggle = h("button", {
      type: "button",
      role: "switch",
      class: "switch",
      "aria-checked": String(Boolean(r.granted)),
      "aria-label": `Allow ${name} to ${info.title.charAt(0).toLowerCase()}${info.title.slice(1)}`,
      testid: `grant-toggle-${r.capability}`,
    }, h("span", { class: "switch-track", "aria-hidden": "true" }, h("span", { class: "switch-thumb" })),
    h("span", { class: "switch-label", testid: `grant-state-${r.capability}` }, r.granted ? "Allowed" : "Not allowed"));
    toggle.addEventListener("click", async () => {
      const grant = !r.granted;
      const done = await run(toggle, () =>
        api(grant ? "PUT" : "DELETE", `${p(community, name)}/grants/${enc(r.capability)}`));
      if (done !== undefined) {
        await again(grant
          ? `${name} may now ${info.title.charAt(0).toLowerCase()}${info.title.slice(1)}.`
          : `${name} may no longer ${info.title.charAt(0).toLowerCase()}${info.title.slice(1)}.`,
        `grant-toggle-${r.capability}`);
      }
    });
    return h(
      "li",
      { class: `permission ${r.granted ? "granted" : ""}`, testid: `capability-${r.capability}`, "data-capability": r.capability },
      h("div", { class: "permission-text" },
        h("h3", { testid: "capability-title" }, info.title,
          info.sensitive ? badge("warn", "Sensitive", "capability-sensitive") : null),
        info.detail ? h("p", { class: "help", testid: "capability-detail" }, info.detail) : null,
        h("p", { class: "reason", testid: "capability-reason" },
          h("span", { class: "reason-label" }, `Why ${name} asks: `),
          r.reason ? h("q", {}, r.reason) : h("em", {}, "it gives no reason")),
        h("p", { class: "code-name" }, "Technical name: ", h("code", { testid: "capability-id" }, r.capability)),
      ),
      toggle,
    );
  });

  // A waiting upgrade.
  let upgrade = null;
  if (pl.pending_upgrade) {
    const u = pl.pending_upgrade;
    const added = u.added ?? [];
    const approve = h("button", { type: "button", class: "button primary", testid: "approve-upgrade" }, `Approve version ${u.version}`);
    const reject = h("button", { type: "button", class: "button", testid: "reject-upgrade" }, "Reject");
    approve.addEventListener("click", async () => {
      const ok = await confirmAction({
        title: `Upgrade ${name} to version ${u.version}?`,
        body: added.length
          ? [`${name} will switch to version ${u.version} and be allowed these new permissions:`,
            h("ul", {}, added.map((a) => h("li", {}, capabilityTitle(a.capability))))]
          : [`${name} will switch to version ${u.version}.`],
        ok: "Approve the upgrade",
      });
      if (!ok) return;
      const done = await run(approve, () => api("POST", `${p(community, name)}/upgrade/approve`));
      if (done !== undefined) await again(`${name} is upgraded to version ${u.version}.`, "kill-switch");
    });
    reject.addEventListener("click", async () => {
      const ok = await confirmAction({
        title: `Reject version ${u.version} of ${name}?`,
        body: [`${name} keeps running version ${pl.version}, with the permissions it has now.`],
        ok: "Reject the upgrade",
        danger: true,
      });
      if (!ok) return;
      const done = await run(reject, () => api("POST", `${p(community, name)}/upgrade/reject`));
      if (done !== undefined) await again(`The upgrade of ${name} to version ${u.version} was rejected.`, "kill-switch");
    });
    upgrade = h("section", { class: "card callout-card warn", testid: "upgrade-section", "aria-labelledby": "upgrade-h" },
      h("h2", { id: "upgrade-h" }, `Version ${u.version} is waiting for your approval`),
      h("p", {}, `Until you approve it, version ${pl.version} keeps running.`),
      added.length
        ? [h("p", {}, "The new version also asks to:"),
          h("ul", { class: "added", testid: "upgrade-added" }, added.map((a) =>
            h("li", { "data-capability": a.capability },
              h("strong", {}, capabilityTitle(a.capability)), " ",
              h("code", {}, a.capability),
              a.reason ? [h("br"), h("span", { class: "reason-label" }, "Why: "), h("q", {}, a.reason)] : null)))]
        : h("p", {}, "It asks for nothing new."),
      h("p", { class: "actions" }, approve, reject));
  }

  // Deliveries and health.
  const d = pl.delivery ?? {};
  const deliveryItems = [];
  const waiting = d.lag ?? pl.breaker?.held_events ?? 0;
  deliveryItems.push(h("li", { testid: "events-waiting" },
    waiting > 0 ? plural(waiting, "event waiting", "events waiting") : "No events waiting"));
  deliveryItems.push(h("li", { testid: "failed-events" },
    (d.dead_letters ?? 0) > 0
      ? h("a", { href: href(community, "failed", null, { plugin: name }) }, plural(d.dead_letters, "failed event", "failed events"))
      : "No failed events"));
  if ((d.failed_attempts ?? 0) > 0) {
    deliveryItems.push(h("li", { class: "tone-warn", testid: "retrying" },
      `An event failed ${plural(d.failed_attempts, "time", "times")}; it will be tried again${d.next_attempt_ms ? ` at ${formatTime(d.next_attempt_ms)}` : ""}.`));
  }
  if (d.last_error) deliveryItems.push(h("li", { testid: "last-error" }, "Last problem: ", describeFailure(d.last_error)));

  let breakerReset = null;
  const breakerState = pl.breaker?.state ?? d.breaker;
  if (breakerState === "open" || breakerState === "half-open") {
    breakerReset = h("button", { type: "button", class: "button", testid: "breaker-reset" }, "Lift the quarantine now");
    breakerReset.addEventListener("click", async () => {
      const ok = await confirmAction({
        title: `Lift the quarantine of ${name}?`,
        body: [`Plaza will deliver the waiting events to ${name} now. If it keeps failing it will be quarantined again.`],
        ok: "Lift the quarantine",
      });
      if (!ok) return;
      const done = await run(breakerReset, () => api("POST", `${p(community, name)}/breaker/reset`));
      if (done !== undefined) await again(`${name} is no longer quarantined.`, "kill-switch");
    });
  }

  const h2 = pl.health ?? {};
  const lim = pl.limits;
  const signing = signingSection(pl.signing);
  setMain(
    h("p", { class: "back" }, h("a", { href: href(community, "plugins"), testid: "back-to-plugins" }, "← All plugins")),
    h("div", { class: "page-head inline" },
      h("h1", { testid: "plugin-title" }, name),
      badge(st.tone, st.text, "plugin-state")),
    h("p", { class: "meta" }, "Version ", h("span", { testid: "plugin-version" }, pl.version)),
    pl.description ? h("p", { class: "description", testid: "plugin-description" }, pl.description) : null,
    upgrade,
    h("section", { class: `card switch-card state-${st.key}`, testid: "kill-switch-section", "aria-labelledby": "onoff-h" },
      h("div", {},
        h("h2", { id: "onoff-h" }, "On or off"),
        h("p", { testid: "state-explain" }, st.explain)),
      h("div", { class: "actions" }, kill, breakerReset)),
    h("section", { class: "card", testid: "permissions", "aria-labelledby": "perm-h" },
      h("h2", { id: "perm-h" }, "What it may do"),
      h("p", { class: "intro" },
        `${name} asks for the permissions below. It can only use the ones you allow. Changes take effect right away.`),
      permissions.length
        ? h("ul", { class: "permissions" }, permissions)
        : h("p", { class: "empty" }, `${name} asks for no permissions.`)),
    signing,
    httpSection(name, pl.http),
    h("section", { class: "card", testid: "delivery-section", "aria-labelledby": "deliv-h" },
      h("h2", { id: "deliv-h" }, "Events and health"),
      h("ul", { class: "facts" }, deliveryItems),
      h("p", { testid: "health" }, "Health: ", healthWords(pl), "."),
      h2.last_failure && !d.last_error
        ? h("p", { class: "help", testid: "last-failure" }, "Last failure: ", describeFailure(h2.last_failure))
        : null,
      h("p", {}, h("a", { href: href(community, "activity", null, { plugin: name }), testid: "plugin-activity-link" },
        `See everything ${name} did in the activity log`))),
    lim
      ? h("details", { class: "card limits", testid: "limits" },
        h("summary", {}, "Limits"),
        h("ul", { class: "facts" },
          h("li", {}, `Memory: up to ${formatBytes(lim.memory_bytes)}`),
          h("li", {}, `Processing time per event: up to ${lim.cpu_ms} ms`),
          h("li", {}, `Total time per event: up to ${lim.wall_clock_ms} ms`),
          h("li", {}, `Storage space: up to ${formatBytes(lim.kv_quota_bytes)}`)))
      : null,
  );
}

/** Which outside services it may contact, and the names of the secrets it may use (never values). */
function httpSection(name, http) {
  if (!http) return null;
  const secrets = http.secrets ?? [];
  return h("section", { class: "card", testid: "http-section", "aria-labelledby": "http-h" },
    h("h2", { id: "http-h" }, "Outside services"),
    h("p", { class: "intro" }, `If allowed to make web requests, ${name} can contact only these sites:`),
    h("ul", { class: "facts", testid: "http-hosts" }, http.hosts.map((host) => h("li", {}, h("code", {}, host)))),
    secrets.length
      ? h("p", { testid: "http-secrets" }, "Secrets it may send to them: ",
        secrets.map((sec, i) => [i ? ", " : "", h("code", {}, sec.name),
          sec.hosts.length ? ` (only to ${sec.hosts.join(", ")})` : ""]),
        ". Their values are never shown.")
      : h("p", { class: "help", testid: "http-secrets" }, "No secrets are set. Set them with plaza secret set or the API."));
}

/** Who wrote the serving package and whether the platform reviewed it (docs/signing.md). */
function signingSection(sg) {
  if (!sg) return null;
  const review = {
    "reviewed": ["good", "Reviewed by the platform"],
    "untrusted-reviewer": ["warn", "Reviewed by a key this host does not trust"],
    "unreviewed": ["warn", "Not reviewed by the platform"],
    "invalid": ["bad", "Its signatures do not verify"],
  }[sg.review] ?? ["warn", sg.review];
  const items = [
    h("li", { testid: "developer-key" }, sg.developer_key
      ? ["Signed by developer key ", h("code", {}, sg.developer_key), sg.signed_ms ? ` on ${formatTime(sg.signed_ms)}` : ""]
      : "Not signed by its developer"),
  ];
  if (sg.endorsed_by) items.push(h("li", {}, "The developer moved to this key from ", h("code", {}, sg.endorsed_by)));
  items.push(h("li", { testid: "review-status" }, badge(review[0], review[1], "review-badge"),
    sg.review === "reviewed" && sg.reviewed_ms ? ` on ${formatTime(sg.reviewed_ms)}` : "",
    sg.reviewer_key ? [" by ", h("code", {}, sg.reviewer_key)] : ""));
  return h("section", { class: "card", testid: "signing-section", "aria-labelledby": "sign-h" },
    h("h2", { id: "sign-h" }, "Who made it"),
    h("ul", { class: "facts" }, items));
}

// ---------------------------------------------------------------------------------------------
// Activity log
// ---------------------------------------------------------------------------------------------

async function pluginNames(community) {
  try {
    const list = await api("GET", `${c(community)}/plugins`);
    return (list ?? []).map((x) => x.plugin);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) throw e;
    return [];
  }
}

function pluginFilter(community, view, params, names) {
  const selected = params.get("plugin") ?? "";
  const select = h("select", { id: "plugin-filter", testid: "plugin-filter" },
    h("option", { value: "" }, "All plugins"),
    names.map((n) => h("option", { value: n, selected: n === selected }, n)));
  if (selected && !names.includes(selected)) select.append(h("option", { value: selected, selected: true }, selected));
  select.value = selected;
  select.addEventListener("change", () => {
    const next = new URLSearchParams(params);
    if (select.value) next.set("plugin", select.value);
    else next.delete("plugin");
    location.hash = href(community, view, null, next);
  });
  return h("span", { class: "field" }, h("label", { for: "plugin-filter" }, "Plugin"), select);
}

async function renderActivity(community, params, current) {
  loading();
  const plugin = params.get("plugin");
  const limit = Number(params.get("limit")) || 100;
  const q = new URLSearchParams();
  if (plugin) q.set("plugin", plugin);
  q.set("limit", String(limit));
  const [entries, names] = await Promise.all([
    api("GET", `${c(community)}/audit?${q}`),
    pluginNames(community),
  ]);
  if (!current()) return;
  const rows = [...(entries ?? [])].reverse().map((e) =>
    h("tr", { testid: "audit-entry", "data-kind": e.kind, "data-plugin": e.plugin, "data-capability": e.capability ?? "", class: `tone-row-${auditTone(e.kind)}` },
      h("td", { "data-label": "When" }, h("time", { datetime: new Date(e.time_ms).toISOString() }, formatTime(e.time_ms))),
      h("td", { "data-label": "Plugin" }, e.plugin, e.version ? h("span", { class: "muted" }, ` ${e.version}`) : null),
      h("td", { "data-label": "What happened", testid: "audit-what" }, auditWords(e)),
      h("td", { "data-label": "Details", class: "detail" },
        e.detail ?? "",
        e.capability ? h("span", { class: "muted" }, " ", h("code", {}, e.capability)) : null)),
  );
  const limitSelect = h("select", { id: "limit", testid: "audit-limit" },
    [50, 100, 500, 1000].map((n) => h("option", { value: n, selected: n === limit }, `Last ${n}`)));
  limitSelect.value = String(limit);
  limitSelect.addEventListener("change", () => {
    const next = new URLSearchParams(params);
    next.set("limit", limitSelect.value);
    location.hash = href(community, "activity", null, next);
  });
  const refresh = h("button", { type: "button", class: "button quiet", testid: "refresh" }, "Refresh");
  refresh.addEventListener("click", () => run(refresh, refreshInPlace));
  setMain(
    h("div", { class: "page-head" }, h("h1", {}, "Activity log"), refresh),
    h("p", { class: "intro" },
      "Every change an admin made, everything plugins did, and every time a plugin was stopped from doing something it is not allowed to. Newest first."),
    h("div", { class: "filters" },
      pluginFilter(community, "activity", params, names),
      h("span", { class: "field" }, h("label", { for: "limit" }, "Show"), limitSelect)),
    rows.length
      ? h("div", { class: "table-wrap" },
        h("table", { class: "audit", testid: "audit-table" },
          h("caption", { class: "visually-hidden" }, "Activity log, newest first"),
          h("thead", {}, h("tr", {},
            h("th", { scope: "col" }, "When"),
            h("th", { scope: "col" }, "Plugin"),
            h("th", { scope: "col" }, "What happened"),
            h("th", { scope: "col" }, "Details"))),
          h("tbody", {}, rows)))
      : h("p", { class: "card empty", testid: "no-audit" }, "Nothing has happened yet."),
  );
}

// ---------------------------------------------------------------------------------------------
// Failed events (dead letters)
// ---------------------------------------------------------------------------------------------

async function renderFailed(community, params, current) {
  loading();
  const plugin = params.get("plugin");
  const q = plugin ? `?plugin=${enc(plugin)}` : "";
  const [letters, names] = await Promise.all([
    api("GET", `${c(community)}/dead-letters${q}`),
    pluginNames(community),
  ]);
  if (!current()) return;
  const items = (letters ?? []).map((dl) => {
    const failures = dl.failures ?? [];
    const last = failures[failures.length - 1];
    const replay = h("button", {
      type: "button",
      class: "button primary",
      testid: `replay-${dl.id}`,
      "aria-label": `Send again to ${dl.plugin}: ${eventWords(dl.event)}`,
    }, "Send again");
    replay.addEventListener("click", async () => {
      const ok = await confirmAction({
        title: `Send this event to ${dl.plugin} again?`,
        body: [
          h("p", {}, h("strong", {}, eventWords(dl.event))),
          `${dl.plugin} will get this event once more, after the events already waiting for it. Do this when the problem that made it fail is fixed; if it fails again it comes back here.`,
        ],
        ok: "Send it again",
      });
      if (!ok) return;
      const res = await run(replay, () => api("POST", `${c(community)}/dead-letters/${enc(dl.id)}/replay`));
      if (res !== undefined) {
        notify(`The event was sent to ${dl.plugin} again. If it fails again, it comes back to this list.`);
        await render({ quiet: true });
        $("main").querySelector("h1")?.focus();
      }
    });
    return h("li", { class: "card dead-letter", testid: `dead-letter-${dl.id}`, "data-id": dl.id, "data-plugin": dl.plugin },
      h("h2", { testid: "dead-letter-what" }, eventWords(dl.event)),
      h("ul", { class: "facts" },
        h("li", {}, "Plugin: ", h("strong", {}, dl.plugin)),
        h("li", {}, `Given up ${formatTime(dl.dead_ms)} after ${plural(failures.length, "try", "tries")}`),
        last ? h("li", { class: "tone-bad", testid: "dead-letter-error" },
          "Last problem: ", describeFailure(`${last.reason}: ${last.message}`)) : null),
      h("details", {},
        h("summary", {}, "Technical details"),
        h("ul", { class: "attempts" }, failures.map((f) =>
          h("li", {}, `Try ${f.attempt}, ${formatTime(f.at_ms)}: `, h("code", {}, f.reason), ` ${f.message}`))),
        h("pre", { class: "json" }, JSON.stringify(dl.event, null, 2))),
      h("p", { class: "actions" }, replay));
  });
  const refresh = h("button", { type: "button", class: "button quiet", testid: "refresh" }, "Refresh");
  refresh.addEventListener("click", () => run(refresh, refreshInPlace));
  setMain(
    h("div", { class: "page-head" }, h("h1", {}, "Failed events"), refresh),
    h("p", { class: "intro" },
      "Events a plugin could not handle, even after trying again. The plugin moved on without them. When the problem is fixed, you can send one again. Oldest first."),
    h("div", { class: "filters" }, pluginFilter(community, "failed", params, names)),
    items.length
      ? h("ul", { class: "dead-letters", testid: "dead-letter-list" }, items)
      : h("p", { class: "card empty", testid: "no-dead-letters" },
        plugin ? `No failed events for ${plugin}. Everything was delivered.` : "No failed events. Everything was delivered."),
  );
}

// ---------------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------------

function start() {
  $("sign-out").addEventListener("click", () => {
    signOut();
    notify("You are signed out. The token was removed from this browser tab.");
  });
  $("error-close").addEventListener("click", clearError);
  $("community-picker").addEventListener("change", (ev) => {
    location.hash = href(ev.target.value, "plugins");
  });
  window.addEventListener("hashchange", () => {
    clearError();
    // A success message belongs to the page it was said on (unless it was just said, e.g. "Signed in").
    if (Date.now() - noticeAt > 1500) $("notice").classList.remove("visible");
    render();
  });
  render();
}

start();
