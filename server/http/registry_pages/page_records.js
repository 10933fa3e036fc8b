// Records of a model: one data field over time (records.get_series, downsampled by the server), filters,
// a table page (records.get_all) and NDJSON / CSV exports of every match (the streamed records.get_all).

import {call, streamAll} from './api.js';
import {duration, field, h, qs, say, table, timeEl} from './dom.js';
import {seriesSvg} from './chart.js';
import {csvCell} from './csv.js';

const FILTERS = ['experiment', 'season', 'site', 'dataset'];
const PAGE_SIZE = 50;

function numericPaths(value, prefix = '', out = new Set()) {
  if (typeof value === 'number') { if (prefix) out.add(prefix); return out; }
  if (value && typeof value === 'object' && !Array.isArray(value) && prefix.split('.').length < 4) {
    for (const [key, inner] of Object.entries(value)) {
      if (/^[A-Za-z0-9_-]{1,100}$/.test(key)) numericPaths(inner, prefix ? `${prefix}.${key}` : key, out);
    }
  }
  return out;
}

function pick(value, path) {
  return path.split('.').reduce((v, key) => (v && typeof v === 'object' ? v[key] : undefined), value);
}

function isoOrNull(local) {
  if (!local) return null;
  const d = new Date(`${local}Z`);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function query(model, params) {
  const request = {model};
  for (const name of FILTERS) if (params[name]) request[name] = params[name];
  const from = isoOrNull(params.from);
  const to = isoOrNull(params.to);
  if (from) request.start_timestamp = from;
  if (to) request.end_timestamp = to;
  return request;
}

// Without a range asked, the server's span is whole days (its per-day counts bound the records); the chart
// shows the span its buckets cover instead, so a day with records until noon is not half empty.
function dataSpan(series) {
  const buckets = series.buckets || [];
  if (!buckets.length) return series;
  const end = Date.parse(buckets[buckets.length - 1].time) + Math.max(series.bucket_ms, 1) - 1;
  return {...series, from: buckets[0].time, to: new Date(end).toISOString()};
}

function save(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], {type}));
  const link = h('a', {href: url, download: name});
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function exportAll(request, kind) {
  say('Preparing the export…');
  const text = await streamAll('records.get_all', {...request, order_by: ['timestamp']});
  if (kind === 'ndjson') {
    save('records.ndjson', 'application/x-ndjson', text);
  } else {
    const columns = ['id', 'timestamp', 'experiment', 'season', 'site', 'dataset', 'collection_date', 'data'];
    const lines = text.split('\n').filter(Boolean).map((line) => JSON.parse(line));
    save('records.csv', 'text/csv', [columns.join(','), ...lines.map((r) => columns.map((c) => csvCell(r[c])).join(','))].join('\n'));
  }
  say('Export ready.');
}

// The time window [start, end) that holds about one table page of the newest records before `endMs`,
// from the series' bucket counts: the table then asks for records inside it only, an index range of
// the model's records instead of a sort of all of them.
function windowBefore(series, endMs) {
  let total = 0;
  for (let i = series.buckets.length - 1; i >= 0; i -= 1) {
    const bucket = series.buckets[i];
    const at = Date.parse(bucket.time);
    if (at >= endMs) continue;
    total += bucket.count;
    if (total >= PAGE_SIZE) return {start: new Date(at).toISOString(), end: new Date(endMs).toISOString()};
  }
  return {start: null, end: new Date(endMs).toISOString()};
}

export async function render(ctx) {
  const {main, match, params} = ctx;
  const modelId = match[0];
  const request = query(modelId, params);
  const maxPoints = Math.min(5000, Math.max(1, Number.parseInt(params.points || '1000', 10) || 1000));
  const [model, datasets] = await Promise.all([
    call('models.get_by_id', {model: modelId}).then((d) => d.model),
    call('models.get_datasets', {model: modelId}).catch(() => ({datasets: []}))]);
  // Without a chosen field, the numeric fields of the oldest matching records (the first window of time,
  // cheap on any database) offer one; the series is then asked once, for it.
  const paths = new Set(params.field ? [params.field] : []);
  if (!params.field) {
    const oldest = await call('records.get_all', {...request, page: 0, page_size: 20, only_fields: ['data']});
    for (const r of oldest.records) numericPaths(r.data, '', paths);
  }
  const fieldName = params.field || [...paths].sort()[0] || '';
  const series = await call('records.get_series', {...request, field: fieldName || null, max_points: maxPoints});
  const before = params.before ? Date.parse(params.before) : Date.parse(series.to || new Date().toISOString()) + 1;
  const span = series.buckets.length ? windowBefore(series, before) : {start: null, end: null};
  const listing = await call('records.get_all', {...request, order_by: ['-timestamp'], page: 0, page_size: PAGE_SIZE,
    ...(span.start ? {start_timestamp: span.start} : {}),
    ...(span.end && params.before ? {end_timestamp: new Date(before - 1).toISOString()} : {})});
  for (const r of listing.records) numericPaths(r.data, '', paths);

  const controls = {
    field: h('select', {name: 'field'}, [...paths].sort().map((p) => h('option', {value: p, selected: p === fieldName}, p))),
    experiment: h('input', {name: 'experiment', value: params.experiment || ''}),
    season: h('input', {name: 'season', value: params.season || ''}),
    site: h('input', {name: 'site', value: params.site || ''}),
    dataset: h('select', {name: 'dataset'}, h('option', {value: ''}, 'Every dataset'),
      (datasets.datasets || []).map((d) => h('option', {value: d.id, selected: d.id === params.dataset}, d.name))),
    from: h('input', {name: 'from', type: 'datetime-local', step: 1, value: params.from || ''}),
    to: h('input', {name: 'to', type: 'datetime-local', step: 1, value: params.to || ''}),
    points: h('input', {name: 'points', type: 'number', min: 1, max: 5000, value: maxPoints}),
  };
  const form = h('form', {class: 'filters', 'aria-label': 'Choose the field and filter the records', onsubmit: (event) => {
    event.preventDefault();
    const next = Object.fromEntries(Object.entries(controls).map(([k, c]) => [k, c.value]));
    location.hash = `#/records/${encodeURIComponent(modelId)}${qs(next)}`;
  }},
  field('Data field', controls.field), field('Experiment', controls.experiment), field('Season', controls.season),
  field('Site', controls.site), field('Dataset', controls.dataset), field('From (UTC)', controls.from),
  field('To (UTC)', controls.to), field('Most points', controls.points), h('button', {type: 'submit'}, 'Show'));

  const label = fieldName || 'records';
  const chart = h('figure', {class: 'chart-wrap'}, seriesSvg(params.from || params.to ? series : dataSpan(series), label),
    h('figcaption', {}, fieldName ? `${fieldName}: ${series.count} values in ${series.buckets.length} points`
      : `No numeric field in the newest records: records counted, ${series.count} in ${series.buckets.length} points`,
    series.bucket_ms ? ` (one point per ${duration(series.bucket_ms)}; the band spans min to max)` : ''));
  const rows = listing.records.map((r) => [timeEl(r.timestamp), r.experiment || '', r.season || '', r.site || '',
    fieldName ? String(pick(r.data, fieldName) ?? '') : '', h('code', {}, JSON.stringify(r.data ?? null).slice(0, 200))]);
  const last = listing.records[listing.records.length - 1];
  const go = (when) => { location.hash = `#/records/${encodeURIComponent(modelId)}${qs({...params, before: when || ''})}`; };
  main.replaceChildren(
    h('h1', {}, `Records of ${model.name} v${model.version ?? '?'}`),
    h('p', {}, h('a', {href: `#/version/${modelId}`}, 'Back to the version')),
    form,
    h('section', {'aria-labelledby': 'chart-title'}, h('h2', {id: 'chart-title'}, 'Over time'), chart),
    h('section', {'aria-labelledby': 'table-title'}, h('h2', {id: 'table-title'}, 'Records'),
      h('div', {class: 'exports'},
        h('button', {type: 'button', class: 'export-ndjson', onclick: () => exportAll(request, 'ndjson').catch((e) => say(e.message))}, 'Export NDJSON'),
        h('button', {type: 'button', class: 'export-csv', onclick: () => exportAll(request, 'csv').catch((e) => say(e.message))}, 'Export CSV')),
      table('Records, newest first', ['Time', 'Experiment', 'Season', 'Site', fieldName || 'Value', 'Data'], rows,
        {empty: 'No records match.'}),
      h('nav', {class: 'pager', 'aria-label': 'Pages of records'},
        h('button', {type: 'button', disabled: !params.before, onclick: () => go('')}, 'Newest'),
        h('button', {type: 'button', disabled: !last || !span.start, onclick: () => go(last.timestamp)}, 'Older'))));
}
