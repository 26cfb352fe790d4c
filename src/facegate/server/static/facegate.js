// Shared by every page: calls the person's API with the session's CSRF token.
// The token is kept in this origin's localStorage (scheme, host *and port*), never in a
// page or a cookie: a cookie for 127.0.0.1 also goes to every other local port.
"use strict";

window.facegate = {
  csrf() {
    return window.localStorage.getItem("facegate-csrf") || "";
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

// Times arrive as UTC instants; show them in this browser's own time zone.
for (const time of document.querySelectorAll("time[data-local]")) {
  const instant = new Date(time.getAttribute("datetime"));
  if (!Number.isNaN(instant.getTime())) {
    time.textContent = instant.toLocaleString(undefined, {
      year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", timeZoneName: "short",
    });
    time.title = time.getAttribute("datetime");
  }
}
