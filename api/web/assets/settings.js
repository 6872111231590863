// The "Security" page: two-step authentication, phones, sessions,
// password, bank cards and events. Every call is docs/api.md
// "Self-service" with the cookie session and X-CSRF-Token.
'use strict';

(function () {
  const AF = window.AF;
  const { api, h, $, show, showError, busy, countdown, errorText, plural, fmtDate, ago } = AF;
  const dev = document.body.dataset.dev === '1';

  let me = null; // GET /v1/me
  let showAllEvents = false;
  let events = [];

  // ---- plumbing ----

  function signedOut() { window.location.assign('/login?ended=1'); }

  let toastTimer = null;
  function toast(text) {
    const t = $('toast');
    t.textContent = text;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { t.hidden = true; }, 4000);
  }

  // reauthDialog asks for the current password and runs retry(password)
  // until it is accepted or the person cancels (docs/api.md "Re-auth").
  function reauthDialog(retry) {
    return new Promise(function (resolve, reject) {
      const dlg = $('reauth'), form = $('reauth-form'), input = $('reauth-password'), box = $('reauth-msg');
      show(box, '', '');
      input.value = '';
      function done() {
        form.removeEventListener('submit', onSubmit);
        $('reauth-cancel').removeEventListener('click', onCancel);
        dlg.removeEventListener('cancel', onCancel);
        if (dlg.open) dlg.close();
      }
      function onCancel(ev) {
        if (ev) ev.preventDefault();
        done();
        const e = new AF.ApiError(0, { error: { code: 'cancelled', message: 'Cancelled.' } });
        reject(e);
      }
      async function onSubmit(ev) {
        ev.preventDefault();
        if (!input.value) { show(box, 'error', 'Enter your current password.'); return; }
        await busy($('reauth-submit'), async function () {
          try {
            const r = await retry(input.value);
            done();
            resolve(r);
          } catch (err) {
            if (err.code === 'invalid_credentials') {
              input.value = '';
              show(box, 'error', 'The current password is wrong.');
              input.focus();
              return;
            }
            if (err.code === 'rate_limited') { showError(box, err); return; }
            done();
            reject(err);
          }
        });
      }
      form.addEventListener('submit', onSubmit);
      $('reauth-cancel').addEventListener('click', onCancel);
      dlg.addEventListener('cancel', onCancel);
      dlg.showModal();
      input.focus();
    });
  }

  // change makes a state-changing call; when the login is too old it asks
  // for the password and sends it as current_password.
  async function change(method, path, body) {
    try {
      return await api(method, path, body);
    } catch (err) {
      if (err.code === 'unauthorized') { signedOut(); throw err; }
      if (err.code !== 'reauth_required') throw err;
      return reauthDialog(function (pw) {
        return api(method, path, Object.assign({}, body || {}, { current_password: pw }));
      });
    }
  }

  // confirmDialog asks before something that cannot be undone.
  function confirmDialog(title, text, ok) {
    return new Promise(function (resolve) {
      const dlg = $('confirm');
      $('h-confirm').textContent = title;
      $('confirm-text').textContent = text;
      $('confirm-ok').textContent = ok || 'Confirm';
      function end(v) {
        $('confirm-form').removeEventListener('submit', onOk);
        $('confirm-cancel').removeEventListener('click', onNo);
        dlg.removeEventListener('cancel', onNo);
        if (dlg.open) dlg.close();
        resolve(v);
      }
      function onOk(ev) { ev.preventDefault(); end(true); }
      function onNo(ev) { if (ev) ev.preventDefault(); end(false); }
      $('confirm-form').addEventListener('submit', onOk);
      $('confirm-cancel').addEventListener('click', onNo);
      dlg.addEventListener('cancel', onNo);
      dlg.showModal();
      $('confirm-cancel').focus();
    });
  }

  // report shows an error in a box, unless the person cancelled.
  function report(box, err) {
    if (err.code === 'cancelled' || err.code === 'unauthorized') return;
    showError(box, err);
  }

  // ---- loading ----

  async function load() {
    try {
      const [m, s, e] = await Promise.all([
        api('GET', '/v1/me'), api('GET', '/v1/me/sessions'), api('GET', '/v1/me/events'),
      ]);
      me = m;
      renderMe();
      renderSessions(s.sessions || []);
      events = e.events || [];
      renderEvents();
    } catch (err) {
      if (err.code === 'unauthorized') { signedOut(); return; }
      show($('banner'), 'error', 'The settings could not be loaded: ' + errorText(err));
    }
  }

  // refresh reloads after a change; enabling the first method ends the
  // other sessions, which the page then says.
  async function refresh() {
    const before = me && me.two_factor.enabled;
    await load();
    if (me && !before && me.two_factor.enabled) {
      toast('Two-step authentication is on: every other session was signed out.');
    }
  }

  function pill(el, on, onText, offText) {
    el.textContent = on ? onText : offText;
    el.className = 'pill' + (on ? ' pill-on' : '');
  }

  function renderMe() {
    const tf = me.two_factor;
    $('who').textContent = me.email;
    $('pw-username').value = me.email;
    $('email-addr').textContent = me.email;
    pill($('tf-status'), tf.enabled, 'On', 'Off');
    // Turning on the first method ends the other sessions: worth saying
    // only while none is on.
    $('tf-attention').hidden = tf.enabled;
    renderRecoveryCodes();

    // Telegram
    const accounts = tf.telegram.accounts || [];
    pill($('tg-pill'), tf.telegram.enabled && accounts.length > 0, 'On', accounts.length ? 'Off' : 'Not linked');
    $('tg-toggle').hidden = accounts.length === 0;
    $('tg-toggle').textContent = tf.telegram.enabled ? 'Disable' : 'Enable';
    $('tg-toggle').classList.toggle('btn-danger', tf.telegram.enabled);
    $('tg-link').textContent = accounts.length ? 'Link another account' : 'Link an account';
    const list = $('tg-accounts');
    list.replaceChildren.apply(list, accounts.map(function (a) {
      return h('li', { class: 'subitem', 'data-account': a.id },
        h('img', { src: '/assets/i-telegram.svg', alt: '', width: 18, height: 18 }),
        h('div', { class: 'grow' },
          h('div', { class: 'name', text: a.username ? '@' + a.username : 'Telegram account' }),
          h('div', { class: 'small muted', text: 'Chat ' + a.chat_id + ' · linked ' + fmtDate(a.linked_at) })),
        h('button', { class: 'btn btn-sm btn-danger', type: 'button', text: 'Unlink', onclick: function () { unlinkTelegram(a, this); } }));
    }));
    list.hidden = accounts.length === 0;
    $('tg-panel').hidden = accounts.length === 0 && $('tg-linking').hidden;

    // GAuth
    pill($('totp-pill'), tf.totp.enabled, 'On', 'Off');
    $('totp-enable').hidden = tf.totp.enabled;
    $('totp-disable').hidden = !tf.totp.enabled;

    // Email
    pill($('email-pill'), tf.email.enabled, 'On', 'Off');
    $('email-enable').hidden = tf.email.enabled;
    $('email-disable').hidden = !tf.email.enabled;

    // WebAuthn
    const devices = tf.webauthn.devices || [];
    $('wa-pill').textContent = devices.length ? plural(devices.length, 'device', 'devices') : 'Off';
    $('wa-pill').className = 'pill' + (devices.length ? ' pill-on' : '');
    const dl = $('wa-devices');
    dl.replaceChildren.apply(dl, devices.map(function (d) {
      const sw = h('input', { type: 'checkbox', role: 'switch', 'aria-label': 'Log in without password with ' + d.name, checked: d.passwordless });
      sw.addEventListener('change', function () { setPasswordless(d, sw); });
      return h('li', { class: 'subitem', 'data-device': d.id },
        h('img', { src: '/assets/i-key.svg', alt: '', width: 18, height: 18 }),
        h('div', { class: 'grow' },
          h('div', { class: 'name', text: d.name }),
          h('div', { class: 'small muted', text: 'Added ' + fmtDate(d.created_at) + ' · last used ' + ago(d.last_used_at) })),
        h('label', { class: 'switch' }, sw, h('span', { text: 'Log in without password' })),
        h('button', { class: 'btn btn-sm btn-danger', type: 'button', text: 'Delete', onclick: function () { deleteDevice(d, this); } }));
    }));
    if (!devices.length) dl.append(h('li', { class: 'empty', text: 'No passkeys yet. Name the device that will keep the passkey and press “Add”.' }));

    // Phones
    const phones = me.phones || [];
    const pl = $('phones');
    pl.replaceChildren.apply(pl, phones.map(function (p) {
      return h('li', { class: 'row', 'data-phone': p.id },
        h('span', { class: 'r-icon' }, h('img', { src: '/assets/i-phone.svg', alt: '', width: 22, height: 22 })),
        h('div', { class: 'r-main' },
          h('div', { class: 'r-title' }, h('span', { class: 'mono', text: p.number_masked }),
            h('span', { class: 'pill' + (p.verified ? ' pill-on' : ' pill-warn'), text: p.verified ? 'Verified' : 'Not verified' })),
          h('div', { class: 'r-sub', text: p.kind === 'ukrainian'
            ? 'Ukrainian number: a call where a robot dictates 4 digits, or an SMS'
            : 'Foreign number: a call whose last 4 digits are the code, or an SMS' })),
        h('div', { class: 'r-actions' },
          h('button', { class: 'btn btn-sm btn-danger', type: 'button', text: 'Delete', onclick: function () { deletePhone(p, this); } })));
    }));
    if (!phones.length) pl.append(h('li', { class: 'row empty', text: 'No phones yet.' }));

    // Bank cards
    const cards = me.bank_cards || [];
    const cl = $('cards');
    cl.replaceChildren.apply(cl, cards.map(function (c) {
      return h('li', { class: 'row', 'data-card': c.id },
        h('span', { class: 'r-icon' }, h('img', { src: '/assets/i-card.svg', alt: '', width: 22, height: 22 })),
        h('div', { class: 'r-main' },
          h('div', { class: 'r-title' }, h('span', { text: brand(c.brand) + ' •••• ' + c.last4 }),
            h('span', { class: 'pill' + (c.linked ? ' pill-on' : ''), text: c.linked ? 'Linked' : 'Unlinked' }))));
    }));
    if (!cards.length) cl.append(h('li', { class: 'row empty', text: 'No bank cards.' }));
  }

  function brand(b) {
    const known = { visa: 'Visa', mastercard: 'Mastercard', amex: 'American Express', maestro: 'Maestro' };
    return known[String(b).toLowerCase()] || b;
  }

  // ---- Telegram ----

  let tgFlow = null, tgTimer = null, tgStop = null;

  function stopTelegram() {
    if (tgTimer) clearTimeout(tgTimer);
    if (tgStop) tgStop();
    tgFlow = null; tgTimer = null; tgStop = null;
    $('tg-linking').hidden = true;
    if (me) renderMe();
  }

  $('tg-link').addEventListener('click', function () {
    const box = $('tg-msg');
    show(box, '', '');
    busy(this, async function () {
      try {
        const r = await change('POST', '/v1/me/enrollments', { method: 'telegram' });
        tgFlow = r.flow_id;
        $('tg-deeplink').href = r.telegram.link;
        $('tg-deeplink-text').textContent = r.telegram.link;
        $('tg-deeplink').dataset.token = r.telegram.token;
        if (dev) $('tg-dev-chat').value = String(100000000 + Math.floor(Math.random() * 800000000));
        $('tg-linking').hidden = false;
        $('tg-panel').hidden = false;
        tgStop = countdown([$('tg-expires')], r.expires_at, 'expires in', function () {
          stopTelegram();
          show(box, 'error', 'The link expired. Press “Link an account” to get a new one.');
        });
        pollTelegram();
      } catch (err) {
        $('tg-panel').hidden = false;
        report(box, err);
      }
    });
  });

  function pollTelegram() {
    tgTimer = setTimeout(async function () {
      const id = tgFlow;
      if (!id) return;
      let r;
      try {
        r = await api('GET', '/v1/me/enrollments/' + id);
      } catch (err) {
        if (err.code === 'unauthorized') return signedOut();
        if (err.code === 'flow_expired' || err.code === 'flow_not_found') {
          stopTelegram();
          show($('tg-msg'), 'error', 'The link expired. Press “Link an account” to get a new one.');
          return;
        }
        pollTelegram();
        return;
      }
      if (id !== tgFlow) return;
      if (r.state === 'done') {
        stopTelegram();
        show($('tg-msg'), '', '');
        const a = r.telegram_account;
        toast('Telegram account ' + (a && a.username ? '@' + a.username + ' ' : '') + 'linked.');
        await refresh();
        return;
      }
      if (r.state === 'failed' || r.state === 'expired') {
        stopTelegram();
        show($('tg-msg'), 'error', r.state === 'expired' ? 'The link expired. Press “Link an account” to get a new one.' : 'Linking failed. Try again.');
        return;
      }
      pollTelegram();
    }, 1500);
  }

  $('tg-cancel').addEventListener('click', stopTelegram);

  if (dev) {
    $('tg-dev-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      busy($('tg-dev-start'), async function () {
        try {
          const r = await api('POST', '/dev/telegram/start', {
            chat_id: parseInt($('tg-dev-chat').value, 10), username: $('tg-dev-user').value.trim(),
            token: $('tg-deeplink').dataset.token,
          });
          show($('tg-msg'), 'info', 'The bot answered: ' + r.answer);
        } catch (err) {
          report($('tg-msg'), err);
        }
      });
    });
  }

  $('tg-toggle').addEventListener('click', function () {
    const on = !me.two_factor.telegram.enabled;
    const btn = this;
    (async function () {
      if (!on && !(await confirmDialog('Disable Telegram?', 'Logins will no longer be confirmed in Telegram. Your Telegram accounts stay linked for notices.', 'Disable'))) return;
      await busy(btn, async function () {
        try {
          await change('PUT', '/v1/me/factors/telegram', { enabled: on });
          toast(on ? 'Telegram confirmation is on.' : 'Telegram confirmation is off.');
          await refresh();
        } catch (err) { $('tg-panel').hidden = false; report($('tg-msg'), err); }
      });
    })();
  });

  async function unlinkTelegram(a, btn) {
    if (!(await confirmDialog('Unlink this Telegram account?', (a.username ? '@' + a.username : 'The account') + ' will no longer get login messages or notices.', 'Unlink'))) return;
    await busy(btn, async function () {
      try {
        await change('DELETE', '/v1/me/telegram-accounts/' + encodeURIComponent(a.id));
        toast('Telegram account unlinked.');
        await refresh();
      } catch (err) { report($('tg-msg'), err); }
    });
  }

  // ---- code enrollments: GAuth, email, phone ----

  // codeEnrollment wires one "start, then confirm with a code" method.
  function codeEnrollment(o) {
    let flow = null, stop = null;
    const box = $(o.msg);
    function close() {
      flow = null;
      if (stop) stop();
      stop = null;
      o.hide();
      $(o.expires).textContent = '';
    }
    AF.digitsOnly($(o.code), 6);
    document.querySelector('[data-cancel="' + o.name + '"]').addEventListener('click', function () { close(); show(box, '', ''); });
    $(o.form).addEventListener('submit', function (ev) {
      ev.preventDefault();
      const code = $(o.code).value;
      if (code.length !== 6) {
        $(o.code).setAttribute('aria-invalid', 'true');
        show(box, 'error', 'Enter all 6 digits.');
        return;
      }
      busy($(o.confirm), async function () {
        try {
          const r = await change('POST', '/v1/me/enrollments/' + flow + '/confirm', { code: code });
          close();
          show(box, '', '');
          toast(o.done(r));
          await refresh();
        } catch (err) {
          $(o.code).value = '';
          if (err.code === 'invalid_code' && err.data.attempts_left === 0 || err.code === 'wrong_state' || err.code === 'flow_expired') {
            close();
            show(o.startBox ? $(o.startBox) : box, 'error', err.code === 'flow_expired' ? 'The code expired. Start again.' : 'Too many wrong codes. Start again.');
            return;
          }
          report(box, err);
          $(o.code).focus();
        }
      });
    });
    return {
      start: async function (body, btn) {
        show(box, '', '');
        if (o.startBox) show($(o.startBox), '', '');
        await busy(btn, async function () {
          try {
            const r = await change('POST', '/v1/me/enrollments', body);
            flow = r.flow_id;
            $(o.code).value = '';
            o.show(r);
            if (stop) stop();
            stop = countdown([$(o.expires)], r.expires_at, 'The code expires in', function () {
              close();
              show(o.startBox ? $(o.startBox) : box, 'error', 'The code expired. Start again.');
            });
            $(o.code).focus();
          } catch (err) {
            report(o.startBox ? $(o.startBox) : box, err);
            if (!o.startBox) o.showError();
          }
        });
      },
    };
  }

  const totp = codeEnrollment({
    name: 'totp', msg: 'totp-msg', form: 'totp-form', code: 'totp-code', confirm: 'totp-confirm', expires: 'totp-expires',
    show: function (r) {
      $('totp-qr').src = 'data:image/png;base64,' + r.totp.qr_png_base64;
      $('totp-secret').textContent = r.totp.secret.replace(/(.{4})/g, '$1 ').trim();
      $('totp-panel').hidden = false;
      $('totp-enable').hidden = true;
    },
    hide: function () {
      $('totp-panel').hidden = true;
      $('totp-qr').removeAttribute('src');
      $('totp-secret').textContent = '';
      $('totp-enable').hidden = !!(me && me.two_factor.totp.enabled);
    },
    showError: function () { $('totp-panel').hidden = false; },
    done: function () { return 'GAuth is on. Keep the secret key somewhere only you can reach, or delete it.'; },
  });
  $('totp-enable').addEventListener('click', function () { totp.start({ method: 'totp' }, this); });

  const email = codeEnrollment({
    name: 'email', msg: 'email-msg', form: 'email-form', code: 'email-code', confirm: 'email-confirm', expires: 'email-expires',
    show: function () { $('email-panel').hidden = false; $('email-enable').hidden = true; },
    hide: function () { $('email-panel').hidden = true; $('email-enable').hidden = !!(me && me.two_factor.email.enabled); },
    showError: function () { $('email-panel').hidden = false; },
    done: function () { return 'Email confirmation is on.'; },
  });
  $('email-enable').addEventListener('click', function () { email.start({ method: 'email' }, this); });

  const phone = codeEnrollment({
    name: 'phone', msg: 'phone-msg', startBox: 'phone-msg', form: 'phone-verify', code: 'phone-code', confirm: 'phone-confirm', expires: 'phone-expires',
    show: function () {
      $('phone-sent').textContent = 'We sent an SMS with a 6-digit code to ' + $('phone-number').value.trim() + '.';
      $('phone-form').hidden = true;
      $('phone-verify').hidden = false;
    },
    hide: function () { $('phone-form').hidden = false; $('phone-verify').hidden = true; },
    showError: function () {},
    done: function (r) {
      $('phone-number').value = '';
      return 'Phone ' + (r.phone ? r.phone.number_masked + ' ' : '') + 'verified.';
    },
  });
  $('phone-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    const n = $('phone-number').value.replace(/[\s()-]/g, '');
    if (!/^\+\d{8,15}$/.test(n)) {
      $('phone-number').setAttribute('aria-invalid', 'true');
      show($('phone-msg'), 'error', 'Enter the number in international format, starting with + and the country code.');
      return;
    }
    $('phone-number').removeAttribute('aria-invalid');
    phone.start({ method: 'phone', number: n }, $('phone-add'));
  });

  async function disableFactor(path, title, text, done, box, btn) {
    if (!(await confirmDialog(title, text, 'Disable'))) return;
    await busy(btn, async function () {
      try {
        await change('DELETE', path);
        toast(done);
        await refresh();
      } catch (err) { report(box, err); }
    });
  }
  $('totp-disable').addEventListener('click', function () {
    disableFactor('/v1/me/factors/totp', 'Disable GAuth?', 'The secret key is destroyed. To use an app again you will scan a new QR code.', 'GAuth is off.', $('totp-msg'), this)
      .then(function () { if (!$('totp-msg').hidden) $('totp-panel').hidden = false; });
  });
  $('email-disable').addEventListener('click', function () {
    disableFactor('/v1/me/factors/email', 'Disable email confirmation?', 'Logins will no longer be confirmed with a code sent by email.', 'Email confirmation is off.', $('email-msg'), this)
      .then(function () { if (!$('email-msg').hidden) $('email-panel').hidden = false; });
  });

  // ---- recovery codes ----

  function renderRecoveryCodes() {
    const n = (me.recovery_codes || {}).remaining || 0;
    pill($('rc-pill'), n > 0, plural(n, 'code', 'codes') + ' left', 'None');
    $('row-rc').hidden = !me.two_factor.enabled && n === 0;
  }
  let shownCodes = [];
  $('rc-new').addEventListener('click', async function () {
    const had = (me.recovery_codes || {}).remaining || 0;
    if (had > 0 && !(await confirmDialog('Make new recovery codes?', 'Your ' + plural(had, 'unused code', 'unused codes') + ' will stop working.', 'Make new codes'))) return;
    const btn = this;
    await busy(btn, async function () {
      try {
        const r = await change('POST', '/v1/me/recovery-codes', {});
        shownCodes = r.codes;
        const list = $('rc-codes');
        list.replaceChildren.apply(list, r.codes.map(function (c) { return h('li', { class: 'mono', text: c }); }));
        $('rc-panel').hidden = false;
        $('rc-show').hidden = false;
        $('rc-msg').hidden = true;
        await refresh();
      } catch (err) { $('rc-panel').hidden = false; report($('rc-msg'), err); }
    });
  });
  $('rc-copy').addEventListener('click', async function () {
    try {
      await navigator.clipboard.writeText(shownCodes.join('\n'));
      toast('Copied.');
    } catch (err) { toast('Copying was refused: select the codes and copy them.'); }
  });
  $('rc-download').addEventListener('click', function () {
    const text = 'authflow recovery codes for ' + me.email + '\nEach code works once.\n\n' + shownCodes.join('\n') + '\n';
    const a = h('a', { href: URL.createObjectURL(new Blob([text], { type: 'text/plain' })), download: 'authflow-recovery-codes.txt' });
    document.body.appendChild(a);
    a.click();
    a.remove();
  });
  $('rc-done').addEventListener('click', function () {
    shownCodes = [];
    $('rc-codes').replaceChildren();
    $('rc-show').hidden = true;
    $('rc-panel').hidden = true;
  });

  async function deletePhone(p, btn) {
    if (!(await confirmDialog('Delete ' + p.number_masked + '?', 'The phone can no longer confirm a login.', 'Delete'))) return;
    await busy(btn, async function () {
      try {
        await change('DELETE', '/v1/me/phones/' + encodeURIComponent(p.id));
        toast('Phone deleted.');
        await refresh();
      } catch (err) { report($('phone-msg'), err); }
    });
  }

  // ---- WebAuthn ----

  $('wa-configure').addEventListener('click', function () {
    const open = $('wa-panel').hidden;
    $('wa-panel').hidden = !open;
    this.setAttribute('aria-expanded', String(open));
    this.textContent = open ? 'Close' : 'Configure';
    if (open) $('wa-name').focus();
  });

  $('wa-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    const box = $('wa-msg');
    const name = $('wa-name').value.trim();
    if (!name) {
      $('wa-name').setAttribute('aria-invalid', 'true');
      show(box, 'error', 'Name the device that will keep the passkey, e.g. “Work laptop”.');
      return;
    }
    $('wa-name').removeAttribute('aria-invalid');
    if (!AF.webauthnSupported()) {
      show(box, 'error', 'This browser does not support passkeys.');
      return;
    }
    show(box, '', '');
    busy($('wa-add'), async function () {
      let r;
      try {
        r = await change('POST', '/v1/me/enrollments', { method: 'webauthn', name: name });
      } catch (err) { report(box, err); return; }
      show(box, 'info', 'Follow your browser’s prompt to save the passkey.');
      let cred;
      try {
        cred = await navigator.credentials.create(AF.creationOptions(r.webauthn));
      } catch (e) {
        show(box, 'error', AF.passkeyError(e));
        return;
      }
      try {
        const done = await change('POST', '/v1/me/enrollments/' + r.flow_id + '/confirm', { credential: AF.credentialJSON(cred) });
        show(box, '', '');
        $('wa-name').value = '';
        toast('Passkey “' + (done.device ? done.device.name : name) + '” added.');
        await refresh();
      } catch (err) {
        // A confirmation's wrong answer is invalid_code (docs/api.md), here a
        // passkey the server did not accept, not a mistyped code.
        if (err.code === 'invalid_code') show(box, 'error', 'The passkey was not accepted. Try adding it again.');
        else report(box, err);
      }
    });
  });

  async function setPasswordless(d, sw) {
    const on = sw.checked;
    sw.disabled = true;
    try {
      await change('PATCH', '/v1/me/webauthn/' + encodeURIComponent(d.id), { passwordless: on });
      toast(on ? '“' + d.name + '” can now sign in without a password.' : '“' + d.name + '” can no longer sign in without a password.');
      await refresh();
    } catch (err) {
      sw.checked = !on;
      report($('wa-msg'), err);
    } finally {
      sw.disabled = false;
    }
  }

  async function deleteDevice(d, btn) {
    if (!(await confirmDialog('Delete “' + d.name + '”?', 'This passkey will no longer confirm logins. Remove it from the device or password manager too.', 'Delete'))) return;
    await busy(btn, async function () {
      try {
        await change('DELETE', '/v1/me/webauthn/' + encodeURIComponent(d.id));
        toast('Passkey deleted.');
        await refresh();
      } catch (err) { report($('wa-msg'), err); }
    });
  }

  // ---- sessions ----

  function device(ua) {
    if (!ua) return 'Unknown device';
    let b = 'Browser';
    if (/Edg\//.test(ua)) b = 'Edge';
    else if (/OPR\//.test(ua)) b = 'Opera';
    else if (/HeadlessChrome/.test(ua)) b = 'Headless Chrome';
    else if (/Chrom(e|ium)\//.test(ua)) b = 'Chrome';
    else if (/Firefox\//.test(ua)) b = 'Firefox';
    else if (/Safari\//.test(ua)) b = 'Safari';
    else return ua.length > 60 ? ua.slice(0, 57) + '…' : ua;
    let os = '';
    if (/Windows/.test(ua)) os = 'Windows';
    else if (/iPhone|iPad/.test(ua)) os = 'iOS';
    else if (/Mac OS X/.test(ua)) os = 'macOS';
    else if (/Android/.test(ua)) os = 'Android';
    else if (/CrOS/.test(ua)) os = 'ChromeOS';
    else if (/Linux/.test(ua)) os = 'Linux';
    return os ? b + ' on ' + os : b;
  }

  function renderSessions(list) {
    const ul = $('sessions');
    list.sort(function (a, b) { return (b.current - a.current) || (new Date(b.last_seen_at) - new Date(a.last_seen_at)); });
    ul.replaceChildren.apply(ul, list.map(function (s) {
      return h('li', { class: 'row', 'data-session': s.id, 'data-current': s.current ? '1' : null },
        h('span', { class: 'r-icon' }, h('img', { src: '/assets/i-monitor.svg', alt: '', width: 22, height: 22 })),
        h('div', { class: 'r-main' },
          h('div', { class: 'r-title' }, h('span', { text: device(s.user_agent) }), s.current ? h('span', { class: 'pill pill-blue', text: 'This session' }) : null),
          h('div', { class: 'r-sub', text: (s.ip ? 'IP ' + s.ip + ' · ' : '') + 'signed in ' + fmtDate(s.created_at) + ' · active ' + ago(s.last_seen_at) })),
        s.current ? null : h('div', { class: 'r-actions' },
          h('button', { class: 'btn btn-sm', type: 'button', text: 'End', onclick: function () { endSession(s, this); } })));
    }));
    $('end-others').disabled = list.filter(function (s) { return !s.current; }).length === 0;
  }

  async function endSession(s, btn) {
    await busy(btn, async function () {
      try {
        await change('DELETE', '/v1/me/sessions/' + encodeURIComponent(s.id));
        toast('Session ended.');
        await load();
      } catch (err) { report($('sess-msg'), err); }
    });
  }

  $('end-others').addEventListener('click', async function () {
    const btn = this;
    if (!(await confirmDialog('End all other sessions?', 'Every other browser and app signed in to your account will be signed out. This one stays.', 'End sessions'))) return;
    await busy(btn, async function () {
      try {
        await change('DELETE', '/v1/me/sessions');
        show($('sess-msg'), 'ok', 'Every other session was ended.');
        await load();
      } catch (err) { report($('sess-msg'), err); }
    });
  });

  // ---- password ----

  $('pw-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    const box = $('pw-msg');
    const cur = $('pw-current').value, nw = $('pw-new').value, rep = $('pw-repeat').value;
    if (!cur || !nw) { show(box, 'error', 'Enter the current and the new password.'); return; }
    if (nw.length < 8) { show(box, 'error', 'The new password must have at least 8 characters.'); $('pw-new').focus(); return; }
    if (nw !== rep) { show(box, 'error', 'The new passwords do not match.'); $('pw-repeat').focus(); return; }
    busy($('pw-submit'), async function () {
      try {
        await api('POST', '/v1/me/password', { current_password: cur, new_password: nw });
        $('pw-form').reset();
        show(box, 'ok', 'The password was changed and every other session ended.');
        await load();
      } catch (err) {
        if (err.code === 'unauthorized') return signedOut();
        if (err.code === 'invalid_credentials') { $('pw-current').value = ''; $('pw-current').focus(); }
        showError(box, err);
      }
    });
  });

  // ---- events ----

  const EVENT = {
    login_succeeded: 'Signed in',
    login_failed: 'Failed sign-in',
    second_factor_failed: 'Wrong second-step answer',
    totp_replay_rejected: 'Reused app code rejected',
    login_denied_by_user: 'Login denied in Telegram',
    rate_limited: 'Too many attempts: paused',
    factor_enabled: '2FA method enabled',
    factor_disabled: '2FA method disabled',
    device_added: 'Passkey added',
    device_removed: 'Passkey removed',
    phone_added: 'Phone added',
    phone_removed: 'Phone removed',
    telegram_linked: 'Telegram account linked',
    telegram_unlinked: 'Telegram account unlinked',
    two_factor_downgraded: '2FA turned off by a phone login',
    bank_cards_unlinked: 'Bank cards unlinked',
    sessions_ended: 'Sessions ended',
    password_changed: 'Password changed',
    recovery_codes_created: 'New recovery codes',
    account_unlocked: 'Sign-in unlocked',
  };
  const BAD = ['login_failed', 'second_factor_failed', 'totp_replay_rejected', 'login_denied_by_user', 'rate_limited', 'two_factor_downgraded', 'bank_cards_unlinked'];
  const METHOD = { telegram: 'Telegram', totp: 'GAuth', email: 'Email', webauthn: 'Passkey', call: 'Call', sms: 'SMS', password: 'Password', passwordless: 'Passwordless passkey', phone: 'Phone', recovery_code: 'Recovery code' };
  const REASON = { wrong_current_password: 'wrong current password', password_changed: 'password changed', user: 'by you', two_factor_enabled: '2FA turned on' };

  function detailText(e) {
    const d = e.detail || {};
    const parts = [];
    if (d.method) parts.push(METHOD[d.method] || d.method);
    if (d.name) parts.push('“' + d.name + '”');
    if (d.username) parts.push('@' + d.username);
    if (d.number_masked) parts.push(d.number_masked);
    if (typeof d.count === 'number') {
      const unit = { bank_cards_unlinked: ['card', 'cards'], recovery_codes_created: ['code', 'codes'] }[e.type] || ['session', 'sessions'];
      parts.push(plural(d.count, unit[0], unit[1]));
    }
    if (d.reason) parts.push(REASON[d.reason] || String(d.reason).replace(/_/g, ' '));
    return parts.join(' · ');
  }

  function renderEvents() {
    const tb = $('events');
    const shown = showAllEvents ? events : events.slice(0, 12);
    tb.replaceChildren.apply(tb, shown.map(function (e) {
      return h('tr', { 'data-event': e.type },
        h('td', { class: BAD.indexOf(e.type) >= 0 ? 'ev-bad' : null, text: EVENT[e.type] || e.type }),
        h('td', { class: 'when', text: fmtDate(e.at) }),
        h('td', { class: 'mono small', text: e.ip || '' }),
        h('td', { class: 'muted', text: detailText(e) }));
    }));
    if (!events.length) tb.append(h('tr', null, h('td', { colspan: 4, class: 'muted', text: 'Nothing yet.' })));
    $('events-more').hidden = events.length <= 12;
    $('events-more').textContent = showAllEvents ? 'Show fewer' : 'Show all ' + events.length;
  }
  $('events-more').addEventListener('click', function () { showAllEvents = !showAllEvents; renderEvents(); });

  // ---- sign out ----

  $('logout').addEventListener('click', function () {
    busy(this, async function () {
      try { await api('POST', '/v1/logout'); } catch (e) { /* signed out either way */ }
      window.location.assign('/login');
    });
  });

  // A phone login just turned 2FA off: say so once.
  try {
    const d = JSON.parse(sessionStorage.getItem('authflow.downgrade') || 'null');
    sessionStorage.removeItem('authflow.downgrade');
    if (d) {
      show($('banner'), 'warn', 'You signed in with your phone, so two-step authentication has been turned off' +
        (d.bank_cards_unlinked ? ' and ' + plural(d.bank_cards_unlinked, 'linked bank card was', 'linked bank cards were') + ' unlinked' : '') +
        '. Set up two-step authentication again below.');
    }
  } catch (e) { /* storage unavailable */ }

  load();
})();
