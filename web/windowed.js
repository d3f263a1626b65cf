// Rows of which only those in view (and a few around them) are in the page.
// A 2,000-step run drawn whole cost the browser a layout of every row (about
// 600 ms on a quiet machine) for the 30 a screen shows; windowed, the first
// render costs a screen's worth, and scrolling draws the rest as it comes.
//
// The box scrolls (its own scroll bar); the rows live in `container`, before
// the node `tail`; `make(i)` builds row i, `rowHeight` high (exactly when
// `fixed`, else measured from the rows drawn); `offset()` is what stands
// above the first row in the box (a table's head); `sized(first, last,
// count)` is called after each change, for the owner to size what stands for
// the rows not drawn (windowedTable: spacer rows). Rows kept in view are never rebuilt by
// scrolling, so a focused link stays focused; a focus that reaches the
// window's first or last row (Tab, the arrow keys) moves the window on, so
// that every row is reachable from the keyboard.
import { h } from "./dom.js";

const OVERSCAN = 12;

export function windowed({ box, container, tail, rowHeight, fixed = false, offset = () => 0, make, sized = () => {} }) {
  let count = 0;
  let height = rowHeight;
  let first = 0;
  let last = 0;
  let frame = 0;
  const rows = new Map();  // index -> node, for [first, last)

  // What the box shows now; before its first layout, the most it may show.
  function viewport() {
    const shown = box.clientHeight || Math.min(window.innerHeight * 0.6, 600);
    const top = Math.max(0, box.scrollTop - offset());
    return [Math.floor(top / height), Math.ceil((top + shown) / height)];
  }

  function place(from, to, rebuild) {
    from = Math.max(0, Math.min(from, count));
    to = Math.max(from, Math.min(to, count));
    if (rebuild) {
      for (const node of rows.values()) node.remove();
      rows.clear();
    }
    for (const [i, node] of rows) {
      if (i < from || i >= to) {
        node.remove();
        rows.delete(i);
      }
    }
    const kept = rows.size ? Math.min(...rows.keys()) : Infinity;
    const before = [];
    const after = [];
    for (let i = from; i < to; i++) {
      if (rows.has(i)) continue;
      const node = make(i);
      node.dataset.index = i;
      rows.set(i, node);
      (i < kept ? before : after).push(node);
    }
    // Kept rows stay where they are (and keep the focus): new ones go
    // around them.
    if (before.length) (kept === Infinity ? tail : rows.get(kept)).before(...before);
    if (after.length) tail.before(...after);
    first = from;
    last = to;
    sized(first, last, count);
    measure();
  }

  // Rows of HTML tables are as high as their content: the height is read
  // from the rows drawn (only them: a layout of a screen's worth).
  function measure() {
    if (fixed || last - first < 2 || !box.isConnected) return;
    const top = rows.get(first);
    const bottom = rows.get(last - 1);
    const span = bottom.getBoundingClientRect().bottom - top.getBoundingClientRect().top;
    const measured = span / (last - first);
    if (measured > 4 && Math.abs(measured - height) > 0.5) {
      height = measured;
      sized(first, last, count);
    }
  }

  function update(rebuild = false) {
    const [top, bottom] = viewport();
    const from = Math.max(0, top - OVERSCAN);
    const to = bottom + OVERSCAN;
    if (rebuild || from !== first || Math.min(to, count) !== last) place(from, to, rebuild);
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; update(); });
  }

  // Scrolls so that row i is in view (centred when it was not).
  function reveal(i) {
    if (i < 0 || i >= count) return;
    const [top, bottom] = viewport();
    if (i < top + 1 || i >= bottom - 1) {
      box.scrollTop = Math.max(0, offset() + i * height - (box.clientHeight - height) / 2);
    }
    update();
  }

  box.addEventListener("scroll", schedule, { passive: true });
  new ResizeObserver(schedule).observe(box);
  box.addEventListener("focusin", (e) => {
    const row = e.target.closest && e.target.closest("[data-index]");
    if (!row || !container.contains(row)) return;
    const i = Number(row.dataset.index);
    // The next Tab (or Shift+Tab) finds the row after (before) this one.
    if ((i >= last - 2 && last < count) || (i <= first + 1 && first > 0)) reveal(i);
  });

  return {
    // A new list of `n` rows (or the same, redrawn): every drawn row is built
    // again; the focus moves to the same place of the rebuilt row.
    show(n) {
      const focused = document.activeElement;
      const row = focused && container.contains(focused) ? focused.closest("[data-index]") : null;
      const where = row ? [Number(row.dataset.index), [...row.querySelectorAll("a, button")].indexOf(focused)] : null;
      count = n;
      update(true);
      if (where && rows.has(where[0])) {
        const again = rows.get(where[0]).querySelectorAll("a, button")[where[1]];
        if (again) again.focus({ preventScroll: true });
      }
    },
    reveal,
    row: (i) => rows.get(i) || null,
    get range() { return [first, last]; },
    get rowHeight() { return height; },
  };
}

// The same for the rows of a table body (empty until then): a spacer row above
// and one below stand for the rows not drawn; `head` is the table's thead.
export function windowedTable({ box, body, head, columns, rowHeight, make }) {
  const spacer = () => h("tr", { class: "spacer", "aria-hidden": "true" }, h("td", { colspan: columns }));
  const top = spacer();
  const bottom = spacer();
  body.append(top, bottom);
  const list = windowed({
    box, container: body, tail: bottom, rowHeight, offset: () => head.offsetHeight, make,
    sized: (first, last, count) => {
      top.hidden = first === 0;
      bottom.hidden = last === count;
      top.style.height = `${first * list.rowHeight}px`;
      bottom.style.height = `${(count - last) * list.rowHeight}px`;
    },
  });
  // The number of columns the spacers span.
  list.columns = (n) => { top.firstChild.colSpan = n; bottom.firstChild.colSpan = n; };
  return list;
}
