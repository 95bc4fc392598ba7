// samizdat verifier page: reads its parameters from the URL fragment
// (k: the publisher key, m: mirror base URLs, a: an article id), pins the
// key in this browser, fetches from the mirrors (raced), verifies
// everything with the core above and shows the article only once all of
// it is verified. <html data-samizdat> is "working", "verified" or
// "failed", for tests and scripts.
(() => {
const S = globalThis.samizdat, doc = globalThis.document;
if (!doc || !doc.getElementById('app')) return;
const $ = (id) => doc.getElementById(id), L = S.LIMITS;
const STAGGER = 150, TIMEOUT = 30000, MAX_AGE = 86400, STALE_WAIT = 2000, MAX_SKEW = 600; // as the CLI's reader
const FRAME_CSS = '{{FRAME_CSS}}';
const state = (s) => doc.documentElement.setAttribute('data-samizdat', s);
const say = (m) => { $('status').textContent = m; };
const el = (tag, text, attrs) => {
  const e = doc.createElement(tag);
  if (text !== undefined) e.textContent = text;
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
};
const store = {
  get: (k) => { try { return JSON.parse(localStorage.getItem('samizdat:' + k)); } catch { return null; } },
  set: (k, v) => { try { localStorage.setItem('samizdat:' + k, JSON.stringify(v)); } catch {} },
};
const ago = (s) => Math.round(s) === 1 ? '1 second' : s < 120 ? `${Math.round(s)} seconds` : s < 7200 ? `${Math.round(s / 60)} minutes` : s < 172800 ? `${Math.round(s / 3600)} hours` : `${Math.round(s / 86400)} days`;
const iso = (t) => new Date(t * 1000).toISOString().replace('.000Z', 'Z');
const RTL = /^(ar|fa|he|iw|ur|ps|yi|dv|ckb|sd|ug|syr)(-|$)|-(arab|hebr|thaa|syrc|nkoo|adlm)(-|$)/i;
const dirOf = (lang) => RTL.test(lang) && !/-latn(-|$)/i.test(lang) ? 'rtl' : 'ltr';

// params reads the fragment; '+' stays '+' (keys hold it).
const params = () => {
  const p = { m: [] };
  for (const kv of location.hash.slice(1).split('&')) {
    const i = kv.indexOf('='), k = kv.slice(0, i);
    let v;
    try { v = decodeURIComponent(kv.slice(i + 1)); } catch { continue; }
    if (i < 0) continue;
    if (k === 'm') p.m.push(v); else if (k === 'k' || k === 'a') p[k] = v;
  }
  if (!p.m.length && /^https?:$/.test(location.protocol)) p.m.push(new URL('.', location.href).href);
  return p;
};
const mirrorURL = (m) => {
  const u = new URL(m.replace(/^h3:/, 'https:'));
  if (!/^https?:$/.test(u.protocol) || u.search || u.hash || u.username) throw new S.VerifyError(`mirror ${m}: want an http or https URL`);
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  return u.href;
};

// get fetches base+path and returns at most max bytes of a 200 answer;
// with head, only the first head bytes (a Range request; a server that
// ignores it is read that far).
const get = async (base, path, max, signal, head) => {
  const r = await fetch(new URL(path, base), { signal, credentials: 'omit', referrerPolicy: 'no-referrer', cache: 'no-store', headers: head ? { Range: `bytes=0-${head - 1}` } : {} });
  if (r.status !== 200 && !(head && r.status === 206)) throw Object.assign(new S.VerifyError(`${path}: HTTP ${r.status}`), { status: r.status });
  const rd = r.body.getReader(), parts = [];
  for (let n = 0; ;) {
    const { done, value } = await rd.read();
    if (done) return concatAll(parts);
    parts.push(value);
    if ((n += value.length) > max) {
      rd.cancel();
      if (head) return concatAll(parts).subarray(0, head);
      throw new S.VerifyError(`${path}: more than ${max} bytes`);
    }
  }
};
const concatAll = (parts) => {
  const o = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) { o.set(p, i); i += p.length; }
  return o;
};

// openLog verifies, at one mirror, the key statement against the pinned
// root and the checkpoint (signature, age, not older than what this
// browser saw).
const openLog = async (base, root, signal) => {
  const pub = root.id, seen = store.get('seen:' + pub) || {};
  // Both in parallel, as the CLI's reader: one round trip less.
  const [sb, cb] = await Promise.all([get(base, `p/${pub}/key-statement`, L.statement, signal), get(base, `p/${pub}/checkpoint`, L.checkpoint, signal)]);
  const trust = await S.openStatement(sb, root);
  if (seen.v && trust.version < BigInt(seen.v)) throw new S.VerifyError(`key statement version ${trust.version} is older than version ${seen.v} seen before (rollback)`);
  const cp = await S.openCheckpoint(cb, trust);
  const now = Date.now() / 1000, root64 = S.b64encode(cp.root);
  if (cp.time > now + MAX_SKEW) throw new S.VerifyError(`checkpoint dated ${iso(cp.time)}, in the future`);
  if (seen.size !== undefined) {
    const size = BigInt(seen.size);
    if (cp.size < size || (cp.size === size && cp.time < seen.time)) throw new S.VerifyError(`checkpoint of size ${cp.size} at ${iso(cp.time)} is older than the one of size ${size} at ${iso(seen.time)} seen before (rollback)`);
    if (cp.size === size && root64 !== seen.root) throw new S.VerifyError(`two checkpoints of size ${size} with different roots: the publisher's key signed two histories (fork)`);
    if (seen.index && !cp.index) throw new S.VerifyError('the checkpoint carries no article index, though the one seen before does');
    if (cp.size === size && seen.index && cp.index && S.b64encode(cp.index) !== seen.index) throw new S.VerifyError(`two checkpoints of size ${size} with different article indexes: one of them is false (fork)`);
  }
  const index = cp.index ? S.b64encode(cp.index) : seen.index;
  return { base, trust, cp, seen: () => store.set('seen:' + pub, { v: String(trust.version), size: String(cp.size), time: cp.time, root: root64, index }) };
};

// verifyAt runs the light path at one mirror: the log (openLog), the
// index proof that carries the article's newest leaf, the bundle and
// every entry.
const verifyAt = async (base, root, id, signal) => {
  const pub = root.id, out = await openLog(base, root, signal), cp = out.cp, trust = out.trust;
  if (!cp.index) throw new S.VerifyError('the checkpoint carries no article index, which this page needs');
  // The full proof and, in parallel, the top part of the split proof,
  // which a static export serves where it holds no full proof (FORMAT.md
  // "Split proofs"); then the bottom part the top part names.
  const ix = `p/${pub}/index/`;
  const [full, top] = await Promise.allSettled([get(base, `${ix}${cp.size}/${id}`, L.indexProof, signal),
    get(base, `${ix}t/${cp.size}/${await S.bucketOf(cp.size, id)}`, L.indexTop, signal)]);
  let v;
  if (full.status === 'fulfilled') v = await S.verifyIndexProof(cp.index, id, full.value);
  else if (full.reason.status === 404 && top.status === 'fulfilled') v = await S.verifySplitProof(cp.index, cp.size, id, top.value, (node) => get(base, `${ix}n/${node}/${id}`, L.indexProof, signal));
  else throw full.reason;
  if (!v.present) return { ...out, absent: true };
  if (v.leaf >= cp.size) throw new S.VerifyError(`the index names leaf ${v.leaf}, beyond the log's ${cp.size}`);
  const leaf = v.article;
  if (leaf.kind === 'retraction') return { ...out, leaf };
  const b = await S.openBundle(await get(base, `b/${leaf.digest}`, L.bundle, signal), trust);
  if (b.digest !== leaf.digest) throw new S.VerifyError('the bundle is not the one the log names');
  if (b.manifest.id !== id || b.manifest.revision !== leaf.revision) throw new S.VerifyError(`the bundle is ${b.manifest.id} revision ${b.manifest.revision}, not ${id} revision ${leaf.revision}`);
  // Every entry comes from the verified bundle, decompressed and checked.
  const entries = [];
  for (const i of b.manifest.entries.keys()) entries.push(await S.entry(b, i));
  return { ...out, leaf, bundle: b, entries };
};

// listAt lists, at one mirror, the articles of the log's newest entry
// tile (checked against the checkpoint through the tiles), newest first,
// with the titles of their signed manifests (the start of each bundle,
// fetched with a Range request).
const LIST = 30;
const listAt = async (base, root, _, signal) => {
  const pub = root.id, out = await openLog(base, root, signal);
  const { leaves } = await S.newestLeaves(out.cp.size, out.cp.root, (path) => get(base, `p/${pub}/${path}`, L.tileWidth * (2 + L.leaf), signal));
  const ids = new Set(), items = [];
  for (let i = leaves.length - 1; i >= 0 && items.length < LIST; i--) {
    const l = S.parseLeaf(leaves[i]);
    if ((l.kind === 'bundle' || l.kind === 'retraction') && !ids.has(l.id)) { ids.add(l.id); items.push(l); }
  }
  for (const l of items) {
    if (l.kind !== 'bundle') continue;
    try {
      let h = await get(base, `b/${l.digest}`, HEAD, signal, HEAD);
      // The manifest's length is the mirror's word until the signature
      // is checked: at most L.manifest bytes of it are read.
      const n = 116 + Math.min(S.u32(h, 112), L.manifest);
      if (h.length >= 116 && n > h.length) h = await get(base, `b/${l.digest}`, n, signal, n);
      const m = (await S.openManifest(h, out.trust)).manifest;
      if (m.id === l.id && m.revision === l.revision) l.manifest = m;
    } catch (e) { if (signal.aborted) throw e; }
  }
  return { ...out, items };
};
const HEAD = 65536;

// race tries the mirrors as the CLI does: one after another at staggered
// times, the next at once when one fails; the first verified answer wins.
// A stale one (its checkpoint older than MAX_AGE) wins only if no other
// mirror has a fresher one within STALE_WAIT.
const race = (mirrors, root, id, at) => new Promise((resolve) => {
  const ctl = new AbortController(), failures = [];
  let next = 0, running = 0, done = false, timer, best = null;
  const finish = (r) => { done = true; clearTimeout(timer); ctl.abort(); resolve({ ...r, failures }); };
  setTimeout(() => ctl.abort(), TIMEOUT);
  const ended = () => { if (!done && next >= mirrors.length && !running) finish(best || {}); };
  const start = () => {
    if (done || next >= mirrors.length) return;
    const m = mirrors[next++];
    running++;
    clearTimeout(timer);
    timer = setTimeout(start, STAGGER);
    at(m, root, id, ctl.signal).then((r) => {
      running--;
      if (done) return;
      if (Date.now() / 1000 - r.cp.time <= MAX_AGE) return finish(r);
      if (!best || r.cp.time > best.cp.time) best = r;
      setTimeout(() => { if (!done) finish(best); }, STALE_WAIT);
      start();
      ended();
    }, (e) => {
      running--;
      failures.push({ m, why: e instanceof S.VerifyError ? e.message : e.name === 'AbortError' ? 'no answer in time' : `could not fetch or read (${e.message || e})` });
      showFailures(failures);
      if (done) return;
      start();
      ended();
    });
  };
  start();
});

const showFailures = (fs) => {
  const ol = $('failures');
  ol.replaceChildren(...fs.map((f) => el('li', `${f.m}: ${f.why}`)));
};

// The body keeps its text and structure; everything active goes, and
// images point at the verified entries.
const KEEP = new Set('p h1 h2 h3 h4 h5 h6 ul ol li blockquote figure figcaption img a em strong b i u s sub sup br hr pre code table caption thead tbody tfoot tr th td span div section article header footer aside small mark q cite abbr time dl dt dd'.split(' '));
const DROP = new Set('script style iframe frame frameset object embed svg math template noscript form input button select textarea link meta base title audio video source track canvas portal dialog'.split(' '));
const ATTRS = ['alt', 'title', 'lang', 'dir', 'colspan', 'rowspan', 'datetime'];

const render = (r, id) => {
  const m = r.bundle.manifest, lang = m.language || 'und', dir = dirOf(lang), res = $('result');
  const images = new Map(), td = new TextDecoder();
  // data: URLs, not blob: ones: the sandboxed iframe has an opaque origin
  // and Chromium does not let it load the page's blob: URLs.
  m.entries.forEach((e, i) => { if (i) images.set(e.name, `data:${e.type};base64,${b64(r.entries[i])}`); });
  const body = td.decode(r.entries[0]), type = m.entries[0].type;
  let inner;
  if (type === 'text/html' || type === 'text/markdown') {
    const d = new DOMParser().parseFromString(type === 'text/html' ? body : md(body), 'text/html');
    // Markdown's links and images come as x-a and x-img (data-u: the URL).
    for (const x of d.body.querySelectorAll('x-a,x-img')) {
      const n = d.createElement(x.localName.slice(2));
      if (n.localName === 'a') n.setAttribute('href', x.dataset.u); else n.alt = x.getAttribute('alt');
      n.dataset.u = x.dataset.u;
      n.append(...x.childNodes);
      x.replaceWith(n);
    }
    for (const img of d.body.querySelectorAll('img')) {
      const u = images.get((img.getAttribute('src') || img.dataset.u || '').replace(/^\.\//, ''));
      if (u) img.setAttribute('data-verified', u); else img.replaceWith(el('span', img.getAttribute('alt') || ''));
    }
    inner = clean(d.body);
  } else {
    const pre = el('pre', body);
    inner = pre.outerHTML;
  }
  const frame = el('iframe', undefined, { sandbox: '', title: m.title, referrerpolicy: 'no-referrer' });
  frame.srcdoc = `<!DOCTYPE html><html lang="${esc(lang)}" dir="${dir}"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'"><style>${FRAME_CSS}</style></head><body>${inner}</body></html>`;
  const head = el('header', undefined, { lang, dir });
  head.append(el('h2', m.title), el('p', m.authors.join(', ')));
  const cp = r.cp, age = Date.now() / 1000 - cp.time;
  const facts = el('ul', undefined, { class: 'facts' });
  for (const t of [
    `Signed by ${r.bundle.signer.text}, a signing key that key statement version ${r.trust.version} of publisher ${r.trust.root.name} (${r.trust.publisherID}) delegates.`,
    `Revision ${m.revision} of "${id}", updated ${iso(m.updated)}: the newest revision in the publisher's log of ${cp.size} entries, by its article index.`,
    `Log checkpoint of ${iso(cp.time)}, ${ago(age)} old${age > MAX_AGE ? ': STALE, the mirror may hold back newer revisions' : ''}.`,
    `Every one of the ${m.entries.length} entries matched its signed SHA-256. Fetched from ${r.base}.`,
  ]) facts.append(el('li', t));
  res.replaceChildren(head, facts, frame);
  res.hidden = false;
};
const b64 = (b) => { let s = ''; for (let i = 0; i < b.length; i += 32768) s += String.fromCharCode(...b.subarray(i, i + 32768)); return btoa(s); };
const renderList = (r, p) => {
  const res = $('result'), ul = el('ul', undefined, { class: 'list' }), k = encodeURIComponent(r.trust.root.text);
  const ms = p.m.map((m) => '&m=' + encodeURIComponent(m)).join('');
  for (const l of r.items) {
    const li = el('li'), m = l.manifest;
    const a = el('a', m ? m.title : l.id, { href: `#k=${k}${ms}&a=${encodeURIComponent(l.id)}` });
    if (m) { a.lang = m.language; a.dir = dirOf(m.language); }
    li.append(a, ` — ${l.kind === 'retraction' ? `withdrawn ${iso(l.time)}` : m ? `${iso(m.updated).slice(0, 10)}, revision ${l.revision}` : `revision ${l.revision}, title not verified`}`);
    ul.append(li);
  }
  const age = Date.now() / 1000 - r.cp.time;
  res.replaceChildren(el('h2', `Newest articles of ${r.trust.root.name}`), el('p', `From the newest entries of the publisher's log of ${r.cp.size} entries, checked against its checkpoint of ${iso(r.cp.time)} (${ago(age)} old${age > MAX_AGE ? ', STALE' : ''}), key statement version ${r.trust.version}; titles from each article's signed manifest. Fetched from ${r.base}.`), ul);
  res.hidden = false;
};
// vouch shows, under "what this page cannot know", the SHA-256 of the
// verifier pages the publisher vouches for in the mirror list at r's
// mirror (S.openMirrorList), with the list's time (a mirror may serve an
// older list than the newest), or "none" if it gets no such list.
const vouch = async (r) => {
  let v = [];
  try { v = await S.openMirrorList(await get(r.base, `p/${r.trust.publisherID}/mirrors`, L.mirrorList), r.trust); } catch {}
  $('vouch').textContent = `SHA-256 the publisher signs: ${v.join(', ') || 'none'}${v[0] ? ` (list of ${iso(v.time)})` : ''}.`;
};
const esc = (s) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
// md turns the Markdown articles use (headings, paragraphs, lists,
// quotes, fenced code, code spans, emphasis, links, images) into HTML,
// which then goes through clean() like any HTML body. The text is escaped
// first, so HTML inside the Markdown shows as text, and a quote in it
// is one an earlier replacement made: a link holds none but in a whole
// x-img in its text, lest it end an image's attribute early.
const md = (s) => {
  const span = (t) => t.replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/!\[([^\]]*)\]\(([^)\s]+)[^)]*\)/g, '<x-img alt="$1" data-u="$2"></x-img>')
    .replace(/\[((?:<x-img[^>]*><\/x-img>|[^\]"])+)\]\(([^)\s"]+)[^)"]*\)/g, '<x-a data-u="$2">$1</x-a>')
    .replace(/(\*\*|__)(.+?)\1/g, '<strong>$2</strong>')
    .replace(/(^|[^\w*])[*_](?![\s*_])(.+?)[*_](?!\w)/g, '$1<em>$2</em>');
  const out = [], lines = esc(s.replace(/\r\n?/g, '\n')).split('\n'), item = /^\s*([-*+]|\d+[.)])\s+/;
  for (let i = 0; i < lines.length;) {
    const l = lines[i];
    let h;
    if (/^```/.test(l)) {
      const c = [];
      for (i++; i < lines.length && !/^```/.test(lines[i]); i++) c.push(lines[i]);
      out.push(`<pre><code>${c.join('\n')}</code></pre>`);
      i++;
    } else if ((h = /^(#{1,6})\s+(.*?)[\s#]*$/.exec(l))) {
      out.push(`<h${h[1].length}>${span(h[2])}</h${h[1].length}>`);
      i++;
    } else if (!l.trim()) {
      i++;
    } else {
      const c = [];
      for (; i < lines.length && lines[i].trim() && !/^(#{1,6}\s|```)/.test(lines[i]); i++) c.push(lines[i]);
      const tag = item.test(l) ? (/^\s*\d/.test(l) ? 'ol' : 'ul') : /^&#62;/.test(l) ? 'blockquote' : 'p';
      out.push(tag === 'p' ? `<p>${span(c.join('\n'))}</p>`
        : tag === 'blockquote' ? `<blockquote><p>${span(c.map((x) => x.replace(/^&#62;\s?/, '')).join('\n'))}</p></blockquote>`
        : `<${tag}>${c.map((x) => `<li>${span(x.replace(item, ''))}</li>`).join('')}</${tag}>`);
    }
  }
  return out.join('');
};
// clean returns the sanitised HTML of a parsed body.
const clean = (body) => {
  const walk = (n) => {
    for (const c of [...n.childNodes]) {
      if (c.nodeType === 3) continue;
      if (c.nodeType !== 1) { c.remove(); continue; }
      const tag = c.localName;
      if (DROP.has(tag)) { c.remove(); continue; }
      walk(c);
      if (!KEEP.has(tag)) { c.replaceWith(...c.childNodes); continue; }
      const verified = c.getAttribute('data-verified');
      for (const a of [...c.attributes]) {
        if (!(ATTRS.includes(a.name) ||
          (a.name === 'href' && tag === 'a' && /^(https?:|mailto:)/i.test(a.value.trim())))) c.removeAttribute(a.name);
      }
      if (tag === 'img') c.setAttribute('src', verified);
    }
  };
  walk(body);
  return body.innerHTML;
};

// framed: a page that frames this one could hide or overlay what it says
// (a static host sends no frame-ancestors header), so it refuses to run.
const framed = window.top !== window.self;
const run = async () => {
  if (framed) { state('failed'); return say('Refused: this page is inside a frame of another page, which could hide or change what it says. Open it on its own.'); }
  state('working');
  $('result').hidden = true;
  $('result').replaceChildren();
  showFailures([]);
  const p = params(), pins = store.get('pins') || {};
  let root;
  try {
    if (p.k) {
      root = await S.parseKey(p.k);
      const pinned = pins[root.name];
      if (pinned && pinned !== root.text) {
        state('failed');
        return say(`Refused: this browser has pinned a different key for publisher "${root.name}" (${pinned}). The key in this link (${root.text}) may be an impostor's. Nothing was fetched.`);
      }
      if (!pinned) { pins[root.name] = root.text; store.set('pins', pins); }
    } else {
      const all = Object.values(pins);
      if (all.length !== 1) { state('failed'); return say('Give a publisher key: paste the line of its publisher.pub below, or open a link with #k=KEY.'); }
      root = await S.parseKey(all[0]);
    }
    if (!p.m.length) { state('failed'); return say('Give a mirror: #m=https://mirror.example/ (repeatable).'); }
    const mirrors = p.m.map(mirrorURL);
    if (!p.a) {
      say(`Listing the newest articles of ${root.name} from ${mirrors.length} mirror(s)…`);
      const r = await race(mirrors, root, null, listAt);
      if (!r.trust) { state('failed'); return say(`Failed: no mirror gave the newest articles of ${root.name} with valid signatures and proofs.`); }
      r.seen();
    vouch(r);
      renderList(r, p);
      say(`Verified the newest articles of ${root.name} from ${r.base}.`);
      return state('verified');
    }
    say(`Verifying "${p.a}" of ${root.name} at ${mirrors.length} mirror(s)…`);
    const r = await race(mirrors, root, p.a, verifyAt);
    if (!r.trust) { state('failed'); return say(`Failed: no mirror gave "${p.a}" with valid signatures and proofs. Nothing of it is shown.`); }
    r.seen();
    vouch(r);
    if (r.absent) { state('failed'); return say(`The publisher's log, as of its checkpoint of ${iso(r.cp.time)}, has no article "${p.a}" (proven by its article index).`); }
    if (!r.bundle) { state('failed'); return say(`"${p.a}" was withdrawn by the publisher at ${iso(r.leaf.time)} (revision ${r.leaf.revision}).`); }
    render(r, p.a);
    say(`Verified "${p.a}" from ${r.base}.`);
    state('verified');
  } catch (e) {
    state('failed');
    say(`Failed: ${e.message}`);
  }
};

$('pin').addEventListener('click', async () => {
  if (framed) return;
  try {
    const k = await S.parseKey($('key').value), pins = store.get('pins') || {};
    if (pins[k.name] && pins[k.name] !== k.text) return say(`Refused: a different key is pinned for "${k.name}".`);
    pins[k.name] = k.text;
    store.set('pins', pins);
    say(`Pinned ${k.text}.`);
  } catch (e) { say(`Not a publisher key: ${e.message}`); }
});
addEventListener('hashchange', run);
run();
})();
