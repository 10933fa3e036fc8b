// The lineage graph as inline SVG: nodes in columns by their distance from the model (upstream to the
// left, downstream to the right), edges as arrows, every node a link.

import {s} from './dom.js';

const W = 170;
const H = 44;
const GAP_X = 70;
const GAP_Y = 18;

// Columns by distance from the model: upstream nodes to the left, downstream to the right, then moved
// apart until every edge points rightwards (a parent that is also a run's input sits left of that run).
// Bounded passes, so a cycle in stored data cannot hang the page.
function layers(root, nodes, edges) {
  const layer = new Map([[root, 0]]);
  let changed = true;
  for (let round = 0; changed && round < nodes.length + 1; round += 1) {
    changed = false;
    for (const edge of edges) {
      if (layer.has(edge.to) && !layer.has(edge.from)) { layer.set(edge.from, layer.get(edge.to) - 1); changed = true; }
      if (layer.has(edge.from) && !layer.has(edge.to)) { layer.set(edge.to, layer.get(edge.from) + 1); changed = true; }
    }
  }
  for (const node of nodes) if (!layer.has(node.id)) layer.set(node.id, 0);
  changed = true;
  for (let round = 0; changed && round < nodes.length + 1; round += 1) {
    changed = false;
    for (const {from, to} of edges) {
      if (layer.get(from) < layer.get(to)) continue;
      if (layer.get(to) <= 0 && from !== root) layer.set(from, layer.get(to) - 1);
      else if (to !== root) layer.set(to, layer.get(from) + 1);
      else continue;
      changed = true;
    }
  }
  return layer;
}

function label(node) {
  const text = node.version ? `${node.name} v${node.version}` : (node.name || node.id);
  return text.length > 24 ? `${text.slice(0, 23)}…` : text;
}

export function lineageSvg(graph, hrefOf) {
  const layer = layers(graph.root, graph.nodes, graph.edges);
  const columns = new Map();
  for (const node of graph.nodes) {
    const l = layer.get(node.id);
    if (!columns.has(l)) columns.set(l, []);
    columns.get(l).push(node);
  }
  const order = [...columns.keys()].sort((a, b) => a - b);
  const tallest = Math.max(1, ...[...columns.values()].map((c) => c.length));
  const width = order.length * (W + GAP_X) - GAP_X + 20;
  const height = tallest * (H + GAP_Y) - GAP_Y + 20;
  const at = new Map();
  order.forEach((l, col) => {
    const column = columns.get(l);
    const top = (height - (column.length * (H + GAP_Y) - GAP_Y)) / 2;
    column.forEach((node, row) => at.set(node.id, {x: 10 + col * (W + GAP_X), y: top + row * (H + GAP_Y)}));
  });
  const svg = s('svg', {viewBox: `0 0 ${width} ${height}`, width, height, class: 'lineage', role: 'group',
    'aria-label': `Lineage: ${graph.nodes.length} nodes, ${graph.edges.length} links`},
  s('defs', {}, s('marker', {id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto'},
    s('path', {d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead'}))));
  for (const edge of graph.edges) {
    const a = at.get(edge.from);
    const b = at.get(edge.to);
    if (!a || !b) continue;
    const x1 = a.x + W;
    const y1 = a.y + H / 2;
    const x2 = b.x;
    const y2 = b.y + H / 2;
    const mid = (x1 + x2) / 2;
    svg.append(s('path', {class: `edge ${edge.kind}`, d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`,
      'marker-end': 'url(#arrow)'}, s('title', {text: edge.kind})));
  }
  for (const node of graph.nodes) {
    const p = at.get(node.id);
    const root = node.id === graph.root;
    const link = s('a', {href: hrefOf(node), class: `node ${node.kind}${root ? ' root' : ''}`, 'data-kind': node.kind,
      'aria-label': `${node.kind} ${label(node)}${root ? ' (this version)' : ''}`},
    s('rect', {x: p.x, y: p.y, width: W, height: H, rx: 6}),
    s('text', {x: p.x + 8, y: p.y + 17, class: 'kind', text: node.kind}),
    s('text', {x: p.x + 8, y: p.y + 34, text: label(node)}));
    svg.append(link);
  }
  return svg;
}
