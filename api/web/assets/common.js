// authflow pages: what the login and settings pages share. Plain browser
// JavaScript, no build step; it calls the public API of docs/api.md.
'use strict';

window.AF = (function () {
  // ---- the API ----

  function cookie(name) {
    for (const part of document.cookie.split(';')) {
      const i = part.indexOf('=');
      if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
    }
    return '';
  }

  // ApiError is a non-2xx answer: code and message from the error document,
  // plus its extra fields (attempts_left, retry_after).
  class ApiError extends Error {
    constructor(status, doc, retryAfter) {
      const e = (doc && doc.error) || {};
      super(e.message || ('HTTP ' + status));
      this.status = status;
      this.code = e.code || (status === 0 ? 'network' : 'http_' + status);
      this.data = e;
      if (this.code === 'rate_limited' && e.retry_after === undefined && retryAfter) {
        this.data.retry_after = parseInt(retryAfter, 10);
      }
    }
  }

  // api calls the API with the cookie session. State-changing calls carry
  // the CSRF cookie in X-CSRF-Token (double submit).
  async function api(method, path, body) {
    const headers = { 'Accept': 'application/json' };
    const opts = { method: method, headers: headers, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    if (method !== 'GET' && method !== 'HEAD') {
      const t = cookie('authflow_csrf');
      if (t) headers['X-CSRF-Token'] = t;
    }
    let res;
    try {
      res = await fetch(path, opts);
    } catch (e) {
      throw new ApiError(0, { error: { code: 'network', message: 'The server cannot be reached. Check your connection and try again.' } });
    }
    let doc = null;
    if (res.status !== 204) {
      try { doc = await res.json(); } catch (e) { doc = null; }
    }
    if (!res.ok) throw new ApiError(res.status, doc, res.headers.get('Retry-After'));
    return doc;
  }

  // ---- WebAuthn: the API speaks base64url, the browser ArrayBuffers ----

  function b64urlToBuf(s) {
    s = String(s).replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function bufToB64url(buf) {
    if (!buf) return undefined;
    const bytes = new Uint8Array(buf);
    let bin = '';
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function descriptors(list) {
    return (list || []).map(function (d) { return Object.assign({}, d, { id: b64urlToBuf(d.id) }); });
  }

  // creationOptions turns the API's {"publicKey":{...}} into what
  // navigator.credentials.create takes.
  function creationOptions(opts) {
    const pk = Object.assign({}, opts.publicKey);
    pk.challenge = b64urlToBuf(pk.challenge);
    pk.user = Object.assign({}, pk.user, { id: b64urlToBuf(pk.user.id) });
    if (pk.excludeCredentials) pk.excludeCredentials = descriptors(pk.excludeCredentials);
    return { publicKey: pk };
  }

  // requestOptions does the same for navigator.credentials.get.
  function requestOptions(opts) {
    const pk = Object.assign({}, opts.publicKey);
    pk.challenge = b64urlToBuf(pk.challenge);
    if (pk.allowCredentials) pk.allowCredentials = descriptors(pk.allowCredentials);
    const out = { publicKey: pk };
    if (opts.mediation) out.mediation = opts.mediation;
    return out;
  }

  // credentialJSON is the PublicKeyCredential as the API reads it.
  function credentialJSON(cred) {
    const r = cred.response;
    const response = { clientDataJSON: bufToB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = bufToB64url(r.attestationObject);
      if (typeof r.getTransports === 'function') response.transports = r.getTransports();
    } else {
      response.authenticatorData = bufToB64url(r.authenticatorData);
      response.signature = bufToB64url(r.signature);
      if (r.userHandle && r.userHandle.byteLength) response.userHandle = bufToB64url(r.userHandle);
    }
    const out = { id: cred.id, rawId: bufToB64url(cred.rawId), type: cred.type, response: response };
    if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
    out.clientExtensionResults = typeof cred.getClientExtensionResults === 'function' ? cred.getClientExtensionResults() : {};
    return out;
  }

  function webauthnSupported() {
    return !!(window.PublicKeyCredential && navigator.credentials);
  }

  // passkeyError explains a browser refusal in words.
  function passkeyError(e) {
    switch (e && e.name) {
      case 'NotAllowedError': return 'The passkey request was cancelled or timed out.';
      case 'InvalidStateError': return 'This device already holds a passkey for your account. Only one passkey can be stored on one device for each account.';
      case 'NotSupportedError': return 'This browser or device does not support passkeys.';
      case 'SecurityError': return 'Passkeys need this page to be opened at its configured address (https, or localhost).';
      default: return (e && e.message) || 'The passkey did not work.';
    }
  }

  // ---- words ----

  function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }

  function mmss(sec) {
    sec = Math.max(0, Math.ceil(sec));
    const m = Math.floor(sec / 60), s = sec % 60;
    return m + ':' + (s < 10 ? '0' : '') + s;
  }

  // usedCode says whether a wrong-code answer is an authenticator app's
  // right code whose 30-second step was used already: by the enrollment
  // that turned the app on, or an earlier sign-in. The API answers
  // invalid_code for both; only its message (workflows/method_totp.go)
  // tells them apart, and the browser tests hold the two together.
  function usedCode(err) {
    return err.code === 'invalid_code' && /already used/i.test(err.message || '');
  }

  // errorText is what a person reads for an API error.
  function errorText(err) {
    const d = err.data || {};
    switch (err.code) {
      case 'invalid_code':
        if (d.attempts_left === 0) return 'That code is not right, and it was the last attempt.';
        if (usedCode(err)) {
          return 'This code was already used: to turn the app on, or for an earlier sign-in. Wait for the app to show the next code (a new one every 30 seconds) and enter that. ' +
            (d.attempts_left !== undefined ? plural(d.attempts_left, 'attempt', 'attempts') + ' left.' : '');
        }
        return 'That code is not right. ' + (d.attempts_left !== undefined ? plural(d.attempts_left, 'attempt', 'attempts') + ' left.' : '');
      case 'invalid_assertion':
        return (err.message && err.message.indexOf('password') >= 0 ? err.message + '. ' : 'The passkey was not accepted. ') +
          (d.attempts_left !== undefined ? plural(d.attempts_left, 'attempt', 'attempts') + ' left.' : '');
      case 'invalid_credentials': return err.status === 403 ? 'The current password is wrong.' : 'Wrong email or password.';
      case 'rate_limited':
        if (d.locked) return 'Too many wrong answers: signing in is locked until the password is changed or support unlocks the account.';
        return 'Too many attempts. Try again in ' + mmss(d.retry_after || 60) + '.';
      case 'flow_expired': return 'This took too long and has expired. Please start again.';
      case 'flow_not_found': return 'This sign-in is no longer known. Please start again.';
      case 'wrong_state': return 'This step can no longer be completed. Please start again.';
      case 'unauthorized': return 'Your session has ended. Please sign in again.';
      case 'unavailable': return 'The service is temporarily unavailable. Try again in a minute.';
      default: return err.message || 'Something went wrong.';
    }
  }

  function fmtDate(s) {
    if (!s) return '';
    const d = new Date(s);
    if (isNaN(d)) return '';
    return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  }

  function ago(s) {
    if (!s) return 'never';
    const sec = (Date.now() - new Date(s).getTime()) / 1000;
    if (sec < 60) return 'just now';
    if (sec < 3600) return plural(Math.floor(sec / 60), 'minute', 'minutes') + ' ago';
    if (sec < 86400) return plural(Math.floor(sec / 3600), 'hour', 'hours') + ' ago';
    return fmtDate(s);
  }

  // ---- DOM ----

  // h builds an element; text is always set as text, never as HTML.
  function h(tag, attrs) {
    const e = document.createElement(tag);
    for (const k in (attrs || {})) {
      const v = attrs[k];
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') e.textContent = v;
      else if (k === 'class') e.className = v;
      else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), v);
      else if (v === true) e.setAttribute(k, '');
      else e.setAttribute(k, v);
    }
    for (let i = 2; i < arguments.length; i++) {
      const c = arguments[i];
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function $(id) { return document.getElementById(id); }

  // show puts a message into an alert box (kind: error, ok, warn, info).
  function show(box, kind, text) {
    if (box.stopCountdown) { box.stopCountdown(); box.stopCountdown = null; }
    if (!text) { box.hidden = true; box.textContent = ''; return; }
    box.className = 'alert alert-' + kind;
    box.textContent = text;
    box.hidden = false;
  }

  // busy disables a button and shows a spinner while work runs.
  async function busy(btn, fn) {
    if (!btn || btn.disabled) return;
    const old = Array.from(btn.childNodes);
    btn.disabled = true;
    btn.setAttribute('aria-busy', 'true');
    btn.prepend(h('span', { class: 'spin', 'aria-hidden': 'true' }));
    try {
      return await fn();
    } finally {
      btn.replaceChildren.apply(btn, old);
      btn.disabled = false;
      btn.removeAttribute('aria-busy');
    }
  }

  // countdown writes "prefix m:ss" into the elements until at, then calls
  // onEnd once. It returns a stop function.
  function countdown(els, at, prefix, onEnd) {
    const end = new Date(at).getTime();
    let done = false;
    function tick() {
      const left = (end - Date.now()) / 1000;
      els.forEach(function (e) { e.textContent = left > 0 ? prefix + ' ' + mmss(left) : 'Expired'; });
      if (left <= 0 && !done) {
        done = true;
        clearInterval(timer);
        if (onEnd) onEnd();
      }
    }
    const timer = setInterval(tick, 1000);
    tick();
    return function () { done = true; clearInterval(timer); };
  }

  // showError puts an API error into a box. A rate limit counts down to the
  // moment another try can work, then says so.
  function showError(box, err) {
    show(box, 'error', errorText(err));
    // A hard lock has no end to count down to.
    const wait = err.code === 'rate_limited' && !(err.data || {}).locked && (err.data || {}).retry_after;
    if (wait > 0) {
      box.stopCountdown = countdown([box], Date.now() + wait * 1000, 'Too many attempts. Try again in', function () {
        box.textContent = 'You can try again now.';
        box.stopCountdown = null;
      });
    }
  }

  // digitsOnly keeps only digits in input, unless its data-free is set
  // (a recovery code, typed as letters and digits).
  function digitsOnly(input, max) {
    input.addEventListener('input', function () {
      if (input.dataset.free) { input.removeAttribute('aria-invalid'); return; }
      const v = input.value.replace(/\D/g, '').slice(0, max);
      if (v !== input.value) input.value = v;
      input.removeAttribute('aria-invalid');
    });
  }

  return {
    api: api, ApiError: ApiError, cookie: cookie,
    creationOptions: creationOptions, requestOptions: requestOptions, credentialJSON: credentialJSON,
    webauthnSupported: webauthnSupported, passkeyError: passkeyError,
    errorText: errorText, usedCode: usedCode, plural: plural, mmss: mmss, fmtDate: fmtDate, ago: ago,
    h: h, $: $, show: show, showError: showError, busy: busy, countdown: countdown, digitsOnly: digitsOnly,
  };
})();
