// The API as the pages use it: every call is /api/v2.99/<endpoint> with the sign-in cookie, so the
// server's scope and role checks apply exactly as for any other client.

const BASE = '/api/v2.99/';

export class ApiError extends Error {
  constructor(status, meta) {
    super((meta && meta.result_msg) || `HTTP ${status}`);
    this.status = status;
    this.code = (meta && meta.result_code) || status;
    this.subcode = (meta && meta.result_subcode) || 0;
  }

  // Another company's id, a deleted one or a typo: the API answers 400/201-style "invalid id" errors.
  get notFound() {
    return this.status === 404 || (this.code === 400 && [101, 201, 1101, 1105].includes(this.subcode))
      || /invalid .*id|not found|no such/i.test(this.message);
  }
}

async function send(endpoint, body, headers = {}) {
  return fetch(BASE + endpoint, {
    method: 'POST',
    credentials: 'same-origin',
    headers: {'Content-Type': 'application/json', ...headers},
    body,
  });
}

export async function call(endpoint, data = {}) {
  const resp = await send(endpoint, JSON.stringify(data));
  let body = null;
  try { body = await resp.json(); } catch { /* not JSON */ }
  if (!resp.ok || !body) throw new ApiError(resp.status, body && body.meta);
  return body.data;
}

export async function signIn(key, secret) {
  const resp = await send('auth.login', 'null', {Authorization: `Basic ${btoa(`${key}:${secret}`)}`});
  if (!resp.ok) {
    let meta = null;
    try { meta = (await resp.json()).meta; } catch { /* ignore */ }
    throw new ApiError(resp.status, meta);
  }
}

export async function signOut() {
  await call('login.logout', {});
}

// Every match of a streamed listing (records.get_all), as parsed JSON lines.
export async function streamAll(endpoint, data) {
  const resp = await send(endpoint, JSON.stringify(data), {Accept: 'application/x-ndjson'});
  if (!resp.ok) {
    let meta = null;
    try { meta = (await resp.json()).meta; } catch { /* ignore */ }
    throw new ApiError(resp.status, meta);
  }
  return resp.text();
}

export function downloadUrl(endpoint, params) {
  return `${BASE}${endpoint}?${new URLSearchParams(params)}`;
}
