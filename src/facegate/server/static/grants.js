// "My apps and grants": the person's grants and the registered apps, fetched with the
// session's token; revoke a grant, ban an app, and the tables follow at once.
"use strict";

(() => {
  const fg = window.facegate;
  const grantsBody = document.querySelector("#grants tbody");
  const appsBody = document.querySelector("#apps tbody");
  const appRow = (appId) => appsBody.querySelector(`tr[data-app="${CSS.escape(appId)}"]`);

  function appStatus(live) {
    return live ? `may stream (${live} active grant${live > 1 ? "s" : ""})` : "no active grant";
  }

  function grantRow(grant, names) {
    return fg.el("tr", { dataset: { grant: grant.id, app: grant.app_id, state: grant.state } },
      fg.el("td", {}, names.get(grant.app_id) || grant.app_id),
      fg.el("td", {}, [...grant.scopes].sort().join(", ")),
      fg.el("td", { class: "state" }, grant.state),
      fg.el("td", {}, fg.time(grant.expires_at)),
      fg.el("td", {}, grant.state === "active" && fg.el("button",
        { class: "revoke", dataset: { action: "revoke", grant: grant.id } }, "Revoke")));
  }

  function appRowOf(app, live) {
    const status = app.banned ? `banned: ${app.ban_reason}` : appStatus(live);
    const ban = !app.banned && fg.el("form", { class: "ban", dataset: { app: app.id } },
      fg.el("label", {}, "Why ",
        fg.el("input", { name: "reason", required: "", maxlength: 500, placeholder: "reason" })),
      fg.el("button", { class: "ban", dataset: { action: "ban" } }, "Ban"));
    return fg.el("tr",
      { dataset: { app: app.id, live: String(live), banned: String(app.banned) } },
      fg.el("td", {}, app.name),
      fg.el("td", { class: "wide-only" }, app.developer),
      fg.el("td", { class: "wide-only" }, app.purpose),
      fg.el("td", {}, fg.retention(app.retention_days)),
      fg.el("td", { class: "app-status" }, status),
      fg.el("td", {}, ban));
  }

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
    app.querySelector(".app-status").textContent = appStatus(live);
  }

  fg.load(async () => {
    const [grants, apps] = await Promise.all([fg.get("/api/user/grants"), fg.get("/api/user/apps")]);
    const names = new Map(apps.map((app) => [app.id, app.name]));
    grantsBody.replaceChildren(...grants.map((grant) => grantRow(grant, names)));
    if (!grants.length) {
      grantsBody.append(fg.el("tr", {},
        fg.el("td", { colspan: 5, id: "no-grants" }, "You have not allowed any app.")));
    }
    appsBody.replaceChildren(...apps.map((app) => appRowOf(app,
      grants.filter((grant) => grant.app_id === app.id && grant.state === "active").length)));
    if (!apps.length) {
      appsBody.append(fg.el("tr", {},
        fg.el("td", { colspan: 6, id: "no-apps" }, "No app is registered.")));
    }
  });

  document.getElementById("grants").addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action='revoke']");
    if (!button) return;
    const row = button.closest("tr");
    button.disabled = true;
    try {
      await fg.post(`/api/user/grants/${encodeURIComponent(button.dataset.grant)}/revoke`);
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
      await fg.post(`/api/user/apps/${encodeURIComponent(appId)}/ban`, { reason });
      for (const grant of grantsBody.querySelectorAll(`tr[data-app="${CSS.escape(appId)}"]`)) {
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
