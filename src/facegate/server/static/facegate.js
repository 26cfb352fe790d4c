// Shared by every page: calls the person's API with the page's CSRF token.
"use strict";

window.facegate = {
  csrf() {
    const meta = document.querySelector('meta[name="facegate-csrf"]');
    return meta ? meta.content : "";
  },

  async post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-FaceGate-CSRF": this.csrf() },
      body: JSON.stringify(body || {}),
    });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      throw new Error((data && data.message) || ("HTTP " + response.status));
    }
    return data;
  },
};
