// The registry pages: sign-in, navigation and a hash router. Each page module exports
// `render(ctx, params)`, which fills <main> from API calls.

import {ApiError, call, signIn, signOut} from './api.js';
import {field, h, say} from './dom.js';
import {forgetNames} from './names.js';
import * as audit from './page_audit.js';
import * as model from './page_model.js';
import * as models from './page_models.js';
import * as promotion from './page_promotion.js';
import * as records from './page_records.js';
import * as run from './page_run.js';
import * as version from './page_version.js';
import * as webhooks from './page_webhooks.js';

const AUDITORS = ['system', 'root', 'admin', 'auditor'];
const ADMINS = ['system', 'root', 'admin'];

const ROUTES = [
  [/^\/models$/, models],
  [/^\/model$/, model],
  [/^\/version\/([^/]+)$/, version],
  [/^\/promotion$/, promotion],
  [/^\/records\/([^/]+)$/, records],
  [/^\/run\/([^/]+)$/, run],
  [/^\/audit$/, audit],
  [/^\/webhooks$/, webhooks],
];

const ctx = {user: null};

ctx.isAuditor = () => ctx.user && AUDITORS.includes(ctx.user.role);
ctx.isAdmin = () => ctx.user && ADMINS.includes(ctx.user.role);

function main() {
  return document.getElementById('main');
}

export function notFound(what) {
  const el = main();
  el.replaceChildren(
    h('h1', {}, 'Not found'),
    h('p', {class: 'not-found'}, `${what} does not exist or is not visible to your company.`),
    h('p', {}, h('a', {href: '#/models'}, 'Back to the registered models')));
  document.title = 'Not found · modelreg registry';
}

export function failure(error) {
  if (error instanceof ApiError && error.status === 401) {
    showSignIn();
    return;
  }
  main().replaceChildren(h('h1', {}, 'Something went wrong'), h('p', {class: 'error', role: 'alert'}, error.message));
}

function showNav() {
  const nav = document.getElementById('nav');
  const links = [['#/models', 'Registered models'], ['#/promotion', 'Promotion']];
  if (ctx.isAuditor()) links.push(['#/audit', 'Audit']);
  if (ctx.isAdmin()) links.push(['#/webhooks', 'Webhooks']);
  nav.replaceChildren(h('ul', {}, links.map(([href, label]) => h('li', {}, h('a', {href}, label)))));
  nav.hidden = false;
  const who = document.getElementById('who');
  who.replaceChildren(
    h('span', {}, `${ctx.user.name} (${ctx.user.role})`),
    h('button', {type: 'button', class: 'link', onclick: async () => {
      await signOut();
      ctx.user = null;
      forgetNames();
      showSignIn();
    }}, 'Sign out'));
}

function markCurrent(path) {
  for (const link of document.querySelectorAll('#nav a')) {
    const target = link.getAttribute('href').slice(1);
    if (path.startsWith(target)) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

function showSignIn(message) {
  document.getElementById('nav').hidden = true;
  document.getElementById('who').replaceChildren();
  const key = h('input', {name: 'access_key', autocomplete: 'username', required: true});
  const secret = h('input', {name: 'secret_key', type: 'password', autocomplete: 'current-password', required: true});
  const problem = h('p', {class: 'error', role: 'alert'}, message || '');
  const form = h('form', {class: 'card signin', 'aria-labelledby': 'signin-title', onsubmit: async (event) => {
    event.preventDefault();
    problem.textContent = '';
    try {
      await signIn(key.value.trim(), secret.value);
      forgetNames();
      await start();
    } catch (error) {
      problem.textContent = error.status === 401 ? 'The key pair was not accepted.' : error.message;
    }
  }},
  h('h1', {id: 'signin-title'}, 'Sign in'),
  h('p', {}, 'Use an access key and its secret key, as in the ClearML web app.'),
  field('Access key', key), field('Secret key', secret), problem,
  h('button', {type: 'submit'}, 'Sign in'));
  main().replaceChildren(form);
  document.title = 'Sign in · modelreg registry';
  key.focus();
}

async function route() {
  if (!ctx.user) return;
  const hash = location.hash.replace(/^#/, '') || '/models';
  const [path, query] = hash.split('?');
  const params = Object.fromEntries(new URLSearchParams(query || ''));
  markCurrent(path);
  for (const [pattern, page] of ROUTES) {
    const match = pattern.exec(path);
    if (!match) continue;
    const el = main();
    el.setAttribute('aria-busy', 'true');
    try {
      await page.render({...ctx, main: el, params, match: match.slice(1).map(decodeURIComponent)});
    } catch (error) {
      if (error && error.notFound) notFound('This page');
      else failure(error);
    } finally {
      el.removeAttribute('aria-busy');
    }
    const heading = el.querySelector('h1');
    if (heading) document.title = `${heading.textContent} · modelreg registry`;
    return;
  }
  notFound('This page');
}

async function start() {
  const modes = await call('login.supported_modes', {});
  if (!modes.authenticated) {
    showSignIn();
    return;
  }
  ctx.user = (await call('users.get_current_user', {})).user;
  showNav();
  await route();
}

// A new page takes the focus (screen readers then read it from its heading); the sign-in form keeps it
// on its first field.
window.addEventListener('hashchange', async () => {
  await route();
  if (!main().querySelector('form.signin')) main().focus();
});
// The skip link's `#main` would be read as a page address by the router: it moves the focus instead.
document.querySelector('.skip').addEventListener('click', (event) => {
  event.preventDefault();
  main().focus();
});
start().catch(failure);
say('');
