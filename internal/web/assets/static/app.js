// regmirror homepage: copy buttons, theme toggle, resolver, live status.
// The page is complete without this script; it only adds behaviour.
(function () {
  'use strict';

  var doc = document;
  var messages = {};
  var i18n = doc.getElementById('i18n');
  try {
    messages = JSON.parse(i18n.getAttribute('data-messages')) || {};
  } catch (e) {
    messages = {};
  }
  function t(key) { return messages[key] || key; }

  // ---- copy buttons ------------------------------------------------------

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain-HTTP mirrors are not a secure context: fall back to a selection.
    return new Promise(function (resolve, reject) {
      var ta = doc.createElement('textarea');
      ta.value = text;
      ta.setAttribute('readonly', '');
      ta.className = 'offscreen';
      doc.body.appendChild(ta);
      ta.select();
      var ok = false;
      try { ok = doc.execCommand('copy'); } catch (e) { ok = false; }
      doc.body.removeChild(ta);
      if (ok) { resolve(); } else { reject(new Error('copy refused')); }
    });
  }

  function addCopyButton(snippet) {
    if (snippet.querySelector('button.copy')) return;
    var code = snippet.querySelector('code');
    if (!code) return;
    var btn = doc.createElement('button');
    btn.type = 'button';
    btn.className = 'copy';
    btn.textContent = t('copy');
    btn.addEventListener('click', function () {
      copyText(code.textContent).then(function () {
        flash(btn, t('copied'), 'ok');
      }, function () {
        var range = doc.createRange();
        range.selectNodeContents(code);
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        flash(btn, t('copy-failed'), 'fail');
      });
    });
    snippet.appendChild(btn);
  }

  function flash(btn, text, cls) {
    btn.textContent = text;
    btn.classList.add(cls);
    window.setTimeout(function () {
      btn.textContent = t('copy');
      btn.classList.remove(cls);
    }, 1600);
  }

  Array.prototype.forEach.call(doc.querySelectorAll('.snippet'), addCopyButton);

  // ---- theme -------------------------------------------------------------

  var root = doc.documentElement;
  var dark = window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : null;
  var themeBtn = doc.getElementById('theme-toggle');
  if (themeBtn) {
    themeBtn.hidden = false;
    themeBtn.addEventListener('click', function () {
      var current = root.getAttribute('data-theme') || (dark && dark.matches ? 'dark' : 'light');
      var next = current === 'dark' ? 'light' : 'dark';
      root.setAttribute('data-theme', next);
      try { window.localStorage.setItem('regmirror-theme', next); } catch (e) { /* not remembered */ }
    });
  }

  // ---- resolver ----------------------------------------------------------

  var howKeys = { 'ns': 'how-ns', 'prefix': 'how-prefix', 'rule': 'how-rule', 'implicit': 'how-implicit', 'cached resolution': 'how-cached' };

  function el(tag, cls, text) {
    var e = doc.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function snippetOf(code, title) {
    var s = el('div', 'snippet');
    if (title) s.appendChild(el('div', 'snippet-title', title));
    var pre = el('pre');
    pre.appendChild(el('code', null, code));
    s.appendChild(pre);
    addCopyButton(s);
    return s;
  }

  var form = doc.getElementById('resolve-form');
  var input = doc.getElementById('resolve-input');
  var result = doc.getElementById('resolve-result');

  function showAnswer(a) {
    result.textContent = '';
    result.className = 'resolve-result ok';
    result.appendChild(snippetOf(a.pull, t('pull')));
    var dl = el('dl', 'facts');
    [['upstream', a.upstream], ['repository', a.repository], ['reference', a.reference],
      ['how', howKeys[a.how] ? t(howKeys[a.how]) : a.how]].forEach(function (row) {
      dl.appendChild(el('dt', null, t(row[0])));
      var dd = el('dd');
      dd.appendChild(el(row[0] === 'how' ? 'span' : 'code', null, row[1] || '—'));
      dl.appendChild(dd);
    });
    result.appendChild(dl);
  }

  function showError(message) {
    result.textContent = '';
    result.className = 'resolve-result error';
    result.appendChild(el('strong', null, t('error') + ': '));
    result.appendChild(el('span', null, message));
  }

  function resolveImage(image) {
    image = image.trim();
    if (!image) return;
    result.className = 'resolve-result busy';
    result.textContent = t('resolving');
    var url = new URL(window.location.href);
    url.searchParams.set('q', image);
    window.history.replaceState(null, '', url.toString());
    fetch('/api/resolve?image=' + encodeURIComponent(image), { headers: { 'Accept': 'application/json' } })
      .then(function (resp) {
        return resp.json().then(function (body) { return { ok: resp.ok, status: resp.status, body: body }; },
          function () { return { ok: false, status: resp.status, body: null }; });
      })
      .then(function (r) {
        if (r.ok && r.body && r.body.pull) {
          showAnswer(r.body);
        } else if (r.body && r.body.errors && r.body.errors.length) {
          var e = r.body.errors[0];
          showError(e.message ? e.code + ': ' + e.message : e.code);
        } else {
          showError('HTTP ' + r.status);
        }
      }, function (err) { showError(err.message); });
  }

  if (form && input && result) {
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      resolveImage(input.value);
    });
    if (input.value.trim()) resolveImage(input.value);
  }

  // ---- live status -------------------------------------------------------

  function humanBytes(n) {
    if (n < 1024) return n + ' B';
    var units = 'KMGTPE', i = -1;
    do { n /= 1024; i++; } while (n >= 1024 && i < units.length - 1);
    return n.toFixed(1) + ' ' + units.charAt(i) + 'iB';
  }

  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function stamp(d) {
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }

  var statusSec = doc.getElementById('status');

  function field(scope, name) { return scope.querySelector('[data-field="' + name + '"]'); }
  function setText(scope, name, text) {
    var f = field(scope, name);
    if (f && f.textContent !== text) f.textContent = text;
  }

  function upstreamRow(body, name) {
    for (var i = 0; i < body.rows.length; i++) {
      if (body.rows[i].getAttribute('data-upstream') === name) return body.rows[i];
    }
    var tr = el('tr');
    tr.setAttribute('data-upstream', name);
    tr.appendChild(el('td', null, name));
    var st = el('td');
    st.appendChild(el('span', 'dot'));
    var label = el('span');
    label.setAttribute('data-field', 'state');
    st.appendChild(label);
    tr.appendChild(st);
    ['latency', 'rateLimit'].forEach(function (f) {
      var td = el('td');
      td.setAttribute('data-field', f);
      tr.appendChild(td);
    });
    body.appendChild(tr);
    return tr;
  }

  function updateStatus(s) {
    setText(statusSec, 'hitRatio', s.lookups > 0 ? (s.hitRatio * 100).toFixed(1) + '%' : '—');
    setText(statusSec, 'bytesServedToday', humanBytes(s.bytesServedToday || 0));
    var c = s.cache || {};
    setText(statusSec, 'cache', humanBytes(c.sizeBytes || 0) + (c.limitBytes > 0 ? ' / ' + humanBytes(c.limitBytes) : ''));
    var meter = field(statusSec, 'cacheMeter');
    if (meter) {
      meter.hidden = !(c.limitBytes > 0);
      meter.value = c.limitBytes > 0 ? Math.min(100, Math.floor(100 * c.sizeBytes / c.limitBytes)) : 0;
    }
    setText(statusSec, 'objects', t('objects').replace('%d', String(c.objects || 0)));
    setText(statusSec, 'downloads', String(s.downloads || 0) + (s.waiters > 0 ? ' (+' + s.waiters + ')' : ''));
    var when = field(statusSec, 'time');
    if (when && s.time) {
      when.setAttribute('datetime', s.time);
      when.textContent = stamp(new Date(s.time));
    }
    var body = doc.getElementById('status-upstreams');
    if (!body) return;
    (s.upstreams || []).forEach(function (u) {
      var tr = upstreamRow(body, u.name);
      var state = /^(up|down|limited|unknown)$/.test(u.state) ? u.state : 'unknown';
      var dot = tr.querySelector('.dot');
      if (dot) dot.className = 'dot dot-' + state;
      setText(tr, 'state', t('state-' + state));
      var errEl = field(tr, 'error');
      var showErr = (state === 'down' || state === 'limited') && u.error;
      if (showErr) {
        if (!errEl) {
          errEl = el('span', 'muted small');
          errEl.setAttribute('data-field', 'error');
          field(tr, 'state').parentNode.appendChild(errEl);
        }
        errEl.textContent = ' ' + u.error;
      } else if (errEl) {
        errEl.parentNode.removeChild(errEl);
      }
      setText(tr, 'latency', u.latencyMs > 0 ? Math.round(u.latencyMs) + ' ms' : '—');
      setText(tr, 'rateLimit', u.rateLimit ? u.rateLimit.remaining + ' / ' + u.rateLimit.limit : '—');
    });
  }

  var pollEvery = 5000;
  function poll() {
    if (doc.hidden) {
      window.setTimeout(poll, pollEvery);
      return;
    }
    fetch(statusSec.getAttribute('data-poll'), { headers: { 'Accept': 'application/json' }, cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (s) {
          updateStatus(s);
          statusSec.classList.remove('stale');
        }
      }, function () { statusSec.classList.add('stale'); })
      .then(function () { window.setTimeout(poll, pollEvery); });
  }
  if (statusSec && window.fetch) {
    window.setTimeout(poll, 1000);
  }
})();
