// The payload codec sign-in (/admin/codec): the admin token is sent once,
// as a bearer token, and the answer is an HttpOnly cookie for /codec only.
(function () {
  'use strict';
  const { $, show, busy } = window.AF;
  const box = $('codec-msg');

  // session calls /v1/admin/codec-session and returns the HTTP status, or
  // 0 when the server cannot be reached (said in the box).
  async function session(method, headers) {
    try {
      return (await fetch('/v1/admin/codec-session', { method: method, headers: headers || {} })).status;
    } catch (e) {
      show(box, 'error', 'The server cannot be reached. Try again in a minute.');
      return 0;
    }
  }

  $('codec-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    const token = $('codec-token').value.trim();
    if (!token) { show(box, 'error', 'Enter the admin token.'); return; }
    busy($('codec-signin'), async function () {
      const status = await session('POST', { Authorization: 'Bearer ' + token });
      if (status === 0) return;
      $('codec-token').value = '';
      if (status === 204) {
        show(box, 'ok', 'Signed in: the Temporal UI can decrypt payloads in this browser for 12 hours.');
      } else if (status === 401) {
        show(box, 'error', 'That is not the admin token.');
      } else {
        show(box, 'error', 'The sign-in failed (HTTP ' + status + '). Try again in a minute.');
      }
    });
  });

  $('codec-signout').addEventListener('click', function () {
    busy($('codec-signout'), async function () {
      const status = await session('DELETE');
      if (status === 0) return;
      show(box, status === 204 ? 'ok' : 'error', status === 204 ? 'Signed out: the Temporal UI shows payloads encrypted again.' : 'The sign-out failed (HTTP ' + status + ').');
    });
  });
})();
