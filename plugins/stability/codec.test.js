// Native tests of codec.js: UTF-8, base64 and multipart bytes, checked
// against Node's own encoders (which the component cannot use).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromBase64, fromUtf8, indexOfBytes, multipart, sniffImage, toBase64, toBytes, utf8 } from './codec.js';

const text = (bytes) => Buffer.from(bytes).toString('latin1');

test('utf8 encodes and decodes like Node, including astral characters', () => {
  for (const s of ['a fox', 'café ☕', 'emoji 🦊 and 漢字', '']) {
    assert.deepEqual(Buffer.from(utf8(s)), Buffer.from(s, 'utf8'));
    assert.equal(fromUtf8(utf8(s)), s);
  }
  assert.deepEqual(Buffer.from(utf8('\ud800x')), Buffer.from('\ufffdx', 'utf8'), 'a lone surrogate becomes U+FFFD');
  assert.equal(fromUtf8(Uint8Array.from([0x61, 0xff, 0x62])), 'a\ufffdb');
  assert.equal(fromUtf8(Uint8Array.from([0xe2, 0x82])), '\ufffd', 'a truncated sequence');
});

test('base64 round-trips every tail length and rejects foreign characters', () => {
  for (let n = 0; n < 10; n++) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff);
    const encoded = toBase64(bytes);
    assert.equal(encoded, Buffer.from(bytes).toString('base64'));
    assert.deepEqual(fromBase64(encoded), bytes);
  }
  assert.deepEqual(fromBase64('aGVs\nbG8='), utf8('hello'), 'line breaks are ignored');
  assert.throws(() => fromBase64('aGV*'), /not base64/);
});

test('sniffImage knows the four formats by their magic bytes', () => {
  assert.equal(sniffImage(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10])), 'image/png');
  assert.equal(sniffImage(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0])), 'image/jpeg');
  assert.equal(sniffImage(utf8('RIFF\0\0\0\0WEBPVP8 ')), 'image/webp');
  assert.equal(sniffImage(utf8('GIF89a')), 'image/gif');
  assert.equal(sniffImage(utf8('<html>')), undefined);
});

test('multipart writes RFC 7578 parts with the file bytes untouched', () => {
  const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0, 255, 13, 10]);
  const { contentType, body } = multipart([
    { name: 'prompt', value: 'a "quoted"\r\nfox ☕' },
    { name: 'image', filename: 'image.png', contentType: 'image/png', data: png },
  ]);
  const boundary = contentType.replace('multipart/form-data; boundary=', '');
  assert.equal(boundary, 'easel-stability-form-0000');
  const expected = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n`),
    Buffer.from('a "quoted"\r\nfox ☕', 'utf8'),
    Buffer.from(`\r\n--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="image.png"\r\nContent-Type: image/png\r\n\r\n`),
    Buffer.from(png),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  assert.deepEqual(Buffer.from(body), expected);
});

test('multipart picks a boundary that occurs in no part, and escapes names', () => {
  const { contentType, body } = multipart([
    { name: 'x"y', value: 'easel-stability-form-0000 and easel-stability-form-0001' },
  ]);
  assert.ok(contentType.endsWith('easel-stability-form-0002'), contentType);
  assert.ok(text(body).includes('name="x%22y"'));
});

test('indexOfBytes finds a needle anywhere, including at the very end', () => {
  const hay = utf8('abcabd');
  assert.equal(indexOfBytes(hay, utf8('abd')), 3);
  assert.equal(indexOfBytes(hay, utf8('abe')), -1);
  assert.equal(indexOfBytes(hay, utf8('')), 0);
});

test('byte lists from another realm (as the component engine hands them) are files, not text', async () => {
  const { runInNewContext } = await import('node:vm');
  const foreign = runInNewContext('new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 1])');
  assert.equal(foreign instanceof Uint8Array, false, 'the premise: instanceof fails across realms');
  const { body } = multipart([{ name: 'image', filename: 'image.png', contentType: 'image/png', data: foreign }]);
  assert.ok(Buffer.from(body).includes(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1])));
  assert.ok(text(body).includes('filename="image.png"'));
  assert.deepEqual(toBytes([1, 2]), Uint8Array.from([1, 2]));
  assert.throws(() => toBytes('text'), /expected bytes/);
});
