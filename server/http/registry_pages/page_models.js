// Registered models: a name search, a project filter and server-side paging (models.get_registered).
// The filter lists the first 500 projects by name; the table names every project it shows.

import {call} from './api.js';
import {badge, field, h, qs, table, timeEl} from './dom.js';
import {names} from './names.js';

const PAGE_SIZE = 20;

export function modelHref(name, project) {
  return `#/model${qs({name, project: project || ''})}`;
}

async function projectNames() {
  const data = await call('projects.get_all', {only_fields: ['id', 'name'], order_by: ['name'], page: 0, page_size: 500});
  return new Map((data.projects || []).map((p) => [p.id, p.name]));
}

export async function render({main, params}) {
  const page = Math.max(0, Number.parseInt(params.page || '0', 10) || 0);
  const request = {page, page_size: PAGE_SIZE, search: params.search || null};
  if (params.project === 'root') request.project = null;
  else if (params.project) request.project = params.project;
  const [data, projects] = await Promise.all([call('models.get_registered', request), projectNames()]);

  const search = h('input', {type: 'search', name: 'search', value: params.search || ''});
  const project = h('select', {name: 'project'},
    h('option', {value: ''}, 'Every project'),
    h('option', {value: 'root', selected: params.project === 'root'}, '(no project)'),
    [...projects].map(([id, name]) => h('option', {value: id, selected: params.project === id}, name)));
  const form = h('form', {class: 'filters', role: 'search', 'aria-label': 'Filter registered models', onsubmit: (event) => {
    event.preventDefault();
    location.hash = `#/models${qs({search: search.value.trim(), project: project.value})}`;
  }}, field('Name contains', search), field('Project', project), h('button', {type: 'submit'}, 'Search'));

  const shown = await names('project', data.registered.map((r) => r.project));
  const rows = data.registered.map((r) => [
    h('a', {href: modelHref(r.name, r.project)}, r.name),
    r.project ? shown.get(r.project) : '—',
    r.last_version ? `v${r.last_version}` : '—',
    h('span', {class: 'badges'}, Object.keys(r.aliases).map((alias) => badge(alias, 'alias'))),
    timeEl(r.created),
  ]);
  const pages = Math.max(1, Math.ceil(data.total / PAGE_SIZE));
  const go = (n) => { location.hash = `#/models${qs({search: params.search, project: params.project, page: n || ''})}`; };
  const pager = h('nav', {class: 'pager', 'aria-label': 'Pages of registered models'},
    h('button', {type: 'button', disabled: page === 0, onclick: () => go(page - 1)}, 'Previous'),
    h('span', {'aria-live': 'polite'}, `Page ${page + 1} of ${pages} · ${data.total} registered models`),
    h('button', {type: 'button', disabled: page + 1 >= pages, onclick: () => go(page + 1)}, 'Next'));
  main.replaceChildren(
    h('h1', {}, 'Registered models'), form,
    table('Registered models, by name', ['Name', 'Project', 'Latest version', 'Aliases', 'Registered'], rows,
      {empty: 'No registered model matches.'}),
    pager);
}
