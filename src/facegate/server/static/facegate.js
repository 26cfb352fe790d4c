// Shared by every page: calls the person's API with the session's CSRF token, and builds
// the pages' contents from its answers.
//
// The token is kept in this origin's localStorage (scheme, host *and port*), never in a
// page or a cookie: a cookie for 127.0.0.1 also goes to every other local port, so any
// local server the person's browser visits can replay it. That is why the pages hold no
// data of their own: the server sends a shell, and the lists are fetched here with the
// token. Everything an app chose (its name, developer, purpose) goes into the page as
// text nodes, never as HTML.
"use strict";

window.facegate = {
  csrf() {
    return window.localStorage.getItem("facegate-csrf") || "";
  },

  // The response of a call to the person's API; throws an Error with `.status` unless 2xx.
  async fetch(method, path, body) {
    const init = {
      method,
      credentials: "same-origin",
      headers: { "X-FaceGate-CSRF": this.csrf() },
    };
    if (method !== "GET") {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body || {});
    }
    const response = await fetch(path, init);
    if (!response.ok) {
      let data = null;
      try { data = await response.json(); } catch (e) { data = null; }
      const err = new Error((data && data.message) || ("HTTP " + response.status));
      err.status = response.status;
      throw err;
    }
    return response;
  },

  async get(path) {
    return (await this.fetch("GET", path)).json();
  },

  async post(path, body) {
    return (await this.fetch("POST", path, body)).json();
  },

  // Fill the page with `fill()`, saying in #page-state what is going on. Without the
  // token (another browser profile, storage cleared) the API answers 401: say so.
  async load(fill) {
    const state = document.getElementById("page-state");
    const signIn = () => {
      state.dataset.state = "signin";
      state.textContent = "This browser has no key for your session, so your data cannot be "
        + "shown. Sign in again on this page: open the sign-in link that `facegate serve` "
        + "printed, then come back here.";
    };
    if (!this.csrf()) {
      signIn();
      return;
    }
    try {
      await fill();
      state.dataset.state = "done";
      state.textContent = "";
      state.hidden = true;
    } catch (err) {
      if (err.status === 401) {
        signIn();
      } else {
        state.dataset.state = err.status === 404 ? "missing" : "error";
        state.textContent = err.status === 404
          ? err.message : "Your data could not be loaded: " + err.message;
      }
    }
  },

  // An element with attributes (`dataset` and `hidden` handled apart) and children;
  // strings become text nodes, null and false are left out.
  el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "dataset") Object.assign(node.dataset, value);
      else if (name === "hidden") node.hidden = Boolean(value);
      else node.setAttribute(name, String(value));
    }
    for (const child of children) {
      if (child === null || child === false || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  },

  // A <time> holding the UTC instant, shown in this browser's own time zone.
  time(iso) {
    const node = this.el("time", { datetime: iso, title: iso }, iso);
    const instant = new Date(iso);
    if (!Number.isNaN(instant.getTime())) {
      node.textContent = instant.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "numeric",
        hour: "2-digit", minute: "2-digit", timeZoneName: "short",
      });
    }
    return node;
  },

  // 90 -> "2 minutes", 5400 -> "1 hour 30 minutes", 172800 -> "2 days": rounded to the
  // minute, only the two largest units named.
  duration(seconds) {
    const minutes = Math.max(0, Math.round(seconds / 60));
    if (minutes < 1) return "less than a minute";
    const parts = [
      [Math.floor(minutes / 1440), "day"],
      [Math.floor((minutes % 1440) / 60), "hour"],
      [minutes % 60, "minute"],
    ].filter(([count]) => count > 0).map(([count, unit]) => this.plural(count, unit));
    return parts.slice(0, 2).join(" ");
  },

  // How long an app keeps data, as the consent prompt says it.
  retention(days) {
    return days <= 0 ? "does not keep it (deletes it at once)" : this.plural(days, "day") + " at most";
  },

  plural(count, unit) {
    return count === 1 ? `${count} ${unit}` : `${count} ${unit}s`;
  },
};
