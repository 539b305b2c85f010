/* Serambi board: charts. The quadrant, heatmaps and bars are SVG or HTML drawn here; time series use the
   vendored uPlot (static/vendor/uplot). Every text goes in with textContent: data never becomes markup. */
"use strict";

const Charts = (() => {
  const SVG = "http://www.w3.org/2000/svg"; // the SVG namespace's name, not a request
  const { el } = Board;

  function svg(tag, attrs = {}, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value == null) continue;
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    node.append(...children.filter((c) => c != null));
    return node;
  }

  function empty(container, text) {
    container.replaceChildren(el("p", { class: "empty", text }));
  }

  /**
   * Two-way ratio (x) against reply rate (y), one bubble per agency sized by its citizen messages and coloured
   * by its class; the class thresholds and Meta's 90 % responsiveness bar as guides.
   */
  function quadrant(container, rows, thresholds, linkOf) {
    const plotted = rows.filter((r) => r.two_way_ratio != null && r.reply_rate != null);
    if (!plotted.length) return empty(container, "No agency has both a two-way ratio and a reply rate yet.");
    const W = 600, H = 430, m = { l: 56, r: 22, t: 14, b: 48 };
    const pw = W - m.l - m.r, ph = H - m.t - m.b;
    const x = (v) => m.l + v * pw, y = (v) => m.t + (1 - v) * ph;
    const t = thresholds;
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "quadrant", role: "img",
      "aria-label": "Two-way ratio against reply rate per agency" });
    chart.append(
      svg("rect", { class: "zone-dinner", x: x(t.dinner_min_two_way), y: y(1), width: x(1) - x(t.dinner_min_two_way),
        height: y(t.dinner_min_reply_rate) - y(1) }),
      svg("rect", { class: "zone-soapbox", x: x(0), y: y(1), width: x(t.soapbox_max_two_way) - x(0), height: ph }),
      svg("rect", { class: "zone-soapbox", x: x(t.soapbox_max_two_way), y: y(t.soapbox_max_reply_rate),
        width: x(1) - x(t.soapbox_max_two_way), height: y(0) - y(t.soapbox_max_reply_rate) }),
    );
    for (const v of [0, 0.25, 0.5, 0.75, 1]) {
      chart.append(
        svg("line", { class: "grid", x1: x(v), x2: x(v), y1: y(0), y2: y(1) }),
        svg("line", { class: "grid", x1: x(0), x2: x(1), y1: y(v), y2: y(v) }),
        svg("text", { class: "tick", x: x(v), y: y(0) + 18, "text-anchor": "middle", text: `${v * 100}%` }),
        svg("text", { class: "tick", x: x(0) - 8, y: y(v) + 4, "text-anchor": "end", text: `${v * 100}%` }),
      );
    }
    chart.append(
      svg("line", { class: "reference", x1: x(0), x2: x(1), y1: y(0.9), y2: y(0.9) }),
      svg("text", { class: "reference-label", x: x(0) + 6, y: y(0.9) - 5, text: "Meta responsiveness badge: 90 %" }),
      svg("text", { class: "zone-label", x: x(1) - 8, y: y(t.dinner_min_reply_rate) - 8, "text-anchor": "end",
        text: "Dinner party" }),
      svg("text", { class: "zone-label", x: x(0) + 8, y: y(0) - 8, text: "Soapbox" }),
      svg("text", { class: "axis", x: m.l + pw / 2, y: H - 8, "text-anchor": "middle",
        text: "Two-way ratio: replies / (replies + posts)" }),
      svg("text", { class: "axis", x: 14, y: m.t + ph / 2, "text-anchor": "middle",
        transform: `rotate(-90 14 ${m.t + ph / 2})`, text: "Reply rate: answered / (answered + overdue)" }),
    );
    const most = Math.max(1, ...plotted.map((r) => r.citizen_messages || 0));
    const radius = (r) => 5 + 21 * Math.sqrt((r.citizen_messages || 0) / most);
    const bubbles = [...plotted].sort((a, b) => radius(b) - radius(a)) // small bubbles on top
      .map((row) => ({ row, cx: x(row.two_way_ratio), cy: y(row.reply_rate), r: radius(row) }));
    // Obstacles (the zone names, the reference's label, every bubble, the labels so far): a label that would cover one moves to another
    // side of its bubble, or is left to the tooltip.
    const placed = [
      { x1: x(1) - 8 - 118, y1: y(t.dinner_min_reply_rate) - 20, x2: x(1), y2: y(t.dinner_min_reply_rate) },
      { x1: x(0), y1: y(0) - 22, x2: x(0) + 90, y2: y(0) },
      { x1: x(0), y1: y(0.9) - 16, x2: x(0) + 200, y2: y(0.9) },
      ...bubbles.map(({ cx, cy, r }) => ({ x1: cx - r, y1: cy - r, x2: cx + r, y2: cy + r })),
    ];
    const label = (text, cx, cy, r) => {
      const w = text.length * 6.3;
      for (const [lx, ly, anchor] of [[cx + r + 3, cy + 4, "start"], [cx - r - 3, cy + 4, "end"],
        [cx, cy - r - 4, "middle"], [cx, cy + r + 12, "middle"]]) {
        const x1 = anchor === "start" ? lx : anchor === "end" ? lx - w : lx - w / 2;
        const box = { x1, y1: ly - 10, x2: x1 + w, y2: ly + 2 };
        const free = !placed.some((p) => box.x1 < p.x2 && box.x2 > p.x1 && box.y1 < p.y2 && box.y2 > p.y1);
        if (free && box.x1 >= m.l && box.x2 <= W && box.y1 >= 0 && box.y2 <= y(0)) { // off the axes' labels
          placed.push(box);
          return svg("text", { class: "bubble-label", x: lx, y: ly, "text-anchor": anchor, text });
        }
      }
      return null;
    };
    const labels = [];
    for (const { row, cx, cy, r } of bubbles) {
      const tip = `${row.agency_id}: two-way ${Board.percent(row.two_way_ratio)}, reply rate ` +
        `${Board.percent(row.reply_rate)}, ${Board.count(row.citizen_messages)} citizen messages ` +
        `(${Board.classLabel(row.class)})`;
      chart.append(svg("a", { href: linkOf(row.agency_id), class: "bubble", "data-agency": row.agency_id },
        svg("title", { text: tip }),
        svg("circle", { cx, cy, r, fill: Board.classColor(row.class) }),
      ));
      labels.push(label(row.agency_id, cx, cy, r));
    }
    chart.append(...labels.filter((l) => l != null)); // above every bubble
    const missing = rows.length - plotted.length;
    const note = missing ? el("p", { class: "footnote",
      text: `Not shown: ${missing} of ${rows.length} agencies, without a reply rate or a two-way ratio yet.` }) : null;
    container.replaceChildren(chart, ...(note ? [note] : []));
  }

  /** Weekday (1 = Monday) x hour of day, shaded by `key`; `unit` formats the tooltip and the scale. */
  function heatmap(container, rows, key, unit, tone) {
    const known = rows.filter((r) => r[key] != null);
    if (!known.length) return empty(container, "No data in this window.");
    const cells = new Map(known.map((r) => [`${r.weekday}-${r.hour}`, r[key]]));
    const values = known.map((r) => Number(r[key]));
    const [low, high] = [Math.min(...values), Math.max(...values)];
    const days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const hours = [...Array(24).keys()];
    const head = el("tr", {}, el("th", {}), ...hours.map((h) => el("th", { text: h % 3 === 0 ? String(h) : "" })));
    const body = days.map((day, i) => el("tr", {}, el("th", { scope: "row", text: day }), ...hours.map((h) => {
      const value = cells.get(`${i + 1}-${h}`);
      const cell = el("td", { title: `${day} ${String(h).padStart(2, "0")}:00 UTC: ${Board.format(unit, value)}` });
      if (value != null) {
        const share = high > low ? (value - low) / (high - low) : 1;
        cell.style.backgroundColor = `rgba(${tone}, ${0.12 + 0.88 * share})`;
      }
      return cell;
    })));
    const scale = el("p", { class: "scale" },
      el("span", { text: Board.format(unit, low) }), el("span", { class: `ramp ramp-${unit}` }),
      el("span", { text: Board.format(unit, high) }));
    container.replaceChildren(el("table", { class: "heatmap" }, el("thead", {}, head), el("tbody", {}, ...body)), scale);
  }

  /** Horizontal bars: one per row, labelled by `label`, long as `value`. */
  function bars(container, rows, label, value, unit) {
    if (!rows.length || !rows.some((r) => r[value])) return empty(container, "No data in this window.");
    const most = Math.max(...rows.map((r) => r[value] || 0));
    const W = 600, rowH = 26, left = 110, right = 70, H = rows.length * rowH + 8;
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "bars", role: "img", "aria-label": "bar chart" });
    rows.forEach((row, i) => {
      const width = ((row[value] || 0) / most) * (W - left - right);
      const yTop = 4 + i * rowH;
      chart.append(
        svg("text", { class: "tick", x: left - 8, y: yTop + 16, "text-anchor": "end", text: row[label] }),
        svg("rect", { class: "bar", x: left, y: yTop + 3, width: Math.max(width, 1), height: rowH - 8, rx: 3 }),
        svg("text", { class: "bar-value", x: left + width + 6, y: yTop + 16, text: Board.format(unit, row[value]) }),
      );
    });
    container.replaceChildren(chart);
  }

  /**
   * Time series with uPlot: `times` are ISO instants, `series` [{label, values, color}]; `unit` "ratio" plots
   * percentages. Redrawn whole at each refresh (the previous chart is destroyed).
   */
  function lines(container, times, series, unit) {
    container._plot?.destroy();
    container._plot = null;
    if (!times.length || !series.length) return empty(container, "No data in this window.");
    const scale = unit === "ratio" ? 100 : 1;
    const data = [times.map((t) => Date.parse(t) / 1000),
      ...series.map((s) => s.values.map((v) => (v == null ? null : v * scale)))];
    const options = {
      width: Math.max(container.clientWidth, 280),
      height: 260,
      scales: { x: { time: true }, y: unit === "ratio" ? { range: [0, 100] } : { range: (u, lo, hi) => [0, hi * 1.1 || 1] } },
      axes: [
        { stroke: "#475569", grid: { stroke: "#e2e8f0" } },
        { stroke: "#475569", grid: { stroke: "#e2e8f0" }, size: 52,
          values: (u, ticks) => ticks.map((v) => (unit === "ratio" ? `${v}%` : Board.count(v))) },
      ],
      series: [
        { value: (u, v) => (v == null ? "–" : new Date(v * 1000).toLocaleDateString()) },
        ...series.map((s) => ({
          label: s.label, stroke: s.color, width: 2, spanGaps: true, points: { show: true, size: 6, fill: s.color },
          value: (u, v) => (v == null ? "–" : unit === "ratio" ? `${Math.round(v)}%` : Board.count(v)),
        })),
      ],
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
    };
    container.replaceChildren();
    container._plot = new uPlot(options, data, container);
  }

  return { quadrant, heatmap, bars, lines };
})();
