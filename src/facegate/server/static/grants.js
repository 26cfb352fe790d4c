// Revoke buttons on "My apps and grants".
"use strict";

document.getElementById("grants").addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-action='revoke']");
  if (!button) return;
  const row = button.closest("tr");
  button.disabled = true;
  try {
    await window.facegate.post(`/api/user/grants/${button.dataset.grant}/revoke`);
    row.dataset.state = "revoked";
    row.querySelector(".state").textContent = "revoked";
    button.remove();
  } catch (err) {
    row.querySelector(".state").textContent = "revoke failed: " + err.message;
    button.disabled = false;
  }
});
