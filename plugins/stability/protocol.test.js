// Native tests of protocol.js and models.js: the form each request becomes,
// the refusals that name a field, and how answers and error bodies
// (docs/providers/stability.md#response, #errors) become images or errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toBase64, utf8 } from './codec.js';
import { findModel, modelInfo, models } from './models.js';
import {
  DEFAULT_BASE_URL, buildRequest, classifyError, egressError, interpret, nearestRatio, originOf, settingsFrom,
} from './protocol.js';

const settings = settingsFrom((key) => ({ base_url: 'http://127.0.0.1:9/' })[key]);
const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 2, 0, 0, 0, 1, 0]);

function request(overrides = {}) {
  return {
    operation: 'generate', model: 'stable-image-core', prompt: 'a fox', negativePrompt: undefined, size: undefined,
    aspectRatio: undefined, sizeTier: undefined, count: 1, seed: undefined, steps: undefined, guidance: undefined,
    strength: undefined, images: [], extra: undefined, ...overrides,
  };
}

const reference = (extra = {}) => ({ role: 'reference', mimeType: 'image/png', width: 512, height: 256, data: PNG, ...extra });

/** The parts of a built body: [{name, filename, type, value}] (value as latin1 text). */
function parts(built) {
  const type = built.http.headers.find(([k]) => k === 'content-type')[1];
  const boundary = type.split('boundary=')[1];
  const text = Buffer.from(built.http.body).toString('latin1');
  assert.ok(text.endsWith(`--${boundary}--\r\n`));
  return text.split(`--${boundary}`).slice(1, -1).map((chunk) => {
    const [head, ...rest] = chunk.slice(2, -2).split('\r\n\r\n');
    return {
      name: /name="([^"]*)"/.exec(head)[1],
      filename: (/filename="([^"]*)"/.exec(head) || [])[1],
      type: (/Content-Type: (.*)/.exec(head) || [])[1],
      value: rest.join('\r\n\r\n'),
    };
  });
}
const fields = (built) => Object.fromEntries(parts(built).map((p) => [p.name, p.value]));
const error = (fn) => {
  try {
    fn();
  } catch (e) {
    return e;
  }
  assert.fail('expected a thrown provider error');
};

test('the model table is consistent and describes itself as WIT model-info', () => {
  const ids = models().map((m) => m.id);
  assert.deepEqual(ids, ['stable-image-core', 'stable-image-ultra', 'sd3.5-large', 'sd3.5-large-turbo', 'sd3.5-medium']);
  assert.equal(findModel('ultra').id, 'stable-image-ultra');
  const core = modelInfo(findModel('core'));
  assert.deepEqual(core.operations, ['generate']);
  assert.equal(core.pricePerImageUsd, 0.03);
  assert.equal(core.maxImages, 1);
  assert.equal(core.aspectRatios.length, 9);
  const large = modelInfo(findModel('sd3.5-large'));
  assert.deepEqual(large.operations, ['generate', 'edit']);
  assert.equal(large.features.guidance, true);
  assert.deepEqual(large.outputFormats, ['image/png', 'image/jpeg']);
  const schema = JSON.parse(large.parameters);
  assert.deepEqual(schema.properties.output_format.enum, ['png', 'jpeg']);
  assert.ok(schema.properties.style_preset.enum.includes('anime'));
  assert.equal(modelInfo(findModel('sd3.5-large-turbo')).features.negativePrompt, false);
});

test('settings default to the production origin and trim base_url', () => {
  const defaults = settingsFrom(() => undefined);
  assert.equal(defaults.baseUrl, DEFAULT_BASE_URL);
  assert.equal(defaults.accept, 'image/*');
  assert.equal(settings.baseUrl, 'http://127.0.0.1:9');
  assert.equal(originOf('https://api.stability.ai/v2beta'), 'https://api.stability.ai');
});

test('a core generation is a multipart POST with the Stability field names', () => {
  const built = buildRequest(request({ size: { width: 1920, height: 1080 }, seed: 42n, negativePrompt: 'dogs' }), settings, '0.1.0');
  assert.equal(built.http.method, 'POST');
  assert.equal(built.http.url, 'http://127.0.0.1:9/v2beta/stable-image/generate/core');
  const headers = Object.fromEntries(built.http.headers);
  assert.equal(headers.authorization, 'Bearer {{secret:STABILITY_API_KEY}}');
  assert.equal(headers.accept, 'image/*');
  assert.match(headers['content-type'], /^multipart\/form-data; boundary=easel-stability-form-\d{4}$/);
  assert.deepEqual(fields(built), { prompt: 'a fox', negative_prompt: 'dogs', aspect_ratio: '16:9', seed: '42' });
});

test('width/height pick the nearest aspect ratio, and far-off shapes are refused naming width', () => {
  assert.equal(nearestRatio(1024, 1024), '1:1');
  assert.equal(nearestRatio(1216, 832), '3:2');
  assert.equal(nearestRatio(1024, 768), '5:4', '4:3 is closest to 5:4');
  assert.equal(nearestRatio(640, 1536), '9:21');
  const e = error(() => nearestRatio(2048, 512));
  assert.equal(e.tag, 'invalid-request');
  assert.equal(e.val.field, 'width');
  assert.match(e.val.message, /2048x512 is not near any aspect ratio/);
});

test('sd3 models send model, mode and cfg_scale; edits send the image and strength', () => {
  const t2i = buildRequest(request({ model: 'sd3.5-medium', aspectRatio: '9:21', guidance: 4.5 }), settings, 'v');
  assert.equal(t2i.http.url, 'http://127.0.0.1:9/v2beta/stable-image/generate/sd3');
  assert.deepEqual(fields(t2i), { prompt: 'a fox', aspect_ratio: '9:21', model: 'sd3.5-medium', mode: 'text-to-image', cfg_scale: '4.5' });

  const i2i = buildRequest(request({ model: 'sd3.5-large', operation: 'edit', strength: 0.35, images: [reference()] }), settings, 'v');
  const sent = parts(i2i);
  assert.deepEqual(sent.map((p) => p.name), ['prompt', 'model', 'mode', 'strength', 'image']);
  assert.deepEqual(fields(i2i).mode, 'image-to-image');
  assert.equal(fields(i2i).strength, '0.35');
  const image = sent.find((p) => p.name === 'image');
  assert.deepEqual([image.filename, image.type], ['image.png', 'image/png']);
  assert.deepEqual(Buffer.from(image.value, 'latin1'), Buffer.from(PNG));

  const ultra = buildRequest(request({ model: 'ultra', operation: 'edit', images: [reference()] }), settings, 'v');
  assert.equal(ultra.http.url, 'http://127.0.0.1:9/v2beta/stable-image/generate/ultra');
  assert.equal(fields(ultra).strength, '0.5', 'the default strength');
  assert.equal(fields(ultra).mode, undefined);
});

test('what Stability cannot do is refused before any request, naming the field', () => {
  const field = (overrides) => error(() => buildRequest(request(overrides), settings, 'v')).val.field;
  assert.equal(field({ seed: 4294967295n }), 'seed');
  assert.equal(field({ steps: 20 }), 'steps');
  assert.equal(field({ guidance: 5 }), 'guidance', 'core has no cfg_scale');
  assert.equal(field({ model: 'sd3.5-large', guidance: 12 }), 'guidance');
  assert.equal(field({ model: 'sd3.5-large-turbo', negativePrompt: 'dogs' }), 'negative_prompt');
  assert.equal(field({ count: 2 }), 'count');
  assert.equal(field({ sizeTier: '2K' }), 'size_tier');
  assert.equal(field({ aspectRatio: '4:3' }), 'aspect_ratio');
  assert.equal(field({ prompt: 'x'.repeat(10001) }), 'prompt');
  assert.equal(field({ operation: 'edit', images: [reference()] }), 'model', 'core cannot edit');
  const edit = { model: 'ultra', operation: 'edit' };
  assert.equal(field({ ...edit, images: [reference()], aspectRatio: '1:1' }), 'aspect_ratio');
  assert.equal(field({ ...edit, images: [reference({ mimeType: 'image/gif', data: utf8('GIF89a') })] }), 'images');
  assert.equal(field({ ...edit, images: [reference({ width: 32 })] }), 'images');
  assert.equal(field({ ...edit, images: [reference(), { ...reference(), role: 'mask' }] }), 'images');
  assert.equal(field({ ...edit, images: [reference({ data: new Uint8Array(11 * 1024 * 1024).fill(7) })] }), 'images');
  assert.equal(error(() => buildRequest(request({ model: 'sd4' }), settings, 'v')).tag, 'unsupported');
});

test('params become form fields; reserved keys and non-scalars are refused as params.<key>', () => {
  const built = buildRequest(request({ extra: '{"style_preset": "anime", "output_format": "webp", "dummy": 3}' }), settings, 'v');
  assert.deepEqual(fields(built), { prompt: 'a fox', style_preset: 'anime', output_format: 'webp', dummy: '3' });
  assert.equal(built.outputFormat, 'webp');
  const refused = (extra, model = 'core') => error(() => buildRequest(request({ extra, model }), settings, 'v')).val;
  assert.deepEqual(refused('{"seed": 1}'), { field: 'params.seed', message: 'use the seed argument instead: the plugin sets `seed` from it' });
  assert.equal(refused('{"cfg_scale": 3}').field, 'params.cfg_scale');
  assert.equal(refused('{"style_preset": ["a"]}').field, 'params.style_preset');
  assert.equal(refused('{"output_format": "webp"}', 'sd3.5-large').field, 'params.output_format');
  assert.equal(refused('[1]').field, 'params');
});

test('raw image answers keep their bytes, seed and format', () => {
  const built = buildRequest(request(), settings, 'v');
  const [image] = interpret({ status: 200, headers: [['content-type', 'image/png'], ['finish-reason', 'SUCCESS'], ['seed', '1234']], body: PNG }, built, 'u');
  assert.deepEqual(image.data, { tag: 'inline', val: { mimeType: 'image/png', data: PNG } });
  assert.equal(image.seed, 1234n);
  assert.deepEqual([image.width, image.height], [512, 256]);
});

test('JSON answers are decoded from base64', () => {
  const built = buildRequest(request(), settings, 'v');
  const body = utf8(JSON.stringify({ image: toBase64(PNG), finish_reason: 'SUCCESS', seed: 99 }));
  const [image] = interpret({ status: 200, headers: [['content-type', 'application/json; type=image/png']], body }, built, 'u');
  assert.deepEqual(image.data.val.data, PNG);
  assert.equal(image.seed, 99n);
});

test('a filtered result is content-blocked; an unexpected answer is an upstream error', () => {
  const built = buildRequest(request(), settings, 'v');
  const filtered = error(() => interpret({ status: 200, headers: [['content-type', 'image/png'], ['finish-reason', 'CONTENT_FILTERED']], body: PNG }, built, 'u'));
  assert.equal(filtered.tag, 'content-blocked');
  assert.match(filtered.val, /CONTENT_FILTERED/);
  const json = utf8(JSON.stringify({ image: toBase64(PNG), finish_reason: 'CONTENT_FILTERED', seed: 1 }));
  assert.equal(error(() => interpret({ status: 200, headers: [['content-type', 'application/json']], body: json }, built, 'u')).tag, 'content-blocked');
  const html = error(() => interpret({ status: 200, headers: [['content-type', 'text/html']], body: utf8('<html><title>Bad gateway</title></html>') }, built, 'u'));
  assert.deepEqual([html.tag, html.val.status], ['upstream', 200]);
  assert.match(html.val.message, /text\/html instead of an image: Bad gateway/);
});

const errorBody = (status, name, errors, headers = []) => ({
  status, headers: [['content-type', 'application/json'], ...headers], body: utf8(JSON.stringify({ id: 'e1', name, errors })),
});

test('error bodies are classified by status, naming the field Stability names', () => {
  const url = 'http://127.0.0.1:9/v2beta/stable-image/generate/core';
  const c = (...args) => classifyError(errorBody(...args), url);
  assert.deepEqual(c(400, 'bad_request', ['aspect_ratio: must be one of 1:1, 16:9']).val.field, 'aspect_ratio');
  assert.equal(c(400, 'bad_request', ['image: must be a jpeg, png or webp image']).val.field, 'images');
  assert.equal(c(400, 'bad_request', ['cfg_scale: too big']).val.field, 'guidance');
  assert.equal(c(400, 'bad_request', ['style_preset: unknown']).val.field, 'params.style_preset');
  const noField = c(422, 'invalid_language', ['English is the only supported language for this service.']);
  assert.deepEqual([noField.tag, noField.val.field], ['invalid-request', undefined]);
  assert.match(noField.val.message, /HTTP 422 invalid_language.*English/);
  const key = c(401, 'unauthorized', ['authorization: invalid API key']);
  assert.equal(key.tag, 'unauthorized');
  assert.match(key.val, /STABILITY_API_KEY/);
  assert.equal(c(403, 'content_moderation', ['Your request was flagged by our content moderation system']).tag, 'content-blocked');
  assert.equal(c(403, 'forbidden', ['no access']).tag, 'unauthorized');
  assert.deepEqual([c(402, 'payment_required', ['You lack sufficient credits']).val.status], [402]);
  assert.equal(c(413, 'payload_too_large', ['body: too big']).val.field, 'images');
  const limited = c(429, 'rate_limit_exceeded', ['slow down'], [['retry-after', '2.5']]);
  assert.deepEqual([limited.tag, limited.val.retryAfterMs], ['rate-limited', 2500n]);
  assert.equal(c(429, 'rate_limit_exceeded', ['slow down']).val.retryAfterMs, 60000n, 'the documented 60 s timeout');
  const server = c(500, 'internal_error', ['oops']);
  assert.deepEqual([server.tag, server.val.status], ['upstream', 500]);
  assert.match(server.val.message, /error id e1/);
  const gateway = classifyError({ status: 502, headers: [], body: utf8('<html><title>502 Bad Gateway</title></html>') }, url);
  assert.match(gateway.val.message, /502 Bad Gateway/);
});

test('egress failures name Stability and the URL', () => {
  const url = 'http://127.0.0.1:9/x';
  const thrown = (tag, val) => Object.assign(new Error('egress'), { payload: { tag, val } });
  assert.deepEqual(egressError(thrown('connection', 'refused'), url), { tag: 'unavailable', val: `cannot reach Stability at ${url}: refused` });
  assert.deepEqual(egressError(thrown('denied', 'add it to allowed_hosts'), url), { tag: 'unavailable', val: 'add it to allowed_hosts' });
  assert.deepEqual(egressError(thrown('timeout', 'after 150 s'), url), { tag: 'timeout', val: 'Stability did not answer in time: after 150 s' });
  assert.equal(egressError(thrown('secret-unavailable', 'not set'), url).tag, 'unauthorized');
  assert.deepEqual(egressError({ tag: 'too-large', val: 'raise max_response_mib' }, url).val.status, 0);
});
