// The audit log, newest first, and whether its chain verifies; fetched with the
// session's token, as is the export (a plain link could not send it).
"use strict";

(() => {
  const fg = window.facegate;
  const chain = document.getElementById("chain");

  function eventCell(entry) {
    const detail = entry.detail || {};
    return fg.el("td", {}, entry.event,
      detail.attempts ? ` (${detail.attempts} attempts)` : null,
      typeof detail.destination === "string"
        && fg.el("span", { class: "destination" }, ` (sent on to ${detail.destination})`));
  }

  function entryRow(entry) {
    return fg.el("tr", { dataset: { seq: String(entry.seq), event: entry.event } },
      fg.el("td", {}, String(entry.seq)),
      fg.el("td", {}, fg.time(entry.at)),
      eventCell(entry),
      fg.el("td", {}, entry.actor),
      fg.el("td", {}, entry.app_id || ""),
      fg.el("td", {}, (entry.scopes || []).join(", ")),
      fg.el("td", {}, entry.frames === null ? "" : String(entry.frames)));
  }

  fg.load(async () => {
    const [report, entries] = await Promise.all([
      fg.get("/api/user/audit/verify"),
      fg.get("/api/user/audit"),
    ]);
    chain.dataset.ok = String(report.ok);
    document.getElementById("chain-report").textContent = report.ok
      ? `The hash chain of all ${report.entries} entries is intact. `
      : `The log was tampered with: ${report.problem}. `;
    chain.hidden = false;
    document.querySelector("#audit tbody").replaceChildren(...entries.reverse().map(entryRow));
  });

  document.getElementById("export").addEventListener("click", async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    document.getElementById("export-state").textContent = "";
    try {
      const blob = await (await fg.fetch("GET", "/api/user/audit/export")).blob();
      const url = URL.createObjectURL(blob);
      const link = fg.el("a", { href: url, download: "facegate-audit.jsonl", hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (err) {
      document.getElementById("export-state").textContent = "The export failed: " + err.message;
    } finally {
      button.disabled = false;
    }
  });
})();
