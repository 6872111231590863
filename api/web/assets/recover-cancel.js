// The cancel page of a recovery's notice (/recover/cancel?token=…): it says
// what cancelling means and cancels only when the button is pressed, with
// POST /v1/recovery/cancel (api/openapi.yaml). Opening the link changes
// nothing: mail scanners open links.
'use strict';

(function () {
  const { api, $, show, showError, busy } = window.AF;
  const msg = $('msg');
  const steps = ['ask', 'cancelled', 'invalid'];

  function step(name) {
    steps.forEach(function (s) { $('step-' + s).hidden = s !== name; });
  }

  const token = (new URLSearchParams(location.search).get('token') || '').trim();

  $('cancel-go').addEventListener('click', function () {
    busy($('cancel-go'), async function () {
      try {
        await api('POST', '/v1/recovery/cancel', { token: token });
        show(msg, '', '');
        step('cancelled');
      } catch (err) {
        switch (err.code) {
          case 'not_found': // an unknown, used or expired token
          case 'flow_not_found': // its recovery has ended
          case 'wrong_state':
          case 'bad_request':
            show(msg, '', '');
            step('invalid');
            return;
        }
        showError(msg, err);
      }
    });
  });

  step(token && token.length <= 128 ? 'ask' : 'invalid');
})();
