// __TITLE__: an Easel image provider plugin, built as a WASI component by
// componentize-js (`npm run build`).
//
// This module owns the four exported calls against __TITLE__'s asynchronous
// HTTP API (README.md, "The protocol"):
//
// - submit: POST {base_url}/v1/generations -> {"id": ...}; the id is the job token
// - poll:   GET  {base_url}/v1/generations/{id} -> status, progress, image URLs
// - cancel: POST {base_url}/v1/generations/{id}/cancel
//
// Config keys ([plugins.__NAME__.config] in plugins.toml):
// - base_url: the API root, default https://api.example.com
//
// WIT values in JavaScript: records are objects with camelCase fields,
// variants are { tag: 'kebab-name', val }, enums are strings, flags are
// objects of booleans, list<u8> is a Uint8Array, u64 is a BigInt. An export
// that returns result<T, E> returns T and throws E as a plain object (a
// thrown Error traps the call; see `guarded`). The host creates a fresh
// instance for every call, so keep no state in module variables.

// HTTP through the host (this `fetch` shadows the global one, which has no
// network behind it in the sandbox).
import { fetch } from 'easel:image-provider/egress@__WIT_VERSION__';
import { get as configGet } from 'easel:image-provider/config@__WIT_VERSION__';
import { report } from 'easel:image-provider/progress@__WIT_VERSION__';
import { badAnswer, fromEgress, fromStatus } from './errors.js';

const MODEL_ID = '__NAME__-v1';
const DEFAULT_BASE_URL = 'https://api.example.com';
// The host swaps {{secret:__ENV__}} for the key on the way out, and only
// toward the secret's `hosts`: the plugin never sees the key itself.
const SECRET = '__ENV__';
const AUTHORIZATION = 'Bearer {{secret:__ENV__}}';

// Sizes the model accepts: sides from 256 to 2048 pixels, multiples of 64.
const MIN_SIDE = 256;
const MAX_SIDE = 2048;
const SIZE_MULTIPLE = 64;
const DEFAULT_SIDE = 1024;

// Per-request timeouts in milliseconds (the host caps them too).
const SUBMIT_TIMEOUT_MS = 30_000;
const POLL_TIMEOUT_MS = 15_000;

/**
 * The exported `provider` interface. A bug (a thrown Error) would trap the
 * call with only "unreachable"; `guarded` reports it as an `internal` error
 * that names what went wrong.
 */
export const provider = {
  describe: () => guarded(describe),
  submit: (request) => guarded(() => submit(request)),
  poll: (token) => guarded(() => poll(token)),
  cancel: (token) => guarded(() => cancel(token)),
};

function guarded(call) {
  try {
    return call();
  } catch (error) {
    if (!(error instanceof Error)) throw error; // a provider-error variant
    const where = error.stack?.split('\n')[0]; // e.g. submit@provider.js:98:7
    throw { tag: 'internal', val: `bug in the __NAME__ plugin: ${error} at ${where}` };
  }
}

function describe() {
  // The host checks every request against this before it calls submit,
  // so submit never sees sizes or counts out of range.
  const model = {
    id: MODEL_ID,
    displayName: '__TITLE__ v1',
    aliases: [],
    operations: ['generate'],
    aspectRatios: [], // any W:H; sizeOf turns it into pixels
    sizeTiers: [],
    sizes: [], // any size within the limits below
    minSide: MIN_SIDE,
    maxSide: MAX_SIDE,
    sizeMultiple: SIZE_MULTIPLE,
    defaultSize: { width: DEFAULT_SIDE, height: DEFAULT_SIDE },
    maxImages: 4,
    maxInputImages: 0,
    features: { seed: true, customSize: true },
    outputFormats: ['image/png'],
    lifecycle: 'current',
    // How the model reads a prompt: 'natural-language', 'weighted-tags'
    // or 't5-prose'. Easel compiles a caller's structured prompt into it.
    promptStyle: 'natural-language',
    // A JSON Schema of the API's own parameters (the caller's `params`).
    // This one accepts none, so stray params are refused, not ignored.
    parameters: '{"type": "object", "additionalProperties": false}',
  };
  return {
    id: '__NAME__',
    displayName: '__TITLE__',
    version: '0.1.0',
    description: '__TITLE__ image generation through its asynchronous HTTP API.',
    models: [model],
    defaultModel: MODEL_ID,
    secrets: [
      { name: SECRET, description: '__TITLE__ API key, sent as `Authorization: Bearer ...`.', required: true },
    ],
    hosts: [origin(baseUrl())],
  };
}

function submit(request) {
  const [width, height] = sizeOf(request);
  const body = { prompt: request.prompt, width, height, num_images: request.count };
  if (request.seed !== undefined) body.seed = Number(request.seed); // the host keeps seeds below 2^53
  const response = send('POST', `${baseUrl()}/v1/generations`, body, SUBMIT_TIMEOUT_MS);
  const id = jsonOf(response).id;
  if (!isJobId(id)) throw badAnswer(response, 'the submit answer has no usable `id`');
  return { tag: 'pending', val: id };
}

// What happened to the job is a return value (done, failed, still
// running); trouble asking is thrown, and the host may retry.
function poll(token) {
  const id = checkedToken(token);
  const response = send('GET', `${baseUrl()}/v1/generations/${id}`, null, POLL_TIMEOUT_MS, { ok404: true });
  if (response.status === 404) {
    const message = `__TITLE__ no longer knows generation ${id} (expired or never existed)`;
    return { tag: 'failed', val: { tag: 'upstream', val: { status: 404, message } } };
  }
  const answer = jsonOf(response);
  const fraction = typeof answer.progress === 'number' ? Math.min(Math.max(answer.progress, 0), 1) : undefined;
  const status = answer.status || 'no status';
  switch (status) {
    case 'queued':
      return { tag: 'queued', val: undefined };
    case 'succeeded': {
      const urls = (Array.isArray(answer.images) ? answer.images : []).filter((url) => typeof url === 'string');
      return { tag: 'done', val: urls.map(remoteImage) };
    }
    case 'failed': {
      const message = `__TITLE__ could not generate the image: ${answer.error || 'no reason given'}`;
      return { tag: 'failed', val: { tag: 'upstream', val: { status: 0, message } } };
    }
    default: {
      // "running", and any status this code does not know yet.
      if (fraction !== undefined) {
        // News from inside this call; the host shows the state returned below too.
        report(fraction, `__TITLE__ is ${Math.round(fraction * 100)}% done`);
      }
      return { tag: 'running', val: { fraction, message: `generating at __TITLE__ (${status})` } };
    }
  }
}

function cancel(token) {
  // A job __TITLE__ no longer knows (404) has nothing left to stop.
  const id = checkedToken(token);
  send('POST', `${baseUrl()}/v1/generations/${id}/cancel`, null, POLL_TIMEOUT_MS, { ok404: true });
}

/**
 * The output size: as asked; else the aspect ratio with its long side at the
 * default and the short side rounded to a multiple of 64; else the default square.
 */
function sizeOf(request) {
  if (request.size) return [request.size.width, request.size.height];
  const [w, h] = (request.aspectRatio || '').split(':').map(Number);
  if (!(w > 0 && h > 0)) return [DEFAULT_SIDE, DEFAULT_SIDE];
  const short = (part, whole) => {
    const side = Math.round((DEFAULT_SIDE * part) / whole / SIZE_MULTIPLE) * SIZE_MULTIPLE;
    return Math.min(Math.max(side, MIN_SIDE), DEFAULT_SIDE);
  };
  return w >= h ? [DEFAULT_SIDE, short(h, w)] : [short(w, h), DEFAULT_SIDE];
}

/** An image URL for the host to download (same egress policy: its host must be in allowed_hosts). */
function remoteImage(url) {
  return { data: { tag: 'remote', val: { url, headers: [] } } };
}

/** base_url from the config, without trailing slashes. */
function baseUrl() {
  const url = (configGet('base_url') || '').trim().replace(/\/+$/, '') || DEFAULT_BASE_URL;
  if (!/^https?:\/\//.test(url)) {
    throw {
      tag: 'unavailable',
      val: `config key base_url must be an http(s) URL (got \`${url}\`); fix [plugins.__NAME__.config] in plugins.toml`,
    };
  }
  return url;
}

/** scheme://host[:port] of a URL: the form allowed_hosts entries take. */
function origin(url) {
  const [scheme, rest] = url.split('://');
  return `${scheme}://${rest.split('/')[0]}`;
}

/** The job token is the upstream id; checked before it goes into a URL. */
function checkedToken(token) {
  if (!isJobId(token)) throw { tag: 'internal', val: `\`${token}\` is not a __TITLE__ job token` };
  return token;
}

function isJobId(value) {
  return typeof value === 'string' && /^[A-Za-z0-9._-]{1,200}$/.test(value);
}

/**
 * One request through the host. A non-2xx answer (but a 404 when `ok404`)
 * or an egress failure is thrown as an Easel provider-error.
 */
function send(method, url, body, timeoutMs, { ok404 = false } = {}) {
  const headers = [
    ['authorization', AUTHORIZATION],
    ['accept', 'application/json'],
  ];
  if (body !== null) headers.push(['content-type', 'application/json']);
  const bytes = body === null ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(body));
  let response;
  try {
    response = fetch({ method, url, headers, body: bytes, timeoutMs });
  } catch (failure) {
    // An import's err value arrives as the thrown error's `payload`.
    throw fromEgress(failure.payload ?? { tag: 'invalid-request', val: String(failure) });
  }
  const ok = (response.status >= 200 && response.status < 300) || (ok404 && response.status === 404);
  if (!ok) throw fromStatus(response);
  return response;
}

function jsonOf(response) {
  let answer;
  try {
    answer = JSON.parse(new TextDecoder().decode(response.body));
  } catch {
    answer = null;
  }
  if (answer === null || typeof answer !== 'object' || Array.isArray(answer)) {
    throw badAnswer(response, 'the answer is not a JSON object');
  }
  return answer;
}
