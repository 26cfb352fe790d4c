// Swap the user token in the URL fragment for a session cookie, then forget the fragment.
"use strict";

(async () => {
  const status = document.getElementById("login-status");
  const code = decodeURIComponent(location.hash.replace(/^#(code=)?/, ""));
  const params = new URLSearchParams(location.search);
  const next = params.get("next") || "/";
  const target = next.startsWith("/") && !next.startsWith("//") ? next : "/";
  history.replaceState(null, "", location.pathname + location.search);
  if (!code) {
    status.textContent = "This sign-in link has no code: copy the whole link from your terminal.";
    status.dataset.state = "failed";
    return;
  }
  try {
    const session = await window.facegate.post("/api/user/session", { code });
    window.localStorage.setItem("facegate-csrf", session.csrf);
    status.textContent = "Signed in.";
    status.dataset.state = "done";
    location.replace(target);
  } catch (err) {
    status.textContent = "Sign-in failed: " + err.message;
    status.dataset.state = "failed";
  }
})();
