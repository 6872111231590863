// authflow pages: what the login and settings pages share. Plain browser
// JavaScript, no build step; it calls the public API of docs/api.md.
'use strict';

window.AF = (function () {
  // ---- words: the page's language ----

  // The page's language is <html lang>; its messages are the JSON the
  // server put into #i18n (i18n/locales, the page.js.* ids), so a script
  // shows no text of its own.
  const lang = document.documentElement.lang || 'en';
  const messages = (function () {
    const el = document.getElementById('i18n');
    try { return (el && JSON.parse(el.textContent)) || {}; } catch (e) { return {}; }
  })();

  // t is message id with its {{.Name}} fields filled from data; an unknown
  // id is shown as itself, which the browser tests would notice.
  function t(id, data) {
    const s = messages[id];
    if (s === undefined) return id;
    return s.replace(/\{\{\s*\.(\w+)\s*\}\}/g, function (_, k) {
      return data && data[k] !== undefined && data[k] !== null ? String(data[k]) : '';
    });
  }

  const pluralRules = new Intl.PluralRules(lang);

  // tn is the form of id (id.one, id.few, id.many or id.other) that fits
  // n in the page's language, with n as {{.N}}.
  function tn(id, n, data) {
    const form = id + '.' + pluralRules.select(n);
    return t(messages[form] !== undefined ? form : id + '.other', Object.assign({ N: n }, data || {}));
  }

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
      throw new ApiError(0, { error: { code: 'network', message: t('page.js.network') } });
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
      case 'NotAllowedError': return t('page.js.passkey.not_allowed');
      case 'InvalidStateError': return t('page.js.passkey.invalid_state');
      case 'NotSupportedError': return t('page.js.passkey.not_supported');
      case 'SecurityError': return t('page.js.passkey.security');
      default: return t('page.js.passkey.failed');
    }
  }

  // askPasskey asks the browser for a passkey assertion for the flow's
  // options, showing the page's note meanwhile (#wa-waiting, and #wa-retry
  // after a refusal). It answers the credential, or null once it has said
  // through error why there is none. Login and recovery share it.
  async function askPasskey(options, error) {
    $('wa-waiting').hidden = false;
    $('wa-retry').hidden = true;
    if (!webauthnSupported()) {
      $('wa-waiting').hidden = true;
      error(t('page.js.wa.unsupported'));
      return null;
    }
    try {
      return await navigator.credentials.get(requestOptions(options));
    } catch (e) {
      $('wa-waiting').hidden = true;
      $('wa-retry').hidden = false;
      error(passkeyError(e));
      return null;
    }
  }

  // ---- time ----

  function mmss(sec) {
    sec = Math.max(0, Math.ceil(sec));
    const m = Math.floor(sec / 60), s = sec % 60;
    return m + ':' + (s < 10 ? '0' : '') + s;
  }

  // usedCode says whether a wrong-code answer is an authenticator app's
  // right code whose 30-second step was used already: by the enrollment
  // that turned the app on, or an earlier sign-in. The API answers
  // code_already_used (an older server invalid_code with a message that
  // says so: workflows/method_totp.go).
  function usedCode(err) {
    return err.code === 'code_already_used' || (err.code === 'invalid_code' && /already used/i.test(err.message || ''));
  }

  // attemptsLeft is " 2 attempts left." for an answer that says, else "".
  function attemptsLeft(d) {
    return d.attempts_left !== undefined ? ' ' + tn('page.js.attempts_left', d.attempts_left) + '.' : '';
  }

  // errorText is what a person reads for an API error: the page's own
  // words for its code, else the server's message (the API speaks
  // English: docs/api.md).
  function errorText(err) {
    const d = err.data || {};
    if (usedCode(err)) return t('page.js.err.invalid_code.used') + attemptsLeft(d);
    switch (err.code) {
      case 'invalid_code':
        if (d.attempts_left === 0) return t('page.js.err.invalid_code.last');
        return t('page.js.err.invalid_code') + attemptsLeft(d);
      case 'invalid_assertion':
        return t('page.js.err.invalid_assertion') + attemptsLeft(d);
      case 'invalid_credentials': return t(err.status === 403 ? 'page.js.err.invalid_credentials.current' : 'page.js.err.invalid_credentials');
      case 'rate_limited':
        if (d.locked) return t('page.js.err.locked');
        return t('page.js.err.rate_limited', { Time: mmss(d.retry_after || 60) });
      case 'network': return t('page.js.network');
      case 'flow_expired': case 'flow_not_found': case 'wrong_state': case 'unauthorized': case 'unavailable':
      case 'method_unavailable': case 'downgrade_not_confirmed': case 'forbidden': case 'payload_too_large': case 'reauth_required':
        return t('page.js.err.' + err.code);
      default: return err.message || t('page.js.err.other');
    }
  }

  function fmtDate(s) {
    if (!s) return '';
    const d = new Date(s);
    if (isNaN(d)) return '';
    return d.toLocaleString(lang, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  }

  function ago(s) {
    if (!s) return t('page.js.never');
    const sec = (Date.now() - new Date(s).getTime()) / 1000;
    if (sec < 60) return t('page.js.just_now');
    if (sec < 3600) return tn('page.js.minutes_ago', Math.floor(sec / 60));
    if (sec < 86400) return tn('page.js.hours_ago', Math.floor(sec / 3600));
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

  // countdown writes message id with {{.Time}} as m:ss into the elements
  // until at, then calls onEnd once. It returns a stop function.
  function countdown(els, at, id, onEnd) {
    const end = new Date(at).getTime();
    let done = false;
    function tick() {
      const left = (end - Date.now()) / 1000;
      els.forEach(function (e) { e.textContent = left > 0 ? t(id, { Time: mmss(left) }) : t('page.js.expired'); });
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
      box.stopCountdown = countdown([box], Date.now() + wait * 1000, 'page.js.err.rate_limited', function () {
        box.textContent = t('page.js.err.rate_limited.over');
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

  // ---- the language switch ----

  // The switch (web/head.tmpl "langswitch") keeps the choice in a cookie
  // the server reads for every page and, signed in, stores it for emails,
  // SMS and calls too (PUT /v1/me/locale); then the page is rendered
  // again. A page with work in progress that a reload would lose keeps
  // it first: AF.beforeLangSwitch.
  const beforeSwitch = [];
  function beforeLangSwitch(fn) { beforeSwitch.push(fn); }

  async function switchLang(to) {
    document.cookie = 'authflow_lang=' + to + '; path=/; max-age=31536000; samesite=lax' +
      (location.protocol === 'https:' ? '; secure' : '');
    if (document.body.dataset.signedIn === '1') {
      try {
        await api('PUT', '/v1/me/locale', { locale: to });
      } catch (err) {
        // The pages follow the cookie anyway; emails would not.
        if (err.code !== 'unauthorized') {
          window.alert(t('page.js.lang.failed', { Error: errorText(err) }));
        }
      }
    }
    beforeSwitch.forEach(function (fn) { try { fn(); } catch (e) { /* keep switching */ } });
    location.reload();
  }

  document.addEventListener('click', function (ev) {
    const b = ev.target.closest && ev.target.closest('[data-lang]');
    if (!b || b.getAttribute('aria-pressed') === 'true') return;
    ev.preventDefault();
    b.disabled = true;
    switchLang(b.dataset.lang);
  });

  return {
    lang: lang, t: t, tn: tn, beforeLangSwitch: beforeLangSwitch,
    api: api, ApiError: ApiError, cookie: cookie,
    creationOptions: creationOptions, requestOptions: requestOptions, credentialJSON: credentialJSON,
    webauthnSupported: webauthnSupported, passkeyError: passkeyError, askPasskey: askPasskey,
    errorText: errorText, usedCode: usedCode, mmss: mmss, fmtDate: fmtDate, ago: ago,
    h: h, $: $, show: show, showError: showError, busy: busy, countdown: countdown, digitsOnly: digitsOnly,
  };
})();
