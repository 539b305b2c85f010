/* Serambi board, one agency's page (/agency/<id>): its figures, accounts, heatmaps, distribution, strategy mix,
   unanswered messages and surges; every view filtered to the agency by a bound parameter on the server. */
"use strict";

(() => {
  const { el, badge, view } = Board;
  const agencyId = decodeURIComponent(location.pathname.replace(/^\/agency\//, ""));

  const KPIS = [
    ["citizen_messages", "Citizen messages", "count"],
    ["needs_reply_messages", "Need a reply", "count"],
    ["reply_rate", "Reply rate", "ratio"],
    ["needs_reply_rate", "Reply rate, need a reply", "ratio"],
    ["sla_compliance", "Within SLA", "ratio"],
    ["median_response_seconds", "Median reply", "seconds"],
    ["p90_response_seconds", "p90 reply", "seconds"],
    ["median_business_seconds", "Median, business hrs", "seconds"],
    ["two_way_ratio", "Two-way ratio", "ratio"],
    ["backlog", "Backlog", "count"],
    ["oldest_unanswered_seconds", "Oldest unanswered", "seconds"],
  ];
  const ACCOUNT_COLUMNS = [
    { key: "platform", label: "Platform", unit: "text" },
    { key: "account_id", label: "Account", unit: "text" },
    { key: "class", label: "Class", unit: "class", sortValue: (r) => Board.CLASS_RANK[r.class], cell: (r) => badge(r.class) },
    { key: "citizen_messages", label: "Messages", unit: "count" },
    { key: "answered", label: "Answered", unit: "count" },
    { key: "needs_reply_messages", label: "Need a reply", unit: "count" },
    { key: "reply_rate", label: "Reply rate", unit: "ratio" },
    { key: "needs_reply_rate", label: "Reply rate (need a reply)", unit: "ratio" },
    { key: "sla_compliance", label: "Within SLA", unit: "ratio" },
    { key: "median_response_seconds", label: "Median reply", unit: "seconds" },
    { key: "two_way_ratio", label: "Two-way", unit: "ratio" },
    { key: "backlog", label: "Backlog", unit: "count" },
  ];
  const UNANSWERED_COLUMNS = [
    { key: "asked_at", label: "Asked", unit: "time" },
    { key: "age_seconds", label: "Waiting", unit: "seconds" },
    { key: "status", label: "Status", unit: "text",
      cell: (r) => el("span", { class: `badge badge-${r.status === "overdue" ? "soapbox" : "mixed"}`, text: r.status }) },
    { key: "platform", label: "Platform", unit: "text" },
    { key: "account_id", label: "Account", unit: "text" },
    { key: "link", label: "Message", unit: "url",
      cell: (r) => (r.link ? el("a", { href: r.link, target: "_blank", rel: "noopener noreferrer", text: "open ↗" })
        : el("span", { class: "muted", text: r.message_id })) },
  ];
  const ALERT_COLUMNS = [
    { key: "platform", label: "Platform", unit: "text" },
    { key: "severity", label: "Severity", unit: "text" },
    { key: "started_at", label: "Since", unit: "time" },
    { key: "arrivals_per_minute", label: "Msgs / min", unit: "count" },
    { key: "baseline_per_minute", label: "Usual / min", unit: "count" },
    { key: "backlog", label: "Backlog", unit: "count" },
    { key: "asks_about", label: "Citizens ask about", unit: "text" },
  ];

  let accounts = null;

  function header(row, win) {
    document.getElementById("agency-name").textContent = row?.name || agencyId;
    document.getElementById("agency-id").textContent = agencyId;
    document.getElementById("agency-tier").textContent = row?.tier ? `· ${row.tier}` : "";
    document.getElementById("agency-class").replaceChildren(...(row ? [badge(row.class)] : []));
    document.getElementById("back").href = `/?window=${encodeURIComponent(win)}`;
    document.title = `Serambi · ${row?.name || agencyId}`;
  }

  function kpis(row) {
    const cards = KPIS.map(([key, label, unit]) => el("div", { class: "kpi", "data-key": key },
      el("span", { class: "kpi-value", text: Board.format(unit, row?.[key]) }), el("span", { class: "kpi-label", text: label })));
    document.getElementById("kpis").replaceChildren(...cards);
  }

  function strategy(rows) {
    const times = rows.map((r) => r.time);
    const series = [["push_posts", "Push posts", "#d97706"], ["pull_posts", "Pull posts", "#2563eb"],
      ["agency_replies", "Replies (networking)", "#059669"]]
      .map(([key, label, color]) => ({ label, color, values: rows.map((r) => r[key]) }));
    Charts.lines(document.getElementById("strategy"), times, series, "count");
  }

  async function load(meta, win) {
    if (!accounts) {
      accounts = Board.sortableTable(document.getElementById("accounts"), ACCOUNT_COLUMNS, {
        sortKey: "citizen_messages", rowKey: (r) => `${r.platform}/${r.account_id}`, empty: "No account data in this window.",
      });
    }
    const only = { window: win, agency: agencyId };
    const [lead, accountRows, arrivals, response, distribution, mix, unanswered, alerts] = await Promise.all([
      view("leaderboard", only), view("agency_accounts", only), view("arrivals_heatmap", only),
      view("response_heatmap", only), view("response_distribution", only), view("strategy_mix", only),
      view("unanswered", { ...only, limit: 50 }), view("active_alerts", only),
    ]);
    const row = lead.rows.find((r) => r.agency_id === agencyId);
    header(row, win);
    if (!row) throw new Error(`no agency ${agencyId} in the directory or the stored data`);
    document.getElementById("window-label").textContent =
      `${Board.windowLabel(win)}: ${Board.instant(lead.window.since)} to ${Board.instant(lead.window.until)}`;
    kpis(row);
    accounts.update(accountRows.rows);
    Charts.heatmap(document.getElementById("arrivals-heatmap"), arrivals.rows, "citizen_messages", "count", "37, 99, 235");
    Charts.heatmap(document.getElementById("response-heatmap"), response.rows, "median_response_seconds", "seconds",
      "217, 119, 6");
    Charts.bars(document.getElementById("distribution"), distribution.rows, "bucket", "answered", "count");
    strategy(mix.rows);
    Board.listTable(document.getElementById("unanswered"), UNANSWERED_COLUMNS, unanswered.rows,
      "Nothing unanswered at the window's end.");
    Board.listTable(document.getElementById("alerts"), ALERT_COLUMNS, alerts.rows, "No active surge alert.");
  }

  document.addEventListener("DOMContentLoaded", () => Board.start(load));
})();
