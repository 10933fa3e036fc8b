// A time chart as inline SVG: the mean of each bucket as a line, its min..max as a band.

import {s, when} from './dom.js';

const WIDTH = 900;
const HEIGHT = 320;
const PAD = {left: 64, right: 16, top: 16, bottom: 40};

function ticks(low, high, count) {
  if (low === high) return [low];
  return Array.from({length: count + 1}, (_, i) => low + ((high - low) * i) / count);
}

function short(n) {
  const abs = Math.abs(n);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return n.toExponential(2);
  return Number(n.toPrecision(4)).toString();
}

export function seriesSvg(series, fieldName) {
  const buckets = series.buckets;
  const svg = s('svg', {viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: 'chart', role: 'img', 'data-points': buckets.length,
    'aria-label': `${fieldName} over time: ${buckets.length} points from ${series.count} values`});
  if (!buckets.length) return svg;
  const t0 = Date.parse(series.from);
  const t1 = Math.max(Date.parse(series.to), t0 + 1);
  let low = Math.min(...buckets.map((b) => b.min));
  let high = Math.max(...buckets.map((b) => b.max));
  if (low === high) { low -= 1; high += 1; }
  const x = (iso) => PAD.left + ((Date.parse(iso) + series.bucket_ms / 2 - t0) / (t1 - t0)) * (WIDTH - PAD.left - PAD.right);
  const y = (v) => HEIGHT - PAD.bottom - ((v - low) / (high - low)) * (HEIGHT - PAD.top - PAD.bottom);
  const clampX = (v) => Math.min(WIDTH - PAD.right, Math.max(PAD.left, v));
  for (const v of ticks(low, high, 4)) {
    svg.append(s('line', {x1: PAD.left, x2: WIDTH - PAD.right, y1: y(v), y2: y(v), class: 'grid'}),
      s('text', {x: PAD.left - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end', text: short(v)}));
  }
  for (const [i, t] of ticks(t0, t1, 3).entries()) {
    const px = PAD.left + ((t - t0) / (t1 - t0)) * (WIDTH - PAD.left - PAD.right);
    const anchor = i === 0 ? 'start' : (i === 3 ? 'end' : 'middle');
    svg.append(s('text', {x: px, y: HEIGHT - 12, class: 'axis', 'text-anchor': anchor, text: when(new Date(t).toISOString())}));
  }
  const upper = buckets.map((b) => `${clampX(x(b.time)).toFixed(1)},${y(b.max).toFixed(1)}`);
  const lower = buckets.map((b) => `${clampX(x(b.time)).toFixed(1)},${y(b.min).toFixed(1)}`).reverse();
  svg.append(s('polygon', {class: 'band', points: [...upper, ...lower].join(' ')}));
  const line = buckets.map((b, i) => `${i ? 'L' : 'M'}${clampX(x(b.time)).toFixed(1)},${y(b.mean).toFixed(1)}`).join('');
  svg.append(s('path', {class: 'line', d: line, 'data-points': buckets.length}));
  if (buckets.length === 1) {
    const b = buckets[0];
    svg.append(s('circle', {class: 'dot', cx: clampX(x(b.time)), cy: y(b.mean), r: 4}));
  }
  return svg;
}
