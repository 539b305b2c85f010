/* Serambi board, one agency's page: what its citizens ask about this week and its rising pain points. The lists
   are the catalog views citizen_topics_week and rising_pain_points (the worker's latest computation in the
   window), filtered to the agency by a bound parameter; refreshed with the page's other figures. */
"use strict";

(() => {
  const { el } = Board;
  const agencyId = decodeURIComponent(location.pathname.replace(/^\/agency\//, ""));
  const example = (r) => el("span", { text: r.example || "–" });
  const LISTS = [
    {
      view: "citizen_topics_week", id: "topics-week", empty: "No topic this week: too few messages, or none asked more than before.",
      columns: [
        { key: "term", label: "Topic", unit: "text" },
        { key: "count", label: "Messages", unit: "count", title: "messages of the last 7 days holding it" },
        { key: "unanswered", label: "Unanswered", unit: "count" },
        { key: "rise", label: "Rise", unit: "count", title: "against the 7 days before", cell: (r) => rise(r.rise) },
        { key: "example", label: "Example", unit: "text", cell: example },
      ],
    },
    {
      view: "rising_pain_points", id: "topics-rising", empty: "No rising pain point: nothing unanswered rose in the last 24 hours.",
      columns: [
        { key: "term", label: "Topic", unit: "text" },
        { key: "unanswered", label: "Unanswered", unit: "count", title: "messages of the last 24 h still unanswered holding it" },
        { key: "rise", label: "Rise", unit: "count", title: "against the 24 h before", cell: (r) => rise(r.rise) },
        { key: "example", label: "Example", unit: "text", cell: example },
      ],
    },
  ];

  function rise(value) {
    return el("span", { class: value > 0 ? null : "muted", text: value > 0 ? `+${Board.count(value)}` : Board.count(value) });
  }

  function chosenWindow(meta) {
    const asked = new URLSearchParams(location.search).get("window");
    return meta.windows.includes(asked) ? asked : meta.default_window;
  }

  async function load(meta) {
    const only = { window: chosenWindow(meta), agency: agencyId, limit: 10 };
    await Promise.all(LISTS.map(async (list) => {
      const status = document.getElementById(`${list.id}-status`);
      try {
        const body = await Board.view(list.view, only);
        Board.listTable(document.getElementById(list.id), list.columns, body.rows, list.empty);
        const at = body.rows[0]?.computed_at;
        status.textContent = at ? `As computed ${Board.instant(at)}` : "";
      } catch (error) {
        status.textContent = `Could not refresh this list: ${error.message}. Showing the last one.`;
      }
    }));
    document.body.dataset.listeningRefreshes = String(Number(document.body.dataset.listeningRefreshes || 0) + 1);
  }

  document.addEventListener("DOMContentLoaded", async () => {
    const response = await fetch("/api/meta", { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!response.ok) return; // the page's own script says why in its banner
    const meta = await response.json();
    await load(meta);
    // The window picker re-renders its buttons: listen on the nav itself, after the page's handler changed the URL.
    document.getElementById("windows").addEventListener("click", (event) => {
      if (event.target.closest("button")) load(meta);
    });
    setInterval(() => load(meta), meta.refresh_seconds * 1000);
  });
})();
