// A 2D face driven by the expression stream. Mirrored like a selfie view: the
// subject's left eye (eyeBlinkLeft) is drawn on the viewer's left.
"use strict";

(() => {
  const status = document.getElementById("stream-status");
  const $ = (id) => document.getElementById(id);
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  let frames = 0;

  function show(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  const v = (shapes, name) => (shapes && typeof shapes[name] === "number" ? shapes[name] : 0);

  function draw(frame) {
    const b = frame.blendshapes;
    if (b) {
      for (const side of ["Left", "Right"]) {
        const key = side.toLowerCase();
        const open = 1 - v(b, "eyeBlink" + side) * 0.95 + v(b, "eyeWide" + side) * 0.3;
        $("eye-" + key).setAttribute("ry", (9 * open).toFixed(2));
        const sign = side === "Left" ? -1 : 1;
        const dx = (v(b, "eyeLookOut" + side) - v(b, "eyeLookIn" + side)) * 6 * sign;
        const dy = (v(b, "eyeLookDown" + side) - v(b, "eyeLookUp" + side)) * 5;
        $("pupil-" + key).setAttribute("cx", (sign * 32 + dx).toFixed(2));
        $("pupil-" + key).setAttribute("cy", (-22 + dy).toFixed(2));
        const lift = (v(b, "browOuterUp" + side) + v(b, "browInnerUp")) * 8 - v(b, "browDown" + side) * 8;
        $("brow-" + key).setAttribute("transform", `translate(0 ${(-lift).toFixed(2)})`);
      }
      const smile = (v(b, "mouthSmileLeft") + v(b, "mouthSmileRight")) / 2;
      const frown = (v(b, "mouthFrownLeft") + v(b, "mouthFrownRight")) / 2;
      const jaw = v(b, "jawOpen");
      const w = 30 + smile * 8 - v(b, "mouthPucker") * 12;
      const corner = 45 - smile * 12 + frown * 8;
      const upper = 42 - v(b, "mouthUpperUpLeft") * 4;
      const lower = 48 + jaw * 40;
      $("mouth").setAttribute("d",
        `M ${-w} ${corner} Q 0 ${upper.toFixed(2)} ${w} ${corner} Q 0 ${lower.toFixed(2)} ${-w} ${corner}`);
    }
    const pose = frame.head_pose;
    if (pose && typeof pose.roll === "number") {
      const yaw = typeof pose.yaw === "number" ? pose.yaw : 0;
      $("head").setAttribute("transform", `translate(${(-yaw * 0.6).toFixed(2)} 0) rotate(${(-pose.roll).toFixed(2)})`);
    }
  }

  // With a grant token: the app's view. Without one: the signed-in person's own stream.
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const path = token ? "/api/v1/stream" : "/api/user/preview";
  const ws = new WebSocket(`${scheme}//${location.host}${path}`);
  show("connecting", token ? "Connecting…" : "Connecting to your own stream…");
  ws.addEventListener("open", () => ws.send(JSON.stringify(
    token ? { token } : { csrf: window.facegate.csrf() })));
  ws.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "ready") {
      status.dataset.preview = token ? "false" : "true";
      show("streaming", (token ? "Streaming: " : "Your own stream: ") + message.scopes.join(", "));
    } else if (message.type === "frame") {
      frames += 1;
      status.dataset.frames = String(frames);
      draw(message);
    }
  });
  ws.addEventListener("close", (event) => {
    const hint = !token && event.code === 4401
      ? " Sign in with the link `facegate serve` printed, or open /demo/avatar#token=<grant token>."
      : "";
    show("closed", `Stream closed (${event.code}): ${event.reason || "no reason given"}.${hint}`);
    status.dataset.closeCode = String(event.code);
  });
})();
