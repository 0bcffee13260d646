/* The explorer of an unrolled graph. It reads the model that viz.explore wrote into the page, builds the DOT of
   what is expanded now (a window of steps, the rest folded; each step one box per layer or its ops), lays it out
   with Graphviz (the vendored WebAssembly build), and wires clicks, search, pan and zoom. It computes no numbers of
   its own: values, statistics and gradient norms all come from the model. */
"use strict";

const SCRIPT_START = performance.now();  // ms since navigation: the page parsed, Graphviz's script run
const M = JSON.parse(document.getElementById("model").textContent);
const S = M.strings;
const N = M.kind.length;
const KIND = M.kind.map(k => S[k]);
const [T0, T1] = M.steps;
const BEFORE = -1, AFTER = -2;
const MAX_WINDOW = 40, CHUNK = 8;
const LEAVES = new Set(["param", "input", "const"]);
// the colours of every picture of a graph (viz.colours, carried by the model): category is the outline; the fill
// is the category's colour, or ‖grad‖ with the overlay on
const {highlight: HIGHLIGHT, noGradient: NO_GRAD, styles: STYLES} = M.look;
const RAMP = M.look.ramp.map(hex => [1, 3, 5].map(k => parseInt(hex.slice(k, k + 2), 16)));
const LOOK = {
  ...STYLES,
  // filled, so that a click anywhere on a constant hits it
  const: {...STYLES.const, style: "filled", fillcolor: "#ffffff", color: "#ffffff"},
  // the page's own: the folded steps, a collapsed lane, the strip's text
  fold: {shape: "box", style: "filled,dashed,rounded", fillcolor: "#f5f5f5", color: "#888888"},
  scope: {shape: "box", style: "filled,bold", fillcolor: "#fde0ef", color: "#8e24aa"},
  strip: {shape: "plaintext", style: "filled", fillcolor: "#ffffff", color: "#ffffff", fontsize: "9",
          fontcolor: "#333333"},
};

const $ = id => document.getElementById(id);
const state = {a: T0, b: T0, expanded: new Set(), collapsed: new Set(), overlay: true, highlight: "none",
               selected: null, matches: [], match: -1, view: null, pan: {x: 0, y: 0, k: 1}};
const G = buildIndex();
let graphviz = null;

// -- the model, indexed once -----------------------------------------------------------------------------------
function buildIndex() {
  const succ = Array.from({length: N}, () => []), pred = Array.from({length: N}, () => []);
  for (let e = 0; e < M.edges.length; e += 2) {
    succ[M.edges[e]].push(M.edges[e + 1]);
    pred[M.edges[e + 1]].push(M.edges[e]);
  }
  const members = M.groups.label.map(() => []);
  M.group.forEach((g, i) => { if (g >= 0) members[g].push(i); });
  // an op shows its first output's ‖grad‖ (outputs are listed in order)
  const grad = M.grad.map((g, i) => KIND[i] === "op" ? (succ[i].length ? M.grad[succ[i][0]] : null) : g);
  const logs = grad.concat(M.groups.grad).filter(g => g > 0).map(Math.log10);
  const range = logs.length ? extent(logs) : [0, 0];
  return {succ, pred, members, grad, range, shared: sharedLeaves(succ), hl: new Uint8Array(N),
          lanes: new Map(), laneNames: []};
}

/* [smallest, largest] of a list of any length (spreading 100,000 numbers into Math.min overflows the stack). */
function extent(values) {
  let low = Infinity, high = -Infinity;
  for (const v of values) { if (v < low) low = v; if (v > high) high = v; }
  return [low, high];
}

/* A leaf used by more than two groups (a weight shared by every step) is drawn once, aside, and as a stand-in
   inside each expanded step that uses it: edges fanning across a thousand steps would be unreadable. */
function sharedLeaves(succ) {
  return M.kind.map((k, i) => {
    if (!LEAVES.has(S[k]) || M.group[i] >= 0) return false;
    return new Set(succ[i].map(u => M.group[u] >= 0 ? "g" + M.group[u] : "n" + u)).size > 2;
  });
}

function scopeOf(i) { const g = M.group[i]; return S[g >= 0 ? M.groups.scope[g] : M.scope[i]]; }
function slotOf(i) { const g = M.group[i]; return g >= 0 ? M.groups.slot[g] : M.slot[i]; }
function rankOfSlot(slot) { return slot === BEFORE ? T0 - 1 : slot === AFTER ? T1 + 1 : slot; }
function laneId(scope) {
  if (!G.lanes.has(scope)) { G.lanes.set(scope, G.laneNames.length); G.laneNames.push(scope); }
  return G.lanes.get(scope);
}
function collapsedScope(scope) {
  for (const c of state.collapsed) if (scope === c || scope.startsWith(c + "/")) return c;
  return null;
}

// -- what is drawn: each node's stand-in for the current state ---------------------------------------------------
function displayOf(i) {
  if (G.shared[i]) return "N" + i;
  const scope = scopeOf(i);
  const collapsed = LEAVES.has(KIND[i]) ? null : collapsedScope(scope);
  if (collapsed !== null) return "S" + laneId(collapsed);
  const slot = slotOf(i);
  if (slot >= 0 && (slot < state.a || slot > state.b)) return "F" + laneId(scope) + (slot < state.a ? "b" : "a");
  const g = M.group[i];
  return g >= 0 && !state.expanded.has(g) ? "G" + g : "N" + i;
}

function newItem(key, i) {
  const type = key[0];
  const scope = scopeOf(i);
  let rank = rankOfSlot(slotOf(i));
  if (type === "F") rank = key.endsWith("b") ? state.a - 0.5 : state.b + 0.5;
  if (type === "S" || G.shared[i]) rank = null;
  const lane = G.shared[i] ? null : type === "S" ? G.laneNames[+key.slice(1)].split("/").slice(0, -1).join("/")
    : scope;
  const cluster = type === "N" && M.group[i] >= 0 ? M.group[i] : null;
  return {key, first: i, type, lane, rank, cluster, hl: false, count: 0};
}

function layout() {
  const disp = new Array(N), items = new Map();
  for (let i = 0; i < N; i++) {
    const key = displayOf(i);
    disp[i] = key;
    let item = items.get(key);
    if (!item) { item = newItem(key, i); items.set(key, item); }
    item.count += 1;
    if (G.hl[i]) item.hl = true;
  }
  const edges = collectEdges(disp, items);
  addStrip(items);
  return {disp, items, edges};
}

function collectEdges(disp, items) {
  const edges = new Map();
  for (let e = 0; e < M.edges.length; e += 2) {
    const u = M.edges[e], v = M.edges[e + 1];
    let from = disp[u];
    const to = disp[v];
    if (G.shared[u]) {
      if (to[0] !== "N" || M.group[v] < 0) continue;  // a shared weight meets boxes and folds through no edge
      from = standIn(items, u, v);
    }
    if (from === to) continue;
    const key = from + " " + to;
    let edge = edges.get(key);
    if (!edge) { edge = {from, to, hl: false, grad: null}; edges.set(key, edge); }
    if (G.hl[u] && G.hl[v]) edge.hl = true;
    const g = G.grad[KIND[u] === "op" ? v : u];
    if (g !== null && (edge.grad === null || g > edge.grad)) edge.grad = g;
  }
  return edges;
}

function standIn(items, u, v) {
  const g = M.group[v], key = "P" + u + "_" + g;
  if (!items.has(key)) {
    items.set(key, {key, first: u, type: "P", lane: S[M.groups.scope[g]], rank: rankOfSlot(M.groups.slot[g]),
                    cluster: g, hl: !!G.hl[u], count: 1});
  }
  return key;
}

/* ‖∂L/∂h_t‖ and ‖∂L/∂c_t‖ as numbers, one small node per lane per shown step, ranked with that step. */
function addStrip(items) {
  const byLane = new Map();
  for (const series of M.strip) {
    if (collapsedScope(series.scope) !== null) continue;
    if (!byLane.has(series.scope)) byLane.set(series.scope, []);
    byLane.get(series.scope).push(series);
  }
  for (const [scope, list] of byLane) {
    for (let t = state.a; t <= state.b; t++) {
      const lines = list.filter(s => String(t) in s.norms).map(s => `‖∂L/∂${s.name}‖ ${fmt(s.norms[t])}`);
      if (!lines.length) continue;
      const key = "R" + laneId(scope) + "_" + t;
      items.set(key, {key, first: -1, type: "R", lane: scope, rank: t, cluster: null, hl: false, count: 0,
                      text: lines.join("\n")});
    }
  }
}

// -- the DOT source --------------------------------------------------------------------------------------------
function q(text) { return String(text).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n"); }
function attrs(obj) { return Object.entries(obj).map(([k, v]) => `${k}="${q(v)}"`).join(", "); }

function toDot(view) {
  const lines = ["digraph explorer {", "  rankdir=LR; newrank=true; ranksep=0.3; nodesep=0.15;",
                 '  node [fontname="Helvetica", fontsize=10]; edge [color="#666666", arrowsize=0.6];'];
  emitTree(clusterTree(view.items), "  ", lines);
  for (const edge of view.edges.values()) lines.push(edgeLine(edge, view.items));
  lines.push(...anchors(view));
  lines.push("}");
  return lines.join("\n");
}

function clusterTree(items) {
  const root = {children: new Map(), nodes: []};
  const child = (at, name, info) => {
    if (!at.children.has(name)) at.children.set(name, {children: new Map(), nodes: [], ...info});
    return at.children.get(name);
  };
  for (const item of items.values()) {
    let at = root, path = "";
    if (item.lane === null) at = child(at, "\u0001", {id: "Lshared", label: "shared (every step)"});
    for (const part of item.lane ? item.lane.split("/") : []) {
      path = path ? path + "/" + part : part;
      at = child(at, part, {id: "L" + laneId(path), label: part + "  ⊟"});
    }
    if (item.cluster !== null) {
      const g = item.cluster;
      at = child(at, "\u0002" + g, {id: "C" + g, label: S[M.groups.label[g]] + "  ⊟", step: true});
    }
    at.nodes.push(item);
  }
  return root;
}

function emitTree(tree, indent, lines) {
  for (const item of tree.nodes) lines.push(`${indent}${item.key} [${attrs(nodeLook(item))}];`);
  for (const sub of tree.children.values()) {
    const style = sub.step ? 'style="rounded"; color="#888888"; fontsize=11' : 'style="dashed"; color="#bbbbbb"; ' +
      "fontsize=10";
    lines.push(`${indent}subgraph cluster_${sub.id} { id="${sub.id}"; label="${q(sub.label)}"; ${style}; ` +
               'labeljust=l; fontname="Helvetica";');
    emitTree(sub, indent + "  ", lines);
    lines.push(`${indent}}`);
  }
}

function nodeLook(item) {
  const {look, label, grad} = describe(item);
  const out = {id: item.key, label, ...look, tooltip: tooltipOf(item)};
  if (state.overlay && item.type !== "R" && item.type !== "F" && KIND[item.first] !== "const") {
    out.fillcolor = grad > 0 ? ramp(position(grad)) : NO_GRAD;
    if (grad > 0 && (position(grad) < 0.15 || position(grad) > 0.85)) out.fontcolor = "#ffffff";
  }
  if (item.hl) Object.assign(out, {color: HIGHLIGHT, penwidth: "3"});
  return out;
}

function describe(item) {
  const i = item.first;
  switch (item.type) {
    case "G": {
      const g = +item.key.slice(1), ops = G.members[g].filter(k => KIND[k] === "op").length;
      return {look: LOOK.group, label: `${S[M.groups.label[g]]}\n${ops} ops`, grad: M.groups.grad[g]};
    }
    case "F": {
      const before = item.key.endsWith("b"), k = before ? state.a - T0 : T1 - state.b;
      const span = before ? `t=${T0}–${state.a - 1}` : `t=${state.b + 1}–${T1}`;
      return {look: LOOK.fold, label: `… ${k} step${k === 1 ? "" : "s"} …\n${span}`, grad: null};
    }
    case "S":
      return {look: LOOK.scope, label: `${G.laneNames[+item.key.slice(1)]}\n${item.count} nodes (collapsed)`,
              grad: null};
    case "R": return {look: LOOK.strip, label: item.text, grad: null};
    case "P": return {look: {...LOOK.param, fontsize: "8"}, label: `${S[M.name[i]]} (shared)`, grad: G.grad[i]};
    default: return {look: LOOK[KIND[i]], label: nodeLabel(i), grad: G.grad[i]};
  }
}

function nodeLabel(i) {
  const kind = KIND[i], name = S[M.name[i]], shape = S[M.shape[i]];
  if (kind === "op" || kind === "const") return S[M.label[i]];
  return (name || (kind === "tensor" ? "" : kind)) + (name || kind !== "tensor" ? "\n" : "") + shape;
}

function tooltipOf(item) {
  if (item.type === "R" || item.type === "F" || item.type === "S") return describe(item).label.replace("\n", " · ");
  const i = item.first, g = describe(item).grad;
  const parts = [item.type === "G" ? "cell group" : KIND[i], item.type === "G" ? S[M.groups.label[M.group[i]]]
    : nodeLabel(i).replace("\n", " "), scopeOf(i) && "scope " + scopeOf(i), M.step[i] !== null && "step " + M.step[i],
    g !== null && g !== undefined && "‖grad‖ " + fmt(g)];
  return parts.filter(Boolean).join(" · ");
}

function edgeLine(edge, items) {
  const from = items.get(edge.from).rank, to = items.get(edge.to).rank;
  const out = {};
  if (from !== null && to !== null && from > to) Object.assign(out, {constraint: "false", color: "#b0b0b0"});
  if (edge.hl) Object.assign(out, {penwidth: "3.5", color: HIGHLIGHT});
  else if (state.overlay && edge.grad > 0) {
    const u = position(edge.grad);
    Object.assign(out, {penwidth: (0.5 + 3.5 * u).toFixed(2), color: darker(ramp(u))});
  }
  const list = attrs(out);
  return `  ${edge.from} -> ${edge.to}${list ? " [" + list + "]" : ""};`;
}

/* Invisible anchors between consecutive ranks hold every node of step t left of every node of step t + 1:
   Graphviz's ranks are hard constraints, so time runs left to right in order whatever the graph. */
function anchors(view) {
  const ranks = [...new Set([...view.items.values()].map(it => it.rank).filter(r => r !== null))]
    .sort((x, y) => x - y);
  const index = new Map(ranks.map((r, k) => [r, k]));
  const out = new Set(), into = new Set();
  for (const edge of view.edges.values()) {
    if (view.items.get(edge.from).rank === view.items.get(edge.to).rank) { out.add(edge.from); into.add(edge.to); }
  }
  const lines = ranks.slice(0, -1).map((_, k) => `  anchor_${k} [shape=point, style=invis, width=0];`);
  for (const item of view.items.values()) {
    if (item.rank === null) continue;
    const k = index.get(item.rank);
    if (k < ranks.length - 1 && !out.has(item.key)) lines.push(`  ${item.key} -> anchor_${k} [style=invis];`);
    if (k > 0 && !into.has(item.key)) lines.push(`  anchor_${k - 1} -> ${item.key} [style=invis];`);
  }
  return lines;
}

// -- colours and numbers ---------------------------------------------------------------------------------------
function position(grad) {
  const [low, high] = G.range;
  return high === low ? 0.5 : (Math.log10(grad) - low) / (high - low);
}
function ramp(u) {
  u = Math.min(Math.max(u, 0), 1) * (RAMP.length - 1);
  const k = Math.min(Math.floor(u), RAMP.length - 2), f = u - k;
  return "#" + RAMP[k].map((a, c) => Math.round(a + (RAMP[k + 1][c] - a) * f).toString(16).padStart(2, "0")).join("");
}
function darker(colour) {
  return "#" + [1, 3, 5].map(k => parseInt(colour.slice(k, k + 2), 16))
    .map(c => Math.round(c + (0x40 - c) * 0.3).toString(16).padStart(2, "0")).join("");
}
function fmt(x) {
  if (x === null || x === undefined) return "—";
  if (x === 0) return "0";
  return Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4 ? x.toPrecision(3) : x.toExponential(2);
}
function esc(text) {
  return String(text).replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
}

// -- drawing -----------------------------------------------------------------------------------------------------
/* Draw the current state; the body's data-* marks say how many drawings, how many nodes, and how long each part
   took (build: the DOT from the model; layout: Graphviz; show: the page's own work), for tests and benchmarks. */
function render(options = {}) {
  const start = performance.now();
  const view = layout(), dot = toDot(view), built = performance.now();
  let svg;
  try {
    svg = graphviz.renderSVGElement(dot);
  } catch (error) {
    $("status").textContent = "Graphviz could not lay this out: " + error.message;
    return;
  }
  const laidOut = performance.now();
  $("canvas").replaceChildren(svg);
  state.view = view;
  markClasses();
  drawOverview();
  if (options.fit || !options.focus || !focus(options.focus)) fit();
  const end = performance.now(), ms = end - start;
  Object.assign(document.body.dataset, {renders: Number(document.body.dataset.renders || 0) + 1,
                                        drawn: view.items.size, renderMs: ms.toFixed(1), from: state.a, to: state.b,
                                        phases: [built - start, laidOut - built, end - laidOut].map(Math.round)});
  $("status").textContent = `${view.items.size} nodes drawn (graph: ${N}) · ${ms.toFixed(0)} ms`;
  $("from").value = state.a;
  $("to").value = state.b;
}

function markClasses() {
  const view = state.view;
  if (!view) return;
  const found = new Set(state.matches.map(i => view.disp[i]));
  for (const node of $("canvas").querySelectorAll("g.node")) {
    node.classList.toggle("match", found.has(node.id));
    node.classList.toggle("selected", node.id === state.selected);
  }
}

// -- pan and zoom ------------------------------------------------------------------------------------------------
function applyPan() {
  const {x, y, k} = state.pan;
  $("canvas").style.transform = `translate(${x}px, ${y}px) scale(${k})`;
  document.body.dataset.zoom = k.toFixed(3);
}

function fit() {
  const svg = $("canvas").firstElementChild, view = $("view");
  if (!svg) return;
  const w = svg.width.baseVal.value, h = svg.height.baseVal.value;
  const k = Math.min(view.clientWidth / w, view.clientHeight / h, 1.5) * 0.97;
  state.pan = {k, x: (view.clientWidth - w * k) / 2, y: (view.clientHeight - h * k) / 2};
  applyPan();
}

/* Centre the element with id ``key`` at a readable zoom; false when it is not drawn. */
function focus(key) {
  const element = document.getElementById(key), view = $("view");
  if (!element || !$("canvas").contains(element)) return false;
  let box = element.getBoundingClientRect();
  const frame = view.getBoundingClientRect();
  // readable, yet the whole element in view: an expanded step is seen with its label
  const fits = state.pan.k * Math.min(frame.width / box.width, frame.height / box.height) * 0.9;
  state.pan.k = Math.min(Math.max(state.pan.k, 0.8), fits);
  applyPan();
  box = element.getBoundingClientRect();
  state.pan.x += frame.left + frame.width / 2 - (box.left + box.width / 2);
  state.pan.y += frame.top + frame.height / 2 - (box.top + box.height / 2);
  applyPan();
  return true;
}

function zoomAt(event) {
  event.preventDefault();
  const frame = $("view").getBoundingClientRect(), px = event.clientX - frame.left, py = event.clientY - frame.top;
  const {x, y, k} = state.pan, next = Math.min(Math.max(k * Math.exp(-event.deltaY * 0.0015), 0.02), 8);
  state.pan = {k: next, x: px - (px - x) * next / k, y: py - (py - y) * next / k};
  applyPan();
}

function wireDrag() {
  const view = $("view");
  let drag = null;
  view.addEventListener("pointerdown", e => { drag = {x: e.clientX, y: e.clientY, moved: false}; });
  view.addEventListener("pointermove", e => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (!drag.moved && Math.hypot(dx, dy) < 4) return;
    drag.moved = true;
    view.classList.add("dragging");
    state.pan.x += dx;
    state.pan.y += dy;
    Object.assign(drag, {x: e.clientX, y: e.clientY});
    applyPan();
  });
  view.addEventListener("pointerup", () => { view.classList.remove("dragging"); setTimeout(() => { drag = null; }); });
  view.addEventListener("click", e => { if (!(drag && drag.moved)) onClick(e); }, true);
  view.addEventListener("wheel", zoomAt, {passive: false});
}

// -- clicks: expand, collapse, unfold, select ------------------------------------------------------------------
function onClick(event) {
  const node = event.target.closest("g.node"), cluster = event.target.closest("g.cluster");
  if (node) clickNode(node.id);
  else if (cluster) clickCluster(cluster.id);
}

function clickNode(key) {
  const type = key[0], rest = key.slice(1);
  if (type === "G") {
    state.expanded.add(+rest);
    state.selected = null;
    render({focus: "C" + rest});
  } else if (type === "F") {
    unfold(rest.endsWith("b"));
  } else if (type === "S") {
    state.collapsed.delete(G.laneNames[+rest]);
    render({focus: "L" + rest});
  } else {
    select(key);
  }
}

function clickCluster(id) {
  if (id[0] === "C") {
    state.expanded.delete(+id.slice(1));
    render({focus: "G" + id.slice(1)});
  } else if (id[0] === "L" && id !== "Lshared") {
    state.collapsed.add(G.laneNames[+id.slice(1)]);
    render({focus: "S" + id.slice(1)});
  }
}

// -- the time window -------------------------------------------------------------------------------------------
function setWindow(a, b, options = {}) {
  a = Math.max(T0, Math.min(a, T1));
  b = Math.max(a, Math.min(b, T1, a + MAX_WINDOW - 1));
  state.a = a;
  state.b = b;
  render(options);
}
function unfold(before) {
  if (before) setWindow(state.a - CHUNK, Math.min(state.b, state.a - CHUNK + MAX_WINDOW - 1), {fit: true});
  else setWindow(Math.max(state.a, state.b + CHUNK - MAX_WINDOW + 1), state.b + CHUNK, {fit: true});
}
function shiftWindow(direction) {
  const width = state.b - state.a + 1;
  setWindow(state.a + direction * width, state.b + direction * width, {fit: true});
}
function showStep(t) {
  if (t >= state.a && t <= state.b) return false;
  const width = state.b - state.a + 1, a = Math.max(T0, t - Math.floor(width / 2));
  state.a = a;
  state.b = Math.min(T1, a + width - 1);
  return true;
}
function initialWindow() {
  if (M.window) return M.window;
  const fits = Math.max(2, Math.min(12, Math.floor($("view").clientWidth / 170)));
  return [T0, Math.min(T1, T0 + fits - 1)];
}

// -- details -----------------------------------------------------------------------------------------------------
function row(field, name, value, raw) {
  const data = raw === undefined ? "" : ` data-value="${esc(raw === null ? "" : raw)}"`;
  return `<tr data-field="${field}"${data}><td>${esc(name)}</td><td>${esc(value)}</td></tr>`;
}

function select(key) {
  state.selected = key;
  markClasses();
  const item = state.view && state.view.items.get(key);
  $("details").innerHTML = item ? detailsOf(item) : "";
  $("details").dataset.key = key;
}

function detailsOf(item) {
  const i = item.first;
  if (item.type === "G") return groupDetails(+item.key.slice(1));
  if (item.type === "R") return `<h3>gradient at step ${esc(item.key.split("_")[1])}</h3><pre>${esc(item.text)}</pre>`;
  if (item.type === "N" || item.type === "P") return nodeDetails(i);
  return `<h3>${esc(describe(item).label.replace("\n", " · "))}</h3>`;
}

function nodeDetails(i) {
  const kind = KIND[i], values = kind === "op" ? G.succ[i].map(k => M.stats[k]).find(Boolean) : M.stats[i];
  const rows = [row("kind", "kind", kind === "op" ? "op" : "tensor (" + kind + ")"),
                row("label", "label", S[M.label[i]] || "—"), row("name", "name", S[M.name[i]] || "—"),
                row("scope", "scope", scopeOf(i) || "(top level)"),
                row("step", "step", M.step[i] === null ? "— (outside time)" : M.step[i], M.step[i]),
                row("shape", "shape", S[M.shape[i]]), row("dtype", "dtype", S[M.dtype[i]] || "—"),
                row("grad", kind === "op" ? "‖grad‖ of its output" : "‖grad‖", fmt(G.grad[i]), G.grad[i])];
  if (values) {
    ["min", "max", "mean", "std", "‖value‖"].forEach((name, k) => rows.push(row("stat-" + k, name,
      fmt(values[k]), values[k])));
  }
  const inputs = G.pred[i].map(k => nodeLabel(k).replace("\n", " ")).join(", ");
  if (inputs) rows.push(row("inputs", "inputs", inputs));
  const title = `${kind === "op" ? "op" : kind} ${S[M.label[i]] || S[M.name[i]] || ""}`;
  const buttons = `<button data-action="to-loss" data-node="${i}">paths to the loss</button>` +
    (M.group[i] >= 0 && state.expanded.has(M.group[i]) ? `<button data-action="collapse" data-group="${M.group[i]}">` +
      "collapse this step</button>" : "");
  return `<h3>${esc(title)}</h3><table>${rows.join("")}</table>${buttons}${sharesOf(i)}`;
}

/* A shared weight's gradient, step by step: what each step contributed (recorded during backward). */
function sharesOf(i) {
  const shares = M.shares[String(i)];
  if (!shares) return "";
  const steps = Object.keys(shares).filter(t => t !== "outside").map(Number).sort((x, y) => x - y);
  const shown = steps.filter(t => t >= state.a && t <= state.b);
  const rows = shown.map(t => row("share-" + t, "t = " + t, fmt(shares[t]), shares[t]));
  if ("outside" in shares) rows.push(row("share-outside", "outside the steps", fmt(shares.outside), shares.outside));
  const values = steps.map(t => shares[t]);
  const [low, high] = extent(values);
  const span = values.length ? `from ${fmt(low)} to ${fmt(high)}` : "";
  return `<h3>its gradient, step by step</h3><p class="hint">‖each step's share‖ over ${steps.length} steps ` +
    `${span}; listed: the steps in the window</p><table class="shares">${rows.join("")}</table>`;
}

function groupDetails(g) {
  const members = G.members[g], ops = members.filter(k => KIND[k] === "op");
  const named = members.filter(k => KIND[k] === "tensor" && S[M.name[k]]);
  const rows = [row("kind", "kind", "cell group (one cell call at one step)"),
                row("scope", "scope", S[M.groups.scope[g]] || "(top level)"),
                row("step", "step", M.groups.step[g] === null ? "— (all steps)" : M.groups.step[g], M.groups.step[g]),
                row("ops", "ops", `${ops.length}: ${[...new Set(ops.map(k => S[M.label[k]]))].join(", ")}`),
                row("grad", "‖grad‖ handed on (largest)", fmt(M.groups.grad[g]), M.groups.grad[g])];
  named.forEach(k => rows.push(row("grad-" + S[M.name[k]], `‖grad‖ of ${S[M.name[k]]}`, fmt(M.grad[k]), M.grad[k])));
  const button = state.view.items.has("G" + g) ? `<button data-action="expand" data-group="${g}">expand into its ops</button>`
    : "";
  return `<h3>${esc(S[M.groups.label[g]])}</h3><table>${rows.join("")}</table>${button}`;
}

function onDetailsClick(event) {
  const action = event.target.dataset.action;
  if (!action) return;
  if (action === "to-loss") {
    highlightFrom([+event.target.dataset.node]);
  } else if (action === "collapse") {
    state.expanded.delete(+event.target.dataset.group);
    render({focus: "G" + event.target.dataset.group});
  } else if (action === "expand") {
    state.expanded.add(+event.target.dataset.group);
    render({focus: "C" + event.target.dataset.group});
  }
}

// -- highlighting paths ------------------------------------------------------------------------------------------
function reach(starts, next) {
  const seen = new Uint8Array(N), stack = [...starts];
  starts.forEach(i => { seen[i] = 1; });
  while (stack.length) {
    for (const k of next[stack.pop()]) if (!seen[k]) { seen[k] = 1; stack.push(k); }
  }
  return seen;
}

/* Every node on some path from ``sources`` to the loss (the graph's sinks): reachable forward from a source and
   backward from a sink it reaches. */
function highlightFrom(sources) {
  const forward = reach(sources, G.succ);
  const sinks = [];
  for (let i = 0; i < N; i++) if (forward[i] && G.succ[i].length === 0 && !LEAVES.has(KIND[i])) sinks.push(i);
  const backward = reach(sinks, G.pred);
  G.hl = forward.map((f, i) => f && backward[i]);
  state.highlight = "to-loss";
  $("highlight").value = "to-loss";
  render({focus: state.selected || undefined});
}

function setHighlight(name) {
  state.highlight = name;
  G.hl = new Uint8Array(N);
  if (name === "to-loss") {
    const item = state.selected && state.view.items.get(state.selected);
    const sources = item ? (item.type === "G" ? G.members[+item.key.slice(1)] : [item.first]) : [];
    if (sources.length) return highlightFrom(sources);
  }
  (M.paths[name] || []).forEach(i => { G.hl[i] = 1; });
  render({focus: state.selected || undefined});
}

// -- search ------------------------------------------------------------------------------------------------------
/* Terms, all of which must match: ``t=17`` or ``t=3..9`` (step), ``kind=op`` (kind), a term with ``/`` (a run of
   scope segments: ``LSTM/l1``), anything else a name, a label or one scope segment (``f``, ``sigmoid``, ``l1``). */
function matcher(term) {
  const step = term.match(/^(?:t|step)=(\d+)(?:\.\.(\d+))?$/);
  if (step) {
    const lo = +step[1], hi = step[2] === undefined ? lo : +step[2];
    return i => M.step[i] !== null && M.step[i] >= lo && M.step[i] <= hi;
  }
  const kind = term.match(/^kind=(\w+)$/);
  if (kind) return i => KIND[i] === kind[1] || (kind[1] === "tensor" && KIND[i] !== "op");
  const path = "/" + term.replace(/^\/+|\/+$/g, "") + "/";
  if (term.includes("/")) return i => ("/" + scopeOf(i) + "/").includes(path);
  return i => S[M.name[i]] === term || S[M.label[i]] === term || ("/" + scopeOf(i) + "/").includes(path);
}

function search(text) {
  const tests = text.trim().split(/\s+/).filter(Boolean).map(matcher);
  state.matches = [];
  if (tests.length) for (let i = 0; i < N; i++) if (tests.every(test => test(i))) state.matches.push(i);
  state.match = -1;
  $("matches").textContent = tests.length ? `${state.matches.length} match${state.matches.length === 1 ? "" : "es"}`
    : "";
  markClasses();
}

/* Open the window and the step around the next match, draw it, centre it and show its details. */
function nextMatch() {
  if (!state.matches.length) return;
  state.match = (state.match + 1) % state.matches.length;
  const i = state.matches[state.match], slot = slotOf(i);
  if (slot >= 0) showStep(slot);
  for (const c of [...state.collapsed]) if (collapsedScope(scopeOf(i)) === c) state.collapsed.delete(c);
  if (M.group[i] >= 0) state.expanded.add(M.group[i]);
  state.selected = "N" + i;
  render({focus: "N" + i});
  select("N" + i);
  $("matches").textContent = `${state.match + 1} of ${state.matches.length}`;
}

// -- the overview strip: every step, the window on it, ‖∂L/∂h_t‖ as curves ---------------------------------------
const SERIES_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

function drawOverview() {
  const svg = $("overview"), width = T1 - T0 + 1;
  svg.setAttribute("viewBox", `0 0 ${width} 1`);
  const logs = M.strip.flatMap(s => Object.values(s.norms)).filter(v => v > 0).map(Math.log10);
  const [low, high] = extent(logs);
  const y = v => v > 0 && high > low ? 0.95 - 0.9 * (Math.log10(v) - low) / (high - low) : 0.5;
  const lines = M.strip.map((s, k) => {
    const points = Object.entries(s.norms).filter(([, v]) => v > 0).map(([t, v]) => `${t - T0 + 0.5},${y(v)}`);
    return `<polyline points="${points.join(" ")}" fill="none" stroke="${SERIES_COLOURS[k % 6]}" ` +
      'stroke-width="1.5" vector-effect="non-scaling-stroke"/>';
  });
  svg.innerHTML = `<rect x="0" y="0" width="${width}" height="1" fill="#f7f7f7"/>${lines.join("")}` +
    `<rect class="window" x="${state.a - T0}" y="0" width="${state.b - state.a + 1}" height="1" ` +
    'vector-effect="non-scaling-stroke"/>';
}

function stepAt(event) {
  const frame = $("overview").getBoundingClientRect();
  return Math.min(T1, T0 + Math.floor((event.clientX - frame.left) / frame.width * (T1 - T0 + 1)));
}

function readout(t) {
  const parts = M.strip.map((s, k) => `<span style="color:${SERIES_COLOURS[k % 6]}">‖∂L/∂${esc(s.name)}‖ ` +
    `${esc(s.scope)} ${fmt(s.norms[t])}</span>`);
  $("readout").innerHTML = `step ${t}: ${parts.join(" · ") || "no state gradients recorded"} — click to show it`;
}

function legend() {
  const [low, high] = G.range, stops = [0, 0.25, 0.5, 0.75, 1];
  const scale = G.range[1] > 0 || G.range[0] < 0 ? stops.map(u => `<span class="swatch" style="background:${ramp(u)}">` +
    `</span>${fmt(10 ** (low + u * (high - low)))}`).join("") : "";
  const kinds = [["param", "parameter"], ["input", "input"], ["op", "op"], ["tensor", "tensor"]]
    .map(([k, name]) => `<span class="swatch" style="background:#fff;border:2px solid ${LOOK[k].color}"></span>${name}`);
  $("legend").innerHTML = `outline: ${kinds.join("")} · fill ‖grad‖ (log): ${scale}<span class="swatch" ` +
    `style="background:${NO_GRAD}"></span>no gradient · <span class="swatch" style="border-color:${HIGHLIGHT};` +
    `border-width:2px"></span>highlighted path`;
}

// -- start -------------------------------------------------------------------------------------------------------
function wireControls() {
  $("title").textContent = M.title;
  if (!M.strip.length) $("overview").style.display = "none";  // no state gradients: nothing for the strip to show
  for (const name of Object.keys(M.paths)) $("highlight").add(new Option("highlight: " + name, name));
  $("highlight").add(new Option("highlight: paths from the selected node to the loss", "to-loss"));
  $("highlight").addEventListener("change", e => setHighlight(e.target.value));
  $("overlay").addEventListener("change", e => { state.overlay = e.target.checked; render({focus: state.selected}); });
  $("fit").addEventListener("click", fit);
  $("earlier").addEventListener("click", () => shiftWindow(-1));
  $("later").addEventListener("click", () => shiftWindow(1));
  const typed = () => setWindow(Number($("from").value), Number($("to").value), {fit: true});
  $("from").addEventListener("change", typed);
  $("to").addEventListener("change", typed);
  $("search").addEventListener("input", e => search(e.target.value));
  $("search").addEventListener("keydown", e => { if (e.key === "Enter") nextMatch(); });
  $("details").addEventListener("click", onDetailsClick);
  $("overview").addEventListener("mousemove", e => readout(stepAt(e)));
  $("overview").addEventListener("click", e => { if (showStep(stepAt(e))) render({fit: true}); });
  wireDrag();
}

async function start() {
  wireControls();
  legend();
  const indexed = performance.now();
  graphviz = await Viz.instance();
  const compiled = performance.now();
  [state.a, state.b] = initialWindow();
  render({fit: true});
  // where the time to open went: page parsed, model read and indexed, Graphviz compiled, first drawing (ms)
  document.body.dataset.opening = [SCRIPT_START, indexed - SCRIPT_START, compiled - indexed,
                                   performance.now() - compiled].map(Math.round);
  document.body.dataset.ready = "1";
  // a page holding this one in a frame (the report) counts the explorers that started
  if (window.parent !== window) window.parent.postMessage({explorer: "ready"}, "*");
}

window.explorer = {state, render, search, nextMatch, setWindow, select, setHighlight, model: M};
start().catch(error => { $("status").textContent = "the explorer failed to start: " + error.message; });
