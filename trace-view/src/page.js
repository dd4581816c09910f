// The trace page's script: renders the spans embedded in #trace-data (see html.rs for
// their shape). No framework and nothing fetched. Text from the spans only ever goes into
// the page as text nodes, never as markup.
(function () {
  'use strict';
  var started = performance.now();
  var data = JSON.parse(document.getElementById('trace-data').textContent);
  var parsedAt = performance.now();

  var ROW = 26;          // px per row; matches --row in the styles
  var OVERSCAN = 12;     // rows rendered above and below the visible ones
  var INDENT = 14;       // px per level of depth
  var MAX_INDENT = 24;   // deeper levels are drawn at this depth
  // One colour per service, no red: red marks errors.
  var PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948',
    '#9c755f', '#ff9da7', '#86bcb6', '#bab0ac', '#8cd17d', '#a0cbe8'];

  function colour(service) { return PALETTE[service % PALETTE.length]; }

  // el('div', {class: 'x', title: 't'}, child, 'text', ...): children are nodes or text.
  function el(tag, props) {
    var node = document.createElement(tag);
    if (props) {
      for (var key in props) {
        if (!Object.prototype.hasOwnProperty.call(props, key)) continue;
        var value = props[key];
        if (value === undefined || value === null || value === false) continue;
        if (key === 'class') node.className = value;
        else if (key === 'style') node.setAttribute('style', value);
        else if (key.slice(0, 2) === 'on') node.addEventListener(key.slice(2), value);
        else node.setAttribute(key, value);
      }
    }
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }
  function append(node, child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); return; }
    node.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }

  // Durations the way the terminal tree writes them: 391µs, 2.6ms, 1.25s.
  function dur(ns) {
    var micros = ns / 1000;
    if (micros < 1) return Math.round(ns) + 'ns';
    if (micros < 1000) return Math.round(micros) + 'µs';
    if (micros < 1e6) return (micros / 1000).toFixed(1) + 'ms';
    return (micros / 1e6).toFixed(2) + 's';
  }
  function offset(ns) { return (ns < 0 ? '−' : '+') + dur(Math.abs(ns)); }
  function num(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ','); }
  function count(n, one, many) { return num(n) + ' ' + (n === 1 ? one : many); }

  var services = data.services || [];
  var resources = data.resources || [];
  var scopes = data.scopes || [];
  var sections = (data.sections || []).map(function (s, index) {
    return {
      index: index, data: s, spans: s.spans || [], collapsed: new Uint8Array((s.spans || []).length),
      visible: null, filter: '', keep: null, matches: null, first: -1, last: -1,
      viewport: null, rowsEl: null, countEl: null
    };
  });
  var byId = {};   // span id -> [section, index], for links and #span=
  sections.forEach(function (sec) {
    sec.spans.forEach(function (span, i) {
      if (!byId[span.spanId]) byId[span.spanId] = [sec, i];
    });
  });
  var selected = null;   // [section, index]
  var viewportHeight = Math.max(240, Math.round(window.innerHeight * 0.6));

  // ----- Visible rows: a flat list of the expanded (or, when filtering, matching) rows.
  function computeVisible(sec) {
    var spans = sec.spans, out = [];
    if (sec.filter) {
      for (var k = 0; k < spans.length; k++) if (sec.keep[k]) out.push(k);
    } else {
      for (var i = 0; i < spans.length;) {
        out.push(i);
        i = sec.collapsed[i] ? spans[i].end : i + 1;
      }
    }
    sec.visible = out;
    sec.first = sec.last = -1;
    if (sec.spacer) sec.spacer.style.height = (out.length * ROW) + 'px';
    // Stacked sections are as tall as their rows, up to most of the window; a single one
    // fills the window.
    if (sec.viewport && sections.length > 1) {
      sec.viewport.style.height = Math.max(Math.min(out.length * ROW, viewportHeight), ROW) + 'px';
    }
  }

  function searchText(span) {
    if (span._text === undefined) {
      var parts = [span.name, services[span.service] || '', span.spanId];
      (span.attributes || []).forEach(function (kv) {
        parts.push(kv[0]);
        parts.push(typeof kv[1] === 'string' ? kv[1] : JSON.stringify(kv[1]));
      });
      if (span.status && span.status.message) parts.push(span.status.message);
      span._text = parts.join('\n').toLowerCase();
    }
    return span._text;
  }

  function applyFilter(sec, text) {
    sec.filter = text.trim().toLowerCase();
    if (sec.filter) {
      var spans = sec.spans, keep = new Uint8Array(spans.length), matches = new Uint8Array(spans.length);
      var n = 0;
      for (var i = spans.length - 1; i >= 0; i--) {
        if (searchText(spans[i]).indexOf(sec.filter) >= 0) { matches[i] = 1; keep[i] = 1; n++; }
        // Keep the ancestors of what matches, so that each match is seen in its place.
        if (keep[i] && spans[i].parent !== undefined) keep[spans[i].parent] = 1;
      }
      sec.keep = keep; sec.matches = matches;
      sec.countEl.textContent = num(n) + ' of ' + count(spans.length, 'span', 'spans') + ' match';
    } else {
      sec.keep = sec.matches = null;
      sec.countEl.textContent = '';
    }
    computeVisible(sec);
    renderRows(sec);
  }

  // ----- Rows: only those in view (plus a margin) are in the document.
  // Rows already in the document stay; only those scrolling in are built. `force` rebuilds
  // all (the list itself changed: a fold, a filter).
  function renderRows(sec, force) {
    var vp = sec.viewport;
    if (!vp) return;
    var total = sec.visible.length;
    var first = Math.max(0, Math.floor(vp.scrollTop / ROW) - OVERSCAN);
    var last = Math.min(total, Math.ceil((vp.scrollTop + vp.clientHeight) / ROW) + OVERSCAN);
    if (force || !sec.rendered) {
      sec.rendered = new Map();
      sec.rowsEl.textContent = '';
    } else if (first === sec.first && last === sec.last) {
      return;
    }
    sec.first = first; sec.last = last;
    sec.rendered.forEach(function (node, v) {
      if (v < first || v >= last) { node.remove(); sec.rendered.delete(v); }
    });
    var frag = document.createDocumentFragment();
    for (var v = first; v < last; v++) {
      if (sec.rendered.has(v)) continue;
      var node = rowElement(sec, sec.visible[v], v);
      sec.rendered.set(v, node);
      frag.appendChild(node);
    }
    sec.rowsEl.appendChild(frag);
  }

  // The selected row's highlight, on the rows in the document.
  function markSelected(sec) {
    if (!sec.rendered) return;
    sec.rendered.forEach(function (node) {
      var i = +node.getAttribute('data-i');
      node.classList.toggle('selected', !!selected && selected[0] === sec && selected[1] === i);
    });
  }

  function rowElement(sec, i, v) {
    var span = sec.spans[i];
    var parent = span.parent !== undefined ? sec.spans[span.parent] : null;
    var hasChildren = span.end > i + 1;
    var isError = span.status && span.status.code === 'ERROR';
    var cls = 'row';
    if (isError) cls += ' error';
    if (selected && selected[0] === sec && selected[1] === i) cls += ' selected';
    if (sec.filter) cls += sec.matches[i] ? ' match' : ' dim';
    var depth = Math.min(span.depth, MAX_INDENT);
    var toggle = el('button', {
      class: 'tw' + (hasChildren ? '' : ' leaf'), tabindex: '-1',
      title: hasChildren ? (sec.collapsed[i] ? 'Expand' : 'Collapse') + ' (' + count(span.end - i - 1, 'span', 'spans') + ' below)' : null,
      'aria-label': hasChildren ? 'toggle' : null
    }, hasChildren ? (sec.collapsed[i] && !sec.filter ? '▶' : '▼') : '');
    var name = el('div', { class: 'name', style: 'padding-left:' + (8 + depth * INDENT) + 'px' },
      toggle,
      el('span', { class: 'dot', style: 'background:' + colour(span.service) }),
      el('span', { class: 'nm' }, span.name || '(unnamed)'),
      (!parent || parent.service !== span.service) ? el('span', { class: 'tag' }, services[span.service]) : null,
      span.type ? el('span', { class: 'kindtag' }, span.type) : null,
      span.orphan ? el('span', { class: 'miss', title: 'Its parent ' + (span.parentSpanId || '') + ' is not in this trace' }, '[parent span missing]') : null,
      isError ? el('span', { class: 'errmark', title: span.status.message || 'error' }, '⚠') : null);
    var x = span.x * 100, w = span.w * 100;
    var label = el('span', { class: 'label' }, dur(span.duration),
      isError && span.status.message ? el('span', { class: 'msg' }, span.status.message.slice(0, 120)) : null);
    // Right of the bar; left of it when the bar reaches the end; inside a bar that spans
    // nearly everything.
    if (span.x + span.w <= 0.82) label.style.left = 'calc(' + (x + w) + '% + 5px)';
    else if (span.x >= 0.12) label.style.right = 'calc(' + (100 - x) + '% + 5px)';
    else { label.style.left = 'calc(' + x + '% + 6px)'; label.className += ' inside'; }
    var track = el('div', { class: 'track' },
      el('div', {
        class: 'bar' + (isError ? ' err' : ''),
        style: 'left:' + x + '%;width:' + w + '%;background-color:' + colour(span.service)
      }),
      label);
    return el('div', {
      class: cls, style: 'top:' + (v * ROW) + 'px', 'data-i': String(i),
      title: span.name + ' · ' + services[span.service] + ' · ' + dur(span.duration)
    }, name, track);
  }

  // One listener per section for all its rows: click selects, the triangle or a double
  // click folds.
  function listen(sec) {
    function rowOf(event) {
      var node = event.target.closest('.row');
      return node ? +node.getAttribute('data-i') : -1;
    }
    sec.rowsEl.addEventListener('click', function (event) {
      var i = rowOf(event);
      if (i < 0) return;
      if (event.target.closest('.tw')) {
        if (sec.spans[i].end > i + 1 && !sec.filter) toggleRow(sec, i);
      } else {
        select(sec, i, false);
      }
    });
    sec.rowsEl.addEventListener('dblclick', function (event) {
      var i = rowOf(event);
      if (i >= 0 && sec.spans[i].end > i + 1 && !sec.filter && !event.target.closest('.tw')) toggleRow(sec, i);
    });
  }

  function toggleRow(sec, i) {
    sec.collapsed[i] = sec.collapsed[i] ? 0 : 1;
    computeVisible(sec);
    renderRows(sec, true);
  }

  function setAll(sec, collapsed) {
    for (var i = 0; i < sec.spans.length; i++) {
      sec.collapsed[i] = collapsed && sec.spans[i].end > i + 1 ? 1 : 0;
    }
    computeVisible(sec);
    renderRows(sec, true);
  }

  // ----- Selection and the span panel.
  function select(sec, i, scroll) {
    var previous = selected;
    selected = [sec, i];
    if (previous && previous[0] !== sec) markSelected(previous[0]);
    if (scroll) {
      // Expand its ancestors, clear a filter that hides it, then bring it into view.
      if (sec.filter && !sec.keep[i]) { sec.filterInput.value = ''; applyFilter(sec, ''); }
      var p = sec.spans[i].parent, changed = false;
      while (p !== undefined) { if (sec.collapsed[p]) { sec.collapsed[p] = 0; changed = true; } p = sec.spans[p].parent; }
      if (changed) { computeVisible(sec); renderRows(sec, true); }
      var v = sec.visible.indexOf(i);
      if (v >= 0 && sec.viewport) {
        var top = v * ROW, vp = sec.viewport;
        if (top < vp.scrollTop || top + ROW > vp.scrollTop + vp.clientHeight) {
          vp.scrollTop = Math.max(0, top - vp.clientHeight / 3);
        }
        if (sections.length > 1) sec.element.scrollIntoView({ block: 'nearest' });
      }
    }
    renderRows(sec);
    markSelected(sec);
    showPanel(sec, i);
  }

  function valueNode(value) {
    if (value === null || value === undefined) return el('span', { class: 'none' }, 'empty');
    if (Array.isArray(value)) {
      if (value.length === 0) return el('span', { class: 'none' }, 'empty list');
      if (value.every(function (x) { return typeof x !== 'object' || x === null; })) {
        return el('ol', null, value.map(function (x) { return el('li', null, valueNode(x)); }));
      }
      return el('pre', null, JSON.stringify(value, null, 2));
    }
    if (typeof value === 'object') return el('pre', null, JSON.stringify(value, null, 2));
    if (typeof value === 'string') {
      var t = value.trim();
      if ((t[0] === '{' && t[t.length - 1] === '}') || (t[0] === '[' && t[t.length - 1] === ']')) {
        try { return el('pre', { title: 'JSON, shown indented' }, JSON.stringify(JSON.parse(t), null, 2)); } catch (e) { /* not JSON */ }
      }
      if (value === '') return el('span', { class: 'none' }, 'empty string');
      if (value.length > 80 || value.indexOf('\n') >= 0) return el('pre', null, value);
      return el('span', null, value);
    }
    return el('code', null, String(value));
  }

  function kvTable(pairs, cls) {
    if (!pairs || pairs.length === 0) return el('div', { class: 'none' }, 'none');
    return el('table', { class: 'kv' + (cls ? ' ' + cls : '') }, el('tbody', null, pairs.map(function (kv) {
      return el('tr', null, el('td', { class: 'k' }, kv[0]), el('td', { class: 'v' }, typeof kv[1] === 'object' && kv[1] && kv[1].nodeType ? kv[1] : valueNode(kv[1])));
    })));
  }

  function jump(id, text) {
    var found = byId[id];
    if (!found) return el('code', null, text || id);
    return el('button', { class: 'jump mono', title: 'Show this span', onclick: function () { select(found[0], found[1], true); } }, text || id);
  }

  function showPanel(sec, i) {
    var span = sec.spans[i], s = sec.data;
    var panel = document.getElementById('panel');
    panel.textContent = '';
    var isError = span.status && span.status.code === 'ERROR';
    var children = 0;
    for (var c = i + 1; c < span.end; c++) if (sec.spans[c].parent === i) children++;
    var parentCell;
    if (!span.parentSpanId) parentCell = el('span', { class: 'none' }, 'none: a root span');
    else if (span.orphan) parentCell = el('span', null, el('code', null, span.parentSpanId), ' ', el('span', { class: 'none' }, '(not in this trace)'));
    else parentCell = jump(span.parentSpanId, sec.spans[span.parent].name + ' · ' + span.parentSpanId);
    var startAbs = new Date(s.startUnixMs + span.start / 1e6).toISOString().replace('T', ' ').replace('Z', ' UTC');
    var resource = resources[span.resource];
    append(panel, [
      el('h2', null, el('span', { class: 'swatch', style: 'background:' + colour(span.service) }), span.name || '(unnamed)'),
      el('div', { class: 'sub' }, [services[span.service], span.kind, span.type].filter(Boolean).join(' · ')),
      isError ? el('div', { class: 'errbox' }, 'Error' + (span.status.message ? ': ' + span.status.message : '')) : null,
      kvTable([
        ['Duration', dur(span.duration)],
        ['Start', el('span', null, offset(span.start) + ' from the trace\'s start', el('br'), el('span', { class: 'none' }, startAbs))],
        ['Service', services[span.service]],
        ['Kind', span.kind],
        ['Status', span.status ? span.status.code + (span.status.message ? ': ' + span.status.message : '') : 'UNSET'],
        ['Trace ID', el('code', null, s.traceId)],
        ['Span ID', el('code', null, span.spanId)],
        ['Parent span', parentCell],
        ['Children', String(children)],
        ['Scope', scopes[span.scope] || '']
      ], 'spaninfo'),
      el('h3', null, 'Attributes', el('span', { class: 'n' }, (span.attributes || []).length)),
      kvTable(span.attributes),
      el('h3', null, 'Events', el('span', { class: 'n' }, (span.events || []).length)),
      (span.events || []).length ? span.events.map(function (e) {
        return el('div', { class: 'event' },
          el('div', { class: 'ehead' }, e.name, el('span', null, offset(e.offset) + ' after the span\'s start')),
          e.attributes && e.attributes.length ? kvTable(e.attributes) : null);
      }) : el('div', { class: 'none' }, 'none'),
      el('h3', null, 'Links', el('span', { class: 'n' }, (span.links || []).length)),
      (span.links || []).length ? span.links.map(function (l) {
        return el('div', { class: 'link' },
          el('div', { class: 'ehead' }, 'span ', jump(l.spanId), el('span', null, byId[l.spanId] ? 'in this page' : 'not in this page')),
          el('div', { class: 'mono' }, 'trace ' + l.traceId),
          l.attributes && l.attributes.length ? kvTable(l.attributes) : null);
      }) : el('div', { class: 'none' }, 'none'),
      el('h3', null, 'Resource', el('span', { class: 'n' }, resource ? resource.attributes.length : 0)),
      resource ? kvTable(resource.attributes) : el('div', { class: 'none' }, 'none')
    ]);
    panel.scrollTop = 0;
  }

  // ----- Keyboard: ↑/↓ move, ←/→ collapse/expand, within the selected span's section.
  document.addEventListener('keydown', function (event) {
    if (!selected || event.target.tagName === 'INPUT') return;
    var sec = selected[0], i = selected[1], v = sec.visible.indexOf(i), span = sec.spans[i];
    if (event.key === 'ArrowDown' && v + 1 < sec.visible.length) select(sec, sec.visible[v + 1], true);
    else if (event.key === 'ArrowUp' && v > 0) select(sec, sec.visible[v - 1], true);
    else if (event.key === 'ArrowLeft') {
      if (span.end > i + 1 && !sec.collapsed[i] && !sec.filter) toggleRow(sec, i);
      else if (span.parent !== undefined) select(sec, span.parent, true);
      else return;
    } else if (event.key === 'ArrowRight' && span.end > i + 1 && sec.collapsed[i]) toggleRow(sec, i);
    else return;
    event.preventDefault();
  });

  // ----- The page.
  function pageHeader() {
    var spanTotal = sections.reduce(function (n, s) { return n + s.spans.length; }, 0);
    var errors = sections.reduce(function (n, s) { return n + (s.data.errorCount || 0); }, 0);
    var facts = [];
    if (sections.length !== 1) facts.push(count(sections.length, 'trace', 'traces'));
    facts.push(count(spanTotal, 'span', 'spans'));
    facts.push(count(services.length, 'service', 'services'));
    if (sections.length === 1) facts.push(dur(sections[0].data.durationNs));
    return el('header', { class: 'page-head' },
      el('div', { class: 'brand' }, 'Trace view · ' + (data.generator || 'mcp-host') + ' · offline: this page loads nothing'),
      el('h1', null, data.title || 'Trace'),
      el('span', { class: 'summary' }, facts.join(' · ')),
      el('div', { class: 'legend', title: 'Bars are coloured by the service (process) that recorded the span' },
        services.map(function (name, i) {
          return el('span', { class: 'item' }, el('span', { class: 'swatch', style: 'background:' + colour(i) }), name);
        }),
        errors ? el('span', { class: 'item' }, el('span', { class: 'swatch err' }), count(errors, 'error', 'errors')) : null));
  }

  function sectionElement(sec) {
    var s = sec.data;
    var errors = s.errorCount || 0;
    var started = s.spans.length ? new Date(s.startUnixMs).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : '';
    var showTitle = sections.length > 1 || s.title !== data.title;
    sec.countEl = el('span', { class: 'count' });
    sec.filterInput = el('input', {
      type: 'search', placeholder: 'Filter by name, service or attribute', 'aria-label': 'Filter spans'
    });
    sec.filterInput.addEventListener('input', function () { applyFilter(sec, sec.filterInput.value); });
    var head = el('div', { class: 'sec-head' },
      showTitle ? el('h2', null, s.title) : null,
      el('div', { class: 'facts' },
        s.name && s.name !== s.title ? el('span', null, el('b', null, 'Trace '), s.name) : null,
        el('span', null, el('b', null, 'Trace ID '), el('code', null, s.traceId)),
        el('span', null, el('b', null, 'Spans '), num(s.spans.length)),
        el('span', null, el('b', null, 'Services '), (s.services || []).map(function (i) { return services[i]; }).join(', ')),
        el('span', null, el('b', null, 'Duration '), dur(s.durationNs)),
        started ? el('span', null, el('b', null, 'Started '), started) : null,
        el('span', { class: errors ? 'bad' : null }, el('b', null, 'Errors '), String(errors))),
      s.input ? el('div', { class: 'io', title: s.input }, el('b', null, 'Input'), s.input) : null,
      s.output ? el('div', { class: 'io', title: s.output }, el('b', null, 'Output'), s.output) : null,
      s.spans.length ? el('div', { class: 'tools' },
        el('button', { onclick: function () { setAll(sec, false); } }, 'Expand all'),
        el('button', { onclick: function () { setAll(sec, true); } }, 'Collapse all'),
        sec.filterInput, sec.countEl,
        el('span', { class: 'hint' }, 'Click a span for its attributes · ▼ folds a subtree · ↑↓←→ move')) : null);
    var element = el('section', { class: 'trace', id: 'trace-' + sec.index }, head);
    sec.element = element;
    if (!s.spans.length) {
      append(element, el('div', { class: 'empty' }, 'No spans of trace ' + s.traceId + ' were received.'));
      return element;
    }
    var axisTrack = el('div', { class: 'axis-track' }, (s.ticks || []).map(function (t) {
      return el('span', { class: 'tick', style: 'left:' + (t.x * 100) + '%' }, t.label);
    }));
    var axis = el('div', { class: 'axis' }, el('div', { class: 'axis-name' }, 'Span'), axisTrack);
    var grid = el('div', { class: 'grid' }, (s.ticks || []).map(function (t) {
      return el('div', { class: 'gl', style: 'left:' + (t.x * 100) + '%' });
    }));
    sec.rowsEl = el('div', { class: 'rows' });
    listen(sec);
    sec.spacer = el('div', { class: 'spacer' }, grid, sec.rowsEl);
    sec.viewport = el('div', { class: 'viewport', tabindex: '0' }, sec.spacer);
    if (sections.length > 1) sec.viewport.style.flex = 'none';
    var scheduled = false;
    sec.viewport.addEventListener('scroll', function () {
      if (scheduled) return;
      scheduled = true;
      requestAnimationFrame(function () { scheduled = false; renderRows(sec); });
    });
    sec.axis = axis;
    append(element, el('div', { class: 'waterfall' }, axis, sec.viewport));
    return element;
  }

  var app = document.getElementById('app');
  var main = el('main', { class: sections.length === 1 ? 'single' : null });
  if (sections.length > 1) {
    append(main, el('nav', { class: 'toc' }, sections.map(function (sec) {
      return el('button', { title: sec.data.title, onclick: function () { sec.element.scrollIntoView({ block: 'start' }); } },
        sec.data.title || sec.data.traceId);
    })));
  }
  sections.forEach(function (sec) { append(main, sectionElement(sec)); });
  if (!sections.length) append(main, el('div', { class: 'empty' }, 'No spans were received.'));
  var panel = el('aside', { id: 'panel' }, el('p', { class: 'hint' }, 'Click a span to see its attributes, events and links.'));
  app.appendChild(pageHeader());
  app.appendChild(el('div', { class: 'body' }, main, panel));
  sections.forEach(function (sec) {
    if (!sec.viewport) return;
    computeVisible(sec);
    renderRows(sec, true);
    // The axis lines up with the rows whatever width the scrollbar takes.
    var gutter = sec.viewport.offsetWidth - sec.viewport.clientWidth;
    if (gutter > 0) sec.axis.style.paddingRight = gutter + 'px';
  });
  window.addEventListener('resize', function () { sections.forEach(function (sec) { renderRows(sec, true); }); });

  // Select the span named in the address (#span=<id>), else the first trace's root.
  var wanted = /(?:^#|&)span=([0-9a-f]+)/.exec(location.hash);
  if (wanted && byId[wanted[1]]) select(byId[wanted[1]][0], byId[wanted[1]][1], true);
  else if (sections.length && sections[0].spans.length) select(sections[0], 0, false);
  var firstRender = performance.now();
  document.body.setAttribute('data-rendered-ms', (firstRender).toFixed(1));

  // #measure: time the virtual list on this machine and write the figures into the page
  // (headless browsers read them from the DOM; see mcp-host/tests/chromium.rs).
  if (/(?:^#|&)measure\b/.test(location.hash)) {
    var biggest = sections.filter(function (s) { return s.viewport; })
      .sort(function (a, b) { return b.spans.length - a.spans.length; })[0];
    var result = {
      spans: sections.reduce(function (n, s) { return n + s.spans.length; }, 0),
      parseMs: +(parsedAt - started).toFixed(1),
      firstRenderMs: +firstRender.toFixed(1),
      scriptMs: +(firstRender - started).toFixed(1),
      rowsInDom: document.querySelectorAll('.row').length,
      domNodes: document.getElementsByTagName('*').length,
      resourcesFetched: performance.getEntriesByType('resource').length,
      // The narrowest span name in view, in px: a narrow window must not cut names to a
      // letter.
      narrowestNamePx: Math.round(Array.prototype.reduce.call(document.querySelectorAll('.row .nm'),
        function (least, e) { return Math.min(least, e.getBoundingClientRect().width); }, Infinity)),
      windowPx: window.innerWidth
    };
    if (biggest) {
      var vp = biggest.viewport;
      var maxTop = Math.max(0, biggest.visible.length * ROW - vp.clientHeight);
      // Scrolls `count` steps of `step` px from the top, each step rendered, styled and laid
      // out before the next: a page at a time (a dragged scrollbar), or 100 px (a wheel).
      var scroll = function (step, count) {
        var times = [];
        for (var k = 0; k < count; k++) {
          var t0 = performance.now();
          vp.scrollTop = Math.min(k * step, maxTop);
          renderRows(biggest);
          void biggest.rowsEl.getBoundingClientRect().height;
          void document.body.offsetHeight;
          times.push(performance.now() - t0);
        }
        times.sort(function (a, b) { return a - b; });
        var sum = times.reduce(function (a, b) { return a + b; }, 0);
        return {
          steps: times.length, stepPx: step, meanMs: +(sum / times.length).toFixed(2),
          p95Ms: +times[Math.min(times.length - 1, Math.floor(times.length * 0.95))].toFixed(2),
          maxMs: +times[times.length - 1].toFixed(2)
        };
      };
      var page = Math.max(Math.floor(vp.clientHeight * 0.9), Math.ceil(maxTop / 250));
      result.scrollPages = scroll(page, Math.ceil(maxTop / page) + 1);
      vp.scrollTop = 0; renderRows(biggest);
      result.scrollWheel = scroll(100, Math.min(1000, Math.ceil(maxTop / 100) + 1));
      vp.scrollTop = 0; renderRows(biggest);
      result.rowsInDomWhileScrolling = biggest.rowsEl.childNodes.length;
      var t1 = performance.now(); setAll(biggest, true); void document.body.offsetHeight;
      var t2 = performance.now(); setAll(biggest, false); void document.body.offsetHeight;
      var t3 = performance.now(); biggest.filterInput.value = 'tool'; applyFilter(biggest, 'tool'); void document.body.offsetHeight;
      var t4 = performance.now(); biggest.filterInput.value = ''; applyFilter(biggest, '');
      result.collapseAllMs = +(t2 - t1).toFixed(1);
      result.expandAllMs = +(t3 - t2).toFixed(1);
      result.filterMs = +(t4 - t3).toFixed(1);
    }
    document.body.appendChild(el('pre', { id: 'measure' }, JSON.stringify(result)));
  }
})();
