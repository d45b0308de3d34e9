(function (host, trigger) {
  'use strict';
  const G = globalThis;
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const str = (v) => (v === undefined || v === null ? '' : String(v));
  const clone = (v) => {
    const s = stringify(v);
    return s === undefined ? null : parse(s);
  };
  const rec = (fields) => {
    host.cmd(stringify(fields));
  };

  // console: one line per call, arguments joined by a space, objects as JSON.
  const fmt = (a) => {
    if (typeof a === 'string') return a;
    if (a instanceof Error) {
      const head = a.name + ': ' + a.message;
      return typeof a.stack === 'string' && a.stack ? head + '\n' + a.stack.replace(/\n$/, '') : head;
    }
    if (typeof a === 'function') return '[Function: ' + (a.name || '(anonymous)') + ']';
    if (a !== null && typeof a === 'object') {
      try {
        const s = stringify(a);
        if (s !== undefined) return s;
      } catch (e) {
        // circular or BigInt inside: fall through
      }
      return String(a);
    }
    return String(a);
  };
  const logger = () => (...args) => {
    host.log(args.map(fmt).join(' '));
  };
  G.console = {
    log: logger(), info: logger(), warn: logger(), error: logger(), debug: logger(), trace: logger(),
  };

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
  const tick = () => {
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

  const require = (name) => {
    const e = new Error("Cannot find module '" + String(name) + "'");
    e.code = 'MODULE_NOT_FOUND';
    throw e;
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

  // api: exactly the methods Auth0 documents for the trigger.
  const api = {};
  const cache = new Map();
  api.cache = {
    get(key) {
      const e = cache.get(str(key));
      if (e === undefined || e.expires_at <= Date.now()) return undefined;
      return { value: e.value, expires_at: e.expires_at };
    },
    set(key, value, options) {
      const o = options || {};
      let at = Date.now() + 15 * 60 * 1000;
      if (typeof o.expires_at === 'number') at = o.expires_at;
      else if (typeof o.ttl === 'number') at = Date.now() + o.ttl;
      const e = { value: str(value), expires_at: Math.floor(at) };
      cache.set(str(key), e);
      rec({ type: 'CacheSet', key: str(key), value: e.value, expires_at: e.expires_at });
      return { type: 'success' };
    },
    delete(key) {
      cache.delete(str(key));
      rec({ type: 'CacheDelete', key: str(key) });
      return { type: 'success' };
    },
  };
  const claim = (type) => (name, value) => {
    rec({ type, name: str(name), value: clone(value) });
    return api;
  };
  const meta = claim;
  const scope = (type) => (s) => {
    rec({ type, scope: str(s) });
    return api;
  };
  const unsupported = (name) => () => {
    throw new Error(name + ' is not supported by this server');
  };
  if (trigger === 'post-login') {
    api.access = {
      deny(reason) {
        rec({ type: 'AccessDeny', code: null, reason: str(reason) });
        return api;
      },
    };
    api.accessToken = {
      setCustomClaim: claim('AccessTokenSetCustomClaim'),
      addScope: scope('AccessTokenAddScope'),
      removeScope: scope('AccessTokenRemoveScope'),
    };
    api.idToken = { setCustomClaim: claim('IdTokenSetCustomClaim') };
    api.multifactor = {
      enable(provider, options) {
        rec({ type: 'MultifactorEnable', provider: str(provider), options: options === undefined ? {} : clone(options) });
        return api;
      },
    };
    api.user = {
      setAppMetadata: meta('UserSetAppMetadata'),
      setUserMetadata: meta('UserSetUserMetadata'),
    };
    api.redirect = {
      sendUserTo(url, options) {
        const q = options && options.query !== undefined ? clone(options.query) : {};
        rec({ type: 'RedirectSendUserTo', url: str(url), query: q });
        return api;
      },
      encodeToken: unsupported('api.redirect.encodeToken'),
      validateToken: unsupported('api.redirect.validateToken'),
    };
  } else if (trigger === 'credentials-exchange') {
    api.access = {
      deny(code, reason) {
        rec({ type: 'AccessDeny', code: str(code), reason: str(reason) });
        return api;
      },
    };
    api.accessToken = { setCustomClaim: claim('AccessTokenSetCustomClaim') };
  } else if (trigger === 'pre-user-registration') {
    api.access = {
      deny(reason, userMessage) {
        rec({
          type: 'RegistrationDeny',
          reason: str(reason),
          user_message: userMessage === undefined || userMessage === null ? null : String(userMessage),
        });
        return api;
      },
    };
    api.user = {
      setAppMetadata: meta('UserSetAppMetadata'),
      setUserMetadata: meta('UserSetUserMetadata'),
    };
    api.validation = {
      error(code, message) {
        rec({ type: 'ValidationError', code: str(code), message: str(message) });
        return api;
      },
    };
  } else if (trigger === 'password-reset-post-challenge') {
    api.access = {
      deny(reason) {
        rec({ type: 'AccessDeny', code: null, reason: str(reason) });
        return api;
      },
    };
  }

  const describe = (e) => {
    try {
      if (e !== null && typeof e === 'object' && 'message' in e) {
        const name = String(e.name || 'Error');
        const message = String(e.message);
        const stack = typeof e.stack === 'string' && e.stack
          ? name + ': ' + message + '\n' + e.stack.replace(/\n$/, '')
          : null;
        return stringify([name, message, stack]);
      }
      return stringify(['Error', String(e), null]);
    } catch (x) {
      return stringify(['Error', 'a value that cannot be described was thrown', null]);
    }
  };

  const run = (factory, name, event) => {
    const module = { exports: {} };
    try {
      factory.call(module.exports, module.exports, require, module, '/action.js', '/');
    } catch (e) {
      return Promise.reject(e);
    }
    const exp = module.exports;
    const h = exp !== null && exp !== undefined ? exp[name] : undefined;
    if (typeof h !== 'function') return null;
    return new Promise((res) => res(h(event, api)));
  };

  return { run, tick, describe };
})
