// Stability AI's v2beta Stable Image protocol, without any host: an Easel
// request (WIT `generation-request`, already checked by the host against
// models.js) into one multipart POST to /v2beta/stable-image/generate/{service}
// (docs/providers/stability.md#endpoints, #fields), and the answer (raw image
// bytes or JSON) or error body `{id, name, errors}` into images or Easel
// provider errors (#response, #errors). Imports nothing from `easel:`, so
// `node --test` exercises it directly (protocol.test.js).

import { fromBase64, fromUtf8, multipart, sniffImage, toBytes } from './codec.js';
import {
  ASPECT_RATIOS, CFG_RANGE, INPUT_MIN_PIXELS, INPUT_SIDE, MAX_BODY_BYTES, MAX_PROMPT_CHARS, MAX_SEED, findModel, models,
} from './models.js';

/** The secret the plugin references; the host fills it in, never the plugin. */
export const SECRET = 'STABILITY_API_KEY';
export const DEFAULT_BASE_URL = 'https://api.stability.ai';
/** Per-request timeout; the host caps it at the plugin's `timeout_secs`. */
export const DEFAULT_TIMEOUT_MS = 150000;
/** Strength sent with an input image when the request has none (ComfyUI's Stability nodes use 0.5) [S]. */
export const DEFAULT_STRENGTH = 0.5;
/** A width/height is mapped to the nearest ratio only if within this factor of it. */
const RATIO_TOLERANCE = 1.1;
/** Wait after a 429 without retry-after: Stability times a key out for 60 s [P]. */
const RATE_LIMIT_TIMEOUT_MS = 60000n;

// -- provider errors (WIT `provider-error`, as componentize-js expects a thrown variant) --

export const invalid = (field, message) => ({ tag: 'invalid-request', val: { field, message } });
export const unsupported = (message) => ({ tag: 'unsupported', val: message });
export const unauthorized = (message) => ({ tag: 'unauthorized', val: message });
export const contentBlocked = (message) => ({ tag: 'content-blocked', val: message });
export const rateLimited = (retryAfterMs, message) => ({ tag: 'rate-limited', val: { retryAfterMs, message } });
export const upstream = (status, message) => ({ tag: 'upstream', val: { status, message } });
export const internal = (message) => ({ tag: 'internal', val: message });

/** The operator's `[plugins.stability.config]`, read through `get(key)`. */
export function settingsFrom(get) {
  const value = (key) => {
    const v = get(key);
    return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
  };
  const accept = value('accept') || 'image/*';
  const timeout = Number(value('timeout_ms'));
  return {
    baseUrl: (value('base_url') || DEFAULT_BASE_URL).replace(/\/+$/, ''),
    accept,
    timeoutMs: Number.isInteger(timeout) && timeout > 0 ? timeout : DEFAULT_TIMEOUT_MS,
    clientId: value('client_id') || 'easel',
  };
}

/** `scheme://host[:port]` of a URL (what `describe` lists in `hosts`). */
export function originOf(url) {
  const match = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]+)/i.exec(url);
  return match ? match[1] : url;
}

/** Characters as Stability counts them (code points). */
const length = (text) => [...text].length;

/**
 * The nearest of the nine aspect ratios to width:height, or an
 * `invalid-request` naming `width` when none is within 10 %.
 */
export function nearestRatio(width, height) {
  const wanted = Math.log(width / height);
  let best;
  let distance = Infinity;
  for (const ratio of ASPECT_RATIOS) {
    const [w, h] = ratio.split(':').map(Number);
    const d = Math.abs(Math.log(w / h) - wanted);
    if (d < distance) [best, distance] = [ratio, d];
  }
  if (distance > Math.log(RATIO_TOLERANCE)) {
    throw invalid('width', `${width}x${height} is not near any aspect ratio Stability offers (${ASPECT_RATIOS.join(', ')}); ` +
      'Stability takes no pixel sizes, only these ratios: choose width/height close to one, or pass aspect_ratio');
  }
  return best;
}

/** Body fields the plugin sets from Easel arguments, refused in `params`: key → argument. */
const RESERVED = {
  prompt: 'prompt', negative_prompt: 'negative_prompt', aspect_ratio: 'width/height or aspect_ratio', seed: 'seed',
  image: 'images', strength: 'strength', mode: 'operation (generate_image or edit_image)', model: 'model',
  cfg_scale: 'guidance',
};

/** The caller's `params` (WIT `extra`) as form fields, refusing reserved keys and non-scalar values. */
export function paramFields(extra, model) {
  if (extra === undefined || extra === null || extra.trim() === '') return [];
  let params;
  try {
    params = JSON.parse(extra);
  } catch (e) {
    throw invalid('params', `is not valid JSON: ${e.message}`);
  }
  if (params === null || typeof params !== 'object' || Array.isArray(params)) {
    throw invalid('params', 'must be a JSON object of Stability form fields, e.g. {"style_preset": "anime"}');
  }
  const fields = [];
  for (const [key, value] of Object.entries(params)) {
    if (RESERVED[key]) throw invalid(`params.${key}`, `use the ${RESERVED[key]} argument instead: the plugin sets \`${key}\` from it`);
    if (value === null) continue;
    if (!['string', 'number', 'boolean'].includes(typeof value)) {
      throw invalid(`params.${key}`, `must be a string, number or boolean: Stability's form fields are text (got ${Array.isArray(value) ? 'an array' : 'an object'})`);
    }
    if (key === 'output_format' && !model.formats.includes(value)) {
      throw invalid('params.output_format', `\`${value}\` is not offered by \`${model.id}\`; choose one of ${model.formats.join(', ')}`);
    }
    fields.push({ name: key, value: String(value) });
  }
  return fields;
}

/** Check the parts of `req` the host cannot know about Stability; throws an `invalid-request`. */
function checkRequest(req, model) {
  const edit = req.operation === 'edit';
  if (req.operation !== 'generate' && !edit) {
    throw invalid('model', `\`${model.id}\` cannot ${req.operation}: Stability models here generate${model.edit ? ' and edit (image-to-image)' : ''}`);
  }
  if (edit && !model.edit) throw invalid('model', `\`${model.id}\` cannot edit; use stable-image-ultra or an sd3.5 model`);
  if (length(req.prompt) > MAX_PROMPT_CHARS) throw invalid('prompt', `is ${length(req.prompt)} characters; Stability takes at most ${MAX_PROMPT_CHARS}`);
  const negative = req.negativePrompt;
  if (negative !== undefined && negative !== null && negative.trim() !== '') {
    if (!model.negativePrompt) throw invalid('negative_prompt', `\`${model.id}\` takes no negative prompt; say what to leave out in the prompt`);
    if (length(negative) > MAX_PROMPT_CHARS) throw invalid('negative_prompt', `is longer than ${MAX_PROMPT_CHARS} characters`);
  }
  if (req.seed !== undefined && req.seed !== null && BigInt(req.seed) > MAX_SEED) {
    throw invalid('seed', `must be between 0 and ${MAX_SEED} for Stability (0 lets Stability pick one), got ${req.seed}`);
  }
  if (req.steps !== undefined && req.steps !== null) throw invalid('steps', 'Stability takes no step count; leave it out');
  if (req.guidance !== undefined && req.guidance !== null) {
    if (!model.guidance) throw invalid('guidance', `\`${model.id}\` takes no guidance scale; the sd3.5 models do (cfg_scale)`);
    if (!(req.guidance >= CFG_RANGE[0] && req.guidance <= CFG_RANGE[1])) {
      throw invalid('guidance', `must be between ${CFG_RANGE[0]} and ${CFG_RANGE[1]} for Stability's cfg_scale (got ${req.guidance})`);
    }
  }
  if (req.count !== 1) throw invalid('count', `Stability returns one image per request: ask for 1 (got ${req.count})`);
  if (req.sizeTier) throw invalid('size_tier', 'Stability has no size tiers; it picks the pixel size for each aspect ratio');
  if (!edit && req.strength !== undefined && req.strength !== null) throw invalid('strength', 'only applies to edits (edit_image)');
}

/** The one input image of an edit, checked against what Stability accepts. */
function inputImage(req) {
  const references = req.images.filter((i) => i.role === 'reference');
  const others = req.images.filter((i) => i.role !== 'reference');
  if (others.length > 0) throw invalid('images', `Stability's image-to-image takes no \`${others[0].role}\` image; give one reference image only`);
  if (references.length !== 1) throw invalid('images', `an edit takes exactly one reference image (got ${references.length})`);
  const image = { ...references[0], data: toBytes(references[0].data) };
  const mime = sniffImage(image.data) || image.mimeType;
  if (!['image/png', 'image/jpeg', 'image/webp'].includes(mime)) {
    throw invalid('images', `Stability takes PNG, JPEG or WebP input images, not ${mime}: convert it first`);
  }
  const [low, high] = INPUT_SIDE;
  for (const [side, value] of [['width', image.width], ['height', image.height]]) {
    if (value < low || value > high) throw invalid('images', `the input image's ${side} is ${value} px; Stability needs ${low} to ${high}`);
  }
  if (image.width * image.height < INPUT_MIN_PIXELS) {
    throw invalid('images', `the input image has ${image.width * image.height} pixels; Stability needs at least ${INPUT_MIN_PIXELS}`);
  }
  return { ...image, mimeType: mime };
}

/**
 * The HTTP request for `req` (WIT `http-request` plus what `interpret`
 * needs), or a thrown provider error naming the field to fix.
 */
export function buildRequest(req, settings, version) {
  const model = findModel(req.model);
  if (!model) {
    throw unsupported(`model \`${req.model}\` is not a Stability model this plugin knows; choose one of ${models().map((m) => m.id).join(', ')}`);
  }
  checkRequest(req, model);
  if (!['image/*', 'application/json'].includes(settings.accept)) {
    throw unsupported(`[plugins.stability.config] accept = "${settings.accept}" is not one of "image/*" (raw bytes) or "application/json" (base64); fix plugins.toml`);
  }
  const edit = req.operation === 'edit';
  const fields = [{ name: 'prompt', value: req.prompt }];
  if (model.negativePrompt && req.negativePrompt && req.negativePrompt.trim() !== '') fields.push({ name: 'negative_prompt', value: req.negativePrompt });
  let aspectRatio;
  if (edit) {
    if (req.aspectRatio || req.size) {
      throw invalid(req.aspectRatio ? 'aspect_ratio' : 'width', "an edit keeps the input image's shape at Stability; leave width/height and aspect_ratio out");
    }
  } else if (req.aspectRatio) {
    if (!ASPECT_RATIOS.includes(req.aspectRatio)) throw invalid('aspect_ratio', `\`${req.aspectRatio}\` is not offered by Stability; choose one of ${ASPECT_RATIOS.join(', ')}`);
    aspectRatio = req.aspectRatio;
  } else if (req.size) {
    aspectRatio = nearestRatio(req.size.width, req.size.height);
  }
  if (aspectRatio) fields.push({ name: 'aspect_ratio', value: aspectRatio });
  if (req.seed !== undefined && req.seed !== null) fields.push({ name: 'seed', value: String(req.seed) });
  if (model.service === 'sd3') {
    fields.push({ name: 'model', value: model.sd3Model }, { name: 'mode', value: edit ? 'image-to-image' : 'text-to-image' });
    if (req.guidance !== undefined && req.guidance !== null) fields.push({ name: 'cfg_scale', value: String(Math.round(req.guidance * 1000) / 1000) });
  }
  const image = edit ? inputImage(req) : undefined;
  if (edit) {
    const strength = req.strength === undefined || req.strength === null ? DEFAULT_STRENGTH : Math.round(req.strength * 1000) / 1000;
    fields.push({ name: 'strength', value: String(strength) });
  }
  fields.push(...paramFields(req.extra, model));
  if (image) {
    const ext = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp' }[image.mimeType];
    fields.push({ name: 'image', filename: `image.${ext}`, contentType: image.mimeType, data: image.data });
  }
  const form = multipart(fields);
  if (form.body.length > MAX_BODY_BYTES) {
    throw invalid('images', `the request would be ${(form.body.length / 1048576).toFixed(1)} MiB; Stability accepts at most 10 MiB: send a smaller input image`);
  }
  const outputFormat = fields.find((f) => f.name === 'output_format')?.value || 'png';
  return {
    http: {
      method: 'POST',
      url: `${settings.baseUrl}/v2beta/stable-image/generate/${model.service}`,
      headers: [
        ['authorization', `Bearer {{secret:${SECRET}}}`],
        ['accept', settings.accept],
        ['content-type', form.contentType],
        ['stability-client-id', settings.clientId],
        ['stability-client-version', version],
      ],
      body: form.body,
      timeoutMs: settings.timeoutMs,
    },
    model,
    outputFormat,
    aspectRatio,
  };
}

// -- the answer ---------------------------------------------------------------------

/** A response header (names are lower-case in WIT `http-response`). */
export function header(resp, name) {
  const found = resp.headers.find(([k]) => k.toLowerCase() === name);
  return found ? found[1] : undefined;
}

/** A short, readable piece of a body for error messages (an HTML page's <title>). */
export function snippet(body, max = 300) {
  const text = fromUtf8(body, 4096).trim();
  const title = /<title[^>]*>([^<]*)<\/title>/i.exec(text);
  const plain = title ? title[1].trim() : text.replace(/\s+/g, ' ');
  return plain.length > max ? `${plain.slice(0, max)}…` : plain || '(empty body)';
}

/** Width and height from a PNG header, if the bytes are a PNG. */
function pngSize(data) {
  if (data.length < 24 || sniffImage(data) !== 'image/png') return [undefined, undefined];
  const u32 = (at) => ((data[at] << 24) >>> 0) + (data[at + 1] << 16) + (data[at + 2] << 8) + data[at + 3];
  return [u32(16), u32(20)];
}

/** `seed` as a u64 BigInt when it is a whole number, else undefined. */
function seedOf(value) {
  const text = value === undefined || value === null ? '' : String(value).trim();
  return /^\d{1,20}$/.test(text) ? BigInt(text) : undefined;
}

/** The images of a response (WIT `image-output` list), or a thrown provider error. */
export function interpret(resp, built, url) {
  if (resp.status !== 200) throw classifyError(resp, url);
  const contentType = (header(resp, 'content-type') || '').toLowerCase();
  let data;
  let finishReason;
  let seed;
  if (contentType.startsWith('application/json')) {
    let value;
    try {
      value = JSON.parse(fromUtf8(resp.body));
    } catch (e) {
      throw upstream(200, `Stability answered with JSON that does not parse (${e.message}): ${snippet(resp.body)}`);
    }
    if (!value || typeof value.image !== 'string') throw upstream(200, `Stability answered without an image: ${snippet(resp.body)}`);
    try {
      data = fromBase64(value.image);
    } catch (e) {
      throw upstream(200, `Stability's image is not valid base64: ${e.message}`);
    }
    finishReason = value.finish_reason;
    seed = seedOf(value.seed);
  } else if (contentType.startsWith('image/')) {
    data = toBytes(resp.body);
    finishReason = header(resp, 'finish-reason');
    seed = seedOf(header(resp, 'seed'));
  } else {
    throw upstream(200, `Stability answered with ${contentType || 'no content type'} instead of an image: ${snippet(resp.body)}`);
  }
  if (finishReason === 'CONTENT_FILTERED') {
    throw contentBlocked("Stability's content filter flagged the generated image (finish-reason CONTENT_FILTERED) and sent only a blurred copy; rephrase the prompt");
  }
  if (finishReason !== undefined && finishReason !== null && finishReason !== 'SUCCESS') {
    throw upstream(200, `Stability finished with \`${finishReason}\` instead of SUCCESS`);
  }
  if (data.length === 0) throw upstream(200, 'Stability answered with an empty image');
  const sniffed = sniffImage(data);
  const mimeType = sniffed || (contentType.startsWith('image/') && contentType !== 'image/*' ? contentType.split(';')[0] : `image/${built.outputFormat}`);
  const [width, height] = pngSize(data);
  return [{ data: { tag: 'inline', val: { mimeType, data } }, width, height, seed, revisedPrompt: undefined }];
}

/** Easel argument for a Stability form field named in an error. */
export function easelField(name) {
  const map = {
    prompt: 'prompt', negative_prompt: 'negative_prompt', aspect_ratio: 'aspect_ratio', seed: 'seed', image: 'images',
    strength: 'strength', cfg_scale: 'guidance', model: 'model',
  };
  if (map[name]) return map[name];
  if (['authorization', 'accept', 'content-type', 'content_type', 'body', 'mode'].includes(name)) return undefined;
  return `params.${name}`;
}

/** Milliseconds from `retry-after` (delta-seconds only), else undefined. */
function retryAfterMs(resp) {
  const value = (header(resp, 'retry-after') || '').trim();
  if (!/^\d+(\.\d+)?$/.test(value)) return undefined;
  return BigInt(Math.round(Number(value) * 1000));
}

/** The provider error for a non-200 answer (docs/providers/stability.md#errors). */
export function classifyError(resp, url) {
  const { status } = resp;
  let body;
  try {
    body = JSON.parse(fromUtf8(resp.body));
  } catch {
    body = undefined;
  }
  const errors = body && Array.isArray(body.errors) ? body.errors.filter((e) => typeof e === 'string') : [];
  const name = body && typeof body.name === 'string' ? body.name : '';
  const message = errors.length ? errors.join('; ') : (body && typeof body.message === 'string' ? body.message : snippet(resp.body));
  const label = `HTTP ${status}${name ? ` ${name}` : ''}`;
  const id = body && typeof body.id === 'string' ? ` (error id ${body.id})` : '';
  const named = errors.length ? /^([A-Za-z_][A-Za-z0-9_.-]*(?:\[\])?)\s*:/.exec(errors[0]) : null;
  const field = named ? named[1] : undefined;
  const moderated = name === 'content_moderation' || /moderation|flagged/i.test(message);

  if (moderated && (status === 403 || status === 400 || status === 422)) {
    return contentBlocked(`Stability's content moderation refused the request (${label}): ${message}`);
  }
  switch (status) {
    case 401:
      return unauthorized(`Stability rejected the API key (${label}): ${message}. Set ${SECRET} to a valid key from https://platform.stability.ai/account/keys`);
    case 402:
      return upstream(status, `Stability says the account is out of credits (${label}): ${message}. Buy credits at https://platform.stability.ai/account/credits`);
    case 403:
      return unauthorized(`Stability refused access (${label}): ${message}. Check that the ${SECRET} key's account may use this service`);
    case 404:
      return upstream(status, `Stability has no ${url} (${label}): ${message}. Check [plugins.stability.config] base_url`);
    case 413:
      return invalid('images', `Stability refused the request as too large (${label}): ${message}. Send a smaller input image (10 MiB per request)`);
    case 429:
      return rateLimited(retryAfterMs(resp) ?? RATE_LIMIT_TIMEOUT_MS, `Stability rate limit (${label}): ${message}. Stability allows 150 requests per 10 s per key, then refuses for 60 s`);
    case 400:
    case 422:
      return field !== undefined && easelField(field) !== undefined
        ? invalid(easelField(field), `Stability rejected \`${field}\` (${label}): ${message}`)
        : invalid(undefined, `Stability rejected the request (${label}): ${message}`);
    default:
      if (status >= 500) return upstream(status, `Stability server error (${label}): ${message}${id}`);
      return upstream(status, `Stability answered ${label}: ${message}${id}`);
  }
}

/** An egress failure (WIT `egress-error`) as the provider error users see. */
export function egressError(error, url) {
  const payload = error && typeof error === 'object' && 'payload' in error ? error.payload : error;
  const tag = payload && payload.tag;
  const text = payload && typeof payload.val === 'string' ? payload.val : String(error && error.message ? error.message : error);
  switch (tag) {
    case 'denied': return { tag: 'unavailable', val: text };
    case 'secret-unavailable': return unauthorized(text);
    case 'connection': return { tag: 'unavailable', val: `cannot reach Stability at ${url}: ${text}` };
    case 'timeout': return { tag: 'timeout', val: `Stability did not answer in time: ${text}` };
    case 'too-large': return upstream(0, `Stability's answer was too large: ${text}`);
    case 'invalid-request': return internal(`the host refused the request to ${url}: ${text}`);
    default: return internal(`the egress call to ${url} failed unexpectedly: ${text}`);
  }
}
