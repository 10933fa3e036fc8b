// One registered model: its versions, each alias with its history, and two versions side by side.

import {call} from './api.js';
import {badge, field, h, qs, table, timeEl, when} from './dom.js';
import {names} from './names.js';

export function status(m) {
  if ((m.system_tags || []).includes('archived')) return badge('archived', 'muted');
  return m.ready ? badge('published', 'ok') : badge('draft');
}

function pretty(value) {
  if (value === undefined || value === null || value === '') return '—';
  return typeof value === 'object' ? JSON.stringify(value, null, 2) : String(value);
}

const COMPARED = [
  ['Version', (m) => m.version], ['Status', (m) => (m.ready ? 'published' : 'draft')], ['Created', (m) => when(m.created)],
  ['Framework', (m) => m.framework], ['Comment', (m) => m.comment], ['Tags', (m) => (m.tags || []).join(', ')],
  ['Aliases', (m) => (m.aliases || []).join(', ')], ['File size', (m) => m.file && m.file.size],
  ['SHA-256', (m) => m.file && m.file.sha256], ['License', (m) => m.license_url], ['Paper', (m) => m.paper_url],
  ['Source', (m) => m.source_url], ['Release notes', (m) => m.release_notes],
];

// One field of a signature as a line: its type, whether it is required, its description.
function signatureField(schema, name) {
  const p = ((schema || {}).properties || {})[name];
  if (!p) return undefined;
  const type = Array.isArray(p.type) ? p.type.join(' | ') : (p.type || 'any');
  const required = (schema.required || []).includes(name) ? 'required' : 'optional';
  return [type, required, p.description].filter(Boolean).join(' · ');
}

// Rows for what two versions may hold different sets of: a row per metadata key and per signature field.
function keyedRows(left, right) {
  const union = (get) => [...new Set([...Object.keys(get(left) || {}), ...Object.keys(get(right) || {})])].sort();
  const rows = union((m) => m.metadata).map((key) => [`Metadata: ${key}`, (m) => metadataValue(m.metadata, key)]);
  for (const side of ['input', 'output']) {
    const schema = (m) => m.signature && m.signature[side];
    const label = side === 'input' ? 'Input' : 'Output';
    const fields = union((m) => (schema(m) || {}).properties);
    if (!fields.length) rows.push([`${label} signature`, (m) => schema(m)]);
    for (const name of fields) rows.push([`${label}: ${name}`, (m) => signatureField(schema(m), name)]);
  }
  return rows;
}

async function compare(a, b) {
  const [left, right] = await Promise.all([a, b].map((id) => call('models.get_by_id', {model: id}).then((d) => d.model)));
  const rows = [...COMPARED, ...keyedRows(left, right)].map(([label, get]) => {
    const x = pretty(get(left));
    const y = pretty(get(right));
    const same = x === y;
    return h('tr', {class: same ? '' : 'differs'},
      h('th', {scope: 'row'}, label, same ? '' : h('span', {class: 'sr-only'}, ' (differs)')),
      h('td', {}, h('pre', {}, x)), h('td', {}, h('pre', {}, y)));
  });
  return h('div', {class: 'table-wrap'}, h('table', {class: 'compare'},
    h('caption', {}, `Version ${left.version} and version ${right.version}; differing rows are marked`),
    h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Field'), h('th', {scope: 'col'}, `v${left.version}`),
      h('th', {scope: 'col'}, `v${right.version}`))),
    h('tbody', {}, rows)));
}

// ClearML metadata is {key: {key, type, value}}; older clients may store plain values.
export function metadataValue(metadata, key) {
  const item = (metadata || {})[key];
  const value = item && typeof item === 'object' && 'value' in item ? item.value : item;
  if (value === undefined || value === null) return '';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

// The metadata keys of the page's versions; the chosen ones (in the address, `columns=a,b`) become
// columns of the versions table; the first three until a choice is made (`columns=-`: none).
function metadataColumns(models, params) {
  const keys = [...new Set(models.flatMap((m) => Object.keys(m.metadata || {})))].sort();
  const chosen = params.columns === undefined ? keys.slice(0, 3) : params.columns.split(',').filter((k) => keys.includes(k));
  return {keys, chosen};
}

function columnPicker(keys, chosen, apply) {
  const boxes = keys.map((key) => h('input', {type: 'checkbox', name: 'column', value: key, checked: chosen.includes(key)}));
  return h('form', {class: 'filters columns', 'aria-label': 'Metadata columns', onsubmit: (event) => {
    event.preventDefault();
    apply(boxes.filter((b) => b.checked).map((b) => b.value));
  }},
  h('fieldset', {}, h('legend', {}, 'Metadata shown as columns'),
    keys.map((key, i) => h('label', {class: 'check'}, boxes[i], ` ${key}`))),
  h('button', {type: 'submit'}, 'Show columns'));
}

async function timeline(name, project, alias, versions) {
  const data = await call('models.get_alias_history', {name, project: project || null, alias, limit: 20});
  const users = await names('user', data.history.map((entry) => entry.user));
  const items = data.history.map((entry) => h('li', {},
    timeEl(entry.time), ' ',
    entry.model ? h('a', {href: `#/version/${entry.model}`}, `v${entry.version ?? '?'}`) : 'removed',
    entry.previous ? ` (from v${entry.previous_version ?? '?'})` : '',
    ` by ${users.get(entry.user) || 'unknown'}`,
    entry.promotion ? ' through a promotion request' : '',
    entry.break_glass ? ` — break-glass: ${entry.break_glass.reason}` : ''));
  const current = versions.get(alias);
  return h('section', {class: 'alias', 'aria-labelledby': `alias-${alias}`},
    h('h3', {id: `alias-${alias}`}, badge(alias, 'alias'), current ? ' → ' : '', current ? h('a', {href: `#/version/${current}`}, 'current version') : ' (unset)'),
    items.length ? h('ol', {class: 'timeline'}, items) : h('p', {class: 'empty'}, 'No moves recorded.'));
}

export async function render(ctx) {
  const {main, params} = ctx;
  const name = params.name;
  const project = params.project || null;
  const page = Math.max(0, Number.parseInt(params.page || '0', 10) || 0);
  const data = await call('models.get_versions', {name, project, page, page_size: 50});
  if (!data.total) {
    const error = new Error('no such registered model');
    error.notFound = true;
    throw Object.assign(error, {status: 404});
  }
  const [users, projects] = await Promise.all([names('user', data.models.map((m) => m.user)), names('project', [project])]);
  const {keys, chosen} = metadataColumns(data.models, params);
  const rows = data.models.map((m) => [
    h('a', {href: `#/version/${m.id}`}, `v${m.version ?? '?'}`), status(m), timeEl(m.created),
    users.get(m.user) || '', ...chosen.map((key) => metadataValue(m.metadata, key)),
    h('span', {class: 'badges'}, (m.aliases || []).map((a) => badge(a, 'alias'))),
    h('a', {href: `#/records/${m.id}`}, 'records'),
  ]);
  const aliasNames = [...new Set([...Object.keys(data.aliases), ...Object.keys(data.protected_aliases || {})])].sort();
  const aliasTo = new Map(Object.entries(data.aliases));
  const histories = await Promise.all(aliasNames.map((a) => timeline(name, project, a, aliasTo)));

  const options = () => data.models.map((m) => h('option', {value: m.id}, `v${m.version ?? '?'} (${when(m.created)})`));
  const left = h('select', {name: 'left'}, options());
  const right = h('select', {name: 'right'}, options());
  if (data.models.length > 1) right.selectedIndex = 1;
  const result = h('div', {id: 'comparison'});
  const form = h('form', {class: 'filters', 'aria-label': 'Compare two versions', onsubmit: async (event) => {
    event.preventDefault();
    result.replaceChildren(await compare(left.value, right.value));
  }}, field('First version', left), field('Second version', right), h('button', {type: 'submit'}, 'Compare'));

  const pages = Math.max(1, Math.ceil(data.total / 50));
  const go = (n, columns = params.columns) => {
    location.hash = `#/model${qs({name, project: project || '', page: n || '', columns})}`;
  };
  main.replaceChildren(
    h('h1', {}, name),
    h('p', {}, `${project ? `Project ${projects.get(project)} · ` : ''}${data.total} versions · last version number v${data.last_version}`),
    h('section', {'aria-labelledby': 'versions-title'}, h('h2', {id: 'versions-title'}, 'Versions'),
      keys.length ? columnPicker(keys, chosen, (picked) => go(page, picked.join(',') || '-')) : null,
      table('Versions, newest first', ['Version', 'Status', 'Created', 'By', ...chosen, 'Aliases', 'Records'], rows),
      pages > 1 ? h('nav', {class: 'pager', 'aria-label': 'Pages of versions'},
        h('button', {type: 'button', disabled: page === 0, onclick: () => go(page - 1)}, 'Newer'),
        h('span', {}, `Page ${page + 1} of ${pages}`),
        h('button', {type: 'button', disabled: page + 1 >= pages, onclick: () => go(page + 1)}, 'Older')) : null),
    h('section', {'aria-labelledby': 'aliases-title'}, h('h2', {id: 'aliases-title'}, 'Aliases'),
      histories.length ? histories : h('p', {class: 'empty'}, 'No aliases.')),
    h('section', {'aria-labelledby': 'compare-title'}, h('h2', {id: 'compare-title'}, 'Compare versions'),
      data.models.length > 1 ? [form, result] : h('p', {class: 'empty'}, 'One version only.')));
}
