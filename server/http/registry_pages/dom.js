// Building the DOM without HTML strings: every value from the API goes in as text, never as markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';

export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key === 'text') el.textContent = value;
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC');
}

export function timeEl(iso) {
  return h('time', {datetime: iso || ''}, when(iso));
}

export function duration(ms) {
  const units = [[86400000, 'day'], [3600000, 'h'], [60000, 'min'], [1000, 's']];
  for (const [size, unit] of units) {
    if (ms >= size) return `${Number((ms / size).toFixed(1))} ${unit}${unit === 'day' && ms !== size ? 's' : ''}`;
  }
  return `${ms} ms`;
}

export function bytes(n) {
  if (n === undefined || n === null) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = Number(n);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

// Only http(s) links are made clickable, whatever the stored value says.
export function safeLink(url, label) {
  try {
    const parsed = new URL(url);
    if (parsed.protocol === 'http:' || parsed.protocol === 'https:') {
      return h('a', {href: parsed.href, rel: 'noopener noreferrer', target: '_blank'}, label || parsed.href);
    }
  } catch { /* not a URL */ }
  return h('span', {}, url ? String(url) : '—');
}

export function table(caption, headers, rows, {empty = 'Nothing to show.'} = {}) {
  if (!rows.length) return h('p', {class: 'empty'}, empty);
  return h('div', {class: 'table-wrap'},
    h('table', {},
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, headers.map((name) => h('th', {scope: 'col'}, name)))),
      h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((cell) => h('td', {}, cell)))))));
}

export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h('div', {class: 'field'}, h('label', {for: id}, label), control, hint ? h('small', {}, hint) : null);
}

export function badge(text, kind = '') {
  return h('span', {class: `badge ${kind}`}, text);
}

export function qs(params) {
  const out = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') out.set(key, value);
  }
  const text = out.toString();
  return text ? `?${text}` : '';
}

// The status line: announced by screen readers (role=status), shown for a few seconds, never in the way
// of a click (the stylesheet lets clicks through it).
let fading = null;
export function say(message) {
  const status = document.getElementById('status');
  status.textContent = '';
  clearTimeout(fading);
  setTimeout(() => { status.textContent = message; }, 30);
  if (message) fading = setTimeout(() => { status.textContent = ''; }, 8000);
}
