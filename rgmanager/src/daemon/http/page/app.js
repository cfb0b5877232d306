// The status page: renders /api/status and follows /api/events (server-sent events) without
// reloading. Text goes in with textContent only: names from cluster.conf are never markup.
"use strict";

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function ago(now, t) {
  if (!t) return "";
  const s = Math.max(0, now - t);
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  if (s < 86400) return Math.floor(s / 3600) + " h ago";
  return new Date(t * 1000).toLocaleString();
}

function render(d) {
  const c = d.clustat || {};
  document.getElementById("cluster").textContent = c.cluster || d.cluster;
  const q = document.getElementById("quorum");
  q.textContent = d.quorate ? "Quorate" : "Inquorate";
  q.className = "badge " + (d.quorate ? "ok" : "bad");
  document.getElementById("votes").textContent =
    "votes " + d.votes + " of " + d.expected_votes + " expected, quorum " + d.quorum + "; view " + d.view;
  document.getElementById("seen-from").textContent = "— as node " + d.node + " sees it";
  document.getElementById("updated").textContent = new Date(d.time * 1000).toLocaleTimeString();
  document.getElementById("config").textContent =
    "cluster.conf version " + d.config_version + " (" + String(d.config_hash).slice(0, 16) + ")";

  const mb = document.querySelector("#members tbody");
  mb.replaceChildren();
  for (const m of c.members || []) {
    const tr = el("tr", null, m.online ? "online" : "offline");
    tr.dataset.member = m.name;
    tr.append(el("td", m.name), el("td", m.nodeid));
    const words = [m.online ? "Online" : "Offline"];
    if (m.local) words.push("Local");
    if (m.rgmanager) words.push("rgmanager");
    if (m.coordinator) words.push("coordinator");
    if (m.estranged) words.push("Estranged");
    tr.append(el("td", words.join(", "), "status"));
    mb.append(tr);
  }

  const sb = document.querySelector("#services tbody");
  sb.replaceChildren();
  if (!c.services) {
    const tr = el("tr");
    const td = el("td", "The resource group manager does not answer on this node.");
    td.colSpan = 6;
    tr.append(td);
    sb.append(tr);
  }
  for (const s of c.services || []) {
    const tr = el("tr");
    tr.dataset.service = s.name;
    tr.append(el("td", s.name));
    const owner = s.owner || (s.last_owner ? "(" + s.last_owner + ")" : "none");
    tr.append(el("td", owner, "owner"));
    tr.append(el("td", s.state, "state state-" + s.state));
    tr.append(el("td", (s.flags || []).join(", ")));
    tr.append(el("td", s.restarts));
    tr.append(el("td", ago(d.time, s.last_transition)));
    sb.append(tr);
  }

  const f = document.getElementById("fencing");
  const fencing = d.fencing_now || [];
  f.hidden = fencing.length === 0;
  f.textContent = fencing.map(x => "Fencing " + x.node + " for " + x.seconds + " s").join("; ");

  const ev = document.getElementById("events");
  ev.replaceChildren();
  for (const e of d.events || []) {
    const li = el("li", null, e.kind);
    li.append(el("time", new Date(e.time * 1000).toLocaleTimeString()), " ", e.text);
    ev.append(li);
  }
}

function live(on) {
  const l = document.getElementById("live");
  l.textContent = on ? "live" : "reconnecting";
  l.className = "badge " + (on ? "ok" : "off");
}

function start() {
  fetch("/api/status").then(r => r.json()).then(render).catch(() => {});
  // EventSource reconnects by itself when the daemon restarts or the network comes back.
  const es = new EventSource("/api/events");
  es.onopen = () => live(true);
  es.onerror = () => live(false);
  es.onmessage = m => {
    try { render(JSON.parse(m.data)); live(true); } catch (e) { /* a torn event: the next one heals */ }
  };
}

document.addEventListener("DOMContentLoaded", start);
