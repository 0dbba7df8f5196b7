// The dashboard: a client of API v1 (/api/v1/openapi.json) and nothing else.
// The bearer token lives in this tab's sessionStorage; every view is built with
// DOM calls and textContent, never from HTML strings, so logged data cannot inject markup.
"use strict";

const API = "/api/v1/webhooks";
const TOKEN_KEY = "webhooks.token";
const POLL_MS = 1500;
const PAGE_SIZE = 25;
const CONFIG_NUMBERS = ["max_retries", "retry_delay_ms", "retry_backoff_multiplier", "timeout_ms",
                        "auto_pause_after_failures", "max_requests_per_second"];
const LOG_SYMBOL = { success: "✓", failed: "✕", retrying: "↻", pending: "…" };
const RULE_SYMBOL = { active: "●", paused: "❚❚", inactive: "○" };
const RANGES = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3, all: null };

const state = { lang: "en", publicConfig: {}, poll: null, pausedUntil: 0, view: null };

// -- small helpers ---------------------------------------------------------------------

function t(key, vars) {
  const table = window.LABELS[state.lang] || window.LABELS.en;
  let text = table[key] ?? window.LABELS.en[key] ?? key;
  for (const [name, value] of Object.entries(vars || {})) text = text.replace(`{${name}}`, value);
  return text;
}

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs || {})) el.setAttribute(name, value);
  for (const child of children.flat()) if (child) el.append(child);
  return el;
}

function when(iso) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(state.lang, { month: "short", day: "numeric", hour: "2-digit",
    minute: "2-digit", second: "2-digit" }).format(new Date(iso));
}

function number(value, digits = 0) {
  return new Intl.NumberFormat(state.lang, { maximumFractionDigits: digits, minimumFractionDigits: digits })
    .format(Number(value || 0));
}

function notify(message, kind = "info") {
  const box = document.getElementById("notice");
  box.textContent = message;
  box.className = `notice notice-${kind}`;
  box.hidden = false;
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => { box.hidden = true; }, kind === "error" ? 8000 : 4000);
}

// -- the API -------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body, headers) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
    this.field = body && body.error && body.error.field;
    this.retryAfter = Number(headers.get("Retry-After") || 0);
  }
}

async function api(path, options = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = { Accept: "application/json", Authorization: `Bearer ${token}` };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method: options.method || "GET", headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const body = await response.json().catch(() => null);
  if (response.status === 401) { signOut(body && body.error && body.error.message); throw new ApiError(401, body, response.headers); }
  if (!response.ok) {
    const error = new ApiError(response.status, body, response.headers);
    if (error.status === 429) backOff(error.retryAfter || 5);
    throw error;
  }
  return body;
}

function backOff(seconds) {
  state.pausedUntil = Date.now() + seconds * 1000;
  notify(t("error.rateLimited", { s: seconds }), "error");
}

// -- sign-in --------------------------------------------------------------------------------

function takeTokenFromLink() {
  const match = location.hash.match(/token=([^&]+)/);
  if (!match) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
  history.replaceState(null, "", location.pathname + location.search);  // the token leaves the address bar
}

function signOut(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  stopPolling();
  render();
  if (reason) notify(`${t("auth.failed")}: ${reason}`, "error");
}

function signInView() {
  const tokenForm = h("form", { class: "stack", id: "token-form", onsubmit: (event) => {
    event.preventDefault();
    const value = document.getElementById("token-input").value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    render();
  } },
  h("label", { for: "token-input", class: "label", text: t("auth.token") }),
  h("textarea", { id: "token-input", rows: 3, autocomplete: "off", spellcheck: "false", placeholder: "bpc_… / eyJhbGciOi…" }),
  h("button", { class: "btn btn-primary", type: "submit", id: "sign-in", text: t("auth.submit") }));
  const card = h("section", { class: "card auth-card" },
    h("h1", { text: t("auth.title") }), h("p", { class: "muted", text: t("auth.lead") }), tokenForm);
  const { supabase_url: url, supabase_anon_key: anonKey } = state.publicConfig;
  if (url && anonKey) card.append(emailForm(url, anonKey));
  return h("div", { class: "auth-wrap" }, card);
}

function emailForm(url, anonKey) {
  return h("form", { class: "stack", id: "email-form", onsubmit: async (event) => {
    event.preventDefault();
    const email = document.getElementById("email").value;
    const password = document.getElementById("password").value;
    const response = await fetch(`${url.replace(/\/$/, "")}/auth/v1/token?grant_type=password`, {
      method: "POST", headers: { apikey: anonKey, "Content-Type": "application/json" },
      body: JSON.stringify({ email, password }) }).catch(() => null);
    const body = response ? await response.json().catch(() => ({})) : {};
    if (!response || !response.ok || !body.access_token) {
      notify(`${t("auth.failed")}: ${body.error_description || body.msg || body.message || ""}`, "error");
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, body.access_token);
    render();
  } },
  h("div", { class: "divider", text: t("auth.or") }),
  h("label", { for: "email", class: "label", text: t("auth.email") }),
  h("input", { id: "email", type: "email", autocomplete: "username", required: true }),
  h("label", { for: "password", class: "label", text: t("auth.password") }),
  h("input", { id: "password", type: "password", autocomplete: "current-password", required: true }),
  h("button", { class: "btn btn-secondary", type: "submit", text: t("auth.emailSubmit") }));
}

// -- rules -------------------------------------------------------------------------------------

function ruleStatus(rule) {
  if (!rule.is_active || (rule.funnel_status && rule.funnel_status !== "active")) return "inactive";
  return rule.paused_at ? "paused" : "active";
}

function badge(kind, word, symbol, title) {
  return h("span", { class: `badge badge-${kind}`, title: title || word },
    h("span", { class: "badge-symbol", "aria-hidden": "true", text: symbol }), h("span", { text: word }));
}

function ruleBadge(rule) {
  const status = ruleStatus(rule);
  const title = status === "paused" && rule.paused_reason ? rule.paused_reason : null;
  return badge(status, t(`status.${status}`), RULE_SYMBOL[status], title);
}

function queueCell(rule) {
  if (rule.held_deliveries > 0) return h("span", { class: "held", text: t("rules.held", { n: rule.held_deliveries }) });
  return h("span", { class: "muted", text: rule.pending_deliveries ? t("rules.pending", { n: rule.pending_deliveries }) : "—" });
}

async function rulesView() {
  const { data } = await api(`${API}/rules`);
  const rows = data.map((rule) => h("tr", { class: "rule-row clickable", "data-rule": rule.routing_rule_id,
    onclick: () => go(`/rules/${rule.routing_rule_id}`) },
    h("td", {}, h("div", { class: "strong", text: rule.funnel_name })),
    h("td", {}, h("a", { href: `/rules/${rule.routing_rule_id}`, "data-nav": true, class: "strong", text: rule.client_name })),
    h("td", { class: "mono truncate", title: rule.webhook_url, text: rule.webhook_url }),
    h("td", {}, ruleBadge(rule)),
    h("td", { class: "num" }, queueCell(rule))));
  const table = data.length ? h("table", { class: "table", id: "rules-table" },
    h("thead", {}, h("tr", {}, ["rules.funnel", "rules.client", "rules.url", "rules.status", "rules.queue"].map((k) => h("th", { text: t(k) })))),
    h("tbody", {}, rows)) : h("p", { class: "empty", text: t("rules.empty") });
  return h("div", {}, h("div", { class: "page-head" }, h("div", {},
    h("h1", { text: t("rules.title") }), h("p", { class: "muted", text: t("rules.lead") }))),
  h("section", { class: "card flush" }, table));
}

// -- a rule's page -----------------------------------------------------------------------------

function ruleView(ruleId) {
  const view = { ruleId, days: 7, status: "", range: "all", cursors: [null], page: 0, detailId: null,
                 rule: null, config: null, replays: {} };
  state.view = view;
  const root = h("div", { id: "rule-page" },
    h("nav", { class: "crumbs" }, h("a", { href: "/", "data-nav": true, text: t("nav.rules") }), h("span", { text: " / " }),
      h("span", { id: "crumb-rule", text: "…" })),
    h("div", { class: "page-head", id: "rule-head" }),
    h("section", { class: "card", id: "stats-card" }),
    h("div", { class: "grid-2" },
      h("section", { class: "card flush", id: "logs-card" }),
      h("aside", { class: "card detail", id: "detail", hidden: true })),
    h("div", { class: "grid-2 lower" },
      h("section", { class: "card", id: "config-card" }),
      h("section", { class: "card", id: "events-card" })));
  queueMicrotask(async () => {
    await Promise.all([loadRule(view), loadConfig(view), refreshStats(view), refreshLogs(view), loadEvents(view)]);
    startPolling(view);
  });
  return root;
}

async function loadRule(view) {
  const { data } = await api(`${API}/rules`);
  view.rule = data.find((r) => r.routing_rule_id === view.ruleId) || null;
  const head = document.getElementById("rule-head");
  if (!head) return;
  if (!view.rule) { head.replaceChildren(h("h1", { text: "404" })); return; }
  const rule = view.rule;
  document.getElementById("crumb-rule").textContent = rule.client_name;
  const paused = ruleStatus(rule) === "paused";
  head.replaceChildren(
    h("div", { class: "head-main" },
      h("div", { class: "head-title" }, h("h1", { text: rule.client_name }), ruleBadge(rule)),
      h("p", { class: "muted" }, h("span", { text: rule.funnel_name }), " · ", h("span", { class: "mono", text: rule.webhook_url })),
      paused ? h("p", { class: "paused-note", id: "paused-note" },
        t("pausedSince", { t: when(rule.paused_at) }), rule.paused_reason ? ` — ${rule.paused_reason}` : "") : null),
    h("div", { class: "head-actions" },
      h("button", { class: "btn btn-secondary", id: paused ? "resume-button" : "pause-button",
        onclick: () => setPaused(view, !paused), text: t(paused ? "actions.resume" : "actions.pause") }),
      h("button", { class: "btn btn-secondary", id: "test-button", onclick: () => sendTest(view), text: t("actions.test") }),
      h("button", { class: "btn btn-secondary", id: "recover-button", onclick: () => recover(view), text: t("actions.recover") }),
      h("button", { class: "btn btn-danger-ghost", id: "cancel-button", onclick: () => cancelPending(view), text: t("actions.cancel") })));
}

// -- stats ---------------------------------------------------------------------------------------

async function refreshStats(view) {
  const bucket = view.days === 30 ? "day" : "hour";
  const { data } = await api(`${API}/stats?routing_rule_id=${view.ruleId}&days=${view.days}&series=${bucket}`);
  const card = document.getElementById("stats-card");
  if (!card) return;
  const periods = h("div", { class: "segmented", role: "group", id: "days-switch" }, [1, 7, 30].map((d) =>
    h("button", { type: "button", "data-days": d, "aria-pressed": String(view.days === d), onclick: () => { view.days = d; refreshStats(view); },
      text: t(`stats.day${d}`) })));
  const tile = (id, label, value, tone) => h("div", { class: `tile ${tone || ""}` },
    h("div", { class: "tile-label", text: label }), h("div", { class: "tile-value", id, text: value }));
  const rateTone = data.total_calls === 0 ? "" : data.success_rate >= 95 ? "tone-good" : data.success_rate >= 80 ? "tone-warn" : "tone-bad";
  card.replaceChildren(
    h("div", { class: "card-head" }, h("h2", { text: t("stats.title", { days: t(`stats.day${view.days}`) }) }), periods),
    h("div", { class: "tiles" },
      tile("stat-total", t("stats.total"), number(data.total_calls)),
      tile("stat-rate", t("stats.rate"), `${number(data.success_rate, 2)} %`, rateTone),
      tile("stat-failed", t("stats.failed"), number(data.failed_calls), data.failed_calls ? "tone-bad" : ""),
      tile("stat-avg", t("stats.avg"), `${number(data.avg_duration_ms, 0)} ms`)),
    chart(data.series || [], view.days, bucket));
}

function chart(series, days, bucket) {
  const step = bucket === "hour" ? 3600e3 : 86400e3;
  const end = Math.floor(Date.now() / step) * step;
  const count = bucket === "hour" ? days * 24 : days;
  const byStart = new Map(series.map((b) => [new Date(b.bucket_start).getTime(), b]));
  const buckets = Array.from({ length: count }, (_, i) => {
    const start = end - (count - 1 - i) * step;
    return { start, ...(byStart.get(start) || { total_calls: 0, success_calls: 0, failed_calls: 0 }) };
  });
  const W = 1000, H = 140, pad = 18;
  const max = Math.max(1, ...buckets.map((b) => b.total_calls));
  const barW = (W - 2) / count;
  const bars = buckets.flatMap((b, i) => {
    const x = 1 + i * barW + barW * 0.15, w = Math.max(1, barW * 0.7);
    const okH = (b.success_calls / max) * (H - pad), koH = (b.failed_calls / max) * (H - pad);
    const title = svg("title", {});
    title.textContent = `${when(new Date(b.start).toISOString())}: ${b.success_calls} ${t("stats.ok")}, ${b.failed_calls} ${t("stats.ko")}`;
    return [svg("g", { class: "bar" }, title,
      svg("rect", { x, y: H - okH, width: w, height: okH, class: "bar-ok" }),
      svg("rect", { x, y: H - okH - koH, width: w, height: koH, class: "bar-ko" }))];
  });
  const label = (text, x, anchor) => { const el = svg("text", { x, y: 12, "text-anchor": anchor, class: "axis" }); el.textContent = text; return el; };
  return h("figure", { class: "chart" },
    svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": t("stats.chart", { bucket: t(`stats.${bucket}`) }), id: "stats-chart" },
      svg("line", { x1: 0, x2: W, y1: H - 0.5, y2: H - 0.5, class: "baseline" }),
      svg("line", { x1: 0, x2: W, y1: pad - 0.5, y2: pad - 0.5, class: "gridline" }), label(`${max}`, 2, "start"), ...bars),
    h("figcaption", { class: "legend" },
      h("span", { class: "muted", text: t("stats.chart", { bucket: t(`stats.${bucket}`) }) }),
      h("span", {}, h("i", { class: "swatch ok" }), t("stats.ok")), h("span", {}, h("i", { class: "swatch ko" }), t("stats.ko"))));
}

// -- logs ------------------------------------------------------------------------------------------

function logBadge(status) {
  return badge(status, t(`log.${status}`), LOG_SYMBOL[status] || "•");
}

function logQuery(view) {
  const params = new URLSearchParams({ routing_rule_id: view.ruleId, limit: PAGE_SIZE });
  if (view.status) params.set("status", view.status);
  if (RANGES[view.range]) params.set("since", new Date(Date.now() - RANGES[view.range]).toISOString());
  const cursor = view.cursors[view.page];
  if (cursor) params.set("cursor", cursor);
  return `${API}/logs?${params}`;
}

async function refreshLogs(view) {
  const asked = (view.logsAsked = (view.logsAsked || 0) + 1);
  const answer = await api(logQuery(view));
  if (asked !== view.logsAsked) return;  // a newer request (other filter or page) is on its way
  view.cursors[view.page + 1] = answer.next_cursor;
  const card = document.getElementById("logs-card");
  if (!card) return;
  if (!card.querySelector(".filters")) card.replaceChildren(logsHead(view), h("div", { id: "logs-body" }));
  card.querySelector(".live").hidden = view.page !== 0;
  const rows = answer.data.map((log) => h("tr", { class: `log-row clickable${view.detailId === log.id ? " selected" : ""}`,
    "data-log": log.id, "data-status": log.status, onclick: () => openDetail(view, log.id) },
    h("td", { class: "nowrap", text: when(log.created_at) }),
    h("td", {}, logBadge(log.status)),
    h("td", { class: "num", text: `${log.attempt_number}/${log.max_attempts}` }),
    h("td", { class: "num mono", text: log.response_status ?? "—" }),
    h("td", { class: "num", text: log.duration_ms === null ? "—" : `${number(log.duration_ms)} ms` }),
    h("td", { class: "truncate error-line", title: log.error_message || "", text: oneLineError(log) })));
  const table = rows.length ? h("table", { class: "table", id: "logs-table" },
    h("thead", {}, h("tr", {}, ["logs.time", "logs.status", "logs.attempt", "logs.http", "logs.duration", "logs.error"].map((k) => h("th", { text: t(k) })))),
    h("tbody", {}, rows)) : h("p", { class: "empty", text: t("logs.empty") });
  const pager = h("div", { class: "pager" },
    h("button", { class: "btn btn-ghost", id: "newer-page", disabled: view.page === 0, onclick: () => { view.page -= 1; refreshLogs(view); }, text: `← ${t("logs.newer")}` }),
    h("span", { class: "muted", text: t("logs.page", { n: view.page + 1 }) }),
    h("button", { class: "btn btn-ghost", id: "older-page", disabled: !answer.next_cursor, onclick: () => { view.page += 1; refreshLogs(view); }, text: `${t("logs.older")} →` }));
  // Only the rows and the pager change on each poll: an open filter menu stays open.
  card.querySelector("#logs-body").replaceChildren(table, pager);
}

function logsHead(view) {
  const filters = h("div", { class: "filters" },
    h("select", { id: "status-filter", "aria-label": t("logs.status"), onchange: (e) => { view.status = e.target.value; resetPaging(view); } },
      h("option", { value: "", text: t("logs.allStatuses") }),
      ["success", "failed", "retrying"].map((s) => h("option", { value: s, selected: view.status === s, text: `${LOG_SYMBOL[s]} ${t(`log.${s}`)}` }))),
    h("select", { id: "range-filter", "aria-label": t("logs.range"), onchange: (e) => { view.range = e.target.value; resetPaging(view); } },
      Object.keys(RANGES).map((r) => h("option", { value: r, selected: view.range === r, text: t(`logs.range.${r}`) }))));
  return h("div", { class: "card-head padded" },
    h("h2", {}, t("logs.title"), h("span", { class: "live", title: t("logs.live") }, h("i", { class: "live-dot" }), t("logs.live"))),
    filters);
}

function oneLineError(log) {
  return (log.error_message || log.error_type || "").replace(/\s+/g, " ");
}

function resetPaging(view) {
  view.page = 0;
  view.cursors = [null];
  refreshLogs(view);
}

// -- detail ----------------------------------------------------------------------------------------

async function openDetail(view, logId) {
  view.detailId = logId;
  document.querySelectorAll(".log-row").forEach((row) => row.classList.toggle("selected", row.dataset.log === logId));
  const { data: log, chain } = await api(`${API}/logs/${logId}`);
  const panel = document.getElementById("detail");
  if (!panel || view.detailId !== logId) return;
  panel.hidden = false;
  document.getElementById("rule-page").classList.add("with-detail");
  const section = (title, ...content) => h("section", { class: "detail-section" }, h("h3", { text: title }), ...content);
  const pre = (value) => h("pre", { class: "code" }, value === null || value === undefined || value === "" ? t("detail.noBody") :
    typeof value === "string" ? prettyJson(value) : JSON.stringify(value, null, 2));
  panel.replaceChildren(
    h("div", { class: "detail-head" },
      h("div", {}, h("h2", { text: `${t("detail.title")} ${log.attempt_number}/${log.max_attempts}` }), h("div", { class: "muted mono small", text: log.id })),
      h("button", { class: "btn btn-ghost", id: "close-detail", "aria-label": t("detail.close"), onclick: () => closeDetail(view), text: "✕" })),
    h("div", { class: "detail-summary" }, logBadge(log.status),
      h("span", { class: "mono", text: log.response_status ? `HTTP ${log.response_status}` : "—" }),
      h("span", { text: log.duration_ms === null ? "" : `${number(log.duration_ms)} ms` }),
      h("span", { class: "muted", text: when(log.created_at) })),
    log.error_message ? h("div", { class: "error-box", id: "detail-error" }, h("strong", { text: `${log.error_type || t("detail.error")}: ` }), log.error_message) : null,
    h("div", { class: "replay-row" },
      h("button", { class: "btn btn-primary", id: "replay-button", onclick: () => replay(view, log), text: `↻ ${t("detail.replay")}` }),
      h("span", { class: "muted small", text: t("detail.replayHint") })),
    h("div", { id: "replay-result" }, renderReplays(view, log.id)),
    section(t("detail.chain"), chainList(view, chain, log.id)),
    section(`${t("detail.request")} — ${t("detail.headers")}`, h("div", { class: "mono small muted", text: `POST ${log.webhook_url}` }), pre(log.request_headers)),
    section(`${t("detail.request")} — ${t("detail.body")}`, pre(log.request_body)),
    section(`${t("detail.response")} — ${t("detail.headers")}`, pre(log.response_headers)),
    section(`${t("detail.response")} — ${t("detail.body")}`, pre(log.response_body)));
}

function prettyJson(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}

function chainList(view, chain, currentId) {
  return h("ol", { class: "chain", id: "chain" }, chain.map((item) => {
    const kind = item.parent_log_id ? (item.attempt_number === 1 ? t("detail.replayOf") : t("detail.retryOf")) : "";
    return h("li", { class: `chain-item${item.id === currentId ? " current" : ""}`, "data-log": item.id },
      h("button", { class: "linkish", onclick: () => openDetail(view, item.id) },
        logBadge(item.status),
        h("span", { class: "mono", text: ` ${item.attempt_number}/${item.max_attempts}` }),
        h("span", { class: "muted", text: ` ${when(item.created_at)}` }),
        kind ? h("span", { class: "tag", text: kind }) : null,
        item.id === currentId ? h("span", { class: "tag tag-strong", text: t("detail.this") }) : null));
  }));
}

function renderReplays(view, logId) {
  return (view.replays[logId] || []).map((r) => h("div", { class: "replay-attempt", "data-delivery": r.delivery_id },
    h("span", { class: "strong", text: `${t("detail.replayed")}: ` }),
    r.log ? [logBadge(r.log.status), h("span", { class: "mono", text: ` HTTP ${r.log.response_status ?? "—"}` }),
      h("span", { text: r.log.duration_ms === null ? "" : ` · ${number(r.log.duration_ms)} ms` }),
      h("button", { class: "linkish", onclick: () => openDetail(view, r.log.id), text: ` ${r.log.id.slice(0, 8)}…` })]
      : h("span", { class: "muted", text: r.pending ? t("detail.replaying") : t("detail.replayQueued") })));
}

async function replay(view, log) {
  const entry = { delivery_id: null, log: null, pending: true };
  view.replays[log.id] = [...(view.replays[log.id] || []), entry];
  const button = document.getElementById("replay-button");
  button.disabled = true;
  showReplays(view, log.id);
  try {
    const { data } = await api(`${API}/replay/${log.id}?wait=10`, { method: "POST" });
    Object.assign(entry, data, { pending: false });
    while (!entry.log && view.detailId === log.id) {  // not sent within the wait: keep looking
      await new Promise((r) => setTimeout(r, POLL_MS));
      const page = await api(`${API}/logs?routing_rule_id=${view.ruleId}&limit=20`);
      entry.log = page.data.find((l) => l.queue_id === entry.delivery_id) || null;
      showReplays(view, log.id);
    }
  } catch (error) {
    view.replays[log.id] = view.replays[log.id].filter((e) => e !== entry);
    notify(error.message, "error");
  } finally {
    if (document.getElementById("replay-button")) document.getElementById("replay-button").disabled = false;
    showReplays(view, log.id);
    refreshLogs(view).catch(() => {});
  }
}

function showReplays(view, logId) {
  const box = document.getElementById("replay-result");
  if (box && view.detailId === logId) box.replaceChildren(...renderReplays(view, logId));
}

function closeDetail(view) {
  view.detailId = null;
  document.getElementById("detail").hidden = true;
  document.getElementById("rule-page").classList.remove("with-detail");
  document.querySelectorAll(".log-row.selected").forEach((row) => row.classList.remove("selected"));
}

// -- config -------------------------------------------------------------------------------------------

async function loadConfig(view) {
  const { data } = await api(`${API}/config/${view.ruleId}`);
  view.config = data;
  renderConfig(view);
}

function renderConfig(view) {
  const config = view.config;
  const card = document.getElementById("config-card");
  if (!card || !config) return;
  const field = (name, input, hint) => h("div", { class: "field", "data-field": name },
    h("label", { for: `cfg-${name}`, class: "label", text: t(`config.${name}`) }), input,
    hint ? h("div", { class: "hint", text: hint }) : null,
    h("p", { class: "field-error", "data-error-for": name, role: "alert", hidden: true }));
  const numberInput = (name, step, optional) => h("input", { id: `cfg-${name}`, name, type: "number", step: step || "1",
    value: config[name] ?? "", placeholder: optional ? t("config.off") : "", inputmode: "decimal" });
  const headers = h("div", { class: "header-rows", id: "header-rows" },
    Object.entries(config.custom_headers || {}).map(([k, v]) => headerRow(k, v)));
  const form = h("form", { id: "config-form", class: "config-form", novalidate: true, onsubmit: (e) => { e.preventDefault(); saveConfig(view); } },
    h("div", { class: "field field-inline", "data-field": "retry_enabled" },
      h("input", { id: "cfg-retry_enabled", name: "retry_enabled", type: "checkbox", checked: config.retry_enabled }),
      h("label", { for: "cfg-retry_enabled", text: t("config.retry_enabled") }),
      h("p", { class: "field-error", "data-error-for": "retry_enabled", role: "alert", hidden: true })),
    h("div", { class: "form-grid" },
      field("max_retries", numberInput("max_retries"), "0 – 20"),
      field("retry_delay_ms", numberInput("retry_delay_ms"), "100 – 86 400 000"),
      field("retry_backoff_multiplier", numberInput("retry_backoff_multiplier", "0.1"), "1 – 10"),
      field("timeout_ms", numberInput("timeout_ms"), "100 – 300 000"),
      field("auto_pause_after_failures", numberInput("auto_pause_after_failures", "1", true), "1 – 10 000"),
      field("max_requests_per_second", numberInput("max_requests_per_second", "0.1", true), "0.1 – 10 000")),
    h("div", { class: "field", "data-field": "custom_headers" },
      h("span", { class: "label", text: t("config.custom_headers") }), headers,
      h("button", { type: "button", class: "btn btn-ghost small", id: "add-header", onclick: () => headers.append(headerRow("", "")), text: `+ ${t("config.addHeader")}` }),
      h("p", { class: "field-error", "data-error-for": "custom_headers", role: "alert", hidden: true })),
    h("div", { class: "field" }, h("span", { class: "label", text: t("config.secret") }),
      h("code", { class: "secret", text: config.signing_secret || "—" })),
    h("div", { class: "form-actions" },
      h("button", { type: "submit", class: "btn btn-primary", id: "save-config", text: t("config.save") }),
      h("span", { id: "config-status", class: "muted", role: "status" })));
  card.replaceChildren(h("div", { class: "card-head" }, h("h2", { text: t("config.title") })), form);
}

function headerRow(name, value) {
  const row = h("div", { class: "header-row" },
    h("input", { class: "header-name", name: "header_name", "aria-label": t("config.headerName"), placeholder: t("config.headerName"), value: name }),
    h("input", { class: "header-value", name: "header_value", "aria-label": t("config.headerValue"), placeholder: t("config.headerValue"), value }),
    h("button", { type: "button", class: "btn btn-ghost small", "aria-label": t("config.remove"), onclick: () => row.remove(), text: "✕" }));
  return row;
}

function configPatch(form, config) {
  const patch = {};
  const checked = form.querySelector("[name=retry_enabled]").checked;
  if (checked !== config.retry_enabled) patch.retry_enabled = checked;
  for (const name of CONFIG_NUMBERS) {
    const input = form.querySelector(`[name=${name}]`);
    const raw = input.value.trim();
    const value = raw === "" ? null : Number(raw);
    if (value !== (config[name] ?? null) && !(raw === "" && config[name] === undefined)) patch[name] = Number.isNaN(value) ? raw : value;
  }
  const headers = {};
  form.querySelectorAll(".header-row").forEach((row) => {
    const name = row.querySelector(".header-name").value.trim();
    if (name) headers[name] = row.querySelector(".header-value").value;
  });
  if (JSON.stringify(headers) !== JSON.stringify(config.custom_headers || {})) patch.custom_headers = headers;
  return patch;
}

async function saveConfig(view) {
  const form = document.getElementById("config-form");
  form.querySelectorAll(".field-error").forEach((p) => { p.hidden = true; p.textContent = ""; });
  form.querySelectorAll(".invalid").forEach((el) => el.classList.remove("invalid"));
  const status = document.getElementById("config-status");
  const patch = configPatch(form, view.config);
  if (!Object.keys(patch).length) { status.textContent = t("config.saved"); return; }
  try {
    const { data } = await api(`${API}/config/${view.ruleId}`, { method: "PATCH", body: patch });
    view.config = data;
    renderConfig(view);
    document.getElementById("config-status").textContent = `✓ ${t("config.saved")}`;
  } catch (error) {
    const slot = error.field && form.querySelector(`[data-error-for="${error.field}"]`);
    if (slot) {
      slot.textContent = error.message;
      slot.hidden = false;
      slot.closest(".field").classList.add("invalid");
      status.textContent = t("config.refused");
    } else {
      status.textContent = error.message;
    }
  }
}

// -- actions and events --------------------------------------------------------------------------------

async function act(view, work, message) {
  try {
    const result = await work();
    notify(message(result), "success");
  } catch (error) {
    notify(error.message, "error");
  }
  await Promise.all([loadRule(view), loadConfig(view), loadEvents(view), refreshLogs(view)]).catch(() => {});
}

function setPaused(view, paused) {
  if (paused && !confirm(t("actions.pauseConfirm"))) return;
  return act(view, () => api(`${API}/config/${view.ruleId}`, { method: "PATCH", body: { paused } }),
    () => t(paused ? "actions.paused" : "actions.resumed"));
}

function sendTest(view) {
  return act(view, () => api(`${API}/test/${view.ruleId}`, { method: "POST" }), () => t("actions.tested"));
}

function recover(view) {
  const hours = Number(prompt(t("actions.recoverPrompt"), "24"));
  if (!hours || hours <= 0) return;
  const since = new Date(Date.now() - hours * 3600e3).toISOString();
  return act(view, () => api(`${API}/recover`, { method: "POST", body: { routing_rule_id: view.ruleId, since } }),
    (r) => t("actions.recovered", { n: r.data.requeued }));
}

function cancelPending(view) {
  if (!confirm(t("actions.cancelConfirm"))) return;
  return act(view, () => api(`${API}/cancel/${view.ruleId}`, { method: "POST" }),
    (r) => t("actions.cancelled", { n: r.data.cancelled }));
}

async function loadEvents(view) {
  const card = document.getElementById("events-card");
  let content;
  try {
    const { data } = await api(`${API}/events?routing_rule_id=${view.ruleId}`);
    content = data.length ? h("ul", { class: "events", id: "events-list" }, data.slice(0, 30).map((e) =>
      h("li", { class: `event event-${e.type.replace(".", "-")}` },
        h("span", { class: "event-type", text: e.type }), h("span", { class: "muted", text: when(e.created_at) }),
        h("div", { class: "small mono truncate", text: describeEvent(e) }))))
      : h("p", { class: "empty", text: t("events.empty") });
  } catch (error) {
    content = h("p", { class: "empty", text: error.status === 501 ? t("events.unavailable") : error.message });
  }
  if (card) card.replaceChildren(h("div", { class: "card-head" }, h("h2", { text: t("events.title") })), content);
}

function describeEvent(event) {
  const d = event.detail || {};
  return d.reason || d.error_message || d.error || JSON.stringify(d);
}

// -- polling -----------------------------------------------------------------------------------------

function startPolling(view) {
  stopPolling();
  let ticks = 0;
  state.poll = setInterval(async () => {
    if (document.hidden || Date.now() < state.pausedUntil || state.view !== view) return;
    ticks += 1;
    const work = [refreshStats(view)];
    if (view.page === 0) work.push(refreshLogs(view));
    if (ticks % 10 === 0) work.push(loadRule(view), loadEvents(view));
    await Promise.all(work).catch(() => {});
  }, POLL_MS);
}

function stopPolling() {
  if (state.poll) clearInterval(state.poll);
  state.poll = null;
}

// -- routing and start-up ----------------------------------------------------------------------------

function go(path) {
  history.pushState(null, "", path);
  render();
}

async function render() {
  const app = document.getElementById("app");
  const signedIn = Boolean(sessionStorage.getItem(TOKEN_KEY));
  document.getElementById("sign-out").hidden = !signedIn;
  stopPolling();
  state.view = null;
  if (!signedIn) { app.replaceChildren(signInView()); return; }
  const match = location.pathname.match(/^\/rules\/([0-9a-fA-F-]{36})\/?$/);
  try {
    app.replaceChildren(match ? ruleView(match[1].toLowerCase()) : await rulesView());
  } catch (error) {
    if (error.status !== 401) app.replaceChildren(h("section", { class: "card" }, h("h1", { text: t("error.generic") }), h("p", { text: error.message })));
  }
}

function applyLanguage(lang) {
  state.lang = lang;
  document.documentElement.lang = lang;
  localStorage.setItem("webhooks.lang", lang);
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-lang]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.lang === lang)));
}

function browserLanguage() {
  const saved = localStorage.getItem("webhooks.lang");
  if (saved && window.LABELS[saved]) return saved;
  const preferred = (navigator.languages || [navigator.language || "en"]).map((l) => l.slice(0, 2).toLowerCase());
  return preferred.find((l) => window.LABELS[l]) || "en";
}

async function start() {
  takeTokenFromLink();
  applyLanguage(browserLanguage());
  state.publicConfig = await fetch("/api/v1/dashboard-config").then((r) => r.json()).catch(() => ({}));
  document.querySelectorAll("[data-lang]").forEach((b) => b.addEventListener("click", () => { applyLanguage(b.dataset.lang); render(); }));
  document.getElementById("sign-out").addEventListener("click", () => signOut());
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-nav]");
    if (!link || event.metaKey || event.ctrlKey) return;
    event.preventDefault();
    event.stopPropagation();
    go(link.getAttribute("href"));
  });
  window.addEventListener("popstate", render);
  window.addEventListener("hashchange", () => { takeTokenFromLink(); render(); });
  render();
}

document.addEventListener("DOMContentLoaded", start);
