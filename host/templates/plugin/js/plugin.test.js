// End to end: the built component, loaded by the real `easel` binary, talks
// to the fake API in fake-upstream.js. It builds nothing itself: run
// `npm run build` first, or point PLUGIN_WASM at a .wasm. `easel` comes
// from EASEL_BIN, else from PATH; without either the tests are skipped
// with a note.
//
// Run: npm test    (node --test)

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KEY, start } from './fake-upstream.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const EASEL = easelBin();
const SKIP = EASEL ? false : 'no easel binary (set EASEL_BIN or put `easel` on PATH)';

/** EASEL_BIN, else `easel` on PATH. */
function easelBin() {
  if (process.env.EASEL_BIN !== undefined) return existsSync(process.env.EASEL_BIN) ? process.env.EASEL_BIN : null;
  const name = process.platform === 'win32' ? 'easel.exe' : 'easel';
  const dirs = (process.env.PATH || '').split(delimiter).filter(Boolean);
  return dirs.map((dir) => join(dir, name)).find((file) => existsSync(file)) ?? null;
}

/** The deployment entry README.md documents, aimed at the fake. */
function pluginsToml(wasm, baseUrl) {
  const q = JSON.stringify; // a JSON string is a valid TOML basic string
  return `[defaults]
provider = "__NAME__"

[plugins.__NAME__]
path = ${q(wasm)}
allowed_hosts = [${q(baseUrl)}]

[plugins.__NAME__.secrets.__ENV__]
env = "__ENV__"
hosts = [${q(baseUrl)}]

[plugins.__NAME__.config]
base_url = ${q(baseUrl)}
`;
}

let fake;
let tmp;
let wasm;

before(async () => {
  if (SKIP) return;
  wasm = resolve(process.env.PLUGIN_WASM || join(HERE, '__NAME_SNAKE__.wasm'));
  assert.ok(existsSync(wasm), `${wasm} does not exist: build the component first with \`npm run build\``);
  fake = await start();
  tmp = mkdtempSync(join(tmpdir(), '__NAME__-test-'));
});

after(() => {
  fake?.server.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/**
 * Write a plugins.toml for the fake into a fresh directory and run
 * `easel generate "a red fox"` with `key` as the secret. Asynchronous, so the
 * fake (in this process) keeps answering while easel runs.
 */
function generate(key) {
  const work = mkdtempSync(join(tmp, 'run-'));
  const config = join(work, 'plugins.toml');
  writeFileSync(config, pluginsToml(wasm, fake.baseUrl));
  // Compiled components are cached in tmp/cache, shared by the tests.
  const args = ['--config', config, '--store', join(work, 'store'), '--cache', join(tmp, 'cache')];
  const env = { ...process.env, __ENV__: key };
  return new Promise((done) => {
    execFile(EASEL, [...args, 'generate', 'a red fox'], { env, timeout: 300_000 }, (error, stdout, stderr) =>
      done({ code: error ? (error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test('generates an image through easel', { skip: SKIP }, async () => {
  const run = await generate(KEY);
  assert.equal(run.code, 0, `easel generate failed:\n${run.stderr}`);
  // One line per image: ID<TAB>PATH.
  const line = run.stdout.split('\n')[0];
  const [id, path] = line.split('\t');
  assert.ok(id && path?.endsWith('.png'), `not ID<TAB>PATH: ${line}\n${run.stderr}`);
  const magic = readFileSync(path).subarray(0, 8);
  assert.deepEqual(magic, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), `${path} is not a PNG`);
});

test('a wrong key is reported as unauthorized', { skip: SKIP }, async () => {
  const run = await generate('wrong-key');
  assert.notEqual(run.code, 0, 'easel generate succeeded with a wrong key');
  assert.match(run.stderr, /unauthorized/);
  assert.match(run.stderr, /__ENV__/);
});
