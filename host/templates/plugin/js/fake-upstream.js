// A fake __TITLE__ API on a loopback port (Node's http module only),
// speaking the protocol in README.md: submit, poll (queued -> running ->
// succeeded, one step per poll), cancel, and PNG files. It accepts the key
// KEY; a prompt containing "[fail]" makes the job fail, "[busy]" answers 429.
//
// The tests start it with start(). To try the plugin by hand:
//   node fake-upstream.js 8099     # then base_url = "http://127.0.0.1:8099"

import http from 'node:http';
import { fileURLToPath } from 'node:url';

/** The only API key the fake accepts. */
export const KEY = 'test-key';

// An 8x8 red PNG, served for every image URL.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEUlEQVR42mO44KCAFTEMLQkA3ntMAenV39QAAAAASUVORK5CYII=',
  'base64',
);

/**
 * Serve on 127.0.0.1:port (0 = a free port). Resolves to the server (call
 * .close() when done) and its base URL.
 */
export function start(port = 0) {
  const jobs = new Map(); // id -> { polls, count, fail, cancelled }
  let baseUrl; // known once listening
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => route(req, Buffer.concat(chunks), res, jobs, baseUrl));
  });
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => {
      baseUrl = `http://127.0.0.1:${server.address().port}`;
      resolve({ server, baseUrl });
    });
  });
}

function route(req, body, res, jobs, baseUrl) {
  const answer = (status, data, headers = {}) => {
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(JSON.stringify(data));
    const type = Buffer.isBuffer(data) ? 'image/png' : 'application/json';
    res.writeHead(status, { 'content-type': type, 'content-length': bytes.length, ...headers });
    res.end(bytes);
  };
  if (req.method === 'GET' && /^\/files\/[\w.-]+\.png$/.test(req.url)) return answer(200, PNG);
  if (req.headers.authorization !== `Bearer ${KEY}`) return answer(401, { error: 'invalid API key' });

  if (req.method === 'POST' && req.url === '/v1/generations') return submit(body, jobs, answer);
  const match = req.url.match(/^\/v1\/generations\/([\w.-]+)(\/cancel)?$/);
  if (!match) return answer(404, { error: `no route ${req.method} ${req.url}` });
  const [, id, action] = match;
  const job = jobs.get(id);
  if (!job) return answer(404, { error: 'no such generation' });
  if (req.method === 'GET' && !action) return answer(200, statusOf(id, job, baseUrl));
  if (req.method === 'POST' && action) {
    job.cancelled = true;
    return answer(200, {});
  }
  answer(404, { error: `no route ${req.method} ${req.url}` });
}

function submit(body, jobs, answer) {
  let request;
  try {
    request = JSON.parse(body.toString('utf8'));
  } catch {
    request = null;
  }
  if (!request || typeof request !== 'object') return answer(400, { error: 'the body is not a JSON object' });
  const { prompt, num_images: count = 1 } = request;
  if (typeof prompt !== 'string' || !prompt.trim()) {
    return answer(422, { error: 'prompt is required', field: 'prompt' });
  }
  for (const side of ['width', 'height']) {
    const value = request[side];
    if (!Number.isInteger(value) || value < 256 || value > 2048 || value % 64) {
      return answer(422, { error: 'must be 256..2048, a multiple of 64', field: side });
    }
  }
  if (!Number.isInteger(count) || count < 1 || count > 4) {
    return answer(422, { error: 'must be 1..4', field: 'num_images' });
  }
  if (prompt.includes('[busy]')) return answer(429, { error: 'slow down' }, { 'retry-after': '1' });
  const id = `gen_${jobs.size + 1}`;
  jobs.set(id, { polls: 0, count, fail: prompt.includes('[fail]'), cancelled: false });
  answer(200, { id });
}

/** Each poll moves the job one step: queued, running at 50 %, finished. */
function statusOf(id, job, baseUrl) {
  job.polls += 1;
  if (job.cancelled) return { status: 'failed', error: 'cancelled' };
  if (job.polls === 1) return { status: 'queued', progress: 0 };
  if (job.polls === 2) return { status: 'running', progress: 0.5 };
  if (job.fail) return { status: 'failed', progress: 1, error: 'the model could not draw this' };
  const images = Array.from({ length: job.count }, (_, i) => `${baseUrl}/files/${id}-${i}.png`);
  return { status: 'succeeded', progress: 1, images };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { baseUrl } = await start(Number(process.argv[2] || 0));
  console.log(`fake __TITLE__ API at ${baseUrl} (key: ${KEY}); Ctrl-C stops it`);
}
