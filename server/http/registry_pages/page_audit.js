// The audit trail (audit.get_all), for admins and auditors; the API refuses everyone else.

import {call} from './api.js';
import {field, h, qs, table, timeEl} from './dom.js';
import {names} from './names.js';

const PAGE_SIZE = 50;

// A model's entry links to its version page; other targets are named.
function target(t) {
  if (!t) return '';
  const label = `${t.type} ${t.name || t.id || ''}`;
  return t.type === 'model' && t.id ? h('a', {href: `#/version/${encodeURIComponent(t.id)}`}, label) : label;
}

// The changed fields ({before, after}), folded: their names in the summary, both sides when opened.
function changed(changes) {
  const sides = changes || {};
  const fields = [...new Set([...Object.keys(sides.before || {}), ...Object.keys(sides.after || {})])];
  if (!fields.length) return '';
  const summary = fields.length > 3 ? `${fields.slice(0, 3).join(', ')} +${fields.length - 3}` : fields.join(', ');
  return h('details', {}, h('summary', {}, summary), h('pre', {class: 'changes'}, JSON.stringify(changes, null, 2)));
}

export async function render(ctx) {
  const {main, params} = ctx;
  const page = Math.max(0, Number.parseInt(params.page || '0', 10) || 0);
  const request = {page, page_size: PAGE_SIZE};
  for (const name of ['target', 'target_type', 'user']) if (params[name]) request[name] = params[name];
  if (params.kind) request.kinds = [params.kind];
  if (params.from) request.from = `${params.from}T00:00:00Z`;
  if (params.to) request.to = `${params.to}T23:59:59Z`;
  const [data, everyone] = await Promise.all([call('audit.get_all', request),
    call('users.get_all', {only_fields: ['id', 'name'], page: 0, page_size: 500}).then((d) => d.users || [])]);
  const chosen = everyone.some((u) => u.id === params.user) ? [] : [{id: params.user, name: params.user}];
  const people = [...everyone, ...chosen.filter((u) => u.id)].sort((a, b) => a.name.localeCompare(b.name));
  const inputs = {
    target: h('input', {name: 'target', value: params.target || ''}),
    target_type: h('input', {name: 'target_type', value: params.target_type || '', placeholder: 'model, task, …'}),
    kind: h('input', {name: 'kind', value: params.kind || '', placeholder: 'alias.moved'}),
    user: h('select', {name: 'user'}, h('option', {value: ''}, 'Everyone'),
      people.map((u) => h('option', {value: u.id, selected: u.id === params.user}, u.name))),
    from: h('input', {name: 'from', type: 'date', value: params.from || ''}),
    to: h('input', {name: 'to', type: 'date', value: params.to || ''}),
  };
  const form = h('form', {class: 'filters', 'aria-label': 'Filter the change log', onsubmit: (event) => {
    event.preventDefault();
    location.hash = `#/audit${qs(Object.fromEntries(Object.entries(inputs).map(([k, c]) => [k, c.value.trim()])))}`;
  }}, field('Target id', inputs.target), field('Target type', inputs.target_type), field('Kind', inputs.kind),
  field('User', inputs.user), field('From', inputs.from), field('To', inputs.to), h('button', {type: 'submit'}, 'Filter'));
  const users = await names('user', data.entries.map((e) => e.user));
  const rows = data.entries.map((e) => [String(e.seq), timeEl(e.time),
    e.user ? h('a', {href: `#/audit${qs({user: e.user})}`, title: 'Changes by this user'}, users.get(e.user)) : '',
    h('code', {class: 'kind'}, e.kind || ''), target(e.target), h('code', {class: 'kind'}, e.endpoint || ''), changed(e.changes)]);
  const go = (n) => { location.hash = `#/audit${qs({...params, page: n || ''})}`; };
  main.replaceChildren(h('h1', {}, 'Audit trail'), form,
    table('Changes, newest first', ['Seq', 'Time', 'User', 'Kind', 'Target', 'Endpoint', 'Changes'], rows, {empty: 'No changes match.'}),
    h('nav', {class: 'pager', 'aria-label': 'Pages of changes'},
      h('button', {type: 'button', disabled: page === 0, onclick: () => go(page - 1)}, 'Newer'),
      h('span', {}, `Page ${page + 1}`),
      h('button', {type: 'button', disabled: data.entries.length < PAGE_SIZE, onclick: () => go(page + 1)}, 'Older')));
}
