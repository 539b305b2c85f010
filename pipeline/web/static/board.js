/* Serambi board: what both pages share. Formatting by unit, fetching catalog views, sortable tables, the window
   picker and the refresh loop (fetch() only: the page is never reloaded). Nothing here talks to another host. */
"use strict";

const Board = (() => {
  const CLASSES = [
    ["dinner_party", "Dinner party", "converses: answers most citizens and much of its output is replies"],
    ["mixed", "Mixed", "between a dinner party and a soapbox"],
    ["soapbox", "Soapbox", "broadcasts: few replies, or few citizens answered"],
    ["insufficient_data", "Insufficient data", "too little activity in the window to judge"],
  ];
  const CLASS_RANK = Object.fromEntries(CLASSES.map(([key], i) => [key, i]));
  const PALETTE = [
    "#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2",
    "#dc2626", "#65a30d", "#9333ea", "#0d9488", "#ea580c", "#4b5563",
  ];
  const cspViolations = [];
  document.addEventListener("securitypolicyviolation", (e) => cspViolations.push(e.violatedDirective));
  window.__boardCspViolations = cspViolations;

  /** An element with attributes ({class, text, title, href, data-*: ...}) and children. */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value == null) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    node.append(...children.filter((c) => c != null));
    return node;
  }

  function percent(value) {
    if (value == null) return "–";
    const p = 100 * value;
    return p > 0 && p < 0.5 ? "<1%" : `${Math.round(p)}%`;
  }

  /** An age or delay as a person reads it: 45s, 17m, 5h 12m, 3d 4h, 420d, 1.2y (serambi report's rules). */
  function duration(seconds) {
    if (seconds == null) return "–";
    const s = Math.max(0, Math.round(seconds));
    const MIN = 60, HOUR = 3600, DAY = 86400, YEAR = 365.25 * DAY;
    if (s < 2 * MIN) return `${s}s`;
    if (s < 2 * HOUR) return `${Math.floor(s / MIN)}m`;
    if (s < 2 * DAY) return `${Math.floor(s / HOUR)}h ${Math.floor((s % HOUR) / MIN)}m`;
    if (s < 100 * DAY) return `${Math.floor(s / DAY)}d ${Math.floor((s % DAY) / HOUR)}h`;
    if (s < 2 * YEAR) return `${Math.floor(s / DAY)}d`;
    return `${(s / YEAR).toFixed(1)}y`;
  }

  function count(value) {
    return value == null ? "–" : Number(value).toLocaleString("en");
  }

  function instant(text) {
    if (!text) return "–";
    return new Date(text).toLocaleString(undefined, {
      weekday: "short", day: "2-digit", month: "short", hour: "2-digit", minute: "2-digit",
    });
  }

  /** A value as text by its catalog unit. */
  function format(unit, value) {
    switch (unit) {
      case "ratio": return percent(value);
      case "seconds": return duration(value);
      case "count": return count(value);
      case "time": return instant(value);
      default: return value == null || value === "" ? "–" : String(value);
    }
  }

  function classLabel(key) {
    const found = CLASSES.find(([k]) => k === key);
    return found ? found[1] : key;
  }

  function badge(cls) {
    const found = CLASSES.find(([k]) => k === cls);
    return el("span", { class: `badge badge-${found ? cls : "unknown"}`, text: classLabel(cls), title: found?.[2] });
  }

  function classColor(cls) {
    return getComputedStyle(document.documentElement).getPropertyValue(`--class-${cls}`).trim() || "#6b7280";
  }

  function legend(container) {
    container.replaceChildren(
      ...CLASSES.map(([key, , help]) => el("span", { class: "legend-item" }, badge(key), el("span", { text: help }))),
    );
  }

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
    return body;
  }

  /** Rows of catalog view `name`; params are repeated for arrays ({agency: ["a", "b"]}). */
  function view(name, params) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) for (const one of [].concat(value)) query.append(key, one);
    return getJSON(`/api/views/${encodeURIComponent(name)}?${query}`);
  }

  function chosenWindow(meta) {
    const asked = new URLSearchParams(location.search).get("window");
    return meta.windows.includes(asked) ? asked : meta.default_window;
  }

  function windowLabel(win) {
    return { "24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days", "90d": "last 90 days" }[win] || win;
  }

  /**
   * A sortable table: click a header to sort by it (again to reverse); nulls stay last.
   * columns: [{key, label, unit, title, cell(row) -> Node?, sortValue(row)?}].
   */
  function sortableTable(table, columns, { sortKey, descending = true, rowKey, empty = "No data" }) {
    const state = { key: sortKey, descending, rows: [] };
    const byKey = Object.fromEntries(columns.map((c) => [c.key, c]));
    const valueOf = (column, row) => (column.sortValue ? column.sortValue(row) : row[column.key]);

    function compare(a, b) {
      const column = byKey[state.key];
      const [x, y] = [valueOf(column, a), valueOf(column, b)];
      if (x == null || y == null) return x == null && y == null ? 0 : x == null ? 1 : -1;
      const order = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
      return (state.descending ? -order : order) || String(rowKey(a)).localeCompare(String(rowKey(b)));
    }

    function header() {
      const cells = columns.map((column) => {
        const sorted = column.key === state.key;
        const arrow = sorted ? (state.descending ? " ▼" : " ▲") : "";
        const button = el("button", { type: "button", text: column.label + arrow, "data-sort": column.key });
        button.addEventListener("click", () => {
          if (state.key === column.key) state.descending = !state.descending;
          else Object.assign(state, { key: column.key, descending: !["text", "class"].includes(column.unit) });
          render();
        });
        const ariaSort = sorted ? (state.descending ? "descending" : "ascending") : "none";
        return el("th", { class: `u-${column.unit}`, title: column.title, "aria-sort": ariaSort, scope: "col" }, button);
      });
      table.tHead.replaceChildren(el("tr", {}, ...cells));
    }

    function render() {
      header();
      const rows = [...state.rows].sort(compare);
      const body = rows.map((row) => el("tr", { "data-key": rowKey(row) }, ...columns.map((column) => {
        const value = row[column.key];
        const content = column.cell ? column.cell(row) : format(column.unit, value);
        return el("td", { class: `u-${column.unit}`, "data-key": column.key, "data-value": value ?? "" }, content);
      })));
      if (!rows.length) body.push(el("tr", {}, el("td", { class: "empty", colspan: columns.length, text: empty })));
      table.tBodies[0].replaceChildren(...body);
    }

    return {
      update(rows) {
        state.rows = rows;
        render();
      },
    };
  }

  /** A plain (not sortable) list of rows, or a line saying there is none. */
  function listTable(container, columns, rows, empty) {
    if (!rows.length) {
      container.replaceChildren(el("p", { class: "empty", text: empty }));
      return;
    }
    const head = el("tr", {}, ...columns.map((c) => el("th", { class: `u-${c.unit}`, text: c.label, title: c.title })));
    const body = rows.map((row) => el("tr", {}, ...columns.map((c) => el(
      "td", { class: `u-${c.unit}` }, c.cell ? c.cell(row) : format(c.unit, row[c.key]),
    ))));
    container.replaceChildren(el("table", { class: "data" }, el("thead", {}, head), el("tbody", {}, ...body)));
  }

  function showError(error) {
    const banner = document.getElementById("error");
    banner.textContent = error ? `Could not refresh the figures: ${error.message}. Showing the last ones.` : "";
    banner.hidden = !error;
  }

  function stamp(refreshes) {
    const now = new Date();
    const time = document.getElementById("updated-at");
    time.dateTime = now.toISOString();
    time.textContent = now.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    document.body.dataset.refreshes = String(refreshes);
  }

  function refreshText(seconds) {
    return seconds >= 120 ? `${Math.round(seconds / 60)} min` : `${seconds} s`;
  }

  /**
   * Load the page's figures with load(meta, window) now and every refresh_seconds after; the window picker
   * reloads them at once. A failed refresh keeps the last figures and says why.
   */
  async function start(load) {
    let meta;
    try {
      meta = await getJSON("/api/meta");
    } catch (error) {
      showError(error);
      return;
    }
    let win = chosenWindow(meta);
    let refreshes = 0;
    let running = false;
    document.getElementById("refresh-every").textContent = refreshText(meta.refresh_seconds);
    const nav = document.getElementById("windows");

    function drawNav() {
      nav.replaceChildren(...meta.windows.map((name) => {
        const button = el("button", { type: "button", text: name, "aria-pressed": String(name === win) });
        button.addEventListener("click", () => {
          win = name;
          const url = new URL(location.href);
          url.searchParams.set("window", name);
          history.replaceState(null, "", url);
          drawNav();
          tick();
        });
        return button;
      }));
    }

    async function tick() {
      if (running) return; // a slow refresh is not stacked on another
      running = true;
      try {
        await load(meta, win);
        refreshes += 1;
        stamp(refreshes);
        showError(null);
      } catch (error) {
        showError(error);
      } finally {
        running = false;
      }
    }

    drawNav();
    await tick();
    setInterval(tick, meta.refresh_seconds * 1000);
  }

  return {
    CLASSES, CLASS_RANK, PALETTE, el, percent, duration, count, instant, format, badge, classColor, classLabel,
    legend, view, windowLabel, sortableTable, listTable, start,
  };
})();
