// Failures -> Easel provider-errors: HTTP error answers from __TITLE__
// ({"error": "...", "field": "..."}) and egress failures from the host. The
// messages reach users and models, so each says what happened and what to do.
//
// Each function returns a provider-error variant ({ tag, val }); the caller
// throws it. The tag decides what the host does next: it retries
// 'rate-limited' (after retryAfterMs) and reports the others.

/** A non-2xx answer. */
export function fromStatus(response) {
  const { message, field } = errorOf(response);
  const status = response.status;
  if (status === 401 || status === 403) {
    return {
      tag: 'unauthorized',
      val: `__TITLE__ rejected the API key (HTTP ${status}: ${message}); set __ENV__ to a valid key`,
    };
  }
  if (status === 429) {
    const limit = { retryAfterMs: retryAfterMs(response), message: `__TITLE__ is rate-limiting this key: ${message}` };
    return { tag: 'rate-limited', val: limit };
  }
  if (status === 400 || status === 422) {
    // Easel's parameter name, so the caller knows what to fix.
    const easelField = field === 'num_images' ? 'count' : field;
    return { tag: 'invalid-request', val: { field: easelField, message: `__TITLE__ refused the request: ${message}` } };
  }
  return { tag: 'upstream', val: { status, message: `__TITLE__ answered HTTP ${status}: ${message}` } };
}

/**
 * A request the host could not complete (an egress-error variant); the host's
 * message already names the URL.
 */
export function fromEgress(error) {
  const m = error.val;
  switch (error.tag) {
    case 'timeout':
      return { tag: 'timeout', val: `__TITLE__ did not answer in time: ${m}` };
    case 'connection':
      return { tag: 'unavailable', val: `cannot reach __TITLE__: ${m}` };
    case 'denied': // not on allowed_hosts; the host's message names the entry to add
      return { tag: 'unavailable', val: m };
    case 'secret-unavailable':
      return { tag: 'unauthorized', val: `${m} (set __ENV__, and bind it to this host in plugins.toml)` };
    case 'too-large':
      return { tag: 'upstream', val: { status: 0, message: m } };
    default:
      return { tag: 'internal', val: `the host refused the request: ${m}` };
  }
}

/** A 2xx answer that is not what the protocol says. */
export function badAnswer(response, what) {
  const message = `__TITLE__ sent an unexpected answer: ${what} (${snippet(response.body)})`;
  return { tag: 'upstream', val: { status: response.status, message } };
}

/** `error` and `field` of an error body; else the start of the body as text. */
function errorOf(response) {
  let body;
  try {
    body = JSON.parse(new TextDecoder().decode(response.body));
  } catch {
    body = null;
  }
  const text = (key) => (body && typeof body[key] === 'string' ? body[key] : undefined);
  return { message: text('error') ?? snippet(response.body), field: text('field') };
}

/** retry-after in delta-seconds, as milliseconds (a BigInt: the WIT type is u64). */
function retryAfterMs(response) {
  const header = response.headers.find(([name]) => name === 'retry-after');
  const seconds = header ? Number(header[1].trim()) : NaN;
  return Number.isFinite(seconds) && seconds >= 0 ? BigInt(Math.round(seconds * 1000)) : undefined;
}

function snippet(bytes) {
  const text = new TextDecoder().decode(bytes).trim();
  if (!text) return 'empty body';
  return text.length <= 200 ? text : `${text.slice(0, 200)}...`;
}
