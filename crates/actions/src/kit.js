// Loaded on the first use of fetch or a timer in an execution (parsing costs, so runs that use
// neither skip it). `host` holds the Rust side: fetch (synchronous, within the limits) and sleep.
(function (host) {
  'use strict';
  const G = {};
  const stringify = JSON.stringify;
  const parse = JSON.parse;

  // Timers: run after the microtask queue empties, earliest first (the host sleeps until due,
  // never past the wall deadline).
  let seq = 0;
  const timers = new Map();
  G.setTimeout = (fn, ms, ...args) => {
    if (typeof fn !== 'function') throw new TypeError('The "callback" argument must be of type function');
    seq += 1;
    timers.set(seq, { at: Date.now() + Math.max(0, Number(ms) || 0), fn, args });
    return seq;
  };
  G.clearTimeout = (id) => {
    timers.delete(id);
  };
  G.setImmediate = (fn, ...args) => G.setTimeout(fn, 0, ...args);
  G.clearImmediate = G.clearTimeout;
  G.tick = () => {
    let best = null;
    for (const entry of timers) {
      if (best === null || entry[1].at < best[1].at) best = entry;
    }
    if (best === null) return false;
    timers.delete(best[0]);
    const wait = best[1].at - Date.now();
    if (wait > 0) host.sleep(wait);
    best[1].fn(...best[1].args);
    return true;
  };

  // fetch: the host performs the request (synchronously, within the limits) and the answer is
  // handed back as a settled promise of a Response-like object.
  const mkHeaders = (list) => {
    const h = {
      get(n) {
        n = String(n).toLowerCase();
        const v = list.filter((p) => p[0] === n).map((p) => p[1]);
        return v.length ? v.join(', ') : null;
      },
      has(n) {
        n = String(n).toLowerCase();
        return list.some((p) => p[0] === n);
      },
      forEach(cb, self) {
        for (const p of list) cb.call(self, p[1], p[0], h);
      },
      entries() { return list.map((p) => [p[0], p[1]])[Symbol.iterator](); },
      keys() { return list.map((p) => p[0])[Symbol.iterator](); },
      values() { return list.map((p) => p[1])[Symbol.iterator](); },
      [Symbol.iterator]() { return h.entries(); },
    };
    return h;
  };
  G.fetch = (input, init) => new Promise((resolve, reject) => {
    try {
      init = init || {};
      const url = typeof input === 'string' ? input : (input && input.url) || String(input);
      const method = String(init.method || 'GET').toUpperCase();
      const hs = [];
      const h = init.headers;
      if (h) {
        if (Array.isArray(h)) {
          for (const p of h) hs.push([String(p[0]), String(p[1])]);
        } else if (typeof h.forEach === 'function' && typeof h.get === 'function') {
          h.forEach((v, k) => hs.push([String(k), String(v)]));
        } else {
          for (const k of Object.keys(h)) hs.push([k, String(h[k])]);
        }
      }
      const body = init.body === undefined || init.body === null ? null : String(init.body);
      const r = parse(host.fetch(String(url), method, stringify(hs), body));
      let used = false;
      const take = () => {
        if (used) throw new TypeError('Body is unusable: Body has already been read');
        used = true;
        return r.body;
      };
      resolve({
        ok: r.status >= 200 && r.status < 300,
        status: r.status,
        statusText: r.statusText,
        url: r.url,
        redirected: r.redirected,
        headers: mkHeaders(r.headers),
        get bodyUsed() { return used; },
        text: () => new Promise((res) => res(take())),
        json: () => new Promise((res) => res(parse(take()))),
      });
    } catch (e) {
      reject(e);
    }
  });

  return G;
})
