// The audit trail (audit.get_all), for admins and auditors; the API refuses everyone else.

import {call} from './api.js';
import {field, h, qs, table, timeEl} from './dom.js';

const PAGE_SIZE = 50;

export async function render(ctx) {
  const {main, params} = ctx;
  const page = Math.max(0, Number.parseInt(params.page || '0', 10) || 0);
  const request = {page, page_size: PAGE_SIZE};
  for (const name of ['target', 'target_type', 'user']) if (params[name]) request[name] = params[name];
  if (params.kind) request.kinds = [params.kind];
  if (params.from) request.from = `${params.from}T00:00:00Z`;
  if (params.to) request.to = `${params.to}T23:59:59Z`;
  const data = await call('audit.get_all', request);
  const inputs = {
    target: h('input', {name: 'target', value: params.target || ''}),
    target_type: h('input', {name: 'target_type', value: params.target_type || '', placeholder: 'model, task, …'}),
    kind: h('input', {name: 'kind', value: params.kind || '', placeholder: 'alias.moved'}),
    user: h('input', {name: 'user', value: params.user || ''}),
    from: h('input', {name: 'from', type: 'date', value: params.from || ''}),
    to: h('input', {name: 'to', type: 'date', value: params.to || ''}),
  };
  const form = h('form', {class: 'filters', 'aria-label': 'Filter the change log', onsubmit: (event) => {
    event.preventDefault();
    location.hash = `#/audit${qs(Object.fromEntries(Object.entries(inputs).map(([k, c]) => [k, c.value.trim()])))}`;
  }}, field('Target id', inputs.target), field('Target type', inputs.target_type), field('Kind', inputs.kind),
  field('User id', inputs.user), field('From', inputs.from), field('To', inputs.to), h('button', {type: 'submit'}, 'Filter'));
  const rows = await Promise.all(data.entries.map(async (e) => [String(e.seq), timeEl(e.time), await ctx.userName(e.user),
    h('code', {}, e.kind || ''), e.target ? `${e.target.type} ${e.target.name || e.target.id || ''}` : '', e.endpoint || '']));
  const go = (n) => { location.hash = `#/audit${qs({...params, page: n || ''})}`; };
  main.replaceChildren(h('h1', {}, 'Audit trail'), form,
    table('Changes, newest first', ['Seq', 'Time', 'User', 'Kind', 'Target', 'Endpoint'], rows, {empty: 'No changes match.'}),
    h('nav', {class: 'pager', 'aria-label': 'Pages of changes'},
      h('button', {type: 'button', disabled: page === 0, onclick: () => go(page - 1)}, 'Newer'),
      h('span', {}, `Page ${page + 1}`),
      h('button', {type: 'button', disabled: data.entries.length < PAGE_SIZE, onclick: () => go(page + 1)}, 'Older')));
}
