// The consent prompt: what the app is, what it asks for, other apps registered under a
// name that looks the same; then the two buttons. The app's own words are shown as text.
"use strict";

(() => {
  const fg = window.facegate;
  const prompt = document.getElementById("prompt");
  const actions = document.getElementById("consent-actions");
  const result = document.getElementById("consent-result");
  const requestId = prompt.dataset.request;
  const $ = (id) => document.getElementById(id);

  function namesakeWarning(namesakes) {
    const count = namesakes.length;
    const banned = namesakes.filter((other) => other.banned).length;
    const ids = [];
    namesakes.forEach((other, i) => {
      if (i) ids.push(", ");
      ids.push(fg.el("code", {}, other.id));
    });
    const bannedText = banned
      ? `, and you banned ${banned === 1 ? "one" : String(banned)} of them` : "";
    return [
      `${count} other app${count > 1 ? "s" : ""} registered here use this name${bannedText}: `
        + "anyone can register any name, so make sure this is the app you mean before you "
        + "allow it (ids: ",
      ...ids,
      ").",
    ];
  }

  function show(view) {
    const { request, app, namesakes, scopes } = view;
    document.title = `Allow ${app.name}? · FaceGate`;
    $("consent-title").replaceChildren("Allow ", fg.el("span", { class: "app-name" }, app.name),
      " to see your expressions?");
    $("app-developer").textContent = `${app.developer} (${app.contact})`;
    $("app-purpose").textContent = app.purpose;
    $("app-retention").textContent = fg.retention(app.retention_days);
    $("grant-duration").textContent =
      `${fg.duration(request.grant_seconds)}, unless you revoke it sooner`;
    $("app-id").replaceChildren(fg.el("code", {}, app.id), ", registered ",
      fg.time(app.registered_at));
    if (namesakes.length) {
      $("namesakes").replaceChildren(...namesakeWarning(namesakes));
      $("namesakes").hidden = false;
    }
    $("scopes").replaceChildren(...scopes.map((scope) =>
      fg.el("li", { dataset: { scope: scope.name } },
        fg.el("strong", {}, scope.name), `: ${scope.description}`)));
    $("terms").textContent = `${app.name} accepted FaceGate's terms (version `
      + `${view.terms_version}): no sale to third parties, no advertising, no use to identify `
      + "or authenticate you. Revoking later makes it stop at once and tells it to delete "
      + "what it received.";
    result.dataset.status = request.status;
    if (request.status === "pending") actions.hidden = false;
    else result.textContent = `This request is ${request.status}.`;
    prompt.hidden = false;
  }

  fg.load(async () => {
    try {
      show(await fg.get(`/api/user/consent-requests/${encodeURIComponent(requestId)}/prompt`));
    } catch (err) {
      if (err.status === 404) {
        $("consent-title").textContent = "Not found";
        err.message = "There is no such consent request. It may have been mistyped, or it "
          + "was never made.";
      }
      throw err;
    }
  });

  actions.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    for (const b of actions.querySelectorAll("button")) b.disabled = true;
    try {
      await fg.post(`/api/user/consent-requests/${encodeURIComponent(requestId)}/${action}`);
      result.dataset.status = action === "approve" ? "approved" : "refused";
      result.textContent = action === "approve"
        ? "Allowed. You can revoke it at any time under “My apps and grants”."
        : "Refused. The app receives nothing.";
      actions.remove();
    } catch (err) {
      result.dataset.status = "error";
      result.textContent = "That did not work: " + err.message;
      for (const b of actions.querySelectorAll("button")) b.disabled = false;
    }
  });
})();
