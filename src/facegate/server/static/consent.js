// The consent prompt's two buttons.
"use strict";

(() => {
  const actions = document.getElementById("consent-actions");
  const result = document.getElementById("consent-result");
  if (!actions) return;
  const requestId = actions.dataset.request;
  actions.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    for (const b of actions.querySelectorAll("button")) b.disabled = true;
    try {
      await window.facegate.post(`/api/user/consent-requests/${requestId}/${action}`);
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
