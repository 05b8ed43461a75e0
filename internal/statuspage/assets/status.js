// checkflow status page: live updates. The page works without this script; with it, the
// statuses, "since" and the banner follow the live stream (Server-Sent Events) without a reload.
(function () {
  'use strict';
  var main = document.getElementById('main');
  var url = main && main.getAttribute('data-stream');
  var labelsEl = document.getElementById('status-labels');
  if (!url || !labelsEl || typeof window.EventSource !== 'function') {
    return;
  }
  var labels = JSON.parse(labelsEl.textContent);
  var live = document.getElementById('live');
  var rank = { unknown: 0, healthy: 1, maintenance: 2, degraded: 3, unhealthy: 4 };

  function rowsOf(id) {
    var out = [];
    var rows = document.querySelectorAll('[data-system]');
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute('data-system') === id) {
        out.push(rows[i]);
      }
    }
    return out;
  }

  function utcText(ts) {
    var d = new Date(ts);
    if (isNaN(d.getTime())) {
      return null;
    }
    return { iso: d.toISOString(), text: d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC' };
  }

  function setSince(row, ts) {
    var el = row.querySelector('[data-role="since"]');
    var t = ts && utcText(ts);
    if (!el || !t) {
      return;
    }
    el.textContent = labels.since + ' ';
    var time = document.createElement('time');
    time.setAttribute('datetime', t.iso);
    time.textContent = t.text;
    el.appendChild(time);
  }

  function show(row, key, ts) {
    var badge = row.querySelector('[data-role="status"]');
    if (badge && badge.getAttribute('data-status') !== key) {
      badge.setAttribute('data-status', key);
      badge.textContent = labels['status.' + key] || key;
      setSince(row, ts);
    }
  }

  function updateBanner() {
    var best = 'unknown';
    var badges = document.querySelectorAll('[data-system] [data-role="status"]');
    for (var i = 0; i < badges.length; i++) {
      var k = badges[i].getAttribute('data-status');
      if ((rank[k] || 0) > rank[best]) {
        best = k;
      }
    }
    var banner = document.getElementById('banner');
    var text = document.getElementById('banner-text');
    if (banner && banner.getAttribute('data-status') !== best) {
      banner.setAttribute('data-status', best);
      text.textContent = labels['banner.' + best] || best;
    }
  }

  function handle(fn) {
    return function (ev) {
      var d;
      try {
        d = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      if (!d || typeof d.systemId !== 'string') {
        return;
      }
      rowsOf(d.systemId).forEach(function (row) { fn(row, d); });
      updateBanner();
    };
  }

  var es = new EventSource(url);
  es.addEventListener('system.status_changed', handle(function (row, d) {
    row.setAttribute('data-evaluated', d.newStatus);
    if (row.getAttribute('data-maintenance') !== 'true') {
      show(row, d.newStatus, d.timestamp);
    }
    var checks = row.querySelector('[data-role="checks"]');
    if (checks && typeof d.healthyChecks === 'number' && typeof d.totalChecks === 'number' && d.totalChecks > 0) {
      checks.textContent = d.healthyChecks + ' of ' + d.totalChecks + ' checks healthy';
    }
  }));
  es.addEventListener('maintenance.started', handle(function (row, d) {
    row.setAttribute('data-maintenance', 'true');
    show(row, 'maintenance', d.timestamp);
  }));
  es.addEventListener('maintenance.ended', handle(function (row, d) {
    row.setAttribute('data-maintenance', 'false');
    show(row, row.getAttribute('data-evaluated') || 'unknown', d.timestamp);
  }));
  // Events were lost (pruned from the outbox): the page's figures are stale, reload it.
  es.addEventListener('reset', function () { window.location.reload(); });
  es.onopen = function () {
    if (live) {
      live.textContent = 'Live';
    }
  };
  es.onerror = function () {
    if (live) {
      live.textContent = 'Reconnecting…';
    }
  };
}());
