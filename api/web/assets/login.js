// The login page: password, then the method chooser and one challenge;
// or a passkey alone, from its button or the email field's autofill. Every
// call is docs/api.md "Login".
'use strict';

(function () {
  const { api, h, $, show, showError, busy, countdown, errorText, t, tn } = window.AF;

  // The methods' icons and words (Telegram and GAuth are names, the same
  // in every language).
  const METHOD = {
    telegram: { icon: 'telegram', title: 'Telegram', sub: t('page.js.method.telegram.sub') },
    totp: { icon: 'app', title: 'GAuth', sub: t('page.js.method.totp.sub') },
    email: { icon: 'email', title: t('page.js.method.email'), sub: t('page.js.method.email.sub') },
    webauthn: { icon: 'key', title: t('page.js.method.webauthn'), sub: t('page.js.method.webauthn.sub') },
    call: { icon: 'call', title: '', sub: '' },
    sms: { icon: 'sms', title: '', sub: t('page.js.method.sms.sub') },
    recovery_code: { icon: 'list', title: t('page.js.method.recovery_code'), sub: t('page.js.method.recovery_code.sub') },
  };

  const msg = $('msg');
  const steps = ['password', 'choose', 'downgrade', 'challenge', 'done'];

  // The sign-in in progress.
  let flow = null; // flow_id
  let flowExpires = null;
  let option = null; // the chosen method option from the API
  let passwordless = false;
  let stopCountdown = null;
  let pollTimer = null;
  let lastAttempts = null;
  let submitting = false;
  let shown = 'password'; // the step on screen
  let methodsShown = []; // the chooser's methods, as the API gave them
  let challengeAnswer = null; // the API's answer to the shown challenge

  function step(name) {
    shown = name;
    steps.forEach(function (s) { $('step-' + s).hidden = s !== name; });
    // Passkeys are offered in the email field's autofill while it shows.
    if (name === 'password') startAutofill(); else stopAutofill();
    const focus = {
      password: $('email').value ? $('password') : $('email'),
      choose: document.querySelector('#methods .method, #phone-methods .method'),
    }[name];
    if (focus) focus.focus();
  }

  function error(text) { show(msg, 'error', text); }
  function info(text, kind) { show(msg, kind || 'info', text); }
  function clear() { show(msg, '', ''); }

  function stopPolling() {
    if (pollTimer) { clearTimeout(pollTimer); pollTimer = null; }
  }

  // restart forgets the flow and goes back to the password, keeping a message.
  function restart(text) {
    stopPolling();
    if (stopCountdown) { stopCountdown(); stopCountdown = null; }
    flow = null;
    option = null;
    passwordless = false;
    $('password').value = '';
    step('password');
    if (text) error(text);
  }

  // failFlow handles the errors that end a flow; it returns false for the
  // ones the current step shows itself.
  function failFlow(err) {
    switch (err.code) {
      case 'flow_expired':
      case 'flow_not_found':
      case 'wrong_state':
        restart(errorText(err));
        return true;
    }
    if ((err.code === 'invalid_code' || err.code === 'invalid_assertion') && err.data.attempts_left === 0) {
      restart(t('page.js.login.blocked'));
      return true;
    }
    return false;
  }

  function watchExpiry(at) {
    flowExpires = at;
    if (stopCountdown) stopCountdown();
    const els = Array.from(document.querySelectorAll('[data-expires]'));
    stopCountdown = countdown(els, at, 'page.js.expires_in', function () {
      restart(t('page.js.login.expired'));
    });
  }

  function setAttempts(n) {
    const el = $('attempts');
    if (n === undefined || n === null) { el.textContent = ''; return; }
    lastAttempts = n;
    el.textContent = tn('page.js.attempts_left', n);
    el.classList.toggle('low', n <= 2);
  }

  // finish keeps what a phone sign-in did for the settings page to say, then
  // opens the settings.
  function finish(answer) {
    stopPolling();
    if (stopCountdown) stopCountdown();
    if (answer && answer.downgrade) {
      try { sessionStorage.setItem('authflow.downgrade', JSON.stringify(answer.downgrade)); } catch (e) { /* private mode */ }
    }
    clear();
    step('done');
    window.location.assign('/settings');
  }

  // ---- step 1: password ----

  $('password-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    const email = $('email').value.trim();
    const password = $('password').value;
    $('email').toggleAttribute('aria-invalid', !email);
    $('password').toggleAttribute('aria-invalid', !password);
    if (!email || !password) {
      error(t('page.js.login.enter_email_password'));
      return;
    }
    busy($('password-submit'), async function () {
      try {
        const r = await api('POST', '/v1/login', { email: email, password: password });
        clear();
        if (r.state === 'done') return finish(r);
        flow = r.flow_id;
        passwordless = false;
        $('choose-email').textContent = email;
        renderMethods(r.methods || []);
        watchExpiry(r.expires_at);
        step('choose');
      } catch (err) {
        $('password').value = '';
        showError(msg, err);
        $('password').focus();
      }
    });
  });

  // ---- step 2: methods ----

  function describe(o) {
    const m = Object.assign({}, METHOD[o.type] || { icon: 'shield', title: o.type, sub: '' });
    if (o.type === 'call') {
      m.title = t('page.js.method.call.title', { Number: o.number_masked });
      m.sub = t(o.call_kind === 'dictate' ? 'page.js.method.call.dictate' : 'page.js.method.call.last4');
    } else if (o.type === 'sms') {
      m.title = t('page.js.method.sms.title', { Number: o.number_masked });
    } else if (o.type === 'recovery_code') {
      m.sub += ' (' + tn('page.js.codes_left', o.remaining) + ')';
    }
    return m;
  }

  function renderMethods(methods) {
    methodsShown = methods;
    const main = $('methods'), phones = $('phone-methods');
    main.replaceChildren();
    phones.replaceChildren();
    methods.forEach(function (o) {
      const m = describe(o);
      const reserve = o.type === 'call' || o.type === 'sms';
      const btn = h('button', {
        type: 'button', class: 'method' + (reserve ? ' reserve' : ''), 'data-method': o.type,
        'data-phone': o.phone_id, onclick: function () { choose(o); },
      },
      h('span', { class: 'm-icon' }, h('img', { src: '/assets/i-' + m.icon + '.svg', alt: '', width: 22, height: 22 })),
      h('span', { class: 'm-text' }, h('span', { class: 'm-title', text: m.title }), h('span', { class: 'm-sub', text: m.sub })),
      reserve ? h('span', { class: 'pill pill-warn', text: t('page.js.login.turns_off_2fa') }) : null,
      h('img', { class: 'm-go', src: '/assets/i-chevron.svg', alt: '', width: 18, height: 18 }));
      (reserve ? phones : main).append(h('li', null, btn));
    });
    $('reserve').hidden = phones.children.length === 0;
    if (!main.children.length && !phones.children.length) {
      main.append(h('li', { class: 'empty', text: t('page.js.login.no_method') }));
    }
  }

  function choose(o) {
    clear();
    option = o;
    if (o.downgrade || o.type === 'call' || o.type === 'sms') {
      $('downgrade-what').textContent = t(o.type === 'sms' ? 'page.js.login.downgrade.sms' : 'page.js.login.downgrade.call', { Number: o.number_masked });
      $('downgrade-ok').checked = false;
      $('downgrade-go').disabled = true;
      $('downgrade-go').textContent = t(o.type === 'sms' ? 'page.js.login.downgrade.go_sms' : 'page.js.login.downgrade.go_call');
      step('downgrade');
      return;
    }
    startChallenge(o, false, null);
  }

  $('downgrade-ok').addEventListener('change', function () {
    $('downgrade-go').disabled = !this.checked;
  });
  $('downgrade-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (!$('downgrade-ok').checked) return;
    startChallenge(option, true, $('downgrade-go'));
  });

  document.querySelectorAll('[data-back]').forEach(function (b) {
    b.addEventListener('click', function () {
      stopPolling();
      clear();
      if (b.dataset.back === 'password' || passwordless || !flow) { restart(); return; }
      step(b.dataset.back);
    });
  });

  // ---- step 3: challenge ----

  function startChallenge(o, confirmDowngrade, btn) {
    const body = { method: o.type };
    if (o.phone_id) body.phone_id = o.phone_id;
    if (confirmDowngrade) body.confirm_downgrade = true;
    const run = async function () {
      try {
        const r = await api('POST', '/v1/login/' + flow + '/challenge', body);
        showChallenge(o, r);
      } catch (err) {
        if (failFlow(err)) return;
        showError(msg, err);
      }
    };
    return btn ? busy(btn, run) : run();
  }

  // showChallenge shows the challenge of option o, answer r; a passkey the
  // autofill already gave (cred) is sent as it is. resumed says the page
  // came back to it after a language switch: a passkey is then asked for
  // only when the person presses "Try again" (a browser asks for a passkey
  // only after something the person did).
  function showChallenge(o, r, cred, resumed) {
    stopPolling();
    challengeAnswer = r;
    const m = describe(o);
    $('challenge-icon').src = '/assets/i-' + m.icon + '.svg';
    $('tg').hidden = o.type !== 'telegram';
    $('code-form').hidden = ['totp', 'email', 'sms', 'call', 'recovery_code'].indexOf(o.type) < 0;
    $('wa').hidden = o.type !== 'webauthn';
    $('challenge-back').lastChild.textContent = t(passwordless ? 'page.js.login.back_to_sign_in' : 'page.common.back.other_methods');
    setAttempts(r.attempts_left);
    if (r.expires_at) watchExpiry(r.expires_at);
    step('challenge');

    if (o.type === 'telegram') {
      $('h-challenge').textContent = t('page.js.tg.title');
      $('challenge-sub').textContent = t('page.js.tg.sub');
      $('tg-number').textContent = r.telegram ? String(r.telegram.number) : '';
      $('tg-waiting').hidden = false;
      $('tg-again').hidden = true;
      poll();
      return;
    }
    if (o.type === 'webauthn') {
      $('h-challenge').textContent = t('page.js.wa.title');
      $('challenge-sub').textContent = t(passwordless ? 'page.js.wa.sub.passwordless' : 'page.js.wa.sub.login');
      if (resumed) {
        $('wa-waiting').hidden = true;
        $('wa-retry').hidden = false;
      } else if (cred) sendPasskey(cred); else runPasskey(r.webauthn);
      return;
    }
    const four = o.type === 'call';
    const recovery = o.type === 'recovery_code';
    const code = $('code');
    code.value = '';
    // A recovery code is letters and digits (xxxxx-xxxxx): typed freely.
    code.dataset.free = recovery ? '1' : '';
    code.inputMode = recovery ? 'text' : 'numeric';
    code.autocomplete = recovery ? 'off' : 'one-time-code';
    if (recovery) code.removeAttribute('pattern'); else code.setAttribute('pattern', '[0-9]*');
    code.maxLength = recovery ? 13 : four ? 4 : 6;
    code.classList.toggle('four', four);
    code.setAttribute('aria-describedby', 'code-hint');
    $('code-label').textContent = t(recovery ? 'page.js.code.recovery' : four ? 'page.js.code.four' : 'page.js.code.six');
    $('resend').hidden = o.type === 'totp' || recovery;
    $('resend').textContent = t(o.type === 'call' ? 'page.js.resend.call' : 'page.js.resend.code');
    const n = { Number: o.number_masked };
    const hint = $('code-hint');
    switch (o.type) {
      case 'totp':
        $('h-challenge').textContent = t('page.js.totp.title');
        $('challenge-sub').textContent = t('page.js.totp.sub');
        hint.textContent = t('page.js.totp.hint');
        break;
      case 'email':
        $('h-challenge').textContent = t('page.js.email.title');
        $('challenge-sub').textContent = t('page.js.email.sub');
        hint.textContent = t('page.js.login.email.hint');
        break;
      case 'sms':
        $('h-challenge').textContent = t('page.js.sms.title');
        $('challenge-sub').textContent = t('page.js.sms.sub', n);
        hint.textContent = t('page.js.sms.hint', n);
        break;
      case 'recovery_code':
        $('h-challenge').textContent = t('page.js.rc.title');
        $('challenge-sub').textContent = tn('page.js.codes_left', o.remaining);
        hint.textContent = t('page.js.rc.hint');
        break;
      case 'call':
        $('h-challenge').textContent = t('page.js.call.title');
        $('challenge-sub').textContent = t('page.js.call.sub', n);
        hint.textContent = t(o.call_kind === 'dictate' ? 'page.js.call.hint.dictate' : 'page.js.call.hint.last4', n);
        break;
    }
    code.focus();
  }

  // poll waits for the Telegram button press (docs/api.md: GET /v1/login/{id}).
  function poll() {
    pollTimer = setTimeout(async function () {
      pollTimer = null;
      if (!flow || !option || option.type !== 'telegram') return;
      let r;
      try {
        r = await api('GET', '/v1/login/' + flow);
      } catch (err) {
        if (failFlow(err)) return;
        poll(); // a blip; keep waiting
        return;
      }
      switch (r.state) {
        case 'done':
          // The session cookie comes with this answer; without it the
          // settings page would only send us back here.
          try {
            await api('GET', '/v1/me');
          } catch (err) {
            restart(t('page.js.login.tg.no_session'));
            return;
          }
          return finish(r);
        case 'failed':
          restart(t('page.js.login.tg.failed'));
          return;
        case 'expired':
          restart(t('page.js.login.expired'));
          return;
      }
      if (lastAttempts !== null && r.attempts_left < lastAttempts) {
        setAttempts(r.attempts_left);
        error(t('page.js.tg.wrong_button', { Left: tn('page.js.attempts_left', r.attempts_left) }));
        $('tg-waiting').hidden = true;
        $('tg-again').hidden = false;
        return;
      }
      poll();
    }, 1500);
  }

  $('tg-again').addEventListener('click', function () {
    clear();
    startChallenge(option, false, $('tg-again'));
  });

  // ---- codes ----

  window.AF.digitsOnly($('code'), 6);
  $('code').addEventListener('input', function () {
    if (!this.dataset.free && this.value.length === this.maxLength) $('code-form').requestSubmit();
  });

  $('code-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    const code = $('code').value;
    const want = option && option.type === 'call' ? 4 : 6;
    if (option && option.type === 'recovery_code') {
      if (code.replace(/[\s-]/g, '').length !== 10) {
        $('code').setAttribute('aria-invalid', 'true');
        error(t('page.js.code.rc_length'));
        return;
      }
    } else if (code.length !== want) {
      $('code').setAttribute('aria-invalid', 'true');
      error(tn('page.js.code.all_digits', want));
      return;
    }
    if (submitting) return;
    submitting = true;
    busy($('code-submit'), async function () {
      try {
        const r = await api('POST', '/v1/login/' + flow + '/verify', { code: code });
        finish(r);
      } catch (err) {
        if (failFlow(err)) return;
        if (err.data && err.data.attempts_left !== undefined) setAttempts(err.data.attempts_left);
        $('code').value = '';
        if (window.AF.usedCode(err)) {
          // Not a mistake: the code was right, once. The next one will do.
          info(errorText(err), 'warn');
        } else {
          $('code').setAttribute('aria-invalid', 'true');
          showError(msg, err);
        }
        $('code').focus();
      } finally {
        submitting = false;
      }
    });
  });

  $('resend').addEventListener('click', function () {
    clear();
    startChallenge(option, option.type === 'call' || option.type === 'sms', $('resend')).then(function () {
      if (!msg.hidden) return;
      info(t(option.type === 'call' ? 'page.js.login.calling_again' : 'page.js.code.resent'));
    });
  });

  // ---- passkeys ----

  async function runPasskey(options) {
    const cred = await window.AF.askPasskey(options, error);
    if (cred) await sendPasskey(cred);
  }

  // sendPasskey answers the flow's passkey challenge with cred.
  async function sendPasskey(cred) {
    $('wa-waiting').hidden = false;
    $('wa-retry').hidden = true;
    try {
      const r = await api('POST', '/v1/login/' + flow + '/verify', { credential: window.AF.credentialJSON(cred) });
      finish(r);
    } catch (err) {
      if (failFlow(err)) return;
      $('wa-waiting').hidden = true;
      $('wa-retry').hidden = false;
      if (err.data && err.data.attempts_left !== undefined) setAttempts(err.data.attempts_left);
      let text = errorText(err);
      if (passwordless && err.code === 'invalid_assertion') {
        text += ' ' + t('page.js.wa.passwordless_hint');
      }
      error(text);
    }
  }

  // A passkey challenge is single use: a retry asks for new options.
  $('wa-retry').addEventListener('click', function () {
    clear();
    if (passwordless) { passkeyLogin(); return; }
    startChallenge(option, false, $('wa-retry'));
  });

  async function passkeyLogin() {
    clear();
    if (!window.AF.webauthnSupported()) {
      error(t('page.js.wa.unsupported.login'));
      return;
    }
    await busy($('passkey-login'), async function () {
      try {
        const r = await api('POST', '/v1/login/passkey', {});
        flow = r.flow_id;
        passwordless = true;
        option = { type: 'webauthn' };
        showChallenge(option, r);
      } catch (err) {
        showError(msg, err);
      }
    });
  }
  $('passkey-login').addEventListener('click', passkeyLogin);

  // ---- passkeys in the autofill ----

  // While the password step shows, a passkey request waits in the
  // background (WebAuthn conditional mediation): the browser lists the
  // passkeys it keeps for this site among the email field's suggestions
  // (autocomplete="username webauthn"), and picking one signs in as the
  // passkey button does, through the same passwordless flow. A browser
  // without it keeps only the button.
  let autofill = null; // the waiting request: { abort, timer }

  function stopAutofill() {
    if (!autofill) return;
    clearTimeout(autofill.timer);
    autofill.abort.abort();
    autofill = null;
  }

  async function autofillAvailable() {
    if (!window.AF.webauthnSupported() || typeof PublicKeyCredential.isConditionalMediationAvailable !== 'function') return false;
    try {
      return await PublicKeyCredential.isConditionalMediationAvailable();
    } catch (e) {
      return false;
    }
  }

  async function startAutofill() {
    if (autofill) return;
    const mine = { abort: new AbortController(), timer: null };
    autofill = mine;
    const current = function () { return autofill === mine; };
    let r;
    try {
      if (!(await autofillAvailable())) throw new Error('no conditional mediation');
      if (!current()) return;
      r = await api('POST', '/v1/login/passkey', {});
    } catch (err) {
      // The passkey button remains, and says what is wrong if it is used.
      if (current()) autofill = null;
      return;
    }
    // Stopped meanwhile: the unused flow simply expires.
    if (!current()) return;
    // A request outlives its flow's 10 minutes: wait on a new flow before
    // this one expires.
    mine.timer = setTimeout(function () {
      if (!current()) return;
      stopAutofill();
      startAutofill();
    }, Math.max(5000, new Date(r.expires_at).getTime() - Date.now() - 30000));
    let cred;
    try {
      const opts = window.AF.requestOptions(r.webauthn);
      opts.mediation = 'conditional';
      opts.signal = mine.abort.signal;
      cred = await navigator.credentials.get(opts);
    } catch (e) {
      // Aborted (the person went on another way, or a new flow replaced
      // this one), or refused: the button remains.
      if (current()) { clearTimeout(mine.timer); autofill = null; }
      return;
    }
    if (!current() || !cred) return;
    clearTimeout(mine.timer);
    autofill = null;
    clear();
    flow = r.flow_id;
    passwordless = true;
    option = { type: 'webauthn' };
    showChallenge(option, r, cred);
  }

  // ---- the language switch keeps the sign-in ----

  // Switching the language reloads the page (common.js); the sign-in in
  // progress goes along in this tab's sessionStorage and comes back at the
  // step it was at: the methods, the phone warning or the challenge. The
  // flow itself lives on the server: a stale one fails as it would have.
  const SAVED = 'authflow.login';

  window.AF.beforeLangSwitch(function () {
    sessionStorage.setItem(SAVED, JSON.stringify({
      typed: $('email').value, flow: flow, email: $('choose-email').textContent, methods: methodsShown,
      expires: flowExpires, step: shown, option: option, answer: challengeAnswer,
      passwordless: passwordless, attempts: lastAttempts,
    }));
  });

  function resume() {
    let v = null;
    try {
      v = JSON.parse(sessionStorage.getItem(SAVED) || 'null');
      sessionStorage.removeItem(SAVED);
    } catch (e) { return false; }
    if (!v) return false;
    $('email').value = v.typed || '';
    if (!v.flow || !v.expires || Date.parse(v.expires) <= Date.now() || v.step === 'password' || v.step === 'done') return false;
    flow = v.flow;
    passwordless = !!v.passwordless;
    option = v.option;
    $('choose-email').textContent = v.email || '';
    renderMethods(v.methods || []);
    watchExpiry(v.expires);
    if (v.step === 'downgrade' && option) {
      choose(option);
    } else if (v.step === 'challenge' && option && v.answer) {
      showChallenge(option, v.answer, null, true);
      if (v.attempts !== null && v.attempts !== undefined) setAttempts(v.attempts);
    } else {
      step('choose');
    }
    return true;
  }

  // Where a sign-in ended is worth saying when the settings page sent us
  // back (the session ended).
  if (new URLSearchParams(location.search).get('ended') === '1') {
    info(t('page.js.login.signed_out'), 'ok');
  }
  if (!resume()) step('password');
})();
