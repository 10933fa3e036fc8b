// Promotion: requests (promotions.get_all) with approve / reject for the reviewers a rule allows, and the
// rule of each protected alias (models.get_alias_rules). The API refuses a review by anyone else anyway.

import {call} from './api.js';
import {badge, field, h, qs, say, table, timeEl} from './dom.js';
import {names} from './names.js';
import {modelHref} from './page_models.js';

const STATES = ['open', 'approved', 'rejected', 'cancelled', 'stale'];

function ruleFor(rules, request) {
  const mine = rules.filter((r) => r.alias === request.alias && (r.project || null) === (request.project || null));
  return mine.find((r) => r.name === request.name) || mine.find((r) => r.name === '*') || null;
}

function mayReview(user, rule, request) {
  if (!rule || request.state !== 'open' || request.requester === user.id) return false;
  const reviewers = rule.reviewers || {};
  return (reviewers.roles || []).includes(user.role) || (reviewers.users || []).includes(user.id);
}

// Every rule of the root project and of each project with a recent request, in any state: one call a
// project (a project's rules include those of its registered models).
async function rulesOf(shown) {
  const recent = (await call('promotions.get_all', {page: 0, page_size: 100})).promotions;
  const projects = new Set([null, ...[...shown, ...recent].map((r) => r.project || null)]);
  const lists = await Promise.all([...projects].map((project) => call('models.get_alias_rules', {project})));
  const seen = new Map();
  for (const list of lists) for (const rule of list.rules) seen.set(rule.id, rule);
  return [...seen.values()];
}

function reviewControls(request, rerender) {
  const comment = h('textarea', {name: 'comment', rows: 2, maxlength: 2000});
  const decide = (decision) => async () => {
    try {
      const reply = await call('promotions.review', {id: request.id, decision, comment: comment.value || null});
      say(`Request ${decision === 'approve' ? 'approved' : 'rejected'}: now ${reply.state}.`);
      await rerender();
    } catch (error) {
      say(`Review refused: ${error.message}`);
    }
  };
  return h('div', {class: 'review', role: 'group', 'aria-label': `Review the request for ${request.alias}`},
    field('Comment', comment),
    h('button', {type: 'button', class: 'approve', onclick: decide('approve')}, 'Approve'),
    h('button', {type: 'button', class: 'reject', onclick: decide('reject')}, 'Reject'));
}

export async function render(ctx) {
  const {main, params, user} = ctx;
  const state = STATES.includes(params.state) ? params.state : 'open';
  const data = await call('promotions.get_all', {state, page: 0, page_size: 100});
  const rules = await rulesOf(data.promotions);
  const rerender = () => render(ctx);

  const picker = h('select', {name: 'state', onchange: (event) => { location.hash = `#/promotion${qs({state: event.target.value})}`; }},
    STATES.map((s) => h('option', {value: s, selected: s === state}, s)));
  const [users, projects] = await Promise.all([
    names('user', [...data.promotions.flatMap((r) => [r.requester, r.rejection && r.rejection.user, ...r.approvals.map((a) => a.user)]),
      ...rules.flatMap((r) => (r.reviewers && r.reviewers.users) || [])]),
    names('project', rules.map((r) => r.project))]);
  const who = (id) => users.get(id) || 'unknown';
  const cards = data.promotions.map((r) => {
    const rule = ruleFor(rules, r);
    return h('article', {class: 'card request', 'aria-labelledby': `req-${r.id}`, 'data-request': r.id},
      h('h3', {id: `req-${r.id}`}, h('a', {href: modelHref(r.name, r.project)}, r.name), ' ',
        h('a', {href: `#/version/${r.model}`}, `v${r.version ?? '?'}`), ' → ', badge(r.alias, 'alias')),
      h('p', {}, badge(r.state, r.state === 'approved' ? 'ok' : ''), ` ${r.approvals.length} of ${r.required_approvals} approvals · asked by `,
        who(r.requester), ' on ', timeEl(r.created)),
      r.reason ? h('p', {class: 'notes'}, r.reason) : null,
      r.approvals.length ? h('ul', {}, r.approvals.map((a) => h('li', {},
        `approved by ${who(a.user)}`, a.comment ? `: ${a.comment}` : ''))) : null,
      r.rejection ? h('p', {}, `Rejected by ${who(r.rejection.user)}${r.rejection.comment ? `: ${r.rejection.comment}` : ''}`) : null,
      r.state_reason ? h('p', {}, `Stale: ${r.state_reason}`) : null,
      mayReview(user, rule, r) ? reviewControls(r, rerender) : null);
  });
  const ruleRows = rules.map((r) => [badge(r.alias, 'alias'), r.name === '*' ? 'every model' : r.name,
    r.project ? projects.get(r.project) : '(no project)',
    [...(r.reviewers?.roles || []).map((x) => `role ${x}`), ...(r.reviewers?.users || []).map((x) => `user ${who(x)}`)].join(', ') || '—',
    String(r.required_approvals), r.require_signature ? 'yes' : 'no', r.immutable ? 'yes' : 'no']);
  main.replaceChildren(
    h('h1', {}, 'Promotion'),
    h('form', {class: 'filters', 'aria-label': 'Filter requests', onsubmit: (e) => e.preventDefault()}, field('State', picker)),
    h('section', {'aria-labelledby': 'requests-title'}, h('h2', {id: 'requests-title'}, `Requests (${state}): ${data.total}`),
      cards.length ? cards : h('p', {class: 'empty'}, `No ${state} requests.`)),
    h('section', {'aria-labelledby': 'rules-title'}, h('h2', {id: 'rules-title'}, 'Protected aliases'),
      table('Rule of each protected alias', ['Alias', 'Registered model', 'Project', 'Reviewers', 'Approvals', 'Signature', 'Immutable'],
        ruleRows, {empty: 'No protected aliases.'})));
}
