(function () {
  var f = document.getElementById('webauthn-form');
  var out = document.getElementById('webauthn-error');
  var b64u = function (buf) {
    var s = '';
    new Uint8Array(buf).forEach(function (b) { s += String.fromCharCode(b); });
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };
  var bin = function (s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    return Uint8Array.from(atob(s), function (c) { return c.charCodeAt(0); });
  };
  var run = async function () {
    var pk = JSON.parse(f.dataset.options).publicKey;
    pk.challenge = bin(pk.challenge);
    var c; var r;
    if (f.dataset.mode === 'create') {
      pk.user.id = bin(pk.user.id);
      (pk.excludeCredentials || []).forEach(function (x) { x.id = bin(x.id); });
      c = await navigator.credentials.create({ publicKey: pk });
      r = { attestationObject: b64u(c.response.attestationObject), clientDataJSON: b64u(c.response.clientDataJSON) };
    } else {
      (pk.allowCredentials || []).forEach(function (x) { x.id = bin(x.id); });
      c = await navigator.credentials.get({ publicKey: pk });
      r = { authenticatorData: b64u(c.response.authenticatorData), clientDataJSON: b64u(c.response.clientDataJSON),
        signature: b64u(c.response.signature), userHandle: c.response.userHandle ? b64u(c.response.userHandle) : null };
    }
    f.elements.credential.value = JSON.stringify({ id: c.id, rawId: b64u(c.rawId), type: c.type, response: r,
      extensions: c.getClientExtensionResults() });
    f.submit();
  };
  f.addEventListener('submit', function (e) {
    if (f.elements.credential.value) return;
    e.preventDefault();
    run().catch(function (err) { out.textContent = 'The security key was not used: ' + err.name; out.hidden = false; });
  });
})();
