// The live ring page served at "/" of the admin endpoint (docs/admin.md): one
// static HTML document with its script inline, shipped as a string so it is
// part of dist/src (and of `npm pack`) without a copy step. It reads /events
// (server-sent events: the RingView of admin/status.ts, pushed on change) and
// draws the ring as SVG: every node at its ID's angle, successor arrows,
// finger arrows (toggle), records and health per node. Nodes the endpoint only
// knows of (a single node's peers) are drawn hollow.

export const RING_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ringdht ring</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px system-ui, sans-serif; margin: 0; display: flex; color: #222; }
  main { flex: 0 0 auto; }
  aside { flex: 1 1 auto; padding: 12px 16px; max-height: 100vh; overflow: auto; }
  svg { width: min(100vh, 100vw - 320px); height: min(100vh, 100vw - 320px); min-width: 360px; min-height: 360px; }
  .ring { fill: none; stroke: #bbb; stroke-width: 1; }
  .succ { stroke: #333; stroke-width: 1.2; fill: none; }
  .finger { stroke: #6a8fd6; stroke-width: 0.7; fill: none; opacity: 0.6; }
  .node circle { stroke: #222; stroke-width: 1; }
  .node.peer circle { fill: #fff; stroke-dasharray: 2 2; }
  .node text { font-size: 10px; fill: #333; }
  .ok { fill: #3a3; } .joining, .unlinked { fill: #e0c020; } .catching-up { fill: #e08a20; }
  .cut-off, .stopped { fill: #d33; }
  table { border-collapse: collapse; font-size: 12px; }
  td, th { padding: 2px 8px; text-align: left; border-bottom: 1px solid #eee; }
  #state { color: #777; }
</style>
</head>
<body>
<main><svg id="ring" viewBox="-500 -500 1000 1000" role="img" aria-label="the ring">
  <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>
  <circle class="ring" r="400"/>
  <g id="edges"></g><g id="nodes"></g>
</svg></main>
<aside>
  <h1>ringdht</h1>
  <p><span id="count">no nodes yet</span> <span id="state">connecting…</span></p>
  <p><label><input type="checkbox" id="fingers"> finger arrows</label></p>
  <table><thead><tr><th>node</th><th>records</th><th>health</th><th>successor</th></tr></thead>
  <tbody id="list"></tbody></table>
</aside>
<script>
"use strict";
const NS = "http://www.w3.org/2000/svg";
const R = 400;
let view = { source: "node", nodes: [] };
const angle = (id) => (parseInt(id.slice(0, 12), 16) / 2 ** 48) * 2 * Math.PI;
const at = (id, r = R) => [Math.sin(angle(id)) * r, -Math.cos(angle(id)) * r];
const el = (name, attrs, parent) => {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
};
function arrow(parent, from, to, cls) {
  const [x1, y1] = at(from), [x2, y2] = at(to);
  // Curve towards the centre, more for longer chords.
  const mx = (x1 + x2) / 2 * 0.6, my = (y1 + y2) / 2 * 0.6;
  el("path", { d: "M" + x1 + " " + y1 + " Q" + mx + " " + my + " " + x2 + " " + y2,
    class: cls, "marker-end": "url(#arrow)" }, parent);
}
function draw() {
  const edges = document.getElementById("edges");
  const nodes = document.getElementById("nodes");
  const list = document.getElementById("list");
  edges.replaceChildren(); nodes.replaceChildren(); list.replaceChildren();
  const members = new Map(view.nodes.map((n) => [n.id, n]));
  const peers = new Map();
  const showFingers = document.getElementById("fingers").checked;
  const labels = view.nodes.length <= 64;
  for (const n of view.nodes) {
    const known = [...(n.predecessor ? [n.predecessor] : []), ...n.successors, ...n.fingers];
    for (const p of known) if (!members.has(p.id)) peers.set(p.id, p);
    if (n.successors.length > 0) arrow(edges, n.id, n.successors[0].id, "succ");
    if (showFingers) for (const f of n.fingers) arrow(edges, n.id, f.id, "finger");
  }
  const put = (id, cls, title, label) => {
    const g = el("g", { class: cls, "data-id": id }, nodes);
    const [x, y] = at(id);
    el("circle", { cx: x, cy: y, r: labels ? 7 : 4, class: cls.split(" ").pop() }, g);
    el("title", {}, g).textContent = title;
    if (label) {
      const [lx, ly] = at(id, R + 28);
      const t = el("text", { x: lx, y: ly, "text-anchor": "middle", "dominant-baseline": "middle" }, g);
      t.textContent = label;
    }
  };
  for (const n of view.nodes) {
    put(n.id, "node member " + n.health,
      n.id.slice(0, 8) + " " + n.addresses.p2p + "\\n" + n.records.count + " records, " + n.health +
        (n.reason ? " (" + n.reason + ")" : ""),
      labels ? n.id.slice(0, 6) + " · " + n.records.count : "");
    const tr = document.createElement("tr");
    tr.dataset.id = n.id;
    for (const v of [n.id.slice(0, 8) + " " + n.addresses.p2p, n.records.count, n.health,
      n.successors.length > 0 ? n.successors[0].id.slice(0, 8) : "(alone)"]) {
      const td = document.createElement("td"); td.textContent = String(v); tr.appendChild(td);
    }
    list.appendChild(tr);
  }
  for (const p of peers.values())
    put(p.id, "node peer", p.id.slice(0, 8) + " " + p.addr + " (known peer)", labels ? p.id.slice(0, 6) : "");
  document.getElementById("count").textContent =
    view.nodes.length + (view.nodes.length === 1 ? " node" : " nodes") +
    (peers.size > 0 ? " and " + peers.size + " known peers" : "");
}
document.getElementById("fingers").addEventListener("change", draw);
const events = new EventSource("events");
events.addEventListener("ring", (e) => {
  view = JSON.parse(e.data);
  document.getElementById("state").textContent = "live, updated " + new Date().toLocaleTimeString();
  draw();
});
events.onerror = () => { document.getElementById("state").textContent = "reconnecting…"; };
</script>
</body>
</html>
`;
