// The login page: password, then the method chooser and one challenge;
// or a passkey alone, from its button or the email field's autofill. Every
// call is docs/api.md "Login".
'use strict';

(function () {
  const { api, h, $, show, showError, busy, countdown, errorText, plural } = window.AF;

  const METHOD = {
    telegram: { icon: 'telegram', title: 'Telegram', sub: 'Press the button with a number in a message from our bot' },
    totp: { icon: 'app', title: 'GAuth', sub: 'Authenticator app (Google Authenticator, Aegis, …): enter the code it shows' },
    email: { icon: 'email', title: 'Email', sub: 'Get a one-time code at your account email' },
    webauthn: { icon: 'key', title: 'Passkey (WebAuthn)', sub: 'Confirm with your device or security key' },
    call: { icon: 'call', title: 'Call', sub: '' },
    sms: { icon: 'sms', title: 'SMS', sub: 'Get a one-time code in a text message' },
    recovery_code: { icon: 'list', title: 'Recovery code', sub: 'Use one of the codes you saved when you made them' },
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

  function step(name) {
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
      restart('Too many wrong answers: this sign-in was blocked. Start again with your password.');
      return true;
    }
    return false;
  }

  function watchExpiry(at) {
    flowExpires = at;
    if (stopCountdown) stopCountdown();
    const els = Array.from(document.querySelectorAll('[data-expires]'));
    stopCountdown = countdown(els, at, 'Expires in', function () {
      restart('This sign-in has expired. Please start again.');
    });
  }

  function setAttempts(n) {
    const el = $('attempts');
    if (n === undefined || n === null) { el.textContent = ''; return; }
    lastAttempts = n;
    el.textContent = plural(n, 'attempt', 'attempts') + ' left';
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
      error('Enter your email and password.');
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
      m.title = 'Call to ' + o.number_masked;
      m.sub = o.call_kind === 'dictate' ? 'A robot will dictate 4 digits' : 'Enter the last 4 digits of the number that calls you';
    } else if (o.type === 'sms') {
      m.title = 'SMS to ' + o.number_masked;
    } else if (o.type === 'recovery_code') {
      m.sub += ' (' + plural(o.remaining, 'code', 'codes') + ' left)';
    }
    return m;
  }

  function renderMethods(methods) {
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
      reserve ? h('span', { class: 'pill pill-warn', text: 'Turns off 2FA' }) : null,
      h('img', { class: 'm-go', src: '/assets/i-chevron.svg', alt: '', width: 18, height: 18 }));
      (reserve ? phones : main).append(h('li', null, btn));
    });
    $('reserve').hidden = phones.children.length === 0;
    if (!main.children.length && !phones.children.length) {
      main.append(h('li', { class: 'empty', text: 'No method can confirm this sign-in. Contact support.' }));
    }
  }

  function choose(o) {
    clear();
    option = o;
    if (o.downgrade || o.type === 'call' || o.type === 'sms') {
      $('downgrade-what').textContent = o.type === 'sms'
        ? 'We will send a text message with a code to ' + o.number_masked + '.'
        : 'We will call ' + o.number_masked + '.';
      $('downgrade-ok').checked = false;
      $('downgrade-go').disabled = true;
      $('downgrade-go').textContent = o.type === 'sms' ? 'Turn off 2FA and send the SMS' : 'Turn off 2FA and call me';
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
  // autofill already gave (cred) is sent as it is.
  function showChallenge(o, r, cred) {
    stopPolling();
    const m = describe(o);
    $('challenge-icon').src = '/assets/i-' + m.icon + '.svg';
    $('tg').hidden = o.type !== 'telegram';
    $('code-form').hidden = ['totp', 'email', 'sms', 'call', 'recovery_code'].indexOf(o.type) < 0;
    $('wa').hidden = o.type !== 'webauthn';
    $('challenge-back').lastChild.textContent = passwordless ? 'Back to sign in' : 'Other methods';
    setAttempts(r.attempts_left);
    if (r.expires_at) watchExpiry(r.expires_at);
    step('challenge');

    if (o.type === 'telegram') {
      $('h-challenge').textContent = 'Confirm in Telegram';
      $('challenge-sub').textContent = 'The message went to every Telegram account linked to yours.';
      $('tg-number').textContent = r.telegram ? String(r.telegram.number) : '';
      $('tg-waiting').hidden = false;
      $('tg-again').hidden = true;
      poll();
      return;
    }
    if (o.type === 'webauthn') {
      $('h-challenge').textContent = 'Use your passkey';
      $('challenge-sub').textContent = passwordless ? 'Sign in without a password' : 'Confirm this sign-in with a passkey';
      if (cred) sendPasskey(cred); else runPasskey(r.webauthn);
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
    $('code-label').textContent = recovery ? 'Recovery code' : four ? '4-digit code' : '6-digit code';
    $('resend').hidden = o.type === 'totp' || recovery;
    $('resend').textContent = o.type === 'call' ? 'Call me again' : 'Send a new code';
    const hint = $('code-hint');
    switch (o.type) {
      case 'totp':
        $('h-challenge').textContent = 'Authenticator app';
        $('challenge-sub').textContent = 'GAuth: Google Authenticator, Aegis or similar';
        hint.textContent = 'Open the authenticator app on your phone and enter the 6-digit code it shows for authflow.';
        break;
      case 'email':
        $('h-challenge').textContent = 'Check your email';
        $('challenge-sub').textContent = 'A one-time code is on its way';
        hint.textContent = 'We sent a 6-digit code to your account email. It may take a minute to arrive; check the spam folder too.';
        break;
      case 'sms':
        $('h-challenge').textContent = 'Enter the SMS code';
        $('challenge-sub').textContent = 'Sent to ' + o.number_masked;
        hint.textContent = 'We sent a text message with a 6-digit code to ' + o.number_masked + '.';
        break;
      case 'recovery_code':
        $('h-challenge').textContent = 'Use a recovery code';
        $('challenge-sub').textContent = plural(o.remaining, 'code', 'codes') + ' left';
        hint.textContent = 'Enter one of the recovery codes you saved (like abcde-fgh23). Each code works once.';
        break;
      case 'call':
        $('h-challenge').textContent = 'Answer the call';
        $('challenge-sub').textContent = 'Calling ' + o.number_masked;
        hint.textContent = o.call_kind === 'dictate'
          ? 'We are calling ' + o.number_masked + ': the robot will dictate 4 digits. Enter them below.'
          : 'We are calling ' + o.number_masked + '. You do not need to answer: enter the last 4 digits of the number that calls you.';
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
            restart('Confirmed in Telegram, but this browser did not receive the session. Sign in again.');
            return;
          }
          return finish(r);
        case 'failed':
          restart('The sign-in was refused in Telegram (“Not me”) or too many wrong buttons were pressed. Start again with your password.');
          return;
        case 'expired':
          restart('This sign-in has expired. Please start again.');
          return;
      }
      if (lastAttempts !== null && r.attempts_left < lastAttempts) {
        setAttempts(r.attempts_left);
        error('A button with a different number was pressed. ' + plural(r.attempts_left, 'attempt', 'attempts') + ' left: send a new message and press the number shown here.');
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
        error('A recovery code has 10 letters and digits.');
        return;
      }
    } else if (code.length !== want) {
      $('code').setAttribute('aria-invalid', 'true');
      error('Enter all ' + want + ' digits.');
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
      info(option.type === 'call' ? 'We are calling again.' : 'A new code was sent. Earlier codes no longer work.');
    });
  });

  // ---- passkeys ----

  async function runPasskey(options) {
    $('wa-waiting').hidden = false;
    $('wa-retry').hidden = true;
    if (!window.AF.webauthnSupported()) {
      $('wa-waiting').hidden = true;
      error('This browser does not support passkeys. Choose another method.');
      return;
    }
    let cred;
    try {
      cred = await navigator.credentials.get(window.AF.requestOptions(options));
    } catch (e) {
      $('wa-waiting').hidden = true;
      $('wa-retry').hidden = false;
      error(window.AF.passkeyError(e));
      return;
    }
    await sendPasskey(cred);
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
        text += ' Only passkeys with “Log in without password” turned on in Settings → Security can sign in without a password.';
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
      error('This browser does not support passkeys. Sign in with your email and password.');
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

  // Where a sign-in ended is worth saying when the settings page sent us
  // back (the session ended).
  if (new URLSearchParams(location.search).get('ended') === '1') {
    info('You have been signed out.', 'ok');
  }
  step('password');
})();
