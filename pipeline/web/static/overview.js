/* Serambi board, the cross-agency page: leaderboard, quadrant, live surges and weekly trends. */
"use strict";

(() => {
  const { el, badge, view } = Board;
  let currentWindow = "7d";
  const agencyLink = (id) => `/agency/${encodeURIComponent(id)}?window=${encodeURIComponent(currentWindow)}`;

  const COLUMNS = [
    { key: "agency_id", label: "Agency", unit: "text", title: "the agency's name and id; click for its page",
      sortValue: (r) => (r.name || r.agency_id).toLowerCase(),
      cell: (r) => el("span", { class: "agency" },
        el("a", { href: agencyLink(r.agency_id), text: r.name || r.agency_id }),
        el("span", { class: "muted", text: r.tier ? `${r.agency_id} · ${r.tier}` : r.agency_id })) },
    { key: "class", label: "Class", unit: "class", sortValue: (r) => Board.CLASS_RANK[r.class], cell: (r) => badge(r.class) },
    { key: "citizen_messages", label: "Messages", unit: "count" },
    { key: "reply_rate", label: "Reply rate", unit: "ratio", cell: (r) => meter(r.reply_rate) },
    { key: "needs_reply_rate", label: "Reply rate (need a reply)", unit: "ratio", cell: (r) => meter(r.needs_reply_rate) },
    { key: "sla_compliance", label: "Within SLA", unit: "ratio", cell: (r) => meter(r.sla_compliance) },
    { key: "median_response_seconds", label: "Median reply", unit: "seconds" },
    { key: "p90_response_seconds", label: "p90 reply", unit: "seconds" },
    { key: "median_business_seconds", label: "Median (business hours)", unit: "seconds" },
    { key: "two_way_ratio", label: "Two-way", unit: "ratio" },
    { key: "overdue", label: "Overdue", unit: "count" },
    { key: "backlog", label: "Backlog", unit: "count" },
    { key: "oldest_unanswered_seconds", label: "Oldest waiting", unit: "seconds" },
  ];

  function meter(value) {
    const bar = el("span", { class: "meter-fill" });
    bar.style.width = `${value == null ? 0 : Math.round(100 * value)}%`;
    return el("span", { class: "meter" }, el("span", { class: "meter-text", text: Board.percent(value) }),
      el("span", { class: "meter-track" }, bar));
  }

  const ALERT_COLUMNS = [
    { key: "agency_id", label: "Agency", unit: "text",
      cell: (r) => el("a", { href: agencyLink(r.agency_id), text: r.agency_id }) },
    { key: "platform", label: "Platform", unit: "text" },
    { key: "severity", label: "Severity", unit: "text",
      cell: (r) => el("span", { class: `badge badge-${r.severity === "critical" ? "soapbox" : "mixed"}`, text: r.severity }) },
    { key: "started_at", label: "Since", unit: "time" },
    { key: "arrivals_per_minute", label: "Msgs / min", unit: "count" },
    { key: "baseline_per_minute", label: "Usual / min", unit: "count" },
    { key: "backlog", label: "Backlog", unit: "count" },
    { key: "asks_about", label: "Citizens ask about", unit: "text" },
  ];

  let leaderboard = null;

  function reading(meta) {
    const t = meta.thresholds;
    const pct = (v) => `${Math.round(100 * v)} %`;
    const lines = [
      ["dinner_party", `two-way ratio ≥ ${pct(t.dinner_min_two_way)} and reply rate ≥ ${pct(t.dinner_min_reply_rate)}`],
      ["soapbox", `two-way ratio ≤ ${pct(t.soapbox_max_two_way)} or reply rate ≤ ${pct(t.soapbox_max_reply_rate)}`],
      ["mixed", "in between"],
      ["insufficient_data", `under ${t.min_messages} citizen messages and under ${t.min_output} posts + replies`],
    ];
    document.getElementById("reading").replaceChildren(
      ...lines.map(([cls, rule]) => el("li", {}, badge(cls), el("span", { text: ` ${rule}` }))),
      el("li", { class: "muted", text: "Dashed line: Meta's responsiveness badge asks for 90 % of messages answered " +
        "(within 15 minutes); the public-service charter asks for one working day." }),
    );
  }

  function trends(rows) {
    const times = [...new Set(rows.map((r) => r.time))].sort();
    const agencies = [...new Set(rows.map((r) => r.agency_id))].sort();
    const at = new Map(rows.map((r) => [`${r.agency_id}|${r.time}`, r]));
    const series = (key) => agencies.map((agency, i) => ({
      label: agency, color: Board.PALETTE[i % Board.PALETTE.length],
      values: times.map((t) => at.get(`${agency}|${t}`)?.[key] ?? null),
    }));
    Charts.lines(document.getElementById("trend-reply"), times, series("reply_rate"), "ratio");
    Charts.lines(document.getElementById("trend-messages"), times, series("citizen_messages"), "count");
  }

  async function load(meta, win) {
    currentWindow = win;
    const columnHelp = Object.fromEntries(meta.views.find((v) => v.name === "leaderboard").columns
      .map((c) => [c.name, c.help]));
    if (!leaderboard) {
      for (const column of COLUMNS) column.title = column.title || columnHelp[column.key];
      Board.legend(document.getElementById("class-legend"));
      reading(meta);
      document.getElementById("default-sla").textContent = `${meta.default_sla_hours} h`;
      leaderboard = Board.sortableTable(document.getElementById("leaderboard"), COLUMNS, {
        sortKey: "reply_rate", rowKey: (r) => r.agency_id, empty: "No agency in the directory or the data yet.",
      });
    }
    const [lead, quad, weekly, alerts] = await Promise.all([
      view("leaderboard", { window: win }),
      view("quadrant", { window: win }),
      view("weekly_trends", { window: "90d" }),
      view("active_alerts", { window: win }),
    ]);
    document.getElementById("window-label").textContent =
      `${Board.windowLabel(win)}: ${Board.instant(lead.window.since)} to ${Board.instant(lead.window.until)}`;
    leaderboard.update(lead.rows);
    Charts.quadrant(document.getElementById("quadrant"), quad.rows, meta.thresholds, agencyLink);
    Board.listTable(document.getElementById("alerts"), ALERT_COLUMNS, alerts.rows, "No active surge alert.");
    trends(weekly.rows);
  }

  document.addEventListener("DOMContentLoaded", () => Board.start(load));
})();
