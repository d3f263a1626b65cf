// Small helpers to build the DOM without innerHTML: text is always text, so
// names, descriptions and log lines can never become markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(element, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      element.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else {
      // Never "style": the page's Content-Security-Policy forbids inline styles.
      element.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

export function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

// h("a", {href: "#/jobs/kpi", class: "job"}, "kpi")
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// The same for SVG elements.
export function svg(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(element) {
  element.replaceChildren();
  return element;
}

// A <select> whose options are [value, label] pairs.
export function select(attrs, options, selected) {
  return h("select", attrs, options.map(([value, label]) =>
    h("option", { value, selected: value === selected }, label)));
}

// CSS.escape for attribute selectors built from step and job names.
export function attr(name, value) {
  return `[${name}="${CSS.escape(String(value))}"]`;
}
