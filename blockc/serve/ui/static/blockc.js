// blockc's pages: the one script (no build step). Every action is an API call made with the
// session's CSRF token; the page follows its studios through /events and each operation
// through its task's events.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf"]').content;

async function api(method, path, body) {
  const init = { method, headers: { "X-CSRF-Token": csrf() }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  let data = null;
  try { data = await resp.json(); } catch (e) { /* (no body: 204) */ }
  return { status: resp.status, data };
}

function said(data) {
  if (!data) return "the server did not say why";
  return data.error + (data.hint ? " (" + data.hint + ")" : "");
}

function notice(text) {
  document.getElementById("notice").textContent = text;
}

// times: shown in the reader's locale
function localTimes(root) {
  for (const t of root.querySelectorAll("time[datetime]")) {
    t.textContent = new Date(t.getAttribute("datetime")).toLocaleString();
  }
}

function when(seconds) {
  const iso = new Date(seconds * 1000).toISOString().replace(/\.\d+Z$/, "Z");
  const t = document.createElement("time");
  t.setAttribute("datetime", iso);
  t.textContent = new Date(iso).toLocaleString();
  return t;
}

// --- a studio's state, wherever the page shows it ------------------------------------------

const BUSY = new Set(["STARTING", "STOPPING"]);

function showStudio(row) {
  const places = document.querySelectorAll(`[data-studio="${CSS.escape(row.name)}"]`);
  if (!places.length) return false;
  const drawn = document.querySelector(`li.studio[data-studio="${CSS.escape(row.name)}"]`);
  const making = document.querySelector(`[data-making][data-studio="${CSS.escape(row.name)}"]`);
  if ((drawn && Number(drawn.dataset.apps) !== row.apps.length) || (making && (!row.making || row.state === "FAILED"))) {
    location.reload(); // (made since it was drawn, or its making failed: drawn anew)
    return true;
  }
  for (const place of places) {
    for (const el of place.querySelectorAll("[data-state]")) {
      el.textContent = row.state.toLowerCase();
      el.className = "state state-" + row.state.toLowerCase();
    }
    for (const el of place.querySelectorAll("[data-message]")) el.textContent = row.message;
    const busy = !!row.task || BUSY.has(row.state);
    for (const b of place.querySelectorAll("button[data-action]")) {
      const a = b.dataset.action;
      b.disabled =
        busy ||
        (a === "start" && !["STOPPED", "FAILED"].includes(row.state)) ||
        (a === "stop" && !["RUNNING", "FAILED"].includes(row.state)) ||
        (a === "sync" && (row.state !== "RUNNING" || !row.zones));
    }
    for (const el of place.querySelectorAll("[data-needs-running]")) {
      el.setAttribute("aria-disabled", row.state === "RUNNING" ? "false" : "true");
    }
    for (const el of place.querySelectorAll("[data-sync]")) {
      el.textContent = "";
      if (row.sync) {
        el.append("Last sync ", when(row.sync.at), ": " + row.sync.summary + (row.sync.clean ? "" : " (not clean)"));
      } else {
        el.textContent = row.zones ? "Not synced yet" : "No sync zones";
      }
    }
    if (row.task) {
      for (const p of place.querySelectorAll("[data-progress]")) follow(row.task.id, p, row.task.action);
    }
  }
  return true;
}

function listen() {
  const list = document.querySelector(".studios, .studio-head");
  if (!list) return;
  const all = list.dataset.live === "1" ? "?all=1" : "";
  const source = new EventSource("/events" + all);
  source.addEventListener("studio", (e) => {
    const row = JSON.parse(e.data);
    if (!showStudio(row) && list.dataset.whole === "1") {
      location.reload(); // (a studio made elsewhere: the list is drawn again)
    }
  });
  source.addEventListener("gone", (e) => {
    const name = JSON.parse(e.data);
    const item = document.querySelector(`li.studio[data-studio="${CSS.escape(name)}"]`);
    if (item) item.remove();
    if (document.querySelector(`.studio-head[data-studio="${CSS.escape(name)}"]`)) {
      notice(`Studio ${name} is deleted.`);
      setTimeout(() => { location.href = "/"; }, 1500);
    }
  });
  source.addEventListener("signed-out", () => {
    source.close();
    location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
  });
}

// --- an operation's progress ---------------------------------------------------------------

const following = new Map(); // element -> task id

function follow(taskId, box, action) {
  if (following.get(box) === taskId) return;
  following.set(box, taskId);
  box.hidden = false;
  box.classList.remove("failed");
  const bar = box.querySelector(".bar");
  const fill = bar.querySelector("span");
  const step = box.querySelector(".step");
  const out = box.querySelector("pre");
  out.textContent = "";
  step.textContent = (action || "working") + "…";
  let healthy = 0;
  const setBar = (percent) => {
    fill.style.width = percent + "%";
    bar.setAttribute("aria-valuenow", String(Math.round(percent)));
  };
  setBar(3);
  const source = new EventSource(`/api/v1/tasks/${encodeURIComponent(taskId)}/events`);
  source.addEventListener("line", (e) => {
    const text = JSON.parse(e.data).text;
    out.textContent += text + "\n";
    const m = /^step (\d+)\/(\d+)/.exec(text);
    if (m) setBar(5 + (80 * Number(m[1])) / Number(m[2]));
    else if (/^app \S+ is healthy/.test(text)) setBar(Math.min(99, 88 + ++healthy * 4));
    if (text.trim() && !/^\s/.test(text)) step.textContent = text;
  });
  source.addEventListener("end", (e) => {
    source.close();
    const end = JSON.parse(e.data);
    if (end.state === "succeeded") {
      setBar(100);
      step.textContent = `${action || "done"}: done`;
      setTimeout(() => { if (following.get(box) === taskId) box.hidden = true; }, 4000);
    } else {
      box.classList.add("failed");
      const lines = out.textContent.trim().split("\n");
      const failing = lines.filter((l) => /failed|error|refus|would lose/i.test(l));
      step.textContent = failing.length ? failing[failing.length - 1] : lines[lines.length - 1] || "failed";
      box.querySelector("details").open = true;
    }
    box.dispatchEvent(new CustomEvent("ended", { detail: { task: taskId, state: end.state, lines: out.textContent } }));
    if (action !== "rm" && document.querySelector("[data-reload-on-end]")) location.reload(); // (its report)
  });
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) step.textContent += " (lost touch with the server)"; };
}

function progressFor(name) {
  return document.querySelector(`[data-studio="${CSS.escape(name)}"] [data-progress], [data-progress="${CSS.escape(name)}"]`);
}

// an operation on a studio (the API's task actions: start, stop, sync, rm); ``ended`` is
// called with how it ended and its output
async function act(name, action, extra, ended) {
  let answer;
  const path = `/api/v1/studios/${encodeURIComponent(name)}`;
  if (action === "rm") answer = await api("DELETE", path + (extra && extra.force ? "?force=true" : ""));
  else answer = await api("POST", `${path}/${action}`, action === "sync" ? extra || {} : undefined);
  if (answer.status !== 202) {
    notice(`${action} ${name}: ${said(answer.data)}`);
    return;
  }
  notice("");
  const box = progressFor(name);
  if (!box) return;
  if (ended) {
    box.addEventListener("ended", (e) => {
      if (e.detail.task === answer.data.id) ended(e.detail);
    });
  }
  follow(answer.data.id, box, action);
}

function confirmDelete(name) {
  const dialog = document.getElementById("confirm-delete");
  const lost = dialog.querySelector("[data-lost]");
  const button = dialog.querySelector('button[value="delete"]');
  let force = false;
  // (a dialog closed with Escape keeps its last returnValue: cleared before each showing)
  const show = () => { dialog.returnValue = ""; dialog.showModal(); };
  dialog.querySelector("[data-name]").textContent = name;
  lost.textContent = "";
  dialog.querySelector("[data-what]").textContent =
    "Its container and its state go. Files synced out stay in its workspace.";
  button.textContent = "Delete";
  dialog.dataset.studio = name;
  dialog.onclose = () => {
    if (dialog.returnValue !== "delete") return;
    act(name, "rm", { force }, (end) => {
      // (not if the dialog was opened for another studio meanwhile)
      if (end.state === "succeeded" || force || dialog.dataset.studio !== name || dialog.open) return;
      // what `blockc rm` said would be lost: shown, and deleting anyway is one more choice
      const lines = end.lines.split("\n").filter((l) => /^\s{4}\S/.test(l));
      if (!lines.length) return;
      dialog.querySelector("[data-what]").textContent =
        "These changes are not synced out and would be lost:";
      for (const l of lines) {
        const li = document.createElement("li");
        const code = document.createElement("code");
        code.textContent = l.trim();
        li.append(code);
        lost.append(li);
      }
      button.textContent = "Delete anyway, losing them";
      force = true;
      show();
    });
  };
  show();
}

function wireActions() {
  document.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-action]");
    if (!b) return;
    const name = b.dataset.studio || b.closest("[data-studio]").dataset.studio;
    const action = b.dataset.action;
    if (action === "rm") return confirmDelete(name);
    if (b.dataset.massDelete && !confirm("Sync, and delete the files its report lists?")) return;
    const extra = action === "sync" ? { direction: b.dataset.direction || "both" } : undefined;
    if (b.dataset.massDelete) extra.allow_mass_delete = true;
    b.disabled = true;
    act(name, action, extra);
  });
  document.addEventListener("click", (e) => {
    if (e.target.closest('a[aria-disabled="true"]')) e.preventDefault();
  });
}

// --- forms ---------------------------------------------------------------------------------

function wireForms() {
  const made = document.getElementById("new-studio");
  if (made) {
    made.addEventListener("submit", async (e) => {
      e.preventDefault();
      const form = new FormData(made);
      const answer = await api("POST", "/api/v1/studios", { name: form.get("name"), template: form.get("template") });
      if (answer.status === 202) location.href = "/s/" + encodeURIComponent(form.get("name"));
      else made.querySelector("[data-error]").textContent = said(answer.data);
    });
  }
  const token = document.getElementById("new-token");
  if (token) {
    token.addEventListener("submit", async (e) => {
      e.preventDefault();
      const form = new FormData(token);
      const answer = await api("POST", "/api/v1/tokens", { note: form.get("note"), expires_days: Number(form.get("days")) });
      if (answer.status !== 201) return (token.querySelector("[data-error]").textContent = said(answer.data));
      token.querySelector("[data-token]").textContent = answer.data.token;
      token.querySelector("[data-made]").hidden = false;
    });
  }
  document.addEventListener("click", async (e) => {
    const b = e.target.closest("button[data-build]");
    if (!b) return;
    const name = b.dataset.build;
    for (const other of document.querySelectorAll("button[data-build]")) other.disabled = true;
    const answer = await api("POST", `/api/v1/templates/${encodeURIComponent(name)}/build`, { no_cache: !!b.dataset.noCache });
    if (answer.status !== 202) {
      notice(`build ${name}: ${said(answer.data)}`);
      return;
    }
    const box = document.querySelector(`[data-progress="build:${CSS.escape(name)}"]`);
    follow(answer.data.id, box, "build");
    box.addEventListener("ended", () => location.reload(), { once: true });
  });
  document.addEventListener("click", async (e) => {
    const b = e.target.closest("button[data-revoke]");
    if (!b || !confirm(`Revoke token ${b.dataset.revoke}? Whatever uses it stops working.`)) return;
    const answer = await api("DELETE", "/api/v1/tokens/" + encodeURIComponent(b.dataset.revoke));
    if (answer.status === 204) location.reload();
    else notice(said(answer.data));
  });
}

// --- logs ----------------------------------------------------------------------------------

function wireLogs() {
  const form = document.querySelector("form[data-logs]");
  if (!form) return;
  const pre = document.querySelector("[data-log]");
  const name = form.dataset.logs;
  let timer = null;
  let asked = 0; // (the newest request: an older answer arriving late is dropped)
  const load = async (n) => {
    const app = form.elements.app.value;
    const q = new URLSearchParams({ lines: "500" });
    if (app) q.set("app", app);
    const resp = await fetch(`/api/v1/studios/${encodeURIComponent(name)}/logs?${q}`, { credentials: "same-origin" });
    const data = await resp.json();
    if (n !== asked) return;
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 20;
    pre.textContent = resp.ok ? data.log : said(data);
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  };
  const again = () => {
    clearTimeout(timer);
    const n = ++asked;
    load(n).finally(() => {
      if (n === asked && form.elements.follow.checked) timer = setTimeout(again, 2000);
    });
  };
  form.addEventListener("change", again);
  form.addEventListener("submit", (e) => e.preventDefault());
  again();
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  wireActions();
  wireForms();
  wireLogs();
  for (const box of document.querySelectorAll("[data-progress][data-task]")) {
    follow(box.dataset.task, box, "");
  }
  listen();
});
