// Webhooks (admins): each webhook, its deliveries, and sending parked or delivered ones again.

import {call} from './api.js';
import {badge, h, qs, say, table, timeEl} from './dom.js';

async function redeliver(request, rerender) {
  try {
    const reply = await call('webhooks.redeliver', request);
    say(`${reply.queued} deliveries queued.`);
    await rerender();
  } catch (error) {
    say(`Refused: ${error.message}`);
  }
}

export async function render(ctx) {
  const {main, params} = ctx;
  const rerender = () => render(ctx);
  const hooks = (await call('webhooks.get_all', {})).webhooks;
  const rows = hooks.map((w) => [h('a', {href: `#/webhooks${qs({webhook: w.id})}`}, w.url), (w.kinds || []).join(', '),
    badge(w.state || 'active', w.state === 'failing' ? 'bad' : 'ok'), w.last_error || '', timeEl(w.created)]);
  const parts = [h('h1', {}, 'Webhooks'),
    table('Webhooks', ['URL', 'Kinds', 'State', 'Last error', 'Created'], rows, {empty: 'No webhooks.'})];
  const chosen = hooks.find((w) => w.id === params.webhook);
  if (chosen) {
    // the newest page of deliveries, shown by change number (one batch's deliveries are created together)
    const deliveries = (await call('webhooks.get_deliveries', {webhook: chosen.id, page: 0, page_size: 100})).deliveries
      .sort((a, b) => (b.seq ?? Infinity) - (a.seq ?? Infinity));
    const drows = deliveries.map((d) => [String(d.seq ?? 'ping'), h('code', {}, d.kind || ''), badge(d.state), String(d.attempts),
      d.status ? String(d.status) : '—', d.error || '', timeEl(d.last_attempt || d.created),
      ['delivered', 'parked'].includes(d.state)
        ? h('button', {type: 'button', 'data-delivery': d.id, 'aria-label': `Redeliver ${d.kind || 'ping'} ${d.seq ?? ''}`, onclick: () => redeliver({delivery: d.id}, rerender)}, 'Redeliver')
        : '']);
    parts.push(h('section', {'aria-labelledby': 'deliveries-title'},
      h('h2', {id: 'deliveries-title'}, `Deliveries to ${chosen.url}`),
      h('button', {type: 'button', onclick: () => redeliver({webhook: chosen.id}, rerender)}, 'Redeliver every parked delivery'),
      table('Deliveries, latest changes first', ['Seq', 'Kind', 'State', 'Attempts', 'Status', 'Error', 'Last attempt', ''], drows,
        {empty: 'No deliveries.'})));
  }
  main.replaceChildren(...parts);
}
