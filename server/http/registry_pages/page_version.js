// One version: the model card (links, release notes, the signature as a table), its file and its lineage.

import {call, downloadUrl} from './api.js';
import {bytes, h, safeLink, table, timeEl} from './dom.js';
import {lineageSvg} from './graph.js';
import {names} from './names.js';
import {modelHref} from './page_models.js';
import {metadataValue, status} from './page_model.js';

function signatureTable(title, schema) {
  if (!schema) return h('p', {class: 'empty'}, `No ${title.toLowerCase()} declared.`);
  const props = schema.properties || {};
  const required = new Set(schema.required || []);
  const rows = Object.entries(props).map(([name, p]) => [
    h('code', {}, name), Array.isArray(p.type) ? p.type.join(' | ') : (p.type || (p.$ref ? 'reference' : 'any')),
    required.has(name) ? 'yes' : 'no', p.description || '']);
  if (!rows.length) rows.push([h('code', {}, '(whole payload)'), String(schema.type || 'any'), 'yes', schema.description || '']);
  return table(title, ['Field', 'Type', 'Required', 'Description'], rows);
}

function nodeHref(node, edges) {
  if (node.kind === 'model') return `#/version/${node.id}`;
  if (node.kind === 'dataset') {
    const target = edges.find((e) => e.from === node.id);
    return target ? `#/records/${target.to}?dataset=${encodeURIComponent(node.id)}` : '#/models';
  }
  return `#/run/${encodeURIComponent(node.id)}`;
}

function metadataTable(metadata) {
  const rows = Object.keys(metadata || {}).sort().map((key) => {
    const item = metadata[key];
    return [h('code', {}, key), (item && typeof item === 'object' && item.type) || '', metadataValue(metadata, key)];
  });
  return table('Metadata', ['Key', 'Type', 'Value'], rows, {empty: 'No metadata.'});
}

export async function render(ctx) {
  const {main, match} = ctx;
  const id = match[0];
  const m = (await call('models.get_by_id', {model: id})).model;
  const [lineage, users, projects] = await Promise.all([call('models.get_lineage', {model: id}),
    names('user', [m.user]), names('project', [m.project])]);
  const file = m.file || {};
  const dl = h('dl', {class: 'facts'},
    h('dt', {}, 'Registered model'), h('dd', {}, h('a', {href: modelHref(m.name, m.project)}, m.name)),
    h('dt', {}, 'Project'), h('dd', {}, m.project ? projects.get(m.project) : '(no project)'),
    h('dt', {}, 'Status'), h('dd', {}, status(m)),
    h('dt', {}, 'Created'), h('dd', {}, timeEl(m.created), ' by ', users.get(m.user) || 'unknown'),
    h('dt', {}, 'Aliases'), h('dd', {}, (m.aliases || []).join(', ') || '—'),
    h('dt', {}, 'License'), h('dd', {}, m.license_url ? safeLink(m.license_url) : '—'),
    h('dt', {}, 'Paper'), h('dd', {}, m.paper_url ? safeLink(m.paper_url) : '—'),
    h('dt', {}, 'Source'), h('dd', {}, m.source_url ? safeLink(m.source_url) : '—'));
  const fileSection = m.uri || file.size !== undefined
    ? h('dl', {class: 'facts'},
      h('dt', {}, 'File'), h('dd', {}, file.filename || m.uri || '—'),
      h('dt', {}, 'Size'), h('dd', {}, file.size !== undefined ? bytes(file.size) : 'unknown'),
      h('dt', {}, 'SHA-256'), h('dd', {}, h('code', {class: 'hash'}, file.sha256 || 'unknown')),
      h('dt', {}, 'Download'), h('dd', {}, h('a', {href: downloadUrl('models.download', {model: m.id}), download: ''},
        `Download ${file.filename || 'the file'}`)))
    : h('p', {class: 'empty'}, 'No file stored.');
  main.replaceChildren(
    h('h1', {}, `${m.name} v${m.version ?? '?'}`),
    h('p', {}, h('a', {href: `#/records/${m.id}`}, 'Records of this version')),
    h('section', {'aria-labelledby': 'card-title'}, h('h2', {id: 'card-title'}, 'Model card'), dl,
      h('h3', {}, 'Release notes'),
      m.release_notes ? h('p', {class: 'notes'}, m.release_notes) : h('p', {class: 'empty'}, 'None.'),
      h('h3', {}, 'Signature'),
      signatureTable('Input signature', m.signature && m.signature.input),
      signatureTable('Output signature', m.signature && m.signature.output),
      h('h3', {}, 'Metadata'), metadataTable(m.metadata)),
    h('section', {'aria-labelledby': 'file-title'}, h('h2', {id: 'file-title'}, 'File'), fileSection),
    h('section', {'aria-labelledby': 'lineage-title'}, h('h2', {id: 'lineage-title'}, 'Lineage'),
      h('div', {class: 'graph-wrap'}, lineageSvg(lineage, (node) => nodeHref(node, lineage.edges))),
      lineage.truncated ? h('p', {}, 'The graph stops at the depth limit.') : null));
}
