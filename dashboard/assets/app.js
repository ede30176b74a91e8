// The dashboard's only script: action buttons, periodic refresh of the
// Resources, Traces and Queues pages, and the live log stream.
"use strict";

function status(text) { document.getElementById("status").textContent = text; }

async function act(button) {
  const msg = button.dataset.confirm;
  if (msg && !window.confirm(msg)) return;
  button.disabled = true;
  try {
    const res = await fetch(button.dataset.action, { method: "POST", headers: { "X-Dashboard": "1" } });
    const text = await res.text();
    status(res.ok ? "done " + text : "failed: " + res.status + " " + text);
    await refresh();
  } finally { button.disabled = false; }
}

async function refresh() {
  const res = await fetch(location.href, { headers: { "Accept": "text/html" } });
  if (!res.ok) return;
  const doc = new DOMParser().parseFromString(await res.text(), "text/html");
  const fresh = doc.getElementById("main");
  if (fresh) document.getElementById("main").replaceWith(fresh);
}

document.addEventListener("click", (e) => {
  const b = e.target.closest("button[data-action]");
  if (b) { e.preventDefault(); act(b); }
});

const page = document.body.dataset.page;
if (page === "resources" || page === "traces" || page === "queues") {
  setInterval(() => { if (!document.querySelector("details[open]")) refresh(); }, 2000);
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

if (page === "logs") {
  const table = document.getElementById("logs");
  const rows = table.querySelectorAll("tr[data-seq]");
  const after = rows.length ? rows[rows.length - 1].dataset.seq : "0";
  const params = new URLSearchParams(location.search);
  params.set("after", after);
  const es = new EventSource("/logs/stream?" + params.toString());
  es.onmessage = (ev) => {
    const l = JSON.parse(ev.data);
    const tr = document.createElement("tr");
    tr.dataset.seq = l.seq;
    tr.append(cell(new Date(l.time).toLocaleTimeString()), cell(l.service), cell(l.level, "lvl " + l.level), cell(l.function || ""));
    const msg = cell(l.body);
    for (const a of l.attrs || []) {
      const s = document.createElement("span");
      s.className = "attr";
      s.textContent = " " + a.Key + "=" + a.Value;
      msg.append(s);
    }
    tr.append(msg);
    const t = document.createElement("td");
    if (l.traceId) {
      const a = document.createElement("a");
      a.href = "/traces/" + l.traceId;
      a.textContent = l.traceId.slice(0, 8);
      t.append(a);
    }
    tr.append(t);
    table.append(tr);
    while (table.rows.length > 1000) table.deleteRow(1);
  };
}
