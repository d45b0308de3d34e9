// End-to-end test of the hosted login pages in a real browser: Debian's headless Chromium
// (/usr/bin/chromium, or $CHROMIUM) driven by playwright-core. It boots the real server
// (target/debug/gatehouse, or $GATEHOUSE_BIN) on a fresh SQLite file, a small SMTP server that
// keeps what it receives, and a sample client app (a callback server that exchanges the code
// at /oauth/token with PKCE), then: signs up, logs out, logs in, resets the password through
// the e-mailed link, and logs in with the new password; then turns MFA on, enrolls TOTP from an
// enrollment ticket, logs in with password + TOTP, and with the recovery code; then turns the
// webauthn-roaming factor on and, with a CDP virtual authenticator (CTAP2 over USB), a second user
// enrolls a security key at login, logs out, and logs in with password + security key. Screenshots go to $SCREENSHOTS (default
// target/browser-screenshots/). Any missing piece (browser, binary) fails the run.
import { spawn } from 'node:child_process';
import { createServer as createHttp } from 'node:http';
import { createServer as createTcp } from 'node:net';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const root = resolve(import.meta.dirname, '..', '..');
const bin = process.env.GATEHOUSE_BIN ?? join(root, 'target', 'debug', 'gatehouse');
const browserPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const shots = process.env.SCREENSHOTS ?? join(root, 'target', 'browser-screenshots');
for (const [what, p] of [['gatehouse binary', bin], ['chromium', browserPath]]) {
  if (!existsSync(p)) { console.error(`FAIL: no ${what} at ${p}`); process.exit(1); }
}
mkdirSync(shots, { recursive: true });

const listen = (server, host = '127.0.0.1') =>
  new Promise((ok) => server.listen(0, host, () => ok(server.address().port)));

// ---- a small SMTP server: keeps every message ------------------------------------------
const mails = [];
const smtp = createTcp((sock) => {
  let data = false; let buf = ''; let msg = '';
  sock.write('220 sink ESMTP\r\n');
  sock.on('data', (chunk) => {
    buf += chunk.toString('utf8');
    for (;;) {
      if (data) {
        const end = buf.indexOf('\r\n.\r\n');
        if (end < 0) return;
        msg += buf.slice(0, end); buf = buf.slice(end + 5); data = false;
        mails.push(msg.replace(/^\.\./gm, '.')); msg = '';
        sock.write('250 OK queued\r\n');
        continue;
      }
      const nl = buf.indexOf('\r\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl); buf = buf.slice(nl + 2);
      const cmd = line.slice(0, 4).toUpperCase();
      if (cmd === 'EHLO') sock.write('250-sink\r\n250 8BITMIME\r\n');
      else if (cmd === 'HELO') sock.write('250 sink\r\n');
      else if (cmd === 'DATA') { data = true; sock.write('354 go ahead\r\n'); }
      else if (cmd === 'QUIT') { sock.end('221 bye\r\n'); return; }
      else sock.write('250 OK\r\n');
    }
  });
  sock.on('error', () => {});
});
const smtpPort = await listen(smtp);

// ---- the server -------------------------------------------------------------------------
const freePort = async () => { const s = createTcp(); const p = await listen(s); s.close(); return p; };
const port = await freePort();
// WebAuthn needs a secure context and a domain as relying party id: the pages are served and
// visited as http://localhost (a secure context), the issuer's host being the RP ID.
const base = `http://localhost:${port}`;
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-browser-'));
const adminId = 'e2e-admin'; const adminSecret = randomBytes(24).toString('hex');
const server = spawn(bin, ['serve'], {
  env: {
    ...process.env,
    GATEHOUSE_LISTEN: `127.0.0.1:${port}`,
    GATEHOUSE_DATABASE_URL: join(dir, 'gatehouse.db'),
    GATEHOUSE_ISSUER: `${base}/`,
    GATEHOUSE_ADMIN_CLIENT_ID: adminId,
    GATEHOUSE_ADMIN_CLIENT_SECRET: adminSecret,
    GATEHOUSE_SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    GATEHOUSE_SMTP_FROM: 'login@gatehouse.test',
  },
  stdio: ['ignore', 'ignore', process.env.E2E_SERVER_LOG ? 'inherit' : 'ignore'],
});
let failed = false;
const cleanup = () => { server.kill('SIGTERM'); smtp.close(); };
process.on('exit', cleanup);
for (let i = 0; ; i++) {
  try { if ((await fetch(`${base}/healthz`)).ok) break; } catch {}
  if (i > 200) { console.error('FAIL: the server did not start'); process.exit(1); }
  await new Promise((r) => setTimeout(r, 100));
}

const form = (o) => new URLSearchParams(o);
const tok = await (await fetch(`${base}/oauth/token`, { method: 'POST', body: form({
  grant_type: 'client_credentials', client_id: adminId, client_secret: adminSecret, audience: `${base}/api/v2/` }) })).json();
const mgmt = async (method, path, body) => {
  const r = await fetch(`${base}/api/v2${path}`, { method, headers: {
    authorization: `Bearer ${tok.access_token}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  const text = await r.text();
  assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
};

// ---- the sample client app --------------------------------------------------------------
let appPort; let clientId; let clientSecret;
const pending = new Map();
const app = createHttp(async (req, res) => {
  const u = new URL(req.url, `http://127.0.0.1:${appPort}`);
  const html = (s, code = 200) => { res.writeHead(code, { 'content-type': 'text/html' }); res.end(`<!doctype html><body>${s}</body>`); };
  if (u.pathname === '/login') {
    const verifier = randomBytes(32).toString('base64url');
    const state = randomBytes(16).toString('base64url');
    pending.set(state, verifier);
    const a = new URL(`${base}/authorize`);
    a.search = form({ client_id: clientId, response_type: 'code', redirect_uri: `http://127.0.0.1:${appPort}/callback`,
      scope: 'openid profile email offline_access', state, nonce: randomBytes(8).toString('hex'),
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
      ...(u.searchParams.get('signup') ? { screen_hint: 'signup' } : {}) }).toString();
    res.writeHead(302, { location: a.toString() }); res.end(); return;
  }
  if (u.pathname === '/callback') {
    const state = u.searchParams.get('state'); const verifier = pending.get(state);
    if (!verifier) return html(`<p id="error">unknown state</p>`, 400);
    if (u.searchParams.get('error')) return html(`<p id="error">${u.searchParams.get('error')}</p>`, 400);
    const r = await fetch(`${base}/oauth/token`, { method: 'POST', body: form({ grant_type: 'authorization_code',
      client_id: clientId, client_secret: clientSecret, code: u.searchParams.get('code'), code_verifier: verifier,
      redirect_uri: `http://127.0.0.1:${appPort}/callback` }) });
    const t = await r.json();
    if (!r.ok) return html(`<p id="error">${JSON.stringify(t)}</p>`, 400);
    const claims = JSON.parse(Buffer.from(t.id_token.split('.')[1], 'base64url').toString());
    return html(`<p id="hello">Hello ${claims.email}</p><p id="sub">${claims.sub}</p>`);
  }
  if (u.pathname === '/bye') return html('<p id="bye">Logged out</p>');
  html('not found', 404);
});
appPort = await listen(app);

const appOrigin = `http://127.0.0.1:${appPort}`;
const client = await mgmt('POST', '/clients', { name: 'Sample Web App', app_type: 'regular_web',
  callbacks: [`${appOrigin}/callback`], allowed_logout_urls: [`${appOrigin}/bye`],
  grant_types: ['authorization_code', 'refresh_token'] });
clientId = client.client_id; clientSecret = client.client_secret;
await mgmt('POST', '/connections', { name: 'e2e-users', strategy: 'auth0',
  enabled_clients: [clientId], options: { passwordPolicy: 'fair' } });
await mgmt('PATCH', '/branding', { colors: { primary: '#0b7a4b' } });
await mgmt('PATCH', '/tenants/settings', { friendly_name: 'Gatehouse Demo', default_directory: 'e2e-users' });

// ---- the browser ------------------------------------------------------------------------
const browser = await chromium.launch({ executablePath: browserPath, headless: true, args: ['--no-sandbox'] });
const steps = [];
const step = async (name, f) => { process.stdout.write(`- ${name} ... `); await f(); steps.push(name); console.log('ok'); };
try {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const email = 'e2e.user@example.com'; const pw1 = 'Correct-Horse-9'; const pw2 = 'Battery-Staple-7';

  await step('sign up', async () => {
    await page.goto(`${appOrigin}/login?signup=1`);
    await page.waitForURL(/\/u\/signup/);
    await page.fill('#email', email); await page.fill('#password', pw1);
    await page.click('button[type=submit]');
    await page.waitForSelector('#hello');
    assert.equal(await page.textContent('#hello'), `Hello ${email}`);
  });
  await step('log out', async () => {
    await page.goto(`${base}/v2/logout?client_id=${clientId}&returnTo=${encodeURIComponent(appOrigin + '/bye')}`);
    await page.waitForSelector('#bye');
    // The session is gone: the next /authorize shows the login page again.
    await page.goto(`${appOrigin}/login`);
    await page.waitForURL(/\/u\/login/);
  });
  await step('wrong password is refused', async () => {
    await page.fill('#username', email); await page.fill('#password', 'not-the-password');
    await page.click('button[type=submit]');
    await page.waitForSelector('.error');
    assert.match(await page.textContent('.error'), /Wrong email or password\./);
  });
  await step('log in (screenshot of the login page)', async () => {
    await page.goto(`${appOrigin}/login`);
    await page.waitForURL(/\/u\/login/);
    await page.screenshot({ path: join(shots, 'login.png') });
    await page.fill('#username', email); await page.fill('#password', pw1);
    await page.click('button[type=submit]');
    await page.waitForSelector('#hello');
  });
  await step('single sign-on: a second login skips the page', async () => {
    await page.goto(`${appOrigin}/login`);
    await page.waitForSelector('#hello');
  });
  await step('reset the password through the e-mailed link', async () => {
    await page.goto(`${base}/v2/logout`);
    await page.goto(`${appOrigin}/login`);
    await page.waitForURL(/\/u\/login/);
    await page.click('text=Forgot password?');
    await page.waitForURL(/\/u\/reset-password/);
    const before = mails.length;
    await page.fill('#email', email);
    await page.click('button[type=submit]');
    await page.waitForSelector('text=Check Your Email');
    for (let i = 0; mails.length === before; i++) {
      if (i > 300) throw new Error('no reset e-mail arrived');
      await new Promise((r) => setTimeout(r, 100));
    }
    const mail = mails[mails.length - 1].replace(/=\r\n/g, '').replace(/=3D/g, '=');
    const link = mail.match(/https?:\/\/[^\s"'<>]*\/u\/reset-verify\?ticket=[A-Za-z0-9_-]+/);
    assert.ok(link, `no reset link in: ${mail}`);
    await page.goto(link[0]);
    await page.fill('#password', pw2); await page.fill('#confirm', pw2);
    await page.click('button[type=submit]');
    await page.waitForSelector('text=Password changed');
  });
  await step('log in with the new password (authorization code + PKCE)', async () => {
    await page.goto(`${appOrigin}/login`);
    await page.waitForURL(/\/u\/login/);
    await page.fill('#username', email); await page.fill('#password', pw2);
    await page.click('button[type=submit]');
    await page.waitForSelector('#hello');
    assert.equal(await page.textContent('#hello'), `Hello ${email}`);
  });

  // ---- multi-factor authentication (issue 13) ------------------------------------------
  // TOTP computed here from the secret the enrollment page shows (RFC 6238: SHA-1, 6 digits, 30 s).
  const totp = (b32, offset = 0) => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
    let bits = ''; for (const c of b32.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
    const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
    const msg = Buffer.alloc(8); msg.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30) + offset));
    const h = createHmac('sha1', key).update(msg).digest();
    const o = h[19] & 0xf;
    return String((h.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, '0');
  };
  let secret; let recovery;
  await step('turn MFA on (OTP and recovery code factors, policy all-applications)', async () => {
    await mgmt('PUT', '/guardian/factors/otp', { enabled: true });
    await mgmt('PUT', '/guardian/factors/recovery-code', { enabled: true });
    await mgmt('PUT', '/guardian/policies', ['all-applications']);
  });
  await step('enroll TOTP from an enrollment ticket (QR code, secret in text, recovery code once)', async () => {
    await page.goto(`${base}/v2/logout`);
    const [user] = await mgmt('GET', `/users-by-email?email=${encodeURIComponent(email)}`);
    const t = await mgmt('POST', '/guardian/enrollments/ticket', { user_id: user.user_id, send_mail: false });
    assert.match(t.ticket_url, /\/guardian\/enroll\?ticket=/);
    await page.goto(t.ticket_url);
    await page.waitForSelector('#qr svg');
    await page.screenshot({ path: join(shots, 'mfa-enroll.png') });
    secret = (await page.textContent('#secret')).trim();
    await page.fill('#code', '000000' === totp(secret) ? '111111' : '000000');
    await page.click('button[type=submit]');
    await page.waitForSelector('.error');
    assert.match(await page.textContent('.error'), /The code you entered is invalid/);
    await page.fill('#code', totp(secret));
    await page.click('button[type=submit]');
    await page.waitForSelector('#recovery-code');
    recovery = (await page.textContent('#recovery-code')).trim();
    assert.ok(recovery.length >= 20, recovery);
    await page.screenshot({ path: join(shots, 'mfa-recovery-code.png') });
  });
  await step('the password alone no longer logs in: the TOTP challenge, then the code', async () => {
    await page.goto(`${appOrigin}/login`);
    await page.waitForURL(/\/u\/login/);
    await page.fill('#username', email); await page.fill('#password', pw2);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/u\/mfa-otp-challenge/);
    await page.screenshot({ path: join(shots, 'mfa-challenge.png') });
    // The step used at enrollment is spent: the next one (within the ±1 window) is accepted.
    await page.fill('#code', totp(secret, 1));
    await page.click('button[type=submit]');
    await page.waitForSelector('#hello');
    assert.equal(await page.textContent('#hello'), `Hello ${email}`);
  });
  await step('single sign-on after MFA: no second prompt', async () => {
    await page.goto(`${appOrigin}/login`);
    await page.waitForSelector('#hello');
  });
  await step('log out, log in with the recovery code (a new one is shown)', async () => {
    await page.goto(`${base}/v2/logout`);
    await page.goto(`${appOrigin}/login`);
    await page.waitForURL(/\/u\/login/);
    await page.fill('#username', email); await page.fill('#password', pw2);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/u\/mfa-otp-challenge/);
    await page.click('text=Use a recovery code');
    await page.waitForURL(/\/u\/mfa-recovery-code-challenge/);
    await page.fill('#code', recovery);
    await page.click('button[type=submit]');
    await page.waitForSelector('#recovery-code');
    const fresh = (await page.textContent('#recovery-code')).trim();
    assert.notEqual(fresh, recovery);
    await page.check('#saved');
    await page.click('button[type=submit]');
    await page.waitForSelector('#hello');
    assert.equal(await page.textContent('#hello'), `Hello ${email}`);
  });

  // ---- WebAuthn security keys (a CDP virtual authenticator) -----------------------------
  const keyEmail = 'key.user@example.com'; const keyPw = 'Security-Key-5';
  let keyUser;
  const ctx2 = await browser.newContext();
  const page2 = await ctx2.newPage();
  const cdp = await ctx2.newCDPSession(page2);
  let authenticatorId;
  await step('turn the webauthn-roaming factor on; a virtual security key (ctap2/usb)', async () => {
    await mgmt('PUT', '/guardian/factors/webauthn-roaming', { enabled: true });
    await mgmt('PUT', '/guardian/policies', ['all-applications']);
    keyUser = await mgmt('POST', '/users', { connection: 'e2e-users', email: keyEmail, password: keyPw, email_verified: true });
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', { options: {
      protocol: 'ctap2', transport: 'usb', hasResidentKey: false, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true } }));
  });
  await step('enroll a security key at login (then the recovery code once)', async () => {
    await page2.goto(`${appOrigin}/login`);
    await page2.waitForURL(/\/u\/login/);
    assert.ok(page2.url().startsWith(`${base}/`), page2.url());
    await page2.fill('#username', keyEmail); await page2.fill('#password', keyPw);
    await page2.click('button[type=submit]');
    await page2.waitForURL(/\/u\/mfa-otp-enrollment/);
    await page2.click('text=Use a security key instead');
    await page2.waitForURL(/\/u\/mfa-webauthn-enrollment/);
    await page2.screenshot({ path: join(shots, 'mfa-webauthn-enroll.png') });
    await page2.click('button[type=submit]');
    await page2.waitForSelector('#recovery-code, .error:not([hidden])');
    if (await page2.$('.error:not([hidden])')) throw new Error(`${page2.url()}: ${await page2.textContent('body')}`);
    await page2.check('#saved');
    await page2.click('button[type=submit]');
    await page2.waitForSelector('#hello');
    assert.equal(await page2.textContent('#hello'), `Hello ${keyEmail}`);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1);
    assert.equal(credentials[0].rpId, 'localhost');
  });
  await step('the Management API lists the security key (no secret material)', async () => {
    const methods = await mgmt('GET', `/users/${encodeURIComponent(keyUser.user_id)}/authentication-methods`);
    const keys = methods.filter((m) => m.type === 'webauthn-roaming');
    assert.equal(keys.length, 1, JSON.stringify(methods));
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    // The credential id, base64url, as the browser knows it.
    assert.equal(keys[0].key_id, Buffer.from(credentials[0].credentialId, 'base64').toString('base64url'));
    assert.equal(keys[0].relying_party_identifier, 'localhost');
    // The virtual key makes ES256 keys: the uncompressed P-256 point, 65 bytes.
    assert.equal(Buffer.from(keys[0].public_key, 'base64').length, 65);
    assert.match(keys[0].id, /^webauthn-roaming\|dev_/);
    assert.equal(keys[0].confirmed, true);
    const text = JSON.stringify(methods);
    for (const k of ['secret', 'private', 'counter', 'cred"']) assert.ok(!text.includes(k), `${k} in ${text}`);
  });
  await step('log out, log in with password + security key', async () => {
    const before = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials[0].signCount;
    await page2.goto(`${base}/v2/logout`);
    await page2.goto(`${appOrigin}/login`);
    await page2.waitForURL(/\/u\/login/);
    await page2.fill('#username', keyEmail); await page2.fill('#password', keyPw);
    await page2.click('button[type=submit]');
    await page2.waitForURL(/\/u\/mfa-webauthn-challenge/);
    await page2.screenshot({ path: join(shots, 'mfa-webauthn-challenge.png') });
    await page2.click('button[type=submit]');
    await page2.waitForSelector('#hello');
    assert.equal(await page2.textContent('#hello'), `Hello ${keyEmail}`);
    const after = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials[0].signCount;
    assert.ok(after > before, `signCount ${before} -> ${after}`);
  });
  await step('a forged security-key answer is refused (the login does not complete)', async () => {
    await page2.goto(`${base}/v2/logout`);
    await page2.goto(`${appOrigin}/login`);
    await page2.waitForURL(/\/u\/login/);
    await page2.fill('#username', keyEmail); await page2.fill('#password', keyPw);
    await page2.click('button[type=submit]');
    await page2.waitForURL(/\/u\/mfa-webauthn-challenge/);
    // An assertion that no authenticator signed, posted as the page's script would post it.
    await page2.evaluate(() => {
      const f = document.getElementById('webauthn-form');
      const b = (s) => btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
      f.elements.credential.value = JSON.stringify({ id: b('forged'), rawId: b('forged'), type: 'public-key',
        response: { authenticatorData: b('x'.repeat(37)), clientDataJSON: b('{}'), signature: b('sig'), userHandle: null },
        extensions: {} });
      f.submit();
    });
    await page2.waitForSelector('.error:not([hidden])');
    assert.match(await page2.textContent('.error:not([hidden])'), /could not verify your security key/);
    assert.match(page2.url(), /\/u\/mfa-webauthn-challenge/);
    assert.equal(await page2.$('#hello'), null);
  });
} catch (e) {
  failed = true;
  console.log('FAILED');
  console.error(e);
} finally {
  await browser.close();
  app.close();
  cleanup();
}
console.log(`${steps.length} steps passed${failed ? ', then a failure' : ''}; screenshots in ${shots}`);
process.exit(failed ? 1 : 0);
