// Native tests of flow.js: describe/submit/poll/cancel against a scripted
// host that answers like Stability (docs/providers/stability.md) and
// records every request, progress report and log line.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { utf8 } from './codec.js';
import { VERSION, makeProvider } from './flow.js';

const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10, 1, 2, 3]);

function scriptedHost({ config = { base_url: 'http://127.0.0.1:9' }, secret = true, answer, fail } = {}) {
  const host = {
    sent: [], logs: [], progress: [],
    fetch(req) {
      host.sent.push(req);
      if (fail) throw Object.assign(new Error('egress failed'), { payload: fail });
      return answer ?? { status: 200, headers: [['content-type', 'image/png'], ['finish-reason', 'SUCCESS'], ['seed', '7']], body: PNG };
    },
    secretConfigured: (name) => secret && name === 'STABILITY_API_KEY',
    log: (level, message) => host.logs.push([level, message]),
    report: (fraction, message) => host.progress.push([fraction, message]),
    get: (key) => config[key],
  };
  return host;
}

const request = (overrides = {}) => ({
  operation: 'generate', model: 'stable-image-core', prompt: 'a fox', count: 1, images: [], ...overrides,
});

const thrown = (fn) => {
  try {
    fn();
  } catch (e) {
    return e;
  }
  assert.fail('expected a thrown provider error');
};

test('describe reports the table, the secret and the origin of base_url', () => {
  const info = makeProvider(scriptedHost()).describe();
  assert.deepEqual([info.id, info.version, info.defaultModel], ['stability', VERSION, 'stable-image-core']);
  assert.deepEqual(info.hosts, ['http://127.0.0.1:9']);
  assert.deepEqual(info.secrets.map((s) => [s.name, s.required]), [['STABILITY_API_KEY', true]]);
  assert.equal(info.models.length, 5);
  assert.ok(info.models.some((m) => m.id === info.defaultModel));
  assert.deepEqual(makeProvider(scriptedHost({ config: {} })).describe().hosts, ['https://api.stability.ai']);
});

test('submit posts once and returns done with the inline image and its seed', () => {
  const host = scriptedHost();
  const result = makeProvider(host).submit(request({ aspectRatio: '16:9' }));
  assert.equal(result.tag, 'done');
  assert.deepEqual(result.val[0].data, { tag: 'inline', val: { mimeType: 'image/png', data: PNG } });
  assert.equal(result.val[0].seed, 7n);
  assert.equal(host.sent.length, 1);
  assert.equal(host.sent[0].url, 'http://127.0.0.1:9/v2beta/stable-image/generate/core');
  assert.deepEqual(host.progress, [[undefined, 'waiting for Stability core (stable-image-core)']]);
  assert.ok(host.logs.every(([, m]) => !m.includes('{{secret')), 'logs never carry the secret reference');
});

test('a missing key fails before any request, naming the variable', () => {
  const host = scriptedHost({ secret: false });
  const e = thrown(() => makeProvider(host).submit(request()));
  assert.equal(e.tag, 'unauthorized');
  assert.match(e.val, /STABILITY_API_KEY is not set/);
  assert.equal(host.sent.length, 0);
});

test('refusals never reach the network; egress and HTTP failures are classified', () => {
  const host = scriptedHost();
  assert.equal(thrown(() => makeProvider(host).submit(request({ seed: 1n << 40n }))).val.field, 'seed');
  assert.equal(host.sent.length, 0);

  const refused = scriptedHost({ fail: { tag: 'connection', val: 'refused' } });
  assert.deepEqual(thrown(() => makeProvider(refused).submit(request())), {
    tag: 'unavailable', val: 'cannot reach Stability at http://127.0.0.1:9/v2beta/stable-image/generate/core: refused',
  });

  const limited = scriptedHost({
    answer: { status: 429, headers: [['retry-after', '3']], body: utf8('{"id":"x","name":"rate_limit_exceeded","errors":["too many"]}') },
  });
  const e = thrown(() => makeProvider(limited).submit(request()));
  assert.deepEqual([e.tag, e.val.retryAfterMs], ['rate-limited', 3000n]);
});

test('a bad accept setting is refused with the config key to fix', () => {
  const host = scriptedHost({ config: { accept: 'text/plain' } });
  const e = thrown(() => makeProvider(host).submit(request()));
  assert.equal(e.tag, 'unsupported');
  assert.match(e.val, /\[plugins\.stability\.config\] accept/);
});

test('unexpected exceptions become internal errors instead of traps', () => {
  const host = scriptedHost();
  host.fetch = () => {
    throw new TypeError('boom');
  };
  // A TypeError with no `payload` is not an egress error: reported as internal.
  assert.equal(thrown(() => makeProvider(host).submit(request())).tag, 'internal');
  const broken = makeProvider({ ...scriptedHost(), get: () => { throw new RangeError('config broke'); } });
  assert.deepEqual(thrown(() => broken.describe()), { tag: 'internal', val: 'Stability plugin bug: config broke' });
});

test('poll has no jobs and cancel does nothing', () => {
  const host = scriptedHost();
  const provider = makeProvider(host);
  const e = thrown(() => provider.poll('t1'));
  assert.deepEqual([e.tag, e.val.field], ['invalid-request', 'job_id']);
  assert.equal(provider.cancel('t1'), undefined);
  assert.equal(host.sent.length, 0);
});
