// Bytes and text for the Stability plugin: UTF-8, base64, image sniffing and
// multipart/form-data bodies (RFC 7578). Written out by hand so that nothing
// leans on which engine builtins (TextEncoder, atob) survive a build with
// every WASI feature disabled, and so the bytes are the same under Node and
// in the component. Imports nothing: unit-tested natively (codec.test.js).

/** UTF-8 bytes of a JavaScript string (lone surrogates become U+FFFD). */
export function utf8(text) {
  const out = [];
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        i++;
      } else {
        code = 0xfffd;
      }
    } else if (code >= 0xd800 && code <= 0xdfff) {
      code = 0xfffd;
    }
    if (code < 0x80) out.push(code);
    else if (code < 0x800) out.push(0xc0 | (code >> 6), 0x80 | (code & 63));
    else if (code < 0x10000) out.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63));
    else out.push(0xf0 | (code >> 18), 0x80 | ((code >> 12) & 63), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63));
  }
  return Uint8Array.from(out);
}

/** A string from UTF-8 bytes; malformed sequences become U+FFFD. */
export function fromUtf8(bytes, limit = bytes.length) {
  let out = '';
  const end = Math.min(limit, bytes.length);
  for (let i = 0; i < end; ) {
    const b = bytes[i];
    let need = 0;
    let code = 0;
    if (b < 0x80) { out += String.fromCharCode(b); i++; continue; }
    if (b >= 0xc2 && b <= 0xdf) { need = 1; code = b & 31; }
    else if (b >= 0xe0 && b <= 0xef) { need = 2; code = b & 15; }
    else if (b >= 0xf0 && b <= 0xf4) { need = 3; code = b & 7; }
    else { out += '\ufffd'; i++; continue; }
    let j = 1;
    for (; j <= need && i + j < end && (bytes[i + j] & 0xc0) === 0x80; j++) code = (code << 6) | (bytes[i + j] & 63);
    if (j <= need) { out += '\ufffd'; i += j; continue; }
    out += String.fromCodePoint(code);
    i += need + 1;
  }
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = (() => {
  const table = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) table[B64.charCodeAt(i)] = i;
  table['-'.charCodeAt(0)] = 62; // base64url, in case a gateway re-encodes
  table['_'.charCodeAt(0)] = 63;
  return table;
})();

/** Standard base64 of bytes. */
export function toBase64(bytes) {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
  }
  if (i < bytes.length) {
    const n = (bytes[i] << 16) | ((i + 1 < bytes.length ? bytes[i + 1] : 0) << 8);
    out += B64[n >> 18] + B64[(n >> 12) & 63] + (i + 1 < bytes.length ? B64[(n >> 6) & 63] : '=') + '=';
  }
  return out;
}

/** Bytes of base64 text (whitespace and padding tolerated); throws on any other character. */
export function fromBase64(text) {
  const out = new Uint8Array(Math.floor((text.length * 3) / 4) + 3);
  let length = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 61 /* = */ || c === 10 || c === 13 || c === 32 || c === 9) continue;
    const v = c < 128 ? B64_INDEX[c] : -1;
    if (v < 0) throw new Error(`character ${JSON.stringify(text[i])} at offset ${i} is not base64`);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[length++] = (acc >> bits) & 0xff;
    }
  }
  return out.slice(0, length);
}

/** MIME type from magic bytes (PNG, JPEG, WebP, GIF), or undefined. */
export function sniffImage(bytes) {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'image/png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (bytes.length >= 12 && ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') return 'image/webp';
  if (bytes.length >= 4 && ascii(bytes, 0, 4) === 'GIF8') return 'image/gif';
  return undefined;
}

function ascii(bytes, from, to) {
  let s = '';
  for (let i = from; i < to; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

/** Index of `needle` (bytes) in `haystack`, or -1. */
export function indexOfBytes(haystack, needle) {
  if (needle.length === 0) return 0;
  const first = needle[0];
  for (let i = haystack.indexOf(first); i !== -1 && i <= haystack.length - needle.length; i = haystack.indexOf(first, i + 1)) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

/**
 * `value` as a Uint8Array. Byte lists from the host are Uint8Arrays of the
 * engine's own realm, for which `instanceof Uint8Array` is false, so this
 * checks the tag instead; other array-likes are copied.
 */
export function toBytes(value) {
  const tag = Object.prototype.toString.call(value);
  if (tag === '[object Uint8Array]') return value;
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (tag === '[object ArrayBuffer]') return new Uint8Array(value);
  if (Array.isArray(value)) return Uint8Array.from(value);
  throw new TypeError(`expected bytes, got ${tag}`);
}

/** A quoted-string parameter value for Content-Disposition (WHATWG form encoding). */
function quote(value) {
  return String(value).replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/**
 * A multipart/form-data body. `parts` are `{ name, value }` (text, sent as
 * UTF-8) or `{ name, filename, contentType, data }` (a file, `data` bytes,
 * see toBytes). Returns `{ contentType, body }`; the boundary is
 * `easel-stability-form-<n>`, with n raised until no part contains it.
 */
export function multipart(parts) {
  const encoded = parts.map((part) => ({ ...part, file: part.data !== undefined, bytes: part.data !== undefined ? toBytes(part.data) : utf8(String(part.value)) }));
  let boundary;
  for (let n = 0; ; n++) {
    boundary = `easel-stability-form-${String(n).padStart(4, '0')}`;
    const needle = utf8(boundary);
    if (!encoded.some((part) => indexOfBytes(part.bytes, needle) !== -1)) break;
  }
  const chunks = [];
  for (const part of encoded) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${quote(part.name)}"`;
    if (part.file) {
      head += `; filename="${quote(part.filename || 'file')}"\r\nContent-Type: ${part.contentType || 'application/octet-stream'}`;
    }
    chunks.push(utf8(`${head}\r\n\r\n`), part.bytes, utf8('\r\n'));
  }
  chunks.push(utf8(`--${boundary}--\r\n`));
  const body = new Uint8Array(chunks.reduce((sum, c) => sum + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.length;
  }
  return { contentType: `multipart/form-data; boundary=${boundary}`, body };
}
