// The HTTP API client: JSON in and out, problem+json errors as ApiError.

/** The bearer token when signed in with an API token (else the session cookie is used). */
let token = sessionStorage.getItem('watchfire.token');

/** Listeners told when the API answers 401 (signed out, session expired). */
const unauthorized = new Set();

/** An error answer of the API, with its RFC 9457 problem. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    // A 422 names the field at fault, e.g. `interval_s` or `expect.status[1]`.
    this.field = this.problem.field || null;
  }
}

/** The bearer token the dashboard signs in with, if any. */
export function bearer() {
  return token;
}

/** Keeps (or with null forgets) an API token to sign in with. */
export function setBearer(value) {
  token = value;
  if (value) sessionStorage.setItem('watchfire.token', value);
  else sessionStorage.removeItem('watchfire.token');
}

/** Calls `fn()` whenever a request answers 401; returns the unsubscriber. */
export function onUnauthorized(fn) {
  unauthorized.add(fn);
  return () => unauthorized.delete(fn);
}

/**
 * Sends one request to `/api/v1{path}`, resolving to the parsed JSON body (or null),
 * rejecting with an ApiError for any status of 400 or more.
 */
export async function request(method, path, body, { headers = {}, raw = false } = {}) {
  const h = { Accept: 'application/json', ...headers };
  const sent = token;
  if (sent) h.Authorization = `Bearer ${sent}`;
  let payload;
  if (body !== undefined) {
    h['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(`/api/v1${path}`, { method, headers: h, body: payload, credentials: 'same-origin' });
  } catch (e) {
    throw new ApiError(0, { title: 'Network error', detail: `the server cannot be reached (${e.message})` });
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!res.ok) {
    if (res.status === 401) {
      // A refused token stays refused: forget it, or it would shadow a later password login
      // (the server reads a bearer token before the session cookie).
      // (Only the token this request sent: one entered meanwhile is not judged by it.)
      if (sent && token === sent) setBearer(null);
      if (path !== '/login') unauthorized.forEach((fn) => fn());
    }
    throw new ApiError(res.status, typeof data === 'object' ? data : { detail: String(data || res.statusText) });
  }
  return raw ? { data, headers: res.headers, status: res.status } : data;
}

/** GET shorthand. */
export const get = (path) => request('GET', path);
/** POST shorthand. */
export const post = (path, body) => request('POST', path, body ?? {});
/** PATCH shorthand. */
export const patch = (path, body, headers) => request('PATCH', path, body, { headers });
/** DELETE shorthand. */
export const del = (path) => request('DELETE', path);

/** Builds a query string from the defined values of `params`. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}
