// "My apps and grants": revoke a grant, ban an app; the tables follow at once.
"use strict";

(() => {
  const appRow = (appId) => document.querySelector(`#apps tr[data-app="${appId}"]`);

  function grantEnded(row, state) {
    if (row.dataset.state !== "active") return;
    row.dataset.state = state;
    row.querySelector(".state").textContent = state;
    const button = row.querySelector("button[data-action='revoke']");
    if (button) button.remove();
    const app = appRow(row.dataset.app);
    if (!app || app.dataset.banned === "true") return;
    const live = Math.max(0, Number(app.dataset.live) - 1);
    app.dataset.live = String(live);
    app.querySelector(".app-status").textContent = live
      ? `may stream (${live} active grant${live > 1 ? "s" : ""})`
      : "no active grant";
  }

  document.getElementById("grants").addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action='revoke']");
    if (!button) return;
    const row = button.closest("tr");
    button.disabled = true;
    try {
      await window.facegate.post(`/api/user/grants/${button.dataset.grant}/revoke`);
      grantEnded(row, "revoked");
    } catch (err) {
      row.querySelector(".state").textContent = "revoke failed: " + err.message;
      button.disabled = false;
    }
  });

  document.getElementById("apps").addEventListener("submit", async (event) => {
    const form = event.target.closest("form.ban");
    if (!form) return;
    event.preventDefault();
    const appId = form.dataset.app;
    const reason = form.elements.reason.value.trim();
    const row = appRow(appId);
    const status = row.querySelector(".app-status");
    form.querySelector("button").disabled = true;
    try {
      await window.facegate.post(`/api/user/apps/${appId}/ban`, { reason });
      for (const grant of document.querySelectorAll(`#grants tr[data-app="${appId}"]`)) {
        grantEnded(grant, "revoked");
      }
      row.dataset.banned = "true";
      status.textContent = "banned: " + reason;
      form.remove();
    } catch (err) {
      status.textContent = "ban failed: " + err.message;
      form.querySelector("button").disabled = false;
    }
  });
})();
