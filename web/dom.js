// Väylä — the one small DOM helper every page shares.

/** `h('p', { class: 'x' }, 'text', child)`: an element with attributes and children (strings become text). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  el.append(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * A decorative square SVG icon (`aria-hidden`: every control and state also says what it is in words) drawn
 * from `paths` (SVG markup of our own, never user input) in a `size` × `size` box.
 */
export function svgIcon(paths, size, className = 'icon') {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${size} ${size}`);
  svg.setAttribute('width', String(size));
  svg.setAttribute('height', String(size));
  svg.setAttribute('fill', 'currentColor');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', className);
  svg.innerHTML = paths ?? '';
  return svg;
}
