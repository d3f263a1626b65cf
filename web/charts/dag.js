// A job's DAG drawn by depth: one column per depth, nodes ordered in each
// column to keep edges short (two barycenter sweeps), edges as arrows. Pan by
// dragging or with the arrow keys, zoom with the wheel, +/- or the buttons; far
// out, labels are hidden so that 2,000 steps stay fluid. Every node carries
// data-step and data-status, every edge data-from and data-to. The nodes are
// one stop for Tab (a roving tabindex): on a node, the arrow keys move to the
// one above or below it, or to its first upstream or downstream step.
import { attr, h, svg } from "../dom.js";
import { glyph, label } from "../format.js";

const NODE_W = 168;
const NODE_H = 28;
const COL_GAP = 72;
const ROW_GAP = 12;
const LABEL_CHARS = 21;

function layout(steps) {
  const columns = [];
  for (const s of steps) (columns[s.depth] ||= []).push(s.step);
  const row = new Map();
  const place = () => columns.forEach((col) => col.forEach((name, i) => row.set(name, i)));
  place();
  const byName = new Map(steps.map((s) => [s.step, s]));
  const mean = (names) => names.length ? names.reduce((a, n) => a + row.get(n), 0) / names.length : null;
  const sweep = (cols, neighbours) => {
    for (const col of cols) {
      const keys = new Map(col.map((n, i) => [n, mean(neighbours(byName.get(n))) ?? i]));
      col.sort((a, b) => keys.get(a) - keys.get(b));
      col.forEach((name, i) => row.set(name, i));
    }
  };
  sweep(columns.slice(1), (s) => s.depends_on);
  sweep(columns.slice(0, -1).reverse(), (s) => s.downstream);
  const height = Math.max(...columns.map((c) => c.length));
  const pos = new Map();
  columns.forEach((col, depth) => {
    // Short columns are centred against the tallest.
    const offset = (height - col.length) / 2;
    col.forEach((name, i) => pos.set(name, {
      x: depth * (NODE_W + COL_GAP), y: (i + offset) * (NODE_H + ROW_GAP),
    }));
  });
  return { pos, columns, row, width: columns.length * (NODE_W + COL_GAP) - COL_GAP, height: height * (NODE_H + ROW_GAP) - ROW_GAP };
}

function short(name) {
  return name.length > LABEL_CHARS ? `${name.slice(0, LABEL_CHARS - 1)}…` : name;
}

export function dagChart(steps, { onSelect } = {}) {
  const { pos, columns, row, width, height } = layout(steps);
  const byName = new Map(steps.map((s) => [s.step, s]));
  const nodes = new Map();
  const edgesOf = new Map(steps.map((s) => [s.step, []]));
  const edgeLayer = svg("g", { class: "edges" });
  const nodeLayer = svg("g", { class: "nodes" });
  for (const s of steps) {
    const to = pos.get(s.step);
    for (const up of s.depends_on) {
      const from = pos.get(up);
      const x1 = from.x + NODE_W, y1 = from.y + NODE_H / 2, x2 = to.x - 3, y2 = to.y + NODE_H / 2;
      const bend = Math.max(24, (x2 - x1) / 2);
      const edge = svg("path", {
        class: "edge", "data-from": up, "data-to": s.step, "marker-end": "url(#arrow)",
        d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`,
      });
      edgeLayer.append(edge);
      edgesOf.get(up).push(edge);
      edgesOf.get(s.step).push(edge);
    }
    const p = pos.get(s.step);
    const node = svg("g", {
      class: "node st-pending", "data-step": s.step, "data-status": "pending", tabindex: nodes.size ? -1 : 0, role: "link",
      transform: `translate(${p.x},${p.y})`, "aria-label": `${s.step}: pending`,
    },
    svg("rect", { width: NODE_W, height: NODE_H, rx: 5, class: "st-pending" }),
    svg("text", { x: 8, y: 18, class: "glyph" }, glyph("pending")),
    svg("text", { x: 24, y: 18 }, short(s.step)),
    svg("title", {}, `${s.step}${s.description ? ` — ${s.description}` : ""}\npending`));
    nodes.set(s.step, node);
    nodeLayer.append(node);
  }

  // One listener each for all nodes (thousands of them): the node is found
  // from the event's target.
  const stepOf = (e) => e.target.closest && e.target.closest(".node")?.dataset.step;
  const hot = (step, on) => step && edgesOf.get(step).forEach((e) => e.classList.toggle("hot", on));
  nodeLayer.addEventListener("mouseover", (e) => hot(stepOf(e), true));
  nodeLayer.addEventListener("mouseout", (e) => hot(stepOf(e), false));
  nodeLayer.addEventListener("focusin", (e) => hot(stepOf(e), true));
  nodeLayer.addEventListener("focusout", (e) => hot(stepOf(e), false));
  nodeLayer.addEventListener("click", (e) => {
    const step = stepOf(e);
    if (step && onSelect) onSelect(step);
  });
  const MOVES = new Set(["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight"]);
  nodeLayer.addEventListener("keydown", (e) => {
    const step = stepOf(e);
    if (!step) return;
    if (e.key === "Enter" && onSelect) onSelect(step);
    if (!MOVES.has(e.key)) return;
    e.preventDefault();
    const s = byName.get(step);
    const column = columns[s.depth];
    const next = {
      ArrowUp: column[row.get(step) - 1], ArrowDown: column[row.get(step) + 1],
      ArrowLeft: s.depends_on[0], ArrowRight: s.downstream[0],
    }[e.key];
    if (!next) return;
    nodes.get(step).setAttribute("tabindex", -1);
    nodes.get(next).setAttribute("tabindex", 0);
    graph.reveal(next);
  });

  const defs = svg("defs", {}, svg("marker", {
    id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse",
  }, svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" })));
  const pad = 20;
  const full = { x: -pad, y: -pad, w: width + 2 * pad, h: height + 2 * pad };
  let view = { ...full };
  const chart = svg("svg", {
    class: "dag", role: "group", tabindex: 0, "aria-label": `graph of ${steps.length} steps; arrows and +/- to pan and zoom, 0 to fit; Tab to the nodes, arrows between them`,
    "data-steps": steps.length,
  }, defs, edgeLayer, nodeLayer);

  function apply() {
    chart.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`);
    // Far out, labels and arrowheads are unreadable anyway: hide them (and
    // spare the renderer). Before the first layout, the window's width guesses.
    const width = chart.clientWidth || window.innerWidth - 40;
    chart.classList.toggle("far", Math.min(width / view.w, (chart.clientHeight || width) / view.h) < 0.45);
  }
  function zoom(factor, cx = view.x + view.w / 2, cy = view.y + view.h / 2) {
    const w = Math.min(Math.max(view.w * factor, 200), full.w * 4);
    const k = w / view.w;
    view = { x: cx - (cx - view.x) * k, y: cy - (cy - view.y) * k, w, h: view.h * k };
    apply();
  }
  function fit() {
    view = { ...full };
    apply();
  }
  function toSvg(event) {
    const point = new DOMPoint(event.clientX, event.clientY);
    return point.matrixTransform(chart.getScreenCTM().inverse());
  }
  chart.addEventListener("wheel", (e) => {
    e.preventDefault();
    const p = toSvg(e);
    zoom(e.deltaY > 0 ? 1.2 : 1 / 1.2, p.x, p.y);
  }, { passive: false });
  let drag = null;
  chart.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    drag = { start: toSvg(e), view: { ...view }, id: e.pointerId, moved: false };
  });
  chart.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const p = toSvg(e);
    const dx = p.x - drag.start.x, dy = p.y - drag.start.y;
    if (!drag.moved && Math.hypot(dx, dy) < 4) return;
    if (!drag.moved) {
      drag.moved = true;
      chart.setPointerCapture(drag.id);
      chart.classList.add("dragging");
    }
    view.x -= dx;
    view.y -= dy;
    apply();
  });
  const endDrag = () => {
    if (drag && drag.moved) {
      chart.classList.remove("dragging");
      // The click that ends a drag is not a selection.
      chart.addEventListener("click", (e) => e.stopPropagation(), { capture: true, once: true });
    }
    drag = null;
  };
  chart.addEventListener("pointerup", endDrag);
  chart.addEventListener("pointercancel", endDrag);
  chart.addEventListener("keydown", (e) => {
    if (e.target !== chart) return;
    const stepX = view.w / 8, stepY = view.h / 8;
    const moves = { ArrowLeft: [-stepX, 0], ArrowRight: [stepX, 0], ArrowUp: [0, -stepY], ArrowDown: [0, stepY] };
    if (moves[e.key]) {
      view.x += moves[e.key][0];
      view.y += moves[e.key][1];
      apply();
    } else if (e.key === "+" || e.key === "=") zoom(1 / 1.25);
    else if (e.key === "-") zoom(1.25);
    else if (e.key === "0") fit();
    else return;
    e.preventDefault();
  });

  const element = h("div", { class: "graph-box" },
    h("div", { class: "graph-controls" },
      h("button", { type: "button", title: "zoom in (+)", onclick: () => zoom(1 / 1.4) }, "+"),
      h("button", { type: "button", title: "zoom out (-)", onclick: () => zoom(1.4) }, "−"),
      h("button", { type: "button", title: "fit the whole graph (0)", onclick: fit }, "fit")),
    chart);
  // A small graph gets the height it needs (in pixels at scale 1), a big one
  // the box's most; CSSOM, since the page's policy forbids style attributes.
  element.style.height = `${Math.min(full.h + 2, window.innerHeight * 0.6)}px`;
  apply();
  // Sized again once it is in the page.
  requestAnimationFrame(apply);
  new ResizeObserver(apply).observe(element);

  const graph = {
    element,
    setStatus(step, status) {
      const node = nodes.get(step);
      if (!node) return;
      const s = status || "pending";
      node.setAttribute("class", `node st-${s}`);
      node.setAttribute("data-status", s);
      node.setAttribute("aria-label", `${step}: ${label(s)}`);
      node.querySelector(".glyph").textContent = glyph(s);
      node.querySelector("title").textContent = `${step}\n${label(s)}`;
    },
    // Centres the view on a step, at a readable scale.
    reveal(step) {
      const p = pos.get(step);
      if (!p) return;
      const w = Math.min(view.w, 1200);
      const k = w / view.w;
      view = { x: p.x + NODE_W / 2 - w / 2, y: p.y - (view.h * k) / 2, w, h: view.h * k };
      apply();
      nodes.get(step).focus({ preventScroll: true });
    },
    has: (step) => nodes.has(step),
    node: (step) => element.querySelector(`.node${attr("data-step", step)}`),
  };
  return graph;
}
