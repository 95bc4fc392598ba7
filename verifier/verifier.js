// samizdat verifier core: checks in the browser what the samizdat CLI
// checks (FORMAT.md), with no server trusted. Every function here takes
// untrusted bytes and either returns what they prove or throws a
// VerifyError saying why not. Ed25519 and SHA-256 come from WebCrypto
// where the browser has them, else from the pure-JS code below
// (a secure context is needed for crypto.subtle: http:// pages and some
// old browsers have none). window.samizdat is the API.
'use strict';
(() => {
// Limits on hostile input (FORMAT.md; the Go constants named beside them).
const LIMITS = Object.freeze({
  statement: 16384, // keys.MaxStatementSize
  checkpoint: 4096, // catalog.MaxCheckpointSize
  mirrorList: 16384, // catalog.MaxMirrorListSize
  noteSigs: 100, // golang.org/x/mod/sumdb/note: signature lines in a note
  delegations: 16, // keys.MaxDelegations
  revocations: 64, // keys.MaxRevocations
  leaf: 1 + 1 + 128 + 8 + 32, // catalog.MaxLeafSize
  tileWidth: 256, // catalog.TileWidth
  indexProof: 8632, // index.MaxProofSize
  indexSteps: 256, // index.MaxProofSteps
  indexTop: 1133, // index.MaxTopSize
  bundle: 96 << 20, // bundle.DefaultLimits
  manifest: 256 << 10,
  entries: 512,
  entrySize: 16 << 20,
  totalSize: 64 << 20,
  decoderMemory: 32 << 20,
});
const MAX_UNIX = 253402300799; // 9999-12-31T23:59:59Z

class VerifyError extends Error {
  constructor(m) { super(m); this.name = 'VerifyError'; }
}
const fail = (m) => { throw new VerifyError(m); };

// ---- bytes ----
const te = new TextEncoder();
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const str = (b) => { try { return utf8.decode(b); } catch { return null; } };
const concat = (...a) => {
  const o = new Uint8Array(a.reduce((n, x) => n + x.length, 0));
  let i = 0;
  for (const x of a) { o.set(x, i); i += x.length; }
  return o;
};
const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const unhex = (s) => {
  if (!/^([0-9a-f]{2})*$/.test(s)) fail('not lowercase hex');
  return Uint8Array.from(s.match(/../g) || [], (x) => parseInt(x, 16));
};
const u16 = (b, i) => (b[i] << 8) | b[i + 1];
const u32 = (b, i) => ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
const u64 = (b, i) => (BigInt(u32(b, i)) << 32n) | BigInt(u32(b, i + 4));
const be = (v, n) => {
  const o = new Uint8Array(n);
  for (let i = n - 1; i >= 0; i--) { o[i] = Number(BigInt(v) & 255n); v = BigInt(v) >> 8n; }
  return o;
};
const b64encode = (b) => btoa(String.fromCharCode(...b));
// b64decode decodes standard, padded base64 and returns null for anything
// that is not the canonical encoding of its bytes.
const b64decode = (s) => {
  if (s.length % 4 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return null;
  let b;
  try { b = Uint8Array.from(atob(s), (c) => c.charCodeAt(0)); } catch { return null; }
  return b64encode(b) === s ? b : null;
};
// Go's unicode.IsSpace, which strings.TrimSpace and note names use.
const SPACE = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const trimRE = new RegExp(`^[${SPACE}]+|[${SPACE}]+$`, 'g');
const spaceRE = new RegExp(`[${SPACE}]`);
const decimal = (s, max) => {
  if (!/^(0|[1-9][0-9]*)$/.test(s) || s.length > 20) return null;
  const v = BigInt(s);
  return v <= max ? v : null;
};
const U64 = (1n << 64n) - 1n, I64 = (1n << 63n) - 1n;

// ---- SHA-256 and SHA-512, pure JS ----
// Round constants and initial values are the fractional parts of the cube
// and square roots of the first primes (FIPS 180-4), computed here exactly
// with BigInt; SHA-256's are the high halves of SHA-512's.
const iroot = (n, k) => {
  let x = 1n << BigInt(Math.ceil(n.toString(2).length / Number(k)) + 1);
  for (;;) {
    const y = ((k - 1n) * x + n / x ** (k - 1n)) / k;
    if (y >= x) return x;
    x = y;
  }
};
const PRIMES = [];
for (let n = 2; PRIMES.length < 80; n++) if (PRIMES.every((p) => n % p)) PRIMES.push(n);
const K64 = PRIMES.map((p) => iroot(BigInt(p) << 192n, 3n) & U64);
const H64 = PRIMES.slice(0, 8).map((p) => iroot(BigInt(p) << 128n, 2n) & U64);
const hi = (v) => Number(v >> 32n) | 0, lo = (v) => Number(v & 0xffffffffn) | 0;
const K256 = Int32Array.from(K64.slice(0, 64), hi), H256 = Int32Array.from(H64, hi);
const K512 = Int32Array.from(K64.flatMap((v) => [hi(v), lo(v)]));
const H512 = Int32Array.from(H64.flatMap((v) => [hi(v), lo(v)]));

// pad returns data padded to whole blocks of size bytes, with its length in
// bits at the end.
const pad = (data, size) => {
  const n = Math.ceil((data.length + 1 + size / 8) / size) * size;
  const b = new Uint8Array(n);
  b.set(data);
  b[data.length] = 0x80;
  const dv = new DataView(b.buffer);
  dv.setUint32(n - 4, (data.length * 8) >>> 0);
  dv.setUint32(n - 8, Math.floor(data.length / 2 ** 29));
  return dv;
};
const ror = (x, n) => (x >>> n) | (x << (32 - n));

const sha256Pure = (data) => {
  const dv = pad(data, 64), H = Int32Array.from(H256), W = new Int32Array(64);
  for (let o = 0; o < dv.byteLength; o += 64) {
    for (let i = 0; i < 16; i++) W[i] = dv.getInt32(o + 4 * i);
    for (let i = 16; i < 64; i++) {
      const a = W[i - 15], b = W[i - 2];
      W[i] = W[i - 16] + (ror(a, 7) ^ ror(a, 18) ^ (a >>> 3)) + W[i - 7] + (ror(b, 17) ^ ror(b, 19) ^ (b >>> 10)) | 0;
    }
    let [a, b, c, d, e, f, g, h] = H;
    for (let i = 0; i < 64; i++) {
      const t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + W[i] | 0;
      const t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c)) | 0;
      h = g; g = f; f = e; e = d + t1 | 0; d = c; c = b; b = a; a = t1 + t2 | 0;
    }
    [a, b, c, d, e, f, g, h].forEach((v, i) => { H[i] = H[i] + v | 0; });
  }
  const out = new DataView(new ArrayBuffer(32));
  H.forEach((v, i) => out.setInt32(4 * i, v));
  return new Uint8Array(out.buffer);
};

// SHA-512 keeps each 64-bit word as two 32-bit halves: hi at 2i, lo at 2i+1.
// rot sets R to the 64-bit word (h, l) rotated right by n (or shifted, if
// shift), and x3 to the XOR of three such.
let Rh = 0, Rl = 0;
const rot = (h, l, n, shift) => {
  if (n >= 32) { if (shift) { Rh = 0; Rl = h >>> (n - 32); return; } [h, l] = [l, h]; n -= 32; }
  if (n === 0) { Rh = h; Rl = l; return; }
  Rh = (h >>> n) | (shift ? 0 : l << (32 - n));
  Rl = (l >>> n) | (h << (32 - n));
};
const x3 = (h, l, a, b, c, shift) => {
  rot(h, l, a); let xh = Rh, xl = Rl;
  rot(h, l, b); xh ^= Rh; xl ^= Rl;
  rot(h, l, c, shift); Rh ^= xh; Rl ^= xl;
};
const sha512Pure = (data) => {
  const dv = pad(data, 128), H = Int32Array.from(H512), W = new Int32Array(160), V = new Int32Array(16);
  // add sets W-like slot i of arr to the sum of 64-bit words given as [h, l] pairs.
  const sum = (...w) => {
    let h = 0, l = 0;
    for (let i = 0; i < w.length; i += 2) { l += w[i + 1] >>> 0; h += w[i]; }
    Rh = (h + Math.floor(l / 0x100000000)) | 0; Rl = l | 0;
  };
  for (let o = 0; o < dv.byteLength; o += 128) {
    for (let i = 0; i < 32; i++) W[i] = dv.getInt32(o + 4 * i);
    for (let i = 16; i < 80; i++) {
      x3(W[2 * i - 30], W[2 * i - 29], 1, 8, 7, true); const s0h = Rh, s0l = Rl;
      x3(W[2 * i - 4], W[2 * i - 3], 19, 61, 6, true);
      sum(W[2 * i - 32], W[2 * i - 31], s0h, s0l, W[2 * i - 14], W[2 * i - 13], Rh, Rl);
      W[2 * i] = Rh; W[2 * i + 1] = Rl;
    }
    V.set(H);
    for (let i = 0; i < 80; i++) {
      // V holds a..h as pairs: a at 0, e at 8.
      const [eh, el, fh, fl, gh, gl] = [V[8], V[9], V[10], V[11], V[12], V[13]];
      x3(eh, el, 14, 18, 41);
      sum(V[14], V[15], Rh, Rl, (eh & fh) ^ (~eh & gh), (el & fl) ^ (~el & gl), K512[2 * i], K512[2 * i + 1], W[2 * i], W[2 * i + 1]);
      const t1h = Rh, t1l = Rl;
      const [ah, al, bh, bl, ch, cl] = [V[0], V[1], V[2], V[3], V[4], V[5]];
      x3(ah, al, 28, 34, 39);
      sum(Rh, Rl, (ah & bh) ^ (ah & ch) ^ (bh & ch), (al & bl) ^ (al & cl) ^ (bl & cl));
      const t2h = Rh, t2l = Rl;
      V.copyWithin(2, 0, 14);
      sum(V[8], V[9], t1h, t1l); V[8] = Rh; V[9] = Rl; // e = d + t1
      sum(t1h, t1l, t2h, t2l); V[0] = Rh; V[1] = Rl; // a = t1 + t2
    }
    for (let i = 0; i < 16; i += 2) { sum(H[i], H[i + 1], V[i], V[i + 1]); H[i] = Rh; H[i + 1] = Rl; }
  }
  const out = new DataView(new ArrayBuffer(64));
  H.forEach((v, i) => out.setInt32(4 * i, v));
  return new Uint8Array(out.buffer);
};

// ---- Ed25519, pure JS, with Go's crypto/ed25519 verdicts ----
// Verification is cofactorless: [S]B - [k]A must encode to R exactly, so
// a non-canonical R never verifies; S must be below L; A is decoded as Go
// decodes it (y reduced mod p, x = 0 with the sign bit accepted).
const P = (1n << 255n) - 19n, L = (1n << 252n) + 27742317777372353535851937790883648493n;
const md = (a, m = P) => { const r = a % m; return r < 0n ? r + m : r; };
const pw = (b, e) => {
  let r = 1n;
  for (b = md(b); e > 0n; e >>= 1n, b = b * b % P) if (e & 1n) r = r * b % P;
  return r;
};
const inv = (a) => pw(a, P - 2n);
const D = md(-121665n * inv(121666n)), D2 = D * 2n % P, SQRT_M1 = pw(2n, (P - 1n) / 4n);
const le = (b) => { let v = 0n; for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]); return v; };
const ID = [0n, 1n, 1n, 0n];
const add = ([X1, Y1, Z1, T1], [X2, Y2, Z2, T2]) => {
  const a = (Y1 - X1) * (Y2 - X2) % P, b = (Y1 + X1) * (Y2 + X2) % P;
  const c = T1 * D2 % P * T2 % P, d = Z1 * 2n * Z2 % P;
  const e = b - a, f = d - c, g = d + c, h = b + a;
  return [e * f % P, g * h % P, f * g % P, e * h % P];
};
const dbl = ([X1, Y1, Z1]) => {
  const a = X1 * X1 % P, b = Y1 * Y1 % P, c = 2n * Z1 * Z1 % P, d = -a;
  const e = (X1 + Y1) * (X1 + Y1) % P - a - b, g = d + b, f = g - c, h = d - b;
  return [e * f % P, g * h % P, f * g % P, e * h % P];
};
const decodePoint = (bytes) => {
  const b = Uint8Array.from(bytes), sign = b[31] >> 7;
  b[31] &= 0x7f;
  const y = md(le(b)), y2 = y * y % P, u = md(y2 - 1n), v = md(D * y2 + 1n);
  const v3 = v * v % P * v % P;
  let x = u * v3 % P * pw(u * v3 % P * v3 % P * v % P, (P - 5n) / 8n) % P;
  const chk = v * x % P * x % P;
  if (chk === md(-u)) x = x * SQRT_M1 % P;
  else if (chk !== u) return null;
  if (x & 1n) x = P - x;
  if (sign) x = md(-x);
  return [x, y, 1n, x * y % P];
};
const encodePoint = ([X, Y, Z]) => {
  const zi = inv(Z), x = md(X * zi), b = be(md(Y * zi), 32).reverse();
  if (x & 1n) b[31] |= 0x80;
  return b;
};
const BASE = decodePoint(Uint8Array.from([0x58, ...Array(31).fill(0x66)]));
const isIdentity = ([X, Y, Z]) => md(X) === 0n && md(Y - Z) === 0n;

// checkPoint is keys.CheckPoint: raw must be the canonical encoding of a
// point of the curve that is not of small order.
const checkPoint = (raw) => {
  if (raw.length !== 32) return 'not 32 bytes';
  const p = decodePoint(raw);
  if (!p) return 'not a point on the curve';
  if (!equal(encodePoint(p), raw)) return 'non-canonical point encoding';
  if (isIdentity(dbl(dbl(dbl(p))))) return 'point of small order';
  return null;
};

const ed25519Pure = (pub, msg, sig) => {
  if (pub.length !== 32 || sig.length !== 64 || sig[63] & 224) return false;
  const A = decodePoint(pub), S = le(sig.subarray(32));
  if (!A || S >= L) return false;
  const k = le(sha512Pure(concat(sig.subarray(0, 32), pub, msg))) % L;
  const nA = [md(-A[0]), A[1], A[2], md(-A[3])], AB = add(nA, BASE);
  let R = ID;
  for (let i = 255n; i >= 0n; i--) {
    R = dbl(R);
    const a = (k >> i) & 1n, s = (S >> i) & 1n;
    if (a && s) R = add(R, AB);
    else if (a) R = add(R, nA);
    else if (s) R = add(R, BASE);
  }
  return equal(encodePoint(R), sig.subarray(0, 32));
};

// ---- which implementation ----
const subtle = globalThis.crypto && globalThis.crypto.subtle;
const ed25519WebCrypto = async (pub, msg, sig) => {
  if (pub.length !== 32 || sig.length !== 64 || sig[63] & 224) return false;
  let key;
  try { key = await subtle.importKey('raw', pub, { name: 'Ed25519' }, false, ['verify']); } catch { return false; }
  try { return await subtle.verify({ name: 'Ed25519' }, key, sig, msg); } catch { return false; }
};
const engine = { ed: 'pure', sha: 'pure' };
// ready resolves once the implementations are chosen: WebCrypto for each
// of Ed25519 and SHA-256 that the browser has, pure JS for the rest.
// force ('pure' or 'webcrypto') overrides the choice, for tests.
const choose = async (force) => {
  let ed = false, sha = false;
  if (subtle && force !== 'pure') {
    try { await subtle.digest('SHA-256', new Uint8Array(1)); sha = true; } catch {}
    try { await subtle.importKey('raw', encodePoint(BASE), { name: 'Ed25519' }, false, ['verify']); ed = true; } catch {}
  }
  if (force === 'webcrypto' && !(ed && sha)) fail('WebCrypto Ed25519 or SHA-256 is not available here');
  engine.ed = ed ? 'webcrypto' : 'pure';
  engine.sha = sha ? 'webcrypto' : 'pure';
  return describe();
};
const describe = () => (engine.ed === 'webcrypto' && engine.sha === 'webcrypto'
  ? 'WebCrypto (Ed25519 and SHA-256 by the browser)'
  : `pure JavaScript for ${engine.ed === 'pure' ? 'Ed25519' : ''}${engine.ed === engine.sha ? ' and ' : ''}${engine.sha === 'pure' ? 'SHA-256' : ''}` +
    ' (this page has no WebCrypto for it: not a secure context, or an old browser)');
let ready = choose();
const verify = async (pub, msg, sig) => { await ready; return engine.ed === 'webcrypto' ? ed25519WebCrypto(pub, msg, sig) : ed25519Pure(pub, msg, sig); };
const sha256 = async (b) => { await ready; return engine.sha === 'webcrypto' ? new Uint8Array(await subtle.digest('SHA-256', b)) : sha256Pure(b); };

// ---- keys (FORMAT.md "Keys") ----
const keyNameRE = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$/;
const keyHash = async (name, raw) => u32(await sha256(concat(te.encode(name + '\n\x01'), raw)), 0);
const keyID = async (raw) => hex((await sha256(raw)).subarray(0, 16));

// parseKey parses a public key's text form NAME+HASH+BASE64, as
// keys.ParsePublicKey (white space around it ignored) or, if exact, as
// inside a statement (no white space).
const parseKey = async (text, exact) => {
  const t = exact ? text : text.replace(trimRE, '');
  const bad = (m) => fail(`invalid public key: ${m}`);
  const i = t.indexOf('+'), j = t.indexOf('+', i + 1);
  if (i < 0 || j < 0) bad('want NAME+HASH+KEY');
  const name = t.slice(0, i), h = t.slice(i + 1, j), raw = b64decode(t.slice(j + 1));
  if (!keyNameRE.test(name)) bad('name must be 1 to 64 bytes of letters, digits and . _ - /, starting with a letter or digit');
  if (!/^[0-9a-f]{8}$/.test(h)) bad('hash must be 8 lowercase hex digits');
  if (!raw || raw.length !== 33) bad('key data must be base64 of 33 bytes');
  if (raw[0] !== 1) bad(`unknown algorithm ${raw[0]}`);
  const key = raw.subarray(1), why = checkPoint(key);
  if (why) bad(why);
  const hash = await keyHash(name, key);
  if (hash !== parseInt(h, 16)) bad('hash does not match name and key (damaged or edited)');
  return { name, hash, key, text: t, id: await keyID(key) };
};

// ---- signed notes (golang.org/x/mod/sumdb/note, and canonical form) ----
const SIG_PREFIX = '\u2014 ';
// openNote verifies a signed note of at most max bytes against keys (each
// {name, hash, key}) as note.Open does, and that it is in canonical form
// (internal/notes): canonical base64, no key signing twice. It returns the
// text, the keys that signed it, and the number of signature lines.
const openNote = async (data, max, keys, what) => {
  const bad = (m) => fail(`${what}: ${m}`);
  if (data.length > max) bad(`larger than ${max} bytes`);
  const s = str(data);
  if (s === null || /[\x00-\x09\x0b-\x1f]/.test(s)) bad('malformed note');
  let split = -1;
  for (let i = data.length - 2; i >= 0 && split < 0; i--) if (data[i] === 10 && data[i + 1] === 10) split = i;
  if (split < 0 || data[data.length - 1] !== 10) bad('malformed note');
  const text = data.subarray(0, split + 1), lines = str(data.subarray(split + 2, data.length - 1)).split('\n');
  if (lines.length > LIMITS.noteSigs) bad('malformed note');
  const seen = new Set(), signers = [];
  for (const line of lines) {
    if (!line.startsWith(SIG_PREFIX)) bad('malformed signature line');
    const rest = line.slice(SIG_PREFIX.length), sp = rest.indexOf(' ');
    const name = sp < 0 ? rest : rest.slice(0, sp), b64 = sp < 0 ? '' : rest.slice(sp + 1);
    const sig = b64decode(b64);
    if (!name || spaceRE.test(name) || name.includes('+') || !b64 || !sig || sig.length < 5) bad(`malformed or non-canonical signature line by ${name}`);
    const hash = u32(sig, 0), id = `${name} ${hash}`;
    if (seen.has(id)) bad(`key ${name} signs more than once`);
    seen.add(id);
    const k = keys.filter((k) => k.name === name && k.hash === hash);
    if (k.length > 1) bad(`ambiguous key ${name}`);
    if (!k.length) continue;
    if (!(await verify(k[0].key, text, sig.subarray(4)))) bad(`invalid signature by ${name}`);
    signers.push(k[0]);
  }
  if (!signers.length) bad('not signed by any key it should be signed by');
  return { text: str(text), signers, lines: lines.length };
};

// ---- times ----
const days = (y, m, d) => { // days since 1970-01-01 of a proleptic Gregorian date
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400), yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  return era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
};
// parseTime parses YYYY-MM-DDTHH:MM:SSZ to Unix seconds, or returns null.
const parseTime = (s) => {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$/.exec(s);
  if (!m) return null;
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number);
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  const dim = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1];
  if (!dim || d < 1 || d > dim || h > 23 || mi > 59 || se > 59) return null;
  return days(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
};
const fmtTime = (t) => new Date(t * 1000).toISOString().replace('.000Z', 'Z');
const inRange = (t) => t >= 0 && t <= MAX_UNIX;

// ---- key statement (FORMAT.md "Key statement") ----
const STATEMENT_MAGIC = 'samizdat key statement v1';
// openStatement verifies a signed key statement against the pinned root
// key (from parseKey) and returns the trust it gives: which signing keys
// may sign when (keys.NewTrust).
const openStatement = async (data, root) => {
  const bad = (m) => fail(`key statement: ${m}`);
  const n = await openNote(data, LIMITS.statement, [root], 'key statement');
  if (n.lines !== 1) bad(`not in canonical form: want exactly one signature, by ${root.text}`);
  const text = n.text;
  if (!text.endsWith('\n')) bad('text must end in a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 5 || lines[0] !== STATEMENT_MAGIC) bad(`first line must be "${STATEMENT_MAGIC}", and at least one key must follow`);
  const field = (i, name) => lines[i].startsWith(name + ' ') ? lines[i].slice(name.length + 1) : bad(`line ${i + 1} must start with "${name}"`);
  const publisher = await parseKey(field(1, 'publisher'), true);
  if (publisher.text !== root.text) bad(`names publisher ${publisher.text}, not the pinned key ${root.text}`);
  const version = decimal(field(2, 'version'), U64);
  if (version === null) bad('version is not a decimal number');
  if (version === 0n) bad('version must be at least 1');
  const issued = parseTime(field(3, 'issued'));
  if (issued === null || !inRange(issued)) bad('issued is not a time in 1970 to 9999 in the form 2006-01-02T15:04:05Z');
  const keys = [], revoked = [], seen = new Set([hex(root.key)]);
  for (let i = 4; i < lines.length; i++) {
    const [kind, ...f] = lines[i].split(' ');
    if (kind === 'key' && f.length === 3 && !revoked.length) {
      const key = await parseKey(f[0], true), from = parseTime(f[1]), until = parseTime(f[2]);
      if (from === null || until === null || !inRange(from) || !inRange(until) || from >= until) bad(`line ${i + 1}: bad validity window`);
      keys.push({ pub: key, key: key.key, name: key.name, hash: key.hash, from, until });
    } else if (kind === 'revoked' && f.length === 1) {
      revoked.push(await parseKey(f[0], true));
    } else bad(`line ${i + 1}: want "key KEY FROM UNTIL" lines, then "revoked KEY" lines`);
    const k = revoked.length ? revoked[revoked.length - 1] : keys[keys.length - 1].pub;
    if (seen.has(hex(k.key))) bad(`key ${k.text} listed twice, or is the root key`);
    seen.add(hex(k.key));
  }
  if (keys.length > LIMITS.delegations) bad(`must list 1 to ${LIMITS.delegations} signing keys`);
  if (revoked.length > LIMITS.revocations) bad(`more than ${LIMITS.revocations} revoked keys`);
  const canon = `${STATEMENT_MAGIC}\npublisher ${root.text}\nversion ${version}\nissued ${fmtTime(issued)}\n` +
    keys.map((d) => `key ${d.pub.text} ${fmtTime(d.from)} ${fmtTime(d.until)}\n`).join('') +
    revoked.map((k) => `revoked ${k.text}\n`).join('');
  if (canon !== text) bad('not in canonical form');
  const revokedSet = new Set(revoked.map((k) => hex(k.key)));
  return {
    root, publisherID: root.id, version, issued, keys, revoked, signed: data,
    // authorize is keys.Trust.Authorize: raw may sign at time t (or at
    // any time, if t is null: the window is checked later).
    authorize(raw, t) {
      const h = hex(raw);
      if (revokedSet.has(h)) fail(`signing key ${h} was revoked by the publisher`);
      const d = keys.find((d) => hex(d.key) === h);
      if (!d) fail(`signing key ${h} is not delegated by publisher ${root.name} (key statement version ${version})`);
      if (t !== null && (t < d.from || t >= d.until)) fail(`signing key ${d.pub.text} was not valid at ${fmtTime(t)} (valid ${fmtTime(d.from)} to ${fmtTime(d.until)})`);
      return d.pub;
    },
  };
};

// ---- checkpoint (FORMAT.md "Checkpoint") ----
// parseCheckpoint parses checkpoint text (catalog.ParseCheckpoint): four
// lines, or five with the article index root. Use openCheckpoint.
const parseCheckpoint = (text) => {
  const bad = (m) => fail(`checkpoint: ${m}`);
  if (!text.endsWith('\n')) bad('text must end in a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length !== 4 && lines.length !== 5) bad(`want 5 lines (origin, size, root hash, time, index), got ${lines.length}`);
  const [origin, sz, rootB64, tl, il] = lines;
  if (!origin.startsWith('samizdat/')) bad(`origin does not start with samizdat/`);
  const size = decimal(sz, I64), root = b64decode(rootB64);
  if (size === null) bad('size is not a decimal number');
  if (!root || root.length !== 32) bad('root hash is not base64 of 32 bytes');
  const t = tl.startsWith('time ') ? decimal(tl.slice(5), BigInt(MAX_UNIX)) : null;
  if (t === null) bad('fourth line must be "time UNIXSECONDS"');
  let index = null;
  if (il !== undefined) {
    index = il.startsWith('index ') ? b64decode(il.slice(6)) : null;
    if (!index || index.length !== 32 || index.every((x) => x === 0)) bad('fifth line must be "index BASE64", the article index\'s root hash');
  }
  return { origin, size, root, time: Number(t), index };
};
// openCheckpoint verifies a signed checkpoint against a trust (from
// openStatement): a signature by a signing key valid at the checkpoint's
// time, the publisher's origin, canonical form (catalog.OpenCheckpoint).
const openCheckpoint = async (data, trust) => {
  const n = await openNote(data, LIMITS.checkpoint, trust.keys, 'checkpoint');
  const c = parseCheckpoint(n.text);
  if (c.origin !== 'samizdat/' + trust.publisherID) fail(`checkpoint: origin "${c.origin}" is not this publisher's log "samizdat/${trust.publisherID}"`);
  let err = 'no signature by a signing key';
  for (const k of n.signers) {
    try { c.signer = trust.authorize(k.key, c.time); return c; } catch (e) { err = e.message; }
  }
  fail(`checkpoint: ${err}`);
};

// ---- mirror list (FORMAT.md "Mirror list") ----
// openMirrorList verifies a signed mirror list against a trust as
// catalog.OpenMirrorList does (a signing key valid at its time, the
// publisher's origin, the lines in order and canonical form: at most
// catalog.MaxMirrors (64) URLs, then catalog.MaxVerifiers (4) verifier
// hashes, none twice) and returns the verifier hashes (hex), the list's
// time (Unix seconds) as the array's time property. URLs are
// only checked to be printable ASCII: the page uses none of them.
const openMirrorList = async (data, trust) => {
  const n = await openNote(data, LIMITS.mirrorList, trust.keys, 'mirror list');
  const m = /^samizdat\/(\w+) mirrors\nversion (\d+)\ntime (\d+)\n((?:url [!-~]+\n){0,64})((?:verifier [0-9a-f]{64}\n){0,4})$/.exec(n.text) || [], u = (m[4] || '').split('\n'), v = (m[5] || '').match(/\w{64}/g) || [];
  if (m[1] !== trust.publisherID || !decimal(m[2], U64) || decimal(m[3], BigInt(MAX_UNIX)) === null || new Set(u).size < u.length || new Set(v).size < v.length) fail('mirror list: malformed');
  for (const k of n.signers) try { return trust.authorize(k.key, +m[3]) && Object.assign(v, { time: +m[3] }); } catch {}
  fail('mirror list: no signing key in force');
};

// ---- log: leaves, RFC 6962 hashes, proofs, entry tiles ----
const leafHash = (leaf) => sha256(concat([0], leaf));
const nodeHash = (l, r) => sha256(concat([1], l, r));
const checkID = (id) => typeof id === 'string' && /^[a-z0-9][a-z0-9._-]{0,127}$/.test(id);
const KINDS = ['', 'bundle', 'retraction', 'key-statement', 'mirror-list'];
// parseLeaf decodes a leaf (catalog.ParseLeaf).
const parseLeaf = (b) => {
  const bad = (m) => fail(`leaf: ${m}`);
  if (!b.length || b.length > LIMITS.leaf) bad(`size ${b.length} outside 1..${LIMITS.leaf}`);
  const kind = b[0], l = { kind: KINDS[kind] || bad(`unknown kind ${kind}`) };
  if (kind <= 2) {
    const n = b[1], tail = kind === 1 ? 40 : 16;
    if (b.length < 2 || b.length !== 2 + n + tail) bad(`${l.kind} leaf has the wrong length`);
    l.id = String.fromCharCode(...b.subarray(2, 2 + n));
    if (!checkID(l.id)) bad('article id must be 1 to 128 bytes of a-z 0-9 - _ ., starting with a letter or digit');
    l.revision = u64(b, 2 + n);
    if (l.revision === 0n) bad('revision 0');
    if (kind === 1) l.digest = hex(b.subarray(10 + n));
    else {
      const t = u64(b, 10 + n);
      if (t > BigInt(MAX_UNIX)) bad('retraction time out of range');
      l.time = Number(t);
    }
  } else {
    if (b.length !== 41) bad(`${l.kind} leaf has the wrong length`);
    l.version = u64(b, 1);
    if (l.version === 0n) bad('version 0');
    l.digest = hex(b.subarray(9));
  }
  return l;
};
// checkInclusion checks an RFC 6962 inclusion proof (RFC 9162 2.1.3.2) of
// the leaf with hash lh at index n in the tree of size and root.
const checkInclusion = async (size, root, n, lh, proof) => {
  size = BigInt(size); n = BigInt(n);
  if (n < 0n || n >= size) fail(`inclusion: leaf ${n} is not in a log of size ${size}`);
  let fn = n, sn = size - 1n, r = lh;
  for (const p of proof) {
    if (sn === 0n) fail('inclusion: proof too long');
    if (fn & 1n || fn === sn) {
      r = await nodeHash(p, r);
      while (!(fn & 1n) && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else r = await nodeHash(r, p);
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n || !equal(r, root)) fail(`inclusion: proof of leaf ${n} does not lead to the root of size ${size}`);
};
// checkConsistency checks an RFC 6962 consistency proof (RFC 9162
// 2.1.4.2) that the tree (size2, root2) extends (size1, root1), as
// catalog.CheckConsistency: no proof between equal sizes or from size 0.
const checkConsistency = async (size1, root1, size2, root2, proof) => {
  size1 = BigInt(size1); size2 = BigInt(size2);
  const bad = (m) => fail(`consistency: ${m}`);
  if (size2 < size1) bad(`size ${size2} is older than size ${size1} (rollback)`);
  if ((size1 === 0n || size1 === size2) && proof.length) bad('a proof where none is needed');
  if (size1 === 0n) return;
  if (size1 === size2) { if (!equal(root1, root2)) bad('two roots for one size (fork)'); return; }
  if (!proof.length) bad('empty proof');
  const path = (size1 & (size1 - 1n)) === 0n ? [root1, ...proof] : proof;
  let fn = size1 - 1n, sn = size2 - 1n;
  while (fn & 1n) { fn >>= 1n; sn >>= 1n; }
  let fr = path[0], sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) bad('proof too long');
    if (fn & 1n || fn === sn) {
      fr = await nodeHash(c, fr); sr = await nodeHash(c, sr);
      while (!(fn & 1n) && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else sr = await nodeHash(sr, c);
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n || !equal(fr, root1) || !equal(sr, root2)) bad(`sizes ${size1} and ${size2} are not consistent (fork, or a wrong proof)`);
};
// tilePath is the path, below a publisher's prefix, of tile n of level
// (-1 for entries) holding w (1 to 256) hashes or leaves (FORMAT.md
// "Tiles").
const tilePath = (level, n, w) => {
  const t = BigInt(n).toString(), digits = t.padStart(3 * Math.ceil(t.length / 3), '0').match(/.../g);
  return `tile/${level < 0 ? 'entries' : level}/` + digits.map((d, i) => (i < digits.length - 1 ? 'x' : '') + d).join('/') + (w < 256 ? `.p/${w}` : '');
};
// entryTilePath is the path of the entry tile that holds leaf n of a log
// of size.
const entryTilePath = (n, size) => {
  const t = BigInt(n) / 256n;
  return tilePath(-1, t, Number(BigInt(size) - t * 256n > 256n ? 256n : BigInt(size) - t * 256n));
};
// mth is the RFC 6962 tree hash of a list of hashes taken as subtrees of
// equal height.
const mth = async (hs) => {
  if (hs.length === 1) return hs[0];
  let k = 1;
  while (k * 2 < hs.length) k *= 2;
  return nodeHash(await mth(hs.slice(0, k)), await mth(hs.slice(k)));
};
const tileHashes = (b, w) => {
  if (b.length !== 32 * w) fail(`hash tile of ${b.length} bytes, want ${32 * w}`);
  return Array.from({ length: w }, (_, i) => b.subarray(32 * i, 32 * i + 32));
};
// newestLeaves returns the leaves of the entry tile that holds a log's
// last leaf, checked against the checkpoint's size and root with the
// tiles on the tree's right edge, as {first: index of the first, leaves}.
// get(path) fetches a tile's bytes.
const newestLeaves = async (size, root, get) => {
  const N = BigInt(size);
  if (N < 1n) fail('tiles: the log is empty');
  const c = [], edge = [];
  for (let L = 0; L < 8; L++) c.push(Number((N >> BigInt(8 * L)) & 255n));
  const t0 = (N - 1n) / 256n, w0 = Number(N - t0 * 256n);
  const leaves = parseEntryTile(await get(tilePath(-1, t0, w0)), w0);
  const lh = await Promise.all(leaves.map(leafHash));
  edge[0] = lh;
  for (let L = 1; L < 8; L++) if (c[L]) edge[L] = tileHashes(await get(tilePath(L, N >> BigInt(8 * L + 8), c[L])), c[L]);
  // A full newest tile is the last hash of the level above, through full
  // tiles up to the first level with a partial right edge.
  let L = 0, cur = await mth(lh);
  if (!c[0]) {
    for (L = 1; !c[L]; L++) {
      const hs = tileHashes(await get(tilePath(L, (N >> BigInt(8 * L + 8)) - 1n, 256)), 256);
      if (!equal(hs[255], cur)) fail(`tiles: level ${L} does not hold the tile below`);
      cur = await mth(hs);
    }
    if (!equal(edge[L][c[L] - 1], cur)) fail(`tiles: level ${L} does not hold the tile below`);
  }
  // The root from the perfect subtrees, largest first, nested to the right.
  const parts = [];
  for (let L = 7; L >= 0; L--) {
    for (let r = 7, off = 0; r >= 0; r--) if (c[L] & (1 << r)) { parts.push(await mth(edge[L].slice(off, off + (1 << r)))); off += 1 << r; }
  }
  let h = parts.pop();
  while (parts.length) h = await nodeHash(parts.pop(), h);
  if (!equal(h, root)) fail(`tiles do not lead to the root of the checkpoint of size ${N}`);
  return { first: t0 * 256n, leaves };
};
// parseEntryTile splits an entry tile into its w leaves
// (catalog.ParseEntryBundle).
const parseEntryTile = (b, w) => {
  if (!(w >= 1 && w <= LIMITS.tileWidth)) fail(`entry tile of ${w} leaves (1 to ${LIMITS.tileWidth})`);
  const out = [];
  let off = 0;
  while (out.length < w) {
    if (b.length - off < 2) fail(`entry tile holds ${out.length} leaves where ${w} were expected`);
    const l = u16(b, off);
    if (l === 0 || l > LIMITS.leaf || b.length - off - 2 < l) fail(`entry tile: leaf ${out.length} has a bad length`);
    out.push(b.subarray(off + 2, off + 2 + l));
    off += 2 + l;
  }
  if (off !== b.length) fail(`entry tile: ${b.length - off} bytes after its ${w} leaves`);
  return out;
};

// ---- article index (FORMAT.md "Article index") ----
const INDEX_PREFIX = te.encode('samizdat/index\0');
const ih = (...x) => sha256(concat(INDEX_PREFIX, ...x));
const E_LABEL = new Uint8Array(32).fill(1);
// nh is N(l, v): a node's hash from its label (bits, 32 bytes) and value.
const nh = async (bits, lb, v) => ih(v, await ih(be(bits, 4), lb));
const bitOf = (k, i) => (k[i >> 3] >> (7 - (i & 7))) & 1;
const prefixOf = (k, n) => { // the first n bits of k, as 32 label bytes
  const b = new Uint8Array(32);
  b.set(k.subarray(0, (n + 7) >> 3));
  if (n & 7) b[n >> 3] &= 0xff << (8 - (n & 7));
  return b;
};
const indexEmptyRoot = async () => nh(0, new Uint8Array(32), await ih([0]));
const indexEmptyNode = async () => nh(0, E_LABEL, await nh(0, E_LABEL, await ih([0])));
// parseIndexProof decodes an index proof (index.ParseProof).
const parseIndexProof = (b) => {
  const bad = (m) => fail(`index proof: malformed: ${m}`);
  if (b.length > LIMITS.indexProof) bad(`${b.length} bytes, more than ${LIMITS.indexProof}`);
  if (b.length < 2) bad('too short');
  if (b[0] !== 2) bad(`version ${b[0]}, this page reads version 2`);
  const p = { kind: b[1] };
  let o = 2, prev = 256;
  if (p.kind === 0) {
    if (b.length !== 2) bad("bytes after an empty index's proof");
    return p;
  } else if (p.kind === 1) {
    // The id's newest leaf itself, whose hash the verifier derives.
    if (b.length < o + 10) bad('too short for a leaf');
    p.leaf = u64(b, o);
    if (p.leaf > I64) bad('leaf index out of range');
    const n = u16(b, o + 8);
    o += 10;
    if (n > LIMITS.leaf || n > b.length - o) bad(`leaf of ${n} bytes in ${b.length - o} (at most ${LIMITS.leaf})`);
    p.leafBytes = b.subarray(o, o + n);
    try { p.article = parseLeaf(p.leafBytes); } catch (e) { bad(e.message); }
    if (p.article.kind !== 'bundle' && p.article.kind !== 'retraction') bad(`a ${p.article.kind} leaf, not an article leaf`);
    o += n;
  } else if (p.kind === 2) {
    if (b.length < o + 35) bad('too short for a branch');
    p.depth = b[o]; p.other = b.subarray(o + 1, o + 33);
    const bits = u16(b, o + 33);
    o += 35;
    if (bits === 0xffff) {
      if (p.depth) bad('empty branch child below the root');
      p.child = null;
    } else {
      const k = (bits + 7) >> 3;
      if (bits > 256) bad(`label of ${bits} bits`);
      if (bits <= p.depth) bad(`branch child of ${bits} bits at depth ${p.depth}`);
      if (b.length < o + k + 32) bad('too short for the branch child');
      const lb = new Uint8Array(32);
      lb.set(b.subarray(o, o + k));
      if (bits & 7 && lb[k - 1] & (0xff >> (bits & 7))) bad('non-zero bits in unused part of label');
      p.child = { bits, label: lb };
      p.childValue = b.subarray(o + k, o + k + 32);
      o += k + 32;
    }
    prev = p.depth;
  } else bad(`kind ${p.kind}`);
  if (b.length < o + 2) bad('too short for the step count');
  const n = u16(b, o);
  o += 2;
  if (n > LIMITS.indexSteps || b.length - o !== n * 33) bad(`${n} steps in ${b.length - o} bytes`);
  if (n === 0 && prev !== 0) bad('no path to the root');
  p.steps = [];
  for (let i = 0; i < n; i++, o += 33) {
    if (b[o] >= prev) bad(`step ${i} at depth ${b[o]}, not above ${prev}`);
    prev = b[o];
    p.steps.push({ depth: b[o], hash: b.subarray(o + 1, o + 33) });
  }
  if (prev !== 0) bad(`path ends at depth ${prev}, not at the root`);
  return p;
};
// verifyIndexProof checks an encoded index proof for id against an index
// root (index.Verify). It returns {present: true, leaf, leafHash,
// article} (the leaf's index, its log hash and the parsed leaf, an
// article leaf of id) or {present: false}, and throws if the proof proves
// nothing about id.
const verifyIndexProof = async (root, id, bytes) => {
  if (!checkID(id)) fail('index proof: invalid article id');
  const p = parseIndexProof(bytes), key = await sha256(te.encode(id));
  const mismatch = (m) => fail(`index proof for "${id}" does not match the root: ${m}`);
  if (p.kind === 0) {
    if (!equal(root, await indexEmptyRoot())) mismatch('the index is not empty');
    return { present: false };
  }
  const up = async (cur, d, sib) => nh(d, prefixOf(key, d), bitOf(key, d) ? await ih(sib, cur) : await ih(cur, sib));
  let cur, leafHashOf;
  if (p.kind === 1) {
    if (p.article.id !== id) mismatch(`its leaf ${p.leaf} is an article leaf of "${p.article.id}"`);
    leafHashOf = await leafHash(p.leafBytes);
    cur = await nh(256, key, await ih(be(p.leaf, 8), leafHashOf));
  } else {
    const d = p.depth;
    let child = await indexEmptyNode();
    if (p.child) {
      const c = p.child;
      for (let i = 0; i <= d; i++) if (bitOf(c.label, i) !== bitOf(key, i)) mismatch(`the branch child is not on the key's side of depth ${d}`);
      if (equal(prefixOf(key, c.bits), c.label)) mismatch("the branch child is on the key's path");
      child = await nh(c.bits, c.label, p.childValue);
    }
    cur = await up(child, d, p.other);
  }
  for (const s of p.steps) cur = await up(cur, s.depth, s.hash);
  if (!equal(cur, root)) mismatch('the path does not lead to the root');
  return p.kind === 1 ? { present: true, leaf: p.leaf, leafHash: leafHashOf, article: p.article } : { present: false };
};
// ---- split index proofs (FORMAT.md "Split proofs") ----
// cutDepth is index.CutDepth: half the bits of size, 1 to 32.
const cutDepth = (size) => {
  let n = 0;
  for (let v = BigInt(size) || 1n; v > 0n; v >>= 1n) n++;
  return Math.min(Math.max(n >> 1, 1), 32);
};
// bucketOf names id's bucket at size (index.BucketOf): the first
// cutDepth(size) bits of its key, in hex digits.
const bucketOf = async (size, id) => {
  const d = cutDepth(size);
  return hex(prefixOf(await sha256(te.encode(id)), d)).slice(0, (d + 3) >> 2);
};
// verifySplitProof checks id's index proof at a checkpoint of size with
// index root root, given as a split proof: its top part top and, unless
// top holds a whole proof, the bottom part that getBottom(node) fetches
// by the bucket root's hash (hex) top names. It joins the parts into one
// proof (index.Join), which verifyIndexProof checks: parts that do not
// fit make a proof that does not verify.
const verifySplitProof = async (root, size, id, top, getBottom) => {
  const bad = (m) => fail(`index split proof for "${id}": ${m}`);
  const d = cutDepth(size), o = 3 + ((d + 7) >> 3);
  if (!checkID(id)) fail('index proof: invalid article id');
  if (top.length > LIMITS.indexTop || top.length < o || top[0] !== 1 || top[2] !== d) bad(`not a top part of an index of size ${size}`);
  if (!equal(top.subarray(3, o), prefixOf(await sha256(te.encode(id)), d).subarray(0, o - 3))) bad("the top part is not of the id's bucket");
  if (top[1] === 0) return verifyIndexProof(root, id, top.subarray(o));
  if (top[1] !== 1 || top.length < o + 34) bad('malformed top part');
  // The top part leads from the bucket root it names to the index root
  // (index.Top.Verify), so that the bottom part must lead to that node.
  const node = top.subarray(o, o + 32), nt = u16(top, o + 32), ts = top.subarray(o + 34), ref = prefixOf(await sha256(te.encode(id)), d);
  if (ts.length !== nt * 33) bad('malformed top part');
  let cur = node;
  for (let i = 0; i < ts.length; i += 33) {
    const dp = ts[i], h = ts.subarray(i + 1, i + 33);
    cur = await nh(dp, prefixOf(ref, dp), bitOf(ref, dp) ? await ih(h, cur) : await ih(cur, h));
  }
  if (!equal(cur, root)) fail(`index proof for "${id}" does not match the root: the top part does not lead to it`);
  const b = await getBottom(hex(node));
  if (b.length > LIMITS.indexProof || b.length < 4 || b[0] !== 1) bad('malformed bottom part');
  if (b[1] === 3) {
    // The bucket root is beside the id's path: the top part's first step
    // is the branch.
    if (nt < 1 || b.length !== 36 + ((u16(b, 2) + 7) >> 3)) bad('malformed bottom part');
    return verifyIndexProof(root, id, concat([2, 2, ts[0]], ts.subarray(1, 33), b.subarray(2), be(nt - 1, 2), ts.subarray(33)));
  }
  // A presence or an absence as in a whole proof, then its steps up to
  // the bucket root, then the top part's.
  const n = b[1] === 1 ? 12 + u16(b, 10) : b[1] === 2 && b.length > 36 ? 69 + ((u16(b, 35) + 7) >> 3) : 0;
  if (!n || b.length < n + 2) bad('malformed bottom part');
  return verifyIndexProof(root, id, concat([2], b.subarray(1, n), be(u16(b, n) + nt, 2), b.subarray(n + 2), ts));
};
// checkArticleLeaf checks that leaf is the one an index value names: its
// hash, and a bundle or retraction leaf of id (index.Value.CheckLeaf).
// The light path needs it no more (the proof carries the leaf); it checks
// a leaf read from an entry tile against a proof.
const checkArticleLeaf = async (value, id, leaf) => {
  if (!equal(await leafHash(leaf), value.leafHash)) fail(`index: leaf does not have the hash the index holds for "${id}"`);
  const l = parseLeaf(leaf);
  if ((l.kind !== 'bundle' && l.kind !== 'retraction') || l.id !== id) fail(`index: leaf ${value.leaf} is a ${l.kind} leaf of "${l.id}", not an article leaf of "${id}"`);
  return l;
};

// ---- bundle (FORMAT.md "Bundle", "Manifest", "Verification order") ----
const BUNDLE_MAGIC = te.encode('SAMIZDAT-BUNDLE\x01'), HEADER = 16 + 32 + 64 + 4;
const SIGN_PREFIX = te.encode('samizdat signature v1\0bundle manifest\0');
const BODY_TYPES = { 'text/html': 'index.html', 'text/markdown': 'index.md', 'text/plain': 'index.txt' };
const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif', 'image/svg+xml'];
const textOK = (s) => s !== null && !/[\x00-\x1f\x7f-\x9f]/.test(s);
const nameOK = (n) => n.length >= 1 && n.length <= 255 && n.split('/').every((p) => /^[A-Za-z0-9_~+-][A-Za-z0-9._~+-]*$/.test(p));
// parseManifest decodes verified manifest bytes and checks every rule.
const parseManifest = (b) => {
  let o = 0;
  const bad = (m) => fail(`bundle: manifest: ${m}`);
  const take = (n, what) => { if (n > b.length - o) bad(`truncated ${what}`); o += n; return b.subarray(o - n, o); };
  const int = (n, what) => { const v = take(n, what); return n === 8 ? u64(v, 0) : n === 2 ? u16(v, 0) : v[0]; };
  const text = (n, what, max) => {
    const len = int(n, what + ' length');
    if (len > max) bad(`${what} is ${len} bytes, limit ${max}`);
    const s = str(take(len, what));
    if (!textOK(s)) bad(`${what}: not valid UTF-8 or has a control character`);
    return s;
  };
  const time = (what) => { const t = int(8, what); if (t > BigInt(MAX_UNIX)) bad(`${what} out of range`); return Number(t); };
  if (str(take(4, 'magic')) !== 'SZM1') bad('bad magic, want "SZM1"');
  const m = { publisher: take(32, 'publisher') };
  m.id = text(1, 'id', 128);
  m.revision = int(8, 'revision');
  m.created = time('created');
  m.updated = time('updated');
  m.title = text(2, 'title', 1024);
  m.language = text(1, 'language', 35);
  m.canonicalURL = text(2, 'canonical URL', 2048);
  const na = int(1, 'author count');
  if (na > 32) bad(`${na} authors, limit 32`);
  m.authors = [];
  for (let i = 0; i < na; i++) {
    const a = text(2, 'author', 256);
    if (!a) bad('an author must be 1 to 256 bytes of text');
    m.authors.push(a);
  }
  m.dictionary = take(32, 'dictionary');
  const ne = int(2, 'entry count');
  if (ne === 0 || ne > LIMITS.entries) bad(`${ne} entries, want 1 to ${LIMITS.entries}`);
  m.entries = [];
  for (let i = 0; i < ne; i++) {
    m.entries.push({
      name: text(1, 'entry name', 255), type: text(1, 'entry type', 127), compression: int(1, 'compression'),
      size: int(8, 'size'), storedSize: int(8, 'stored size'), sha256: take(32, 'sha256'), storedSHA256: take(32, 'stored sha256'),
    });
  }
  if (o !== b.length) bad(`${b.length - o} bytes after the last entry`);
  if (!checkID(m.id)) bad('article id must be 1 to 128 bytes of a-z 0-9 - _ ., starting with a letter or digit');
  if (m.revision === 0n) bad('revision must be at least 1');
  if (m.updated < m.created) bad('updated is before created');
  const e0 = m.entries[0];
  if (BODY_TYPES[e0.type] !== e0.name) bad(`entry 0 must be the body: index.html, index.md or index.txt with its type, not "${e0.name}" (${e0.type})`);
  let total = 0n;
  const names = new Set();
  m.entries.forEach((e, i) => {
    if (i > 0) {
      if (!nameOK(e.name)) bad(`entry name "${e.name}" is not allowed`);
      if (!IMAGE_TYPES.includes(e.type)) bad(`entry "${e.name}": type "${e.type}" is not an allowed image type`);
      if (i > 1 && e.name <= m.entries[i - 1].name) bad(`entry "${e.name}": entries after the body must be sorted by name, without repeats`);
    }
    if (names.has(e.name)) bad(`entry "${e.name}" appears twice`);
    names.add(e.name);
    if (e.compression === 0) {
      if (e.storedSize !== e.size || !equal(e.sha256, e.storedSHA256)) bad(`entry "${e.name}": stored entry's sizes or hashes differ`);
    } else if (e.compression === 1) {
      if (e.size > BigInt(LIMITS.decoderMemory)) bad(`entry "${e.name}": decompressing ${e.size} bytes exceeds the decoder memory limit`);
    } else bad(`entry "${e.name}": unknown compression ${e.compression}`);
    const es = BigInt(LIMITS.entrySize);
    if (e.size > es || e.storedSize > es + es / 64n + 1024n) bad(`entry "${e.name}": ${e.size} bytes, limit ${es}`);
    total += e.size;
    if (total > BigInt(LIMITS.totalSize)) bad(`entries total more than ${LIMITS.totalSize} bytes`);
  });
  return m;
};
// openManifest verifies the header and the signed manifest at the start
// of a bundle (FORMAT.md "Verification order", steps 1 to 4): head holds
// at least the bundle's first 116 bytes and its manifest. It returns the
// manifest, the signing key and where the entries start. A list of
// articles uses it for their titles without fetching their entries.
const openManifest = async (head, trust) => {
  const bad = (m) => fail(`bundle: ${m}`);
  if (head.length < HEADER || !equal(head.subarray(0, 16), BUNDLE_MAGIC)) bad('not a samizdat bundle (bad magic or shorter than its header)');
  const signer = head.subarray(16, 48), sig = head.subarray(48, 112), ml = u32(head, 112);
  if (ml > LIMITS.manifest) bad(`manifest length ${ml} exceeds limit ${LIMITS.manifest}`);
  if (ml > head.length - HEADER) bad(`truncated: manifest length ${ml}, only ${head.length - HEADER} bytes follow`);
  const mb = head.subarray(HEADER, HEADER + ml);
  const key = trust.authorize(signer, null);
  if (!(await verify(signer, concat(SIGN_PREFIX, mb), sig))) bad(`signature does not verify: the bundle was altered or not signed by ${key.text}`);
  const m = parseManifest(mb);
  if (!equal(m.publisher, trust.root.key)) bad(`manifest names another publisher, not ${trust.publisherID}`);
  trust.authorize(signer, m.updated);
  return { manifest: m, signer: key, end: HEADER + ml };
};
// openBundle verifies a bundle against a trust in FORMAT.md's order:
// lengths, the signing key's delegation, the signature over the exact
// manifest bytes, then the manifest, its publisher and the key's window
// at its updated time (openManifest), then the stored entries and their
// SHA-256. It returns the manifest, the bundle's digest (hex) and each
// entry's stored bytes; entry gives each entry's content, checked.
const openBundle = async (data, trust) => {
  const bad = (m) => fail(`bundle: ${m}`);
  if (data.length > LIMITS.bundle) bad(`${data.length} bytes, limit ${LIMITS.bundle}`);
  const { manifest: m, signer: key, end } = await openManifest(data, trust);
  let off = end;
  const stored = m.entries.map((e) => {
    if (e.storedSize > BigInt(data.length - off)) bad(`truncated: entry "${e.name}" needs ${e.storedSize} bytes, ${data.length - off} remain`);
    off += Number(e.storedSize);
    return data.subarray(off - Number(e.storedSize), off);
  });
  if (off !== data.length) bad(`${data.length - off} bytes after the last entry`);
  for (let i = 0; i < stored.length; i++) {
    if (!equal(await sha256(stored[i]), m.entries[i].storedSHA256)) bad(`entry "${m.entries[i].name}": stored bytes do not match the signed hash`);
  }
  return { manifest: m, signer: key, digest: hex(await sha256(data)), stored };
};
// checkEntry checks an entry's content (stored as is, or decompressed by
// entry) against the signed manifest: size and SHA-256.
const checkEntry = async (e, bytes) => {
  if (BigInt(bytes.length) !== e.size || !equal(await sha256(bytes), e.sha256)) fail(`bundle: entry "${e.name}": content does not match the signed hash`);
  return bytes;
};
// zstdCheck reads every frame header of a zstd entry (RFC 8878, 3.1)
// before fzstd allocates anything for it, which is a frame's whole
// window: it refuses a frame that names a dictionary (the page has none),
// sets the reserved bit or needs a window larger than an entry may be
// (LIMITS.entrySize, as Go's decoder). fzstd allocates a frame's window
// and copies all of it once per block, so a stream of many tiny blocks in
// a large window would freeze the tab for minutes: the work, window times
// blocks plus one summed over frames, may be at most what blocks of
// ZBLOCK bytes in the largest window take for the n bytes the manifest
// signs (entrySize * (n / ZBLOCK + 2)). Go's decoder has no such limit.
// Go's encoder writes blocks of 128 KiB, or 64 KiB at its fastest level.
const ZBLOCK = 1 << 15;
const zstdCheck = (s, bad, n) => {
  const le = (o, n) => { let v = 0; for (let i = n; i--;) v = v * 256 + s[o + i]; return v; };
  let work = 0;
  for (let o = 0; o < s.length;) {
    const magic = le(o, 4);
    if (magic >= 0x184d2a50 && magic <= 0x184d2a5f) { o += 8 + le(o + 4, 4); continue; }
    if (magic !== 0xfd2fb528 || s.length - o < 6) bad('not a zstd frame');
    const f = s[o + 4], ss = f >> 5 & 1, fcs = f >> 6 ? 1 << (f >> 6) : ss, d = s[o + 5];
    if (f & 11) bad('a frame names a dictionary, which this page does not have, or sets the reserved bit');
    const w = ss ? le(o + 5, fcs) + (f >> 6 === 1) * 256 : 2 ** (10 + (d >> 3)) * (1 + (d & 7) / 8);
    if (w > LIMITS.entrySize) bad(`a frame's window is ${w} bytes, limit ${LIMITS.entrySize}`);
    for (o += 6 - ss + fcs, work += w; ;) {
      work += w;
      if (o + 3 > s.length) bad('truncated');
      const h = le(o, 3);
      o += 3 + ((h >> 1 & 3) === 1 ? 1 : h >>> 3);
      if (h & 1) break;
    }
    o += f & 4;
  }
  const max = LIMITS.entrySize * (n / ZBLOCK + 2);
  if (work > max) bad(`decoding would copy ${work} bytes of window, limit ${max} for ${n} bytes`);
};
// entry returns entry i of a bundle that openBundle verified, checked
// against the signed manifest (checkEntry): a stored entry as it is, a
// zstd one decompressed by fzstd (vendored) into a buffer of exactly the
// size the manifest signs, refusing a byte more.
const entry = async (b, i) => {
  const e = b.manifest.entries[i], s = b.stored[i];
  if (e.compression === 0) return checkEntry(e, s);
  const bad = (m) => fail(`bundle: entry "${e.name}": zstd: ${m}`);
  if (b.manifest.dictionary.some((x) => x)) bad('compressed with a dictionary, which this page does not have');
  zstdCheck(s, bad, Number(e.size));
  const out = new Uint8Array(Number(e.size));
  let n = 0;
  try {
    new globalThis.fzstd.Decompress((c) => {
      if (c.length > out.length - n) bad(`more than the ${e.size} bytes the manifest signs`);
      out.set(c, n);
      n += c.length;
    }).push(s, true);
  } catch (x) { if (x instanceof VerifyError) throw x; bad(x.message); }
  if (n !== out.length) bad(`${n} bytes, not the ${e.size} the manifest signs`);
  return checkEntry(e, out);
};

globalThis.samizdat = Object.freeze({
  VerifyError, LIMITS, version: 1,
  ready: () => ready, engine: () => ({ ...engine, text: describe() }),
  // use chooses the implementations again: 'pure', 'webcrypto' or 'auto'.
  use: (force) => (ready = choose(force === 'auto' ? undefined : force)),
  hex, unhex, u32, b64decode, b64encode, sha256, sha256Pure, sha512Pure, verify, ed25519Pure, ed25519WebCrypto,
  checkPoint, parseKey, openNote, openStatement, parseCheckpoint, openCheckpoint,
  openMirrorList,
  parseLeaf, leafHash, nodeHash, checkInclusion, checkConsistency, tilePath, entryTilePath, parseEntryTile, newestLeaves,
  parseIndexProof, verifyIndexProof, cutDepth, bucketOf, verifySplitProof, checkArticleLeaf, parseManifest, openManifest, openBundle, checkEntry, entry,
});
})();

// The page says which implementation it uses.
if (globalThis.document) {
  globalThis.samizdat.ready().then((t) => {
    const el = document.getElementById('engine');
    if (el) el.textContent = t;
  }, (e) => {
    const el = document.getElementById('engine');
    if (el) el.textContent = 'none: ' + e.message;
  });
}
