// The payload codec sign-in (/admin/codec): the admin token is sent once,
// as a bearer token, and the answer is an HttpOnly cookie for /codec only.
(function () {
  'use strict';
  const { $, show, busy } = window.AF;
  const box = $('codec-msg');

  $('codec-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    const token = $('codec-token').value.trim();
    if (!token) { show(box, 'error', 'Enter the admin token.'); return; }
    busy($('codec-signin'), async function () {
      let r;
      try {
        r = await fetch('/v1/admin/codec-session', { method: 'POST', headers: { Authorization: 'Bearer ' + token } });
      } catch (e) {
        show(box, 'error', 'The server cannot be reached. Try again in a minute.');
        return;
      }
      $('codec-token').value = '';
      if (r.status === 204) {
        show(box, 'ok', 'Signed in: the Temporal UI can decrypt payloads in this browser for 12 hours.');
      } else if (r.status === 401) {
        show(box, 'error', 'That is not the admin token.');
      } else {
        show(box, 'error', 'The sign-in failed (HTTP ' + r.status + '). Try again in a minute.');
      }
    });
  });

  $('codec-signout').addEventListener('click', function () {
    busy($('codec-signout'), async function () {
      let r;
      try {
        r = await fetch('/v1/admin/codec-session', { method: 'DELETE' });
      } catch (e) {
        show(box, 'error', 'The server cannot be reached. Try again in a minute.');
        return;
      }
      show(box, r.status === 204 ? 'ok' : 'error', r.status === 204 ? 'Signed out: the Temporal UI shows payloads encrypted again.' : 'The sign-out failed (HTTP ' + r.status + ').');
    });
  });
})();
