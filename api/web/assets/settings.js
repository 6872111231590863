// The "Security" page: two-step authentication, phones, sessions,
// password, bank cards and events. Every call is docs/api.md
// "Self-service" with the cookie session and X-CSRF-Token.
'use strict';

(function () {
  const AF = window.AF;
  const { api, h, $, show, showError, busy, countdown, errorText, fmtDate, ago, t, tn } = AF;
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
        const e = new AF.ApiError(0, { error: { code: 'cancelled', message: t('page.js.s.cancelled') } });
        reject(e);
      }
      async function onSubmit(ev) {
        ev.preventDefault();
        if (!input.value) { show(box, 'error', t('page.js.s.enter_current')); return; }
        await busy($('reauth-submit'), async function () {
          try {
            const r = await retry(input.value);
            done();
            resolve(r);
          } catch (err) {
            if (err.code === 'invalid_credentials') {
              input.value = '';
              show(box, 'error', t('page.js.err.invalid_credentials.current'));
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
      $('confirm-ok').textContent = ok || t('page.js.s.confirm');
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
      show($('banner'), 'error', t('page.js.s.load_failed', { Error: errorText(err) }));
    }
  }

  // refresh reloads after a change; enabling the first method ends the
  // other sessions, which the page then says.
  async function refresh() {
    const before = me && me.two_factor.enabled;
    await load();
    if (me && !before && me.two_factor.enabled) {
      toast(t('page.js.s.2fa_on_sessions'));
    }
  }

  // pill says on or off (offText instead of "Off" where given).
  function pill(el, on, offText) {
    el.textContent = on ? t('page.js.s.on') : offText || t('page.js.s.off');
    el.className = 'pill' + (on ? ' pill-on' : '');
  }

  function renderMe() {
    const tf = me.two_factor;
    $('who').textContent = me.email;
    $('pw-username').value = me.email;
    $('email-addr').textContent = me.email;
    pill($('tf-status'), tf.enabled);
    // Turning on the first method ends the other sessions: worth saying
    // only while none is on.
    $('tf-attention').hidden = tf.enabled;
    renderRecoveryCodes();

    // Telegram
    const accounts = tf.telegram.accounts || [];
    pill($('tg-pill'), tf.telegram.enabled && accounts.length > 0, accounts.length ? '' : t('page.js.s.not_linked'));
    $('tg-toggle').hidden = accounts.length === 0;
    $('tg-toggle').textContent = t(tf.telegram.enabled ? 'page.js.s.disable' : 'page.js.s.enable');
    $('tg-toggle').classList.toggle('btn-danger', tf.telegram.enabled);
    $('tg-link').textContent = t(accounts.length ? 'page.js.s.tg.link_another' : 'page.js.s.tg.link');
    const list = $('tg-accounts');
    list.replaceChildren.apply(list, accounts.map(function (a) {
      return h('li', { class: 'subitem', 'data-account': a.id },
        h('img', { src: '/assets/i-telegram.svg', alt: '', width: 18, height: 18 }),
        h('div', { class: 'grow' },
          h('div', { class: 'name', text: a.username ? '@' + a.username : t('page.js.s.tg.account') }),
          h('div', { class: 'small muted', text: t('page.js.s.tg.chat', { Chat: a.chat_id, At: fmtDate(a.linked_at) }) })),
        h('button', { class: 'btn btn-sm btn-danger', type: 'button', text: t('page.js.s.unlink'), onclick: function () { unlinkTelegram(a, this); } }));
    }));
    list.hidden = accounts.length === 0;
    $('tg-panel').hidden = accounts.length === 0 && $('tg-linking').hidden;

    // GAuth
    pill($('totp-pill'), tf.totp.enabled);
    $('totp-enable').hidden = tf.totp.enabled;
    $('totp-disable').hidden = !tf.totp.enabled;

    // Email
    pill($('email-pill'), tf.email.enabled);
    $('email-enable').hidden = tf.email.enabled;
    $('email-disable').hidden = !tf.email.enabled;

    // WebAuthn
    const devices = tf.webauthn.devices || [];
    $('wa-pill').textContent = devices.length ? tn('page.js.s.devices', devices.length) : t('page.js.s.off');
    $('wa-pill').className = 'pill' + (devices.length ? ' pill-on' : '');
    const dl = $('wa-devices');
    dl.replaceChildren.apply(dl, devices.map(function (d) {
      const sw = h('input', { type: 'checkbox', role: 'switch', 'aria-label': t('page.js.s.wa.passwordless_for', { Name: d.name }), checked: d.passwordless });
      sw.addEventListener('change', function () { setPasswordless(d, sw); });
      return h('li', { class: 'subitem', 'data-device': d.id },
        h('img', { src: '/assets/i-key.svg', alt: '', width: 18, height: 18 }),
        h('div', { class: 'grow' },
          h('div', { class: 'name', text: d.name }),
          h('div', { class: 'small muted', text: t('page.js.s.wa.added', { At: fmtDate(d.created_at), Used: ago(d.last_used_at) }) })),
        h('label', { class: 'switch' }, sw, h('span', { text: t('page.js.s.wa.passwordless') })),
        h('button', { class: 'btn btn-sm btn-danger', type: 'button', text: t('page.js.s.delete'), onclick: function () { deleteDevice(d, this); } }));
    }));
    if (!devices.length) dl.append(h('li', { class: 'empty', text: t('page.js.s.wa.none') }));

    // Phones
    const phones = me.phones || [];
    const pl = $('phones');
    pl.replaceChildren.apply(pl, phones.map(function (p) {
      return h('li', { class: 'row', 'data-phone': p.id },
        h('span', { class: 'r-icon' }, h('img', { src: '/assets/i-phone.svg', alt: '', width: 22, height: 22 })),
        h('div', { class: 'r-main' },
          h('div', { class: 'r-title' }, h('span', { class: 'mono', text: p.number_masked }),
            h('span', { class: 'pill' + (p.verified ? ' pill-on' : ' pill-warn'), text: t(p.verified ? 'page.js.s.phone.verified' : 'page.js.s.phone.unverified') })),
          h('div', { class: 'r-sub', text: t(p.kind === 'ukrainian' ? 'page.js.s.phone.ukrainian' : 'page.js.s.phone.foreign') })),
        h('div', { class: 'r-actions' },
          h('button', { class: 'btn btn-sm btn-danger', type: 'button', text: t('page.js.s.delete'), onclick: function () { deletePhone(p, this); } })));
    }));
    if (!phones.length) pl.append(h('li', { class: 'row empty', text: t('page.js.s.phone.none') }));

    // Bank cards
    const cards = me.bank_cards || [];
    const cl = $('cards');
    cl.replaceChildren.apply(cl, cards.map(function (c) {
      return h('li', { class: 'row', 'data-card': c.id },
        h('span', { class: 'r-icon' }, h('img', { src: '/assets/i-card.svg', alt: '', width: 22, height: 22 })),
        h('div', { class: 'r-main' },
          h('div', { class: 'r-title' }, h('span', { text: brand(c.brand) + ' •••• ' + c.last4 }),
            h('span', { class: 'pill' + (c.linked ? ' pill-on' : ''), text: t(c.linked ? 'page.js.s.card.linked' : 'page.js.s.card.unlinked') }))));
    }));
    if (!cards.length) cl.append(h('li', { class: 'row empty', text: t('page.js.s.card.none') }));
  }

  function brand(b) {
    const brands = { visa: 'Visa', mastercard: 'Mastercard', amex: 'American Express', maestro: 'Maestro' };
    return brands[String(b).toLowerCase()] || b;
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
        tgStop = countdown([$('tg-expires')], r.expires_at, 'page.js.s.tg.expires_in', function () {
          stopTelegram();
          show(box, 'error', t('page.js.s.tg.link_expired'));
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
          show($('tg-msg'), 'error', t('page.js.s.tg.link_expired'));
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
        toast(a && a.username ? t('page.js.s.tg.linked_as', { Username: a.username }) : t('page.js.s.tg.linked'));
        await refresh();
        return;
      }
      if (r.state === 'failed' || r.state === 'expired') {
        stopTelegram();
        show($('tg-msg'), 'error', t(r.state === 'expired' ? 'page.js.s.tg.link_expired' : 'page.js.s.tg.link_failed'));
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
          show($('tg-msg'), 'info', t('page.js.s.tg.bot_answered', { Answer: r.answer }));
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
      if (!on && !(await confirmDialog(t('page.js.s.tg.disable.title'), t('page.js.s.tg.disable.text'), t('page.js.s.disable')))) return;
      await busy(btn, async function () {
        try {
          await change('PUT', '/v1/me/factors/telegram', { enabled: on });
          toast(t(on ? 'page.js.s.tg.on' : 'page.js.s.tg.off'));
          await refresh();
        } catch (err) { $('tg-panel').hidden = false; report($('tg-msg'), err); }
      });
    })();
  });

  async function unlinkTelegram(a, btn) {
    if (!(await confirmDialog(t('page.js.s.tg.unlink.title'), a.username ? t('page.js.s.tg.unlink.text_as', { Username: a.username }) : t('page.js.s.tg.unlink.text'), t('page.js.s.unlink')))) return;
    await busy(btn, async function () {
      try {
        await change('DELETE', '/v1/me/telegram-accounts/' + encodeURIComponent(a.id));
        toast(t('page.js.s.tg.unlinked'));
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
        show(box, 'error', tn('page.js.code.all_digits', 6));
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
            show(o.startBox ? $(o.startBox) : box, 'error', t(err.code === 'flow_expired' ? 'page.js.s.code.expired' : 'page.js.s.code.too_many'));
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
            stop = countdown([$(o.expires)], r.expires_at, 'page.js.s.code.expires_in', function () {
              close();
              show(o.startBox ? $(o.startBox) : box, 'error', t('page.js.s.code.expired'));
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
    done: function () { return t('page.js.s.totp.on'); },
  });
  $('totp-enable').addEventListener('click', function () { totp.start({ method: 'totp' }, this); });

  const email = codeEnrollment({
    name: 'email', msg: 'email-msg', form: 'email-form', code: 'email-code', confirm: 'email-confirm', expires: 'email-expires',
    show: function () { $('email-panel').hidden = false; $('email-enable').hidden = true; },
    hide: function () { $('email-panel').hidden = true; $('email-enable').hidden = !!(me && me.two_factor.email.enabled); },
    showError: function () { $('email-panel').hidden = false; },
    done: function () { return t('page.js.s.email.on'); },
  });
  $('email-enable').addEventListener('click', function () { email.start({ method: 'email' }, this); });

  const phone = codeEnrollment({
    name: 'phone', msg: 'phone-msg', startBox: 'phone-msg', form: 'phone-verify', code: 'phone-code', confirm: 'phone-confirm', expires: 'phone-expires',
    show: function () {
      $('phone-sent').textContent = t('page.js.s.phone.sent', { Number: $('phone-number').value.trim() });
      $('phone-form').hidden = true;
      $('phone-verify').hidden = false;
    },
    hide: function () { $('phone-form').hidden = false; $('phone-verify').hidden = true; },
    showError: function () {},
    done: function (r) {
      const typed = $('phone-number').value.trim();
      $('phone-number').value = '';
      return t('page.js.s.phone.verified_as', { Number: r.phone ? r.phone.number_masked : typed });
    },
  });
  $('phone-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    const n = $('phone-number').value.replace(/[\s()-]/g, '');
    if (!/^\+\d{8,15}$/.test(n)) {
      $('phone-number').setAttribute('aria-invalid', 'true');
      show($('phone-msg'), 'error', t('page.js.s.phone.format'));
      return;
    }
    $('phone-number').removeAttribute('aria-invalid');
    phone.start({ method: 'phone', number: n }, $('phone-add'));
  });

  async function disableFactor(path, title, text, done, box, btn) {
    if (!(await confirmDialog(title, text, t('page.js.s.disable')))) return;
    await busy(btn, async function () {
      try {
        await change('DELETE', path);
        toast(done);
        await refresh();
      } catch (err) { report(box, err); }
    });
  }
  $('totp-disable').addEventListener('click', function () {
    disableFactor('/v1/me/factors/totp', t('page.js.s.totp.disable.title'), t('page.js.s.totp.disable.text'), t('page.js.s.totp.off'), $('totp-msg'), this)
      .then(function () { if (!$('totp-msg').hidden) $('totp-panel').hidden = false; });
  });
  $('email-disable').addEventListener('click', function () {
    disableFactor('/v1/me/factors/email', t('page.js.s.email.disable.title'), t('page.js.s.email.disable.text'), t('page.js.s.email.off'), $('email-msg'), this)
      .then(function () { if (!$('email-msg').hidden) $('email-panel').hidden = false; });
  });

  // ---- recovery codes ----

  function renderRecoveryCodes() {
    const n = (me.recovery_codes || {}).remaining || 0;
    pill($('rc-pill'), n > 0, t('page.js.s.rc.none'));
    if (n > 0) $('rc-pill').textContent = tn('page.js.codes_left', n);
    $('row-rc').hidden = !me.two_factor.enabled && n === 0;
  }
  let shownCodes = [];
  $('rc-new').addEventListener('click', async function () {
    const had = (me.recovery_codes || {}).remaining || 0;
    if (had > 0 && !(await confirmDialog(t('page.js.s.rc.new.title'), tn('page.js.s.rc.new.text', had), t('page.js.s.rc.new.ok')))) return;
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
      toast(t('page.js.s.rc.copied'));
    } catch (err) { toast(t('page.js.s.rc.copy_refused')); }
  });
  $('rc-download').addEventListener('click', function () {
    const text = t('page.js.s.rc.file', { Email: me.email }) + '\n' + t('page.js.s.rc.file_once') + '\n\n' + shownCodes.join('\n') + '\n';
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
    if (!(await confirmDialog(t('page.js.s.phone.delete.title', { Number: p.number_masked }), t('page.js.s.phone.delete.text'), t('page.js.s.delete')))) return;
    await busy(btn, async function () {
      try {
        await change('DELETE', '/v1/me/phones/' + encodeURIComponent(p.id));
        toast(t('page.js.s.phone.deleted'));
        await refresh();
      } catch (err) { report($('phone-msg'), err); }
    });
  }

  // ---- WebAuthn ----

  $('wa-configure').addEventListener('click', function () {
    const open = $('wa-panel').hidden;
    $('wa-panel').hidden = !open;
    this.setAttribute('aria-expanded', String(open));
    this.textContent = t(open ? 'page.js.s.wa.close' : 'page.js.s.wa.configure');
    if (open) $('wa-name').focus();
  });

  $('wa-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    const box = $('wa-msg');
    const name = $('wa-name').value.trim();
    if (!name) {
      $('wa-name').setAttribute('aria-invalid', 'true');
      show(box, 'error', t('page.js.s.wa.name_needed'));
      return;
    }
    $('wa-name').removeAttribute('aria-invalid');
    if (!AF.webauthnSupported()) {
      show(box, 'error', t('page.js.s.wa.unsupported'));
      return;
    }
    show(box, '', '');
    busy($('wa-add'), async function () {
      let r;
      try {
        r = await change('POST', '/v1/me/enrollments', { method: 'webauthn', name: name });
      } catch (err) { report(box, err); return; }
      show(box, 'info', t('page.js.s.wa.follow'));
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
        toast(t('page.js.s.wa.added_toast', { Name: done.device ? done.device.name : name }));
        await refresh();
      } catch (err) {
        // A confirmation's wrong answer is invalid_code (docs/api.md), here a
        // passkey the server did not accept, not a mistyped code.
        if (err.code === 'invalid_code') show(box, 'error', t('page.js.s.wa.not_accepted'));
        else report(box, err);
      }
    });
  });

  async function setPasswordless(d, sw) {
    const on = sw.checked;
    sw.disabled = true;
    try {
      await change('PATCH', '/v1/me/webauthn/' + encodeURIComponent(d.id), { passwordless: on });
      toast(t(on ? 'page.js.s.wa.passwordless_on' : 'page.js.s.wa.passwordless_off', { Name: d.name }));
      await refresh();
    } catch (err) {
      sw.checked = !on;
      report($('wa-msg'), err);
    } finally {
      sw.disabled = false;
    }
  }

  async function deleteDevice(d, btn) {
    if (!(await confirmDialog(t('page.js.s.wa.delete.title', { Name: d.name }), t('page.js.s.wa.delete.text'), t('page.js.s.delete')))) return;
    await busy(btn, async function () {
      try {
        await change('DELETE', '/v1/me/webauthn/' + encodeURIComponent(d.id));
        toast(t('page.js.s.wa.deleted'));
        await refresh();
      } catch (err) { report($('wa-msg'), err); }
    });
  }

  // ---- sessions ----

  function device(ua) {
    if (!ua) return t('page.js.s.device.unknown');
    let b = t('page.js.s.device.browser');
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
    return os ? t('page.js.s.device.on', { Browser: b, OS: os }) : b;
  }

  function renderSessions(list) {
    const ul = $('sessions');
    list.sort(function (a, b) { return (b.current - a.current) || (new Date(b.last_seen_at) - new Date(a.last_seen_at)); });
    ul.replaceChildren.apply(ul, list.map(function (s) {
      return h('li', { class: 'row', 'data-session': s.id, 'data-current': s.current ? '1' : null },
        h('span', { class: 'r-icon' }, h('img', { src: '/assets/i-monitor.svg', alt: '', width: 22, height: 22 })),
        h('div', { class: 'r-main' },
          h('div', { class: 'r-title' }, h('span', { text: device(s.user_agent) }), s.current ? h('span', { class: 'pill pill-blue', text: t('page.js.s.session.this') }) : null),
          h('div', { class: 'r-sub', text: (s.ip ? 'IP ' + s.ip + ' · ' : '') + t('page.js.s.session.times', { At: fmtDate(s.created_at), Seen: ago(s.last_seen_at) }) })),
        s.current ? null : h('div', { class: 'r-actions' },
          h('button', { class: 'btn btn-sm', type: 'button', text: t('page.js.s.session.end'), onclick: function () { endSession(s, this); } })));
    }));
    $('end-others').disabled = list.filter(function (s) { return !s.current; }).length === 0;
  }

  async function endSession(s, btn) {
    await busy(btn, async function () {
      try {
        await change('DELETE', '/v1/me/sessions/' + encodeURIComponent(s.id));
        toast(t('page.js.s.session.ended'));
        await load();
      } catch (err) { report($('sess-msg'), err); }
    });
  }

  $('end-others').addEventListener('click', async function () {
    const btn = this;
    if (!(await confirmDialog(t('page.js.s.sessions.end.title'), t('page.js.s.sessions.end.text'), t('page.js.s.sessions.end.ok')))) return;
    await busy(btn, async function () {
      try {
        await change('DELETE', '/v1/me/sessions');
        show($('sess-msg'), 'ok', t('page.js.s.sessions.ended'));
        await load();
      } catch (err) { report($('sess-msg'), err); }
    });
  });

  // ---- password ----

  $('pw-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    const box = $('pw-msg');
    const cur = $('pw-current').value, nw = $('pw-new').value, rep = $('pw-repeat').value;
    if (!cur || !nw) { show(box, 'error', t('page.js.s.pw.enter_both')); return; }
    if (nw.length < 8) { show(box, 'error', t('page.js.s.pw.short')); $('pw-new').focus(); return; }
    if (nw !== rep) { show(box, 'error', t('page.js.s.pw.mismatch')); $('pw-repeat').focus(); return; }
    busy($('pw-submit'), async function () {
      try {
        await api('POST', '/v1/me/password', { current_password: cur, new_password: nw });
        $('pw-form').reset();
        show(box, 'ok', t('page.js.s.pw.changed'));
        await load();
      } catch (err) {
        if (err.code === 'unauthorized') return signedOut();
        if (err.code === 'invalid_credentials') { $('pw-current').value = ''; $('pw-current').focus(); }
        showError(box, err);
      }
    });
  });

  // ---- events ----

  // The events' words are page.js.ev.<type>; an unknown type shows as
  // it is.
  const BAD = ['login_failed', 'second_factor_failed', 'totp_replay_rejected', 'login_denied_by_user', 'rate_limited', 'two_factor_downgraded', 'bank_cards_unlinked'];
  // Telegram, GAuth and SMS are names, the same in every language.
  const NAMES = { telegram: 'Telegram', totp: 'GAuth', sms: 'SMS' };

  // known is message id when the page has it, else fallback.
  function known(id, fallback) {
    const s = t(id);
    return s === id ? fallback : s;
  }

  function detailText(e) {
    const d = e.detail || {};
    const parts = [];
    if (d.method) parts.push(NAMES[d.method] || known('page.js.ev.method.' + d.method, d.method));
    if (d.name) parts.push('“' + d.name + '”');
    if (d.username) parts.push('@' + d.username);
    if (d.number_masked) parts.push(d.number_masked);
    if (typeof d.count === 'number') {
      const unit = { bank_cards_unlinked: 'page.js.ev.cards', recovery_codes_created: 'page.js.ev.codes' }[e.type] || 'page.js.ev.sessions';
      parts.push(tn(unit, d.count));
    }
    if (d.reason) parts.push(known('page.js.ev.reason.' + d.reason, String(d.reason).replace(/_/g, ' ')));
    return parts.join(' · ');
  }

  function renderEvents() {
    const tb = $('events');
    const shown = showAllEvents ? events : events.slice(0, 12);
    tb.replaceChildren.apply(tb, shown.map(function (e) {
      return h('tr', { 'data-event': e.type },
        h('td', { class: BAD.indexOf(e.type) >= 0 ? 'ev-bad' : null, text: known('page.js.ev.' + e.type, e.type) }),
        h('td', { class: 'when', text: fmtDate(e.at) }),
        h('td', { class: 'mono small', text: e.ip || '' }),
        h('td', { class: 'muted', text: detailText(e) }));
    }));
    if (!events.length) tb.append(h('tr', null, h('td', { colspan: 4, class: 'muted', text: t('page.js.ev.none') })));
    $('events-more').hidden = events.length <= 12;
    $('events-more').textContent = showAllEvents ? t('page.js.ev.fewer') : t('page.js.ev.all', { N: events.length });
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
      show($('banner'), 'warn', d.bank_cards_unlinked
        ? tn('page.js.s.downgrade.cards', d.bank_cards_unlinked)
        : t('page.js.s.downgrade'));
    }
  } catch (e) { /* storage unavailable */ }

  load();
})();
