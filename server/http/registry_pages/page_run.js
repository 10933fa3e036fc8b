// One run (a ClearML task): what it is, the models it used and the models it produced, each a link. The
// lineage graph links its task nodes here, so the graph never depends on the ClearML web app being served.

import {call} from './api.js';
import {badge, h, table, timeEl} from './dom.js';
import {names} from './names.js';

const MODEL_FIELDS = ['id', 'name', 'version', 'created'];

async function modelsById(ids) {
  if (!ids.length) return [];
  const data = await call('models.get_all', {id: ids, only_fields: MODEL_FIELDS, page: 0, page_size: ids.length});
  return data.models || [];
}

function modelRows(models, roleOf) {
  return models.map((m) => [h('a', {href: `#/version/${m.id}`}, `${m.name} v${m.version ?? '?'}`), roleOf(m.id) || '',
    timeEl(m.created)]);
}

export async function render(ctx) {
  const {main, match} = ctx;
  const task = (await call('tasks.get_by_id', {task: match[0]})).task;
  const entries = task.models || {};
  const inputs = new Map((entries.input || []).filter((e) => e.model).map((e) => [e.model, e.name]));
  const outputs = new Map((entries.output || []).filter((e) => e.model).map((e) => [e.model, e.name]));
  const [used, made, produced, users, projects] = await Promise.all([
    modelsById([...inputs.keys()]),
    modelsById([...outputs.keys()]),
    call('models.get_all', {task: [task.id], only_fields: MODEL_FIELDS, page: 0, page_size: 100}).then((d) => d.models || []),
    names('user', [task.user]), names('project', [task.project]),
  ]);
  const madeIds = new Set(made.map((m) => m.id));
  const outputsAll = [...made, ...produced.filter((m) => !madeIds.has(m.id))];
  main.replaceChildren(
    h('h1', {}, task.name || task.id),
    h('dl', {class: 'facts'},
      h('dt', {}, 'Type'), h('dd', {}, task.type || '—'),
      h('dt', {}, 'Status'), h('dd', {}, badge(task.status || 'unknown', task.status === 'failed' ? 'bad' : '')),
      h('dt', {}, 'Project'), h('dd', {}, task.project ? projects.get(task.project) : '(no project)'),
      h('dt', {}, 'Created'), h('dd', {}, timeEl(task.created), ' by ', users.get(task.user) || 'unknown'),
      h('dt', {}, 'Started'), h('dd', {}, task.started ? timeEl(task.started) : '—'),
      h('dt', {}, 'Completed'), h('dd', {}, task.completed ? timeEl(task.completed) : '—'),
      h('dt', {}, 'Comment'), h('dd', {}, task.comment || '—'),
      h('dt', {}, 'Id'), h('dd', {}, h('code', {}, task.id))),
    h('section', {'aria-labelledby': 'used-title'}, h('h2', {id: 'used-title'}, 'Models used'),
      table('Input models of this run', ['Model', 'As', 'Created'], modelRows(used, (id) => inputs.get(id)),
        {empty: 'No input models.'})),
    h('section', {'aria-labelledby': 'made-title'}, h('h2', {id: 'made-title'}, 'Models produced'),
      table('Output models of this run', ['Model', 'As', 'Created'], modelRows(outputsAll, (id) => outputs.get(id)),
        {empty: 'No output models.'})));
}
