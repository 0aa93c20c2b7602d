// Waiting room: keeps the waiting page's position and estimated wait current
// from the JSON status endpoint and goes on to the booking page when it is
// this visitor's turn. The page works without it (the "Jetzt prüfen" link
// reloads it); the script only replaces texts (textContent, never HTML),
// shows or hides the status blocks the page already has, and navigates.
(function () {
  'use strict';
  var root = document.getElementById('waiting');
  if (!root || typeof window.fetch !== 'function') {
    return;
  }
  var statusURL = root.getAttribute('data-status');
  var next = root.getAttribute('data-next') || window.location.href;
  var delay = seconds(root.getAttribute('data-refresh'), 10);
  var failures = 0;
  var timer = 0;
  var busy = false;
  var gone = false;

  function seconds(v, fallback) {
    var n = parseInt(v, 10);
    return n > 0 ? n : fallback;
  }

  function go() {
    if (!gone) {
      gone = true;
      window.location.replace(next);
    }
  }

  function setText(id, v) {
    var el = document.getElementById(id);
    if (el && el.textContent !== v) {
      el.textContent = v;
    }
    return el;
  }

  // setMode shows the status block for mode in both languages; false when
  // the page has no such block (then a fresh page is needed).
  function setMode(mode) {
    if (root.getAttribute('data-mode') === mode) {
      return true;
    }
    var blocks = root.querySelectorAll('[data-block]');
    var found = false;
    var i;
    for (i = 0; i < blocks.length; i++) {
      if (blocks[i].getAttribute('data-block') === mode) {
        found = true;
      }
    }
    if (!found) {
      return false;
    }
    for (i = 0; i < blocks.length; i++) {
      blocks[i].hidden = blocks[i].getAttribute('data-block') !== mode;
    }
    root.setAttribute('data-mode', mode);
    return true;
  }

  function apply(s) {
    if (s.state !== 'waiting') {
      // called or admitted: the next request to the booking flow lets this
      // visitor in; none or refused: the page itself says what now.
      go();
      return;
    }
    var mode = 'unknown';
    if (s.paused) {
      mode = 'paused';
    } else if (s.shuffling && s.release_at) {
      mode = 'prerelease';
    } else if (s.position > 0) {
      mode = 'known';
    }
    if (mode === 'known') {
      var p = String(s.position);
      var el = setText('position', p);
      if (el) {
        el.setAttribute('data-position', p);
      }
      setText('position-en', p);
      setText('wait-de', s.wait_de || root.getAttribute('data-unknown-de') || '');
      setText('wait-en', s.wait_en || root.getAttribute('data-unknown-en') || '');
    }
    if (!setMode(mode)) {
      go();
      return;
    }
    delay = seconds(s.refresh_after_seconds, delay);
  }

  function schedule() {
    if (gone) {
      return;
    }
    var wait = delay * Math.pow(2, Math.min(failures, 4));
    timer = window.setTimeout(poll, Math.min(wait, 60) * 1000);
  }

  function poll() {
    if (busy || gone) {
      return;
    }
    window.clearTimeout(timer);
    busy = true;
    window.fetch(statusURL, {credentials: 'same-origin', cache: 'no-store', headers: {'Accept': 'application/json'}})
      .then(function (r) { return r.json(); })
      .then(function (s) { failures = 0; apply(s); })
      .catch(function () { failures++; })
      .then(function () { busy = false; schedule(); });
  }

  // A tab in the background may have its timers slowed down: check at once
  // when the visitor comes back to it.
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'visible') {
      poll();
    }
  });
  schedule();
}());
