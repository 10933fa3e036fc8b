// Names for the ids a page shows (users, projects): read with one call for the ids still unknown, each
// id once per sign-in. The promise is cached, not the answer, so rows rendered at the same time share
// one read instead of each seeing an empty cache. An id the API does not return (a deleted user, another
// company's project of a public model) is shown as it is.

import {call} from './api.js';

const SOURCES = {user: ['users.get_all', 'users'], project: ['projects.get_all', 'projects']};
const cache = {user: new Map(), project: new Map()};

export async function names(kind, ids) {
  const known = cache[kind];
  const wanted = [...new Set(ids.filter(Boolean))];
  const missing = wanted.filter((id) => !known.has(id));
  if (missing.length) {
    const [endpoint, key] = SOURCES[kind];
    const read = call(endpoint, {id: missing, only_fields: ['id', 'name'], page: 0, page_size: missing.length})
      .then((data) => new Map((data[key] || []).map((item) => [item.id, item.name])), () => new Map());
    for (const id of missing) known.set(id, read.then((found) => found.get(id) || id));
  }
  return new Map(await Promise.all(wanted.map(async (id) => [id, await known.get(id)])));
}

export function forgetNames() {
  for (const known of Object.values(cache)) known.clear();
}
