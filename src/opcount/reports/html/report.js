// opcount's HTML report: draws the JSON payload embedded in this page (no library, no network).
// SVG is written as markup into innerHTML, so the page needs no namespace URL either.
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("opcount-data").textContent);
  const $ = (id) => document.getElementById(id);
  const esc = (text) => String(text).replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
  const label = (measure) => (DATA.labels && DATA.labels[measure]) || measure;

  // -- units: 1K = 1,000, as the printed table says them -----------------------------------------
  function scaled(value, prefixes) {
    const abs = Math.abs(value);
    for (const [size, prefix] of prefixes) {
      if (abs >= size) return (value / size).toPrecision(3) + " " + prefix;
    }
    return (Number.isInteger(value) ? String(value) : value.toPrecision(3)) + " ";
  }
  const COMPUTE = [[1e15, "P"], [1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "K"]];
  const BYTES = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "K"]];
  function fmt(value, measure) {
    if (measure.endsWith("time_s")) {
      if (value === 0) return "0 s";
      if (value >= 1) return value.toPrecision(3) + " s";
      if (value >= 1e-3) return (value * 1e3).toPrecision(3) + " ms";
      return (value * 1e6).toPrecision(3) + " \u00b5s";
    }
    if (measure.includes("bytes")) return scaled(value, BYTES) + "B";
    if (measure.endsWith("flops")) return scaled(value, COMPUTE) + "FLOPs";
    if (measure.endsWith("macs")) return scaled(value, COMPUTE) + "MACs";
    if (measure === "params") return scaled(value, [[1e9, "B"], [1e6, "M"], [1e3, "K"]]).trim();
    return value.toLocaleString("en-US");
  }
  const share = (part, whole) => (whole > 0 ? (100 * part / whole).toFixed(1) + "%" : "");

  function options(select, values, chosen) {
    select.innerHTML = values.map((v) =>
      `<option value="${esc(v[0])}"${v[0] === chosen ? " selected" : ""}>${esc(v[1])}</option>`
    ).join("");
  }

  // -- header ------------------------------------------------------------------------------------
  function header() {
    let text = `<h1>${esc(DATA.title)}</h1>`;
    const meta = [];
    if (DATA.inputs) meta.push("inputs " + esc(DATA.inputs));
    if (DATA.phases) meta.push("phases: " + DATA.phases.map(esc).join(", "));
    if (DATA.kind === "sweep") meta.push(DATA.models.length + " models");
    text += `<p class="meta" id="meta">${meta.join(" \u00b7 ")}</p>`;
    if (DATA.cards) {
      text += '<div class="cards" id="totals">' + DATA.cards.map((c) =>
        `<div class="card" data-key="${esc(c.key)}"><div class="value">${esc(c.text)}</div>` +
        `<div class="label">${esc(c.label)}</div><div class="exact">${esc(c.exact)}</div></div>`
      ).join("") + "</div>";
    }
    if (DATA.kind === "run") {
      if (DATA.complete) {
        text += '<p class="complete" id="completeness">complete: every op that ran has a ' +
          "formula or is free by definition</p>";
      } else {
        text += '<div class="partial" id="completeness"><b>partial: ' +
          `${DATA.unsupported.length} op(s) have no formula and were counted as 0, so the ` +
          "totals are a lower bound</b><ul>" + DATA.unsupported.map((u) =>
          `<li><code>${esc(u.op)}</code> \u00d7${u.calls} in ${u.modules.map((m) =>
            esc(m === "" ? "(root)" : m)).join(", ")} (${esc(u.reason)})</li>`).join("") +
          "</ul></div>";
      }
    }
    $("header").innerHTML = text;
  }

  // -- sortable tables ---------------------------------------------------------------------------
  // columns: [{key, title, text(record) -> html, value(record) -> sort key}]
  function sortable(container, id, records, columns, initial) {
    const state = { key: initial, descending: true };
    function draw() {
      const column = columns.find((c) => c.key === state.key);
      const sorted = records.slice().sort((a, b) => {
        const x = column.value(a), y = column.value(b);
        const order = x < y ? -1 : x > y ? 1 : 0;
        return state.descending ? -order : order;
      });
      const head = columns.map((c) => {
        const sort = c.key === state.key ? (state.descending ? "descending" : "ascending") : "none";
        return `<th data-key="${esc(c.key)}" aria-sort="${sort}">${esc(c.title)}</th>`;
      }).join("");
      const body = sorted.map((r) => "<tr>" + columns.map((c) =>
        `<td${c.cls ? ` class="${c.cls(r)}"` : ""}>${c.text(r)}</td>`).join("") + "</tr>").join("");
      container.innerHTML = `<div class="scroll"><table class="data" id="${id}">` +
        `<thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
      for (const th of container.querySelectorAll("th")) {
        th.addEventListener("click", () => {
          if (state.key === th.dataset.key) state.descending = !state.descending;
          else { state.key = th.dataset.key; state.descending = true; }
          draw();
        });
      }
    }
    draw();
  }

  function measureColumns(measures, total) {
    const columns = [];
    for (const m of measures) {
      columns.push({ key: m, title: label(m), text: (r) => esc(fmt(r[m], m)), value: (r) => r[m] });
      if (m === "flops") {
        columns.push({
          key: "flops_share", title: "share of FLOPs", value: (r) => r.flops,
          text: (r) => `<span class="bar" style="width:${total > 0 ? Math.round(60 * r.flops / total) : 0}px"></span> ` +
            share(r.flops, total),
        });
      }
    }
    return columns;
  }

  // -- the module icicle -------------------------------------------------------------------------
  function icicle(section) {
    const tree = DATA.tree, nodes = tree.nodes, n = nodes.length;
    const children = nodes.map(() => []);
    nodes.forEach((node, i) => { if (node.parent >= 0) children[node.parent].push(i); });
    const depth = nodes.map(() => 0);
    nodes.forEach((node, i) => { if (node.parent >= 0) depth[i] = depth[node.parent] + 1; });
    const state = { measure: "flops", phase: "all", focus: 0 };

    section.innerHTML = '<div class="controls"><label>size by <select id="measure"></select>' +
      '</label><label>phase <select id="phase"></select></label>' +
      '<span class="crumbs" id="crumbs"></span></div><div id="icicle"></div>' +
      '<p class="note">Width: the module with everything it called (inclusive); the part a ' +
      "module's children leave uncovered is its own work. Hover for figures, click to zoom in, " +
      "click the zoomed module (or a name above) to zoom out.</p>";
    options($("measure"), DATA.measures.map((m) => [m, label(m)]), state.measure);
    options($("phase"), [["all", "all phases"]].concat(DATA.phases.map((p) => [p, p])), state.phase);

    function own(measure, phase) {
      if (measure === "params") return tree.self_params.slice();
      const phases = phase === "all" ? DATA.phases : [phase];
      const values = new Array(n).fill(0);
      for (const p of phases) {
        const column = tree.self[p][measure];
        for (let i = 0; i < n; i++) values[i] += column[i];
      }
      return values;
    }
    function inclusive(values) {
      const total = values.slice();
      for (let i = n - 1; i > 0; i--) if (nodes[i].parent >= 0) total[nodes[i].parent] += total[i];
      return total;
    }
    const color = (i) => {
      let h = 0;
      for (const c of nodes[i].type || nodes[i].label) h = (h * 31 + c.charCodeAt(0)) % 360;
      return `hsl(${h},55%,${72 - Math.min(depth[i], 8) * 3}%)`;
    };

    let current = null;  // figures of the drawn view, for the tooltip
    function draw() {
      const selfValues = own(state.measure, state.phase);
      const incl = inclusive(selfValues);
      current = { selfValues, incl };
      const width = 1000, row = 24, focus = state.focus;
      const rects = [];
      let deepest = 0;
      function place(i, x, w) {
        if (w < 0.3) return;
        const level = depth[i] - depth[focus];
        deepest = Math.max(deepest, level);
        rects.push([i, x, level, w]);
        let offset = x;
        for (const c of children[i]) {
          const cw = incl[i] > 0 ? w * incl[c] / incl[i] : 0;
          place(c, offset, cw);
          offset += cw;
        }
      }
      if (incl[focus] > 0) place(focus, 0, width);
      const height = (deepest + 1) * row;
      const body = rects.map(([i, x, level, w]) => {
        const node = nodes[i];
        const name = node.label + (node.type ? ` (${node.type})` : "");
        const text = w > 40 ? `<text x="${(x + 4).toFixed(1)}" y="${level * row + 16}">` +
          `${esc(name.length * 6.2 > w - 8 ? node.label : name)}</text>` : "";
        return `<g data-index="${i}" data-name="${esc(node.name)}"><rect x="${x.toFixed(2)}" ` +
          `y="${level * row}" width="${Math.max(w - 0.5, 0.2).toFixed(2)}" height="${row - 1}" ` +
          `fill="${color(i)}"></rect>${text}</g>`;
      }).join("");
      $("icicle").innerHTML = incl[focus] > 0
        ? `<svg viewBox="0 0 ${width} ${height}" width="100%" preserveAspectRatio="none" ` +
          `style="height:${height}px" role="img" aria-label="module icicle">${body}</svg>`
        : `<p class="note">no ${esc(label(state.measure))} in this phase</p>`;
      const path = [];
      for (let i = focus; i >= 0; i = nodes[i].parent) path.unshift(i);
      $("crumbs").innerHTML = "zoom: " + path.map((i) =>
        `<button data-index="${i}">${esc(nodes[i].name === "" ? "(root)" : nodes[i].label)}</button>`
      ).join(" / ");
    }

    function tooltip(i, event) {
      const tip = $("tooltip"), node = nodes[i];
      const phase = state.phase;
      let rows = "";
      for (const m of DATA.measures) {
        const values = own(m, phase), incl = inclusive(values);
        rows += `<tr data-measure="${esc(m)}"><td>${esc(label(m))}</td>` +
          `<td data-value="${incl[i]}">${esc(fmt(incl[i], m))}</td>` +
          `<td data-value="${values[i]}">${esc(fmt(values[i], m))}</td>` +
          `<td>${share(incl[i], incl[0])}</td></tr>`;
      }
      tip.innerHTML = `<div class="name">${esc(node.name === "" ? "(root)" : node.name)}</div>` +
        `<div>${esc(node.type)} \u00b7 ${esc(phase === "all" ? "all phases" : phase)}</div>` +
        `<table><tr><td></td><td>inclusive</td><td>self</td><td>of run</td></tr>${rows}</table>`;
      tip.hidden = false;
      tip.dataset.index = String(i);
      const x = Math.min(event.clientX + 12, window.innerWidth - tip.offsetWidth - 4);
      tip.style.left = Math.max(x, 0) + "px";
      tip.style.top = (event.clientY + 14) + "px";
    }

    $("icicle").addEventListener("mousemove", (event) => {
      const g = event.target.closest("g[data-index]");
      if (g) tooltip(Number(g.dataset.index), event);
      else $("tooltip").hidden = true;
    });
    $("icicle").addEventListener("mouseleave", () => { $("tooltip").hidden = true; });
    $("icicle").addEventListener("click", (event) => {
      const g = event.target.closest("g[data-index]");
      if (!g) return;
      const i = Number(g.dataset.index);
      state.focus = i === state.focus && nodes[i].parent >= 0 ? nodes[i].parent : i;
      draw();
    });
    $("crumbs").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-index]");
      if (button) { state.focus = Number(button.dataset.index); draw(); }
    });
    $("measure").addEventListener("change", (e) => { state.measure = e.target.value; draw(); });
    $("phase").addEventListener("change", (e) => { state.phase = e.target.value; draw(); });
    draw();
  }

  // -- roofline ----------------------------------------------------------------------------------
  function roofline(section) {
    const roof = DATA.roofline, points = roof.points;
    if (!points.length) {
      section.innerHTML = '<p class="note">no op has both time and FLOPs</p>';
      return;
    }
    const w = 640, h = 400, left = 70, bottom = 40, top = 10, right = 20;
    const ridge = roof.bandwidth > 0 ? roof.peak_flops / roof.bandwidth : 1;
    const xs = points.map((p) => p.intensity).concat([ridge]);
    const ys = points.map((p) => p.flops_per_s).concat([roof.peak_flops]);
    const lx0 = Math.floor(Math.log10(Math.min(...xs))) , lx1 = Math.ceil(Math.log10(Math.max(...xs)) + 0.01);
    const ly0 = Math.floor(Math.log10(Math.min(...ys))), ly1 = Math.ceil(Math.log10(Math.max(...ys)) + 0.01);
    const X = (v) => left + (Math.log10(v) - lx0) / (lx1 - lx0) * (w - left - right);
    const Y = (v) => h - bottom - (Math.log10(v) - ly0) / (ly1 - ly0) * (h - top - bottom);
    let svg = "";
    for (let e = lx0; e <= lx1; e++) {
      svg += `<line x1="${X(10 ** e)}" x2="${X(10 ** e)}" y1="${top}" y2="${h - bottom}" stroke="#eee"></line>` +
        `<text x="${X(10 ** e) - 8}" y="${h - bottom + 14}">1e${e}</text>`;
    }
    for (let e = ly0; e <= ly1; e++) {
      svg += `<line x1="${left}" x2="${w - right}" y1="${Y(10 ** e)}" y2="${Y(10 ** e)}" stroke="#eee"></line>` +
        `<text x="${left - 34}" y="${Y(10 ** e) + 4}">1e${e}</text>`;
    }
    const xMin = 10 ** lx0, xMax = 10 ** lx1, yMin = 10 ** ly0;
    const start = Math.max(xMin, yMin / roof.bandwidth);
    svg += `<polyline id="roof" fill="none" stroke="#b3261e" stroke-width="2" points="` +
      `${X(start)},${Y(roof.bandwidth * start)} ${X(ridge)},${Y(roof.peak_flops)} ` +
      `${X(xMax)},${Y(roof.peak_flops)}"></polyline>`;
    svg += points.map((p) => `<circle class="point" cx="${X(p.intensity).toFixed(1)}" ` +
      `cy="${Y(p.flops_per_s).toFixed(1)}" r="4" fill="#3565b0" fill-opacity="0.7">` +
      `<title>${esc(p.op)}: ${p.intensity.toPrecision(3)} FLOPs/byte, ` +
      `${esc(fmt(p.flops_per_s, "flops"))}/s, ${esc(fmt(p.time_s, "time_s"))}</title></circle>`).join("");
    svg += `<text x="${w / 2 - 40}" y="${h - 6}">FLOPs per byte moved</text>` +
      `<text x="12" y="${top + 10}">FLOP/s</text>`;
    section.innerHTML = `<svg id="roofline" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" ` +
      `role="img" aria-label="roofline">${svg}</svg><p class="note">Each point is one aten op ` +
      `(all its calls), timed by <code>${esc(roof.time_column)}</code>. Roof: ` +
      `${esc(fmt(roof.peak_flops, "flops"))}/s and ${esc(fmt(roof.bandwidth, "bytes"))}/s ` +
      `(${esc(roof.roof_source)}).</p>`;
  }

  // -- pages -------------------------------------------------------------------------------------
  function section(id, title) {
    const s = document.createElement("section");
    s.id = id;
    s.innerHTML = `<h2>${esc(title)}</h2><div></div>`;
    $("main").appendChild(s);
    return s.lastElementChild;
  }

  function runPage() {
    icicle(section("modules", "Modules"));
    const total = DATA.totals.flops;
    sortable(section("ops", "Per op"), "op-table", DATA.ops, [
      { key: "op", title: "op", text: (r) => esc(r.op), value: (r) => r.op },
      { key: "category", title: "category", text: (r) => esc(r.category), value: (r) => r.category },
      { key: "status", title: "status", text: (r) => esc(r.status), value: (r) => r.status,
        cls: (r) => (r.status === "unsupported" ? "unsupported" : "") },
      { key: "calls", title: "calls", text: (r) => r.calls.toLocaleString("en-US"), value: (r) => r.calls },
    ].concat(measureColumns(DATA.measures.filter((m) => m !== "params"), total)), "flops");
    sortable(section("categories", "Per category"), "category-table", DATA.categories, [
      { key: "category", title: "category", text: (r) => esc(r.category), value: (r) => r.category },
      { key: "calls", title: "calls", text: (r) => r.calls.toLocaleString("en-US"), value: (r) => r.calls },
    ].concat(measureColumns(DATA.measures.filter((m) => m !== "params"), total)), "flops");
    if (DATA.roofline) roofline(section("roofline-section", "Roofline"));
  }

  function sweepPage() {
    const bars = section("comparison", "Comparison");
    bars.innerHTML = '<div class="controls"><label>measure <select id="measure"></select></label>' +
      '</div><div id="sweep-bars"></div>';
    options($("measure"), DATA.measures.map((m) => [m, label(m)]), DATA.measures[0]);
    function draw() {
      const m = $("measure").value;
      const ok = DATA.models.filter((r) => !r.error).sort((a, b) => b[m] - a[m]);
      const top = Math.max(1, ...ok.map((r) => r[m]));
      const row = 22, nameWidth = 260, w = 1000;
      const body = ok.map((r, k) => `<g data-name="${esc(r.model)}"><text x="0" y="${k * row + 15}">` +
        `${esc(r.model)}</text><rect x="${nameWidth}" y="${k * row + 3}" height="${row - 6}" ` +
        `width="${((w - nameWidth - 120) * r[m] / top).toFixed(1)}" fill="#3565b0"></rect>` +
        `<text x="${nameWidth + 6 + (w - nameWidth - 120) * r[m] / top}" y="${k * row + 15}">` +
        `${esc(fmt(r[m], m === "unsupported_ops" ? "count" : m.replace(/^(forward|backward)_/, "")))}</text></g>`).join("");
      $("sweep-bars").innerHTML = `<svg viewBox="0 0 ${w} ${ok.length * row}" width="100%" ` +
        `style="max-width:${w}px" role="img" aria-label="models compared">${body}</svg>`;
    }
    $("measure").addEventListener("change", draw);
    draw();
    const unit = (m) => (m === "unsupported_ops" ? "count" : m.replace(/^(forward|backward)_/, ""));
    sortable(section("models", "Models"), "model-table", DATA.models, [
      { key: "model", title: "model", text: (r) => esc(r.model), value: (r) => r.model },
    ].concat(DATA.measures.map((m) => ({
      key: m, title: label(m), value: (r) => r[m] || 0,
      text: (r) => (r.error ? "" : esc(fmt(r[m] || 0, unit(m)))),
    }))).concat([{ key: "error", title: "note", text: (r) => esc(r.error || ""),
      value: (r) => r.error || "", cls: (r) => (r.error ? "unsupported" : "") }]),
    DATA.measures[0]);
  }

  header();
  if (DATA.kind === "sweep") sweepPage(); else runPage();
  // the page's own timing, for whoever checks how fast it opens (tests read it)
  document.documentElement.dataset.renderMs = performance.now().toFixed(1);
  document.documentElement.dataset.ready = "true";
})();
