// Operations dashboard: live updates by server-sent events and the doses
// chart (uPlot). The page shows every figure without this script; it only
// replaces texts and table rows (textContent, never HTML) and draws the chart.
(function () {
  'use strict';
  var root = document.getElementById('dashboard');
  if (!root || typeof window.EventSource !== 'function') {
    return;
  }
  var na = root.getAttribute('data-na') || '–';
  var emptyText = root.getAttribute('data-empty') || '';
  var live = document.getElementById('dash-live');
  var figure = document.getElementById('dose-figure');
  var chartBox = document.getElementById('dose-chart');
  var colours = ['#0b4f8a', '#a4000f', '#0b5e22', '#6a3d9a', '#b15928', '#1f78b4', '#444444', '#e31a1c'];
  var chart = null;
  var chartKey = '';
  var state = '';

  function setState(s) {
    if (s === state || !live) {
      return;
    }
    state = s;
    live.textContent = live.getAttribute(s === 'live' ? 'data-live' : 'data-offline') || '';
  }

  function setFields(fields) {
    var els = root.querySelectorAll('[data-field]');
    for (var i = 0; i < els.length; i++) {
      var k = els[i].getAttribute('data-field');
      var v = fields && Object.prototype.hasOwnProperty.call(fields, k) ? fields[k] : na;
      if (els[i].textContent !== v) {
        els[i].textContent = v;
      }
    }
  }

  function setLists(lists) {
    var bodies = root.querySelectorAll('tbody[data-list]');
    for (var i = 0; i < bodies.length; i++) {
      var body = bodies[i];
      var rows = (lists && lists[body.getAttribute('data-list')]) || [];
      var cols = parseInt(body.getAttribute('data-cols'), 10) || 1;
      var frag = document.createDocumentFragment();
      if (rows.length === 0) {
        var tr0 = document.createElement('tr');
        var td0 = document.createElement('td');
        td0.colSpan = cols;
        td0.textContent = emptyText;
        tr0.appendChild(td0);
        frag.appendChild(tr0);
      }
      for (var r = 0; r < rows.length; r++) {
        var tr = document.createElement('tr');
        for (var c = 0; c < rows[r].length; c++) {
          var td = document.createElement('td');
          td.textContent = rows[r][c];
          tr.appendChild(td);
        }
        frag.appendChild(tr);
      }
      body.replaceChildren(frag);
    }
  }

  function drawChart(ch) {
    if (!figure || !chartBox || typeof window.uPlot !== 'function') {
      return;
    }
    if (!ch || !ch.x || ch.x.length === 0) {
      figure.hidden = true;
      return;
    }
    figure.hidden = false;
    var data = [ch.x];
    var labels = [];
    for (var i = 0; i < ch.series.length; i++) {
      data.push(ch.series[i].values);
      labels.push(ch.series[i].label);
    }
    var key = labels.join('\u0000');
    if (chart && key === chartKey) {
      chart.setData(data);
      return;
    }
    if (chart) {
      chart.destroy();
    }
    chartKey = key;
    var series = [{}];
    for (var j = 0; j < labels.length; j++) {
      series.push({ label: labels[j], stroke: colours[j % colours.length], width: 2, points: { show: true } });
    }
    chart = new window.uPlot({
      width: Math.max(300, chartBox.clientWidth || 600),
      height: 260,
      scales: { x: { time: true } },
      series: series
    }, data, chartBox);
  }

  function apply(snap) {
    var at = document.getElementById('dash-at');
    if (at && snap.at) {
      at.textContent = snap.at;
    }
    var err = document.getElementById('dash-error');
    if (err) {
      err.hidden = !snap.error;
      err.textContent = snap.error || '';
    }
    setFields(snap.fields);
    setLists(snap.lists);
    drawChart(snap.chart);
    root.setAttribute('data-updated', String(Date.now()));
  }

  var source = new EventSource(root.getAttribute('data-events') || '/dashboard/events');
  source.addEventListener('snapshot', function (ev) {
    var snap;
    try {
      snap = JSON.parse(ev.data);
    } catch (e) {
      return;
    }
    setState('live');
    apply(snap);
  });
  source.addEventListener('error', function () {
    setState('offline');
  });
  window.addEventListener('resize', function () {
    if (chart && chartBox.clientWidth) {
      chart.setSize({ width: Math.max(300, chartBox.clientWidth), height: 260 });
    }
  });
}());
