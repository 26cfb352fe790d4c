// The consent requests waiting for the person, each linking to its prompt.
"use strict";

(() => {
  const fg = window.facegate;
  fg.load(async () => {
    const [pending, apps] = await Promise.all([
      fg.get("/api/user/consent-requests?status=pending"),
      fg.get("/api/user/apps"),
    ]);
    const names = new Map(apps.map((app) => [app.id, app.name]));
    const list = document.getElementById("pending");
    for (const request of pending) {
      list.append(fg.el("li", { dataset: { request: request.id } },
        fg.el("a", { href: `/consent/${encodeURIComponent(request.id)}` },
          names.get(request.app_id) || request.app_id),
        ` asks for ${[...request.scopes].sort().join(", ")}`));
    }
    list.hidden = pending.length === 0;
    document.getElementById("pending-none").hidden = pending.length !== 0;
  });
})();
