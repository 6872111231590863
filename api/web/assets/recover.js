// The account recovery page (/recover): the email, the emailed code, then
// by the flow's state a second factor as at login, the wait of a person who
// lost every factor, and the new password. Every call is docs/api.md
// "Account recovery". The flow secret travels by itself: the first answer
// set it as an HttpOnly cookie for /v1/recovery/<flow_id>, which every
// fetch below carries, so the email's link (/recover?flow=…) works in the
// browser that asked for the code and in no other.
'use strict';

(function () {
  const { api, h, $, show, showError, busy, errorText, fmtDate, t, tn } = window.AF;

  // The second factors a recovery offers: the login's, without the phone
  // (docs/api.md "Login flows"; the same words as login.js).
  const METHOD = {
    telegram: { icon: 'telegram', title: 'Telegram', sub: t('page.js.method.telegram.sub') },
    totp: { icon: 'app', title: t('page.js.recover.method.totp'), sub: t('page.js.recover.method.totp.sub') },
    email: { icon: 'email', title: t('page.js.method.email'), sub: t('page.js.method.email.sub') },
    webauthn: { icon: 'key', title: t('page.js.method.webauthn'), sub: t('page.js.method.webauthn.sub') },
    recovery_code: { icon: 'list', title: t('page.js.method.recovery_code'), sub: t('page.js.method.recovery_code.sub') },
  };

  // What the page says when a flow can go no further.
  // What the page says when a flow can go no further: a title and a text
  // (page.js.recover.ended.<kind> and .text).
  const ENDED = ['cancelled', 'expired', 'failed', 'not_found', 'done', 'unreachable'];

  const msg = $('msg');
  const steps = ['loading', 'email', 'code', 'choose', 'lost', 'challenge', 'waiting', 'password', 'done', 'ended'];
  const flowPattern = /^[a-z0-9]{16,64}$/;

  // The recovery in progress.
  let flow = null; // flow_id
  let email = ''; // as typed on this page, when it was
  let option = null; // the chosen second factor
  let lastAttempts = null;
  let pollTimer = null;
  let submitting = false;

  function step(name) {
    steps.forEach(function (s) { $('step-' + s).hidden = s !== name; });
    const focus = {
      email: $('email'),
      code: $('code'),
      choose: document.querySelector('#methods .method'),
      password: $('new-password'),
    }[name];
    if (focus) focus.focus();
  }

  function error(text) { show(msg, 'error', text); }
  function info(text, kind) { show(msg, kind || 'info', text); }
  function clear() { show(msg, '', ''); }

  // path is a call under the flow: /v1/recovery/<id>[/sub].
  function path(sub) { return '/v1/recovery/' + flow + (sub ? '/' + sub : ''); }

  function stopPolling() {
    if (pollTimer) { clearTimeout(pollTimer); pollTimer = null; }
  }

  function setAttempts(n) {
    document.querySelectorAll('[data-attempts]').forEach(function (el) {
      if (n === undefined || n === null) { el.textContent = ''; return; }
      el.textContent = tn('page.js.attempts_left', n);
      el.classList.toggle('low', n <= 2);
    });
    if (n !== undefined && n !== null) lastAttempts = n;
  }

  // ---- time ----

  // left says a time to go, days included: "2 days 23:59:41", "4:05:09",
  // "9:41".
  function left(sec) {
    sec = Math.max(0, Math.ceil(sec));
    const d = Math.floor(sec / 86400), hh = Math.floor((sec % 86400) / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
    const two = function (n) { return (n < 10 ? '0' : '') + n; };
    if (d) return tn('page.js.days', d) + ' ' + two(hh) + ':' + two(m) + ':' + two(s);
    if (hh) return hh + ':' + two(m) + ':' + two(s);
    return m + ':' + two(s);
  }

  // The clock ticks every second: [data-expires] counts down to the flow's
  // expires_at and #wait-left to ready_at. At either moment the page asks
  // the flow what came of it: the server decides, not this clock.
  let clock = null;
  let expiresAt = 0;
  let readyAt = 0;
  let atEnd = false;

  function startClock(v) {
    expiresAt = v.expires_at ? Date.parse(v.expires_at) : 0;
    readyAt = v.state === 'waiting' && v.ready_at ? Date.parse(v.ready_at) : 0;
    atEnd = false;
    if (!clock) clock = setInterval(tick, 1000);
    tick();
  }

  function stopClock() {
    if (clock) clearInterval(clock);
    clock = null;
    expiresAt = readyAt = 0;
  }

  function tick() {
    const now = Date.now();
    const exp = !expiresAt ? '' : expiresAt > now ? t('page.js.expires_in', { Time: left((expiresAt - now) / 1000) }) : t('page.js.expired');
    document.querySelectorAll('[data-expires]').forEach(function (e) { e.textContent = exp; });
    if (readyAt) $('wait-left').textContent = left((readyAt - now) / 1000);
    if (atEnd) return;
    if (readyAt && now >= readyAt) {
      atEnd = true;
      stopPolling();
      watchWait();
    } else if (expiresAt && now >= expiresAt) {
      atEnd = true;
      refresh();
    }
  }

  // ---- the flow's state ----

  // render shows the step of a flow's state (api/openapi.yaml: RecoveryFlow).
  function render(v) {
    stopPolling();
    flow = v.flow_id || flow;
    setAttempts(v.attempts_left);
    switch (v.state) {
      case 'email_sent':
        startClock(v);
        showCode();
        return;
      case 'second_factor':
        startClock(v);
        option = null;
        renderMethods(v.methods || []);
        step('choose');
        return;
      case 'waiting':
        startClock(v);
        showWaiting(v);
        return;
      case 'set_password':
        startClock(v);
        showPassword(v);
        return;
      case 'done':
        doneElsewhere();
        return;
      case 'cancelled':
      case 'expired':
      case 'failed':
        ended(v.state);
        return;
    }
    ended('unreachable', t('page.js.recover.unknown_state', { State: v.state }));
  }

  // refresh reads the flow again and shows its state.
  async function refresh() {
    stopPolling();
    let v;
    try {
      v = await api('GET', path());
    } catch (err) {
      if (failFlow(err)) return;
      ended('unreachable', errorText(err));
      return;
    }
    render(v);
  }

  // failFlow handles the errors that say the flow is over or elsewhere; it
  // returns false for the ones the current step shows itself.
  function failFlow(err) {
    switch (err.code) {
      case 'flow_expired':
        ended('expired');
        return true;
      case 'flow_not_found':
        ended('not_found');
        return true;
      case 'wrong_state':
        // Cancelled by a sign-in, finished in another tab…: the flow says.
        refresh();
        return true;
    }
    if ((err.code === 'invalid_code' || err.code === 'invalid_assertion') && err.data.attempts_left === 0) {
      refresh();
      return true;
    }
    return false;
  }

  function ended(kind, text) {
    stopPolling();
    stopClock();
    option = null;
    if (ENDED.indexOf(kind) < 0) kind = 'unreachable';
    $('h-ended').textContent = t('page.js.recover.ended.' + kind);
    $('ended-text').textContent = text || (kind === 'unreachable' ? '' : t('page.js.recover.ended.' + kind + '.text'));
    $('ended-restart').hidden = kind === 'done';
    clear();
    step('ended');
  }

  // restart forgets the flow and asks for an email again.
  function restart() {
    stopPolling();
    stopClock();
    flow = null;
    option = null;
    lastAttempts = null;
    $('code').value = '';
    history.replaceState(null, '', '/recover');
    clear();
    step('email');
  }

  document.querySelectorAll('[data-restart]').forEach(function (b) { b.addEventListener('click', restart); });

  // A flow already done: its answer set the session cookies in the browser
  // that set the password; elsewhere there is only the new password.
  async function doneElsewhere() {
    try {
      await api('GET', '/v1/me');
    } catch (err) {
      ended('done');
      return;
    }
    finish();
  }

  function finish() {
    stopPolling();
    stopClock();
    clear();
    step('done');
    window.location.assign('/settings');
  }

  // ---- 1: the email ----

  $('email-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    const typed = $('email').value.trim();
    $('email').toggleAttribute('aria-invalid', !typed);
    if (!typed) {
      error(t('page.js.recover.enter_email'));
      return;
    }
    busy($('email-submit'), async function () {
      try {
        const r = await api('POST', '/v1/recovery', { email: typed });
        email = typed;
        flow = r.flow_id;
        lastAttempts = null;
        // The address now names the flow: a reload, or the email's link,
        // comes back to it.
        history.replaceState(null, '', '/recover?flow=' + encodeURIComponent(flow));
        clear();
        render(r);
      } catch (err) {
        $('email').setAttribute('aria-invalid', 'true');
        showError(msg, err);
        $('email').focus();
      }
    });
  });

  // ---- 2: the emailed code ----

  function showCode() {
    $('code-hint').textContent = email
      ? t('page.js.recover.code.hint.email', { Email: email })
      : t('page.js.recover.code.hint');
    $('code').value = '';
    step('code');
  }

  window.AF.digitsOnly($('code'), 6);
  $('code').addEventListener('input', function () {
    if (this.value.length === 6) $('code-form').requestSubmit();
  });

  // sendCode answers the flow's step with code: the emailed code (typed
  // in #code) or a second factor's (#factor-code). A wrong one empties
  // input and says why; once at a time.
  function sendCode(code, input, button) {
    if (submitting) return;
    submitting = true;
    busy(button, async function () {
      try {
        const r = await api('POST', path('verify'), { code: code });
        clear();
        render(r);
      } catch (err) {
        if (failFlow(err)) return;
        if (err.data && err.data.attempts_left !== undefined) setAttempts(err.data.attempts_left);
        input.value = '';
        input.setAttribute('aria-invalid', 'true');
        showError(msg, err);
        input.focus();
      } finally {
        submitting = false;
      }
    });
  }

  $('code-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    const code = $('code').value;
    if (code.length !== 6) {
      $('code').setAttribute('aria-invalid', 'true');
      error(tn('page.js.code.all_digits', 6));
      return;
    }
    sendCode(code, $('code'), $('code-submit'));
  });

  // ---- 3: a second factor, as at login ----

  function describe(o) {
    const m = Object.assign({}, METHOD[o.type] || { icon: 'shield', title: o.type, sub: '' });
    if (o.type === 'recovery_code') m.sub += ' (' + tn('page.js.codes_left', o.remaining) + ')';
    return m;
  }

  function renderMethods(methods) {
    const list = $('methods');
    list.replaceChildren();
    methods.forEach(function (o) {
      const m = describe(o);
      list.append(h('li', null, h('button', { type: 'button', class: 'method', 'data-method': o.type, onclick: function () { choose(o); } },
        h('span', { class: 'm-icon' }, h('img', { src: '/assets/i-' + m.icon + '.svg', alt: '', width: 22, height: 22 })),
        h('span', { class: 'm-text' }, h('span', { class: 'm-title', text: m.title }), h('span', { class: 'm-sub', text: m.sub })),
        h('img', { class: 'm-go', src: '/assets/i-chevron.svg', alt: '', width: 18, height: 18 }))));
    });
    if (!methods.length) {
      list.append(h('li', { class: 'empty', text: t('page.js.recover.no_method') }));
    }
  }

  function choose(o) {
    clear();
    option = o;
    startChallenge(o, null);
  }

  document.querySelectorAll('[data-back]').forEach(function (b) {
    b.addEventListener('click', function () {
      stopPolling();
      option = null;
      clear();
      step(b.dataset.back);
    });
  });

  function startChallenge(o, btn) {
    const run = async function () {
      try {
        const r = await api('POST', path('challenge'), { method: o.type });
        showChallenge(o, r);
      } catch (err) {
        if (failFlow(err)) return;
        showError(msg, err);
      }
    };
    return btn ? busy(btn, run) : run();
  }

  function showChallenge(o, r) {
    stopPolling();
    const m = describe(o);
    $('challenge-icon').src = '/assets/i-' + m.icon + '.svg';
    $('tg').hidden = o.type !== 'telegram';
    $('factor-form').hidden = ['totp', 'email', 'recovery_code'].indexOf(o.type) < 0;
    $('wa').hidden = o.type !== 'webauthn';
    setAttempts(r.attempts_left);
    if (r.expires_at) startClock(r);
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
      $('challenge-sub').textContent = t('page.js.wa.sub.recovery');
      runPasskey(r.webauthn);
      return;
    }
    const recovery = o.type === 'recovery_code';
    const code = $('factor-code');
    code.value = '';
    // A recovery code is letters and digits (xxxxx-xxxxx): typed freely.
    code.dataset.free = recovery ? '1' : '';
    code.inputMode = recovery ? 'text' : 'numeric';
    code.autocomplete = recovery ? 'off' : 'one-time-code';
    if (recovery) code.removeAttribute('pattern'); else code.setAttribute('pattern', '[0-9]*');
    code.maxLength = recovery ? 13 : 6;
    $('factor-label').textContent = t(recovery ? 'page.js.code.recovery' : 'page.js.code.six');
    $('resend').hidden = o.type !== 'email';
    const hint = $('factor-hint');
    switch (o.type) {
      case 'totp':
        $('h-challenge').textContent = t('page.js.totp.title');
        $('challenge-sub').textContent = t('page.js.recover.totp.sub');
        hint.textContent = t('page.js.totp.hint');
        break;
      case 'email':
        $('h-challenge').textContent = t('page.js.email.title');
        $('challenge-sub').textContent = t('page.js.email.sub');
        hint.textContent = t('page.js.recover.email.hint');
        break;
      case 'recovery_code':
        $('h-challenge').textContent = t('page.js.rc.title');
        $('challenge-sub').textContent = tn('page.js.codes_left', o.remaining);
        hint.textContent = t('page.js.rc.hint');
        break;
    }
    code.focus();
  }

  // poll waits for the Telegram button press: the flow leaves
  // second_factor (GET /v1/recovery/{flow_id}).
  function poll() {
    pollTimer = setTimeout(async function () {
      pollTimer = null;
      if (!flow || !option || option.type !== 'telegram') return;
      let r;
      try {
        r = await api('GET', path());
      } catch (err) {
        if (failFlow(err)) return;
        poll(); // a blip; keep waiting
        return;
      }
      if (r.state !== 'second_factor') {
        clear();
        render(r);
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
    startChallenge(option, $('tg-again'));
  });

  window.AF.digitsOnly($('factor-code'), 6);
  $('factor-code').addEventListener('input', function () {
    if (!this.dataset.free && this.value.length === this.maxLength) $('factor-form').requestSubmit();
  });

  $('factor-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    const code = $('factor-code').value;
    if (option && option.type === 'recovery_code') {
      if (code.replace(/[\s-]/g, '').length !== 10) {
        $('factor-code').setAttribute('aria-invalid', 'true');
        error(t('page.js.code.rc_length'));
        return;
      }
    } else if (code.length !== 6) {
      $('factor-code').setAttribute('aria-invalid', 'true');
      error(tn('page.js.code.all_digits', 6));
      return;
    }
    sendCode(code, $('factor-code'), $('factor-submit'));
  });

  $('resend').addEventListener('click', function () {
    clear();
    startChallenge(option, $('resend')).then(function () {
      if (msg.hidden) info(t('page.js.code.resent'));
    });
  });

  async function runPasskey(options) {
    const cred = await window.AF.askPasskey(options, error);
    if (!cred) return;
    try {
      const r = await api('POST', path('verify'), { credential: window.AF.credentialJSON(cred) });
      clear();
      render(r);
    } catch (err) {
      if (failFlow(err)) return;
      $('wa-waiting').hidden = true;
      $('wa-retry').hidden = false;
      if (err.data && err.data.attempts_left !== undefined) setAttempts(err.data.attempts_left);
      error(errorText(err));
    }
  }

  // A passkey challenge is single use: a retry asks for new options.
  $('wa-retry').addEventListener('click', function () {
    clear();
    startChallenge(option, $('wa-retry'));
  });

  // ---- 3b: every factor lost: the wait ----

  $('lost').addEventListener('click', function () {
    stopPolling();
    clear();
    step('lost');
  });

  $('lost-go').addEventListener('click', function () {
    busy($('lost-go'), async function () {
      try {
        const r = await api('POST', path('lost-factors'), {});
        clear();
        render(r);
      } catch (err) {
        if (failFlow(err)) return;
        showError(msg, err);
      }
    });
  });

  function showWaiting(v) {
    $('wait-at').textContent = fmtDate(v.ready_at);
    $('wait-until').textContent = fmtDate(v.expires_at);
    const remind = v.reminder_at ? Date.parse(v.reminder_at) : 0;
    $('wait-told-text').textContent = !remind ? t('page.js.recover.told')
      : t(remind > Date.now() ? 'page.js.recover.told.will_remind' : 'page.js.recover.told.reminded', { At: fmtDate(v.reminder_at) });
    step('waiting');
    watchWait();
  }

  // watchWait reads the flow now and then while it waits: a cancel or a
  // sign-in ends it, and at ready_at it moves on to the new password.
  function watchWait() {
    const due = readyAt && Date.now() >= readyAt;
    pollTimer = setTimeout(async function () {
      pollTimer = null;
      let r;
      try {
        r = await api('GET', path());
      } catch (err) {
        if (failFlow(err)) return;
        watchWait(); // a blip; keep waiting
        return;
      }
      if (r.state !== 'waiting') {
        render(r);
        return;
      }
      watchWait();
    }, due ? 2000 : 30000);
  }

  // ---- 4: the new password ----

  function showPassword(v) {
    const d = v.downgrade;
    const box = $('pw-downgrade');
    box.hidden = !d;
    if (d) {
      box.textContent = d.bank_cards_unlinked
        ? tn('page.js.recover.downgrade.cards', d.bank_cards_unlinked)
        : t('page.js.recover.downgrade');
    }
    $('pw-user').value = email;
    $('new-password').value = '';
    $('new-password2').value = '';
    step('password');
  }

  $('password-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    const pw = $('new-password').value, again = $('new-password2').value;
    $('new-password').removeAttribute('aria-invalid');
    $('new-password2').removeAttribute('aria-invalid');
    // The API counts bytes (rules.CheckNewPassword): so does this check.
    if (new TextEncoder().encode(pw).length < 8) {
      $('new-password').setAttribute('aria-invalid', 'true');
      error(t('page.js.password.short'));
      $('new-password').focus();
      return;
    }
    if (pw !== again) {
      $('new-password2').setAttribute('aria-invalid', 'true');
      error(t('page.js.password.differ'));
      $('new-password2').focus();
      return;
    }
    busy($('password-submit'), async function () {
      try {
        const r = await api('POST', path('password'), { new_password: pw });
        if (r.state === 'done') {
          finish();
          return;
        }
        render(r);
      } catch (err) {
        if (failFlow(err)) return;
        showError(msg, err);
      }
    });
  });

  // ---- start: a flow named in the address, or a new one ----

  const named = new URLSearchParams(location.search).get('flow');
  if (named === null) {
    step('email');
  } else if (!flowPattern.test(named)) {
    ended('not_found');
  } else {
    flow = named;
    step('loading');
    refresh();
  }
})();
