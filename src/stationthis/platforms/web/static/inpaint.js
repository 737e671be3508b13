// The mask painter ("vary region"): strokes on a canvas over the image (brush, eraser, size,
// undo, clear). The mask sent is the image's size, white where painted and black elsewhere;
// it is uploaded, priced (POST /api/v1/quotes) and only then run (POST /api/v1/jobs).
"use strict";
(function () {
  const root = document.getElementById("painter");
  if (!root) return;
  const canvas = document.getElementById("painter-canvas");
  const ctx = canvas.getContext("2d");
  const status = document.getElementById("painter-status");
  const form = document.getElementById("painter-form");
  const size = document.getElementById("painter-size");
  const brush = document.getElementById("painter-brush");
  const eraser = document.getElementById("painter-eraser");
  const undo = document.getElementById("painter-undo");
  const clear = document.getElementById("painter-clear");
  const strokes = [];
  let mode = "paint";
  let current = null;
  let uploaded = null;  // {version, id}: the mask already sent for these strokes
  let version = 0;

  function scale() {
    const rect = canvas.getBoundingClientRect();
    return rect.width ? canvas.width / rect.width : 1;
  }

  function point(event) {
    const rect = canvas.getBoundingClientRect();
    const s = scale();
    return [(event.clientX - rect.left) * s, (event.clientY - rect.top) * s];
  }

  function draw(target, stroke, paint, erase) {
    target.save();
    target.lineCap = "round";
    target.lineJoin = "round";
    target.lineWidth = stroke.size;
    if (stroke.mode === "paint") {
      target.globalCompositeOperation = "source-over";
      target.strokeStyle = paint;
    } else {
      target.globalCompositeOperation = erase ? "destination-out" : "source-over";
      target.strokeStyle = "#000";
    }
    target.beginPath();
    const [first, ...rest] = stroke.points;
    target.moveTo(first[0], first[1]);
    if (!rest.length) target.lineTo(first[0] + 0.01, first[1]);
    for (const [x, y] of rest) target.lineTo(x, y);
    target.stroke();
    target.restore();
  }

  function redraw() {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    for (const stroke of strokes) draw(ctx, stroke, "rgb(255, 40, 110)", true);
    undo.disabled = clear.disabled = strokes.length === 0;
  }

  function changed() {
    version += 1;
    status.replaceChildren();
    redraw();
  }

  function choose(next) {
    mode = next;
    brush.setAttribute("aria-pressed", String(next === "paint"));
    eraser.setAttribute("aria-pressed", String(next === "erase"));
    brush.classList.toggle("secondary", next !== "paint");
    eraser.classList.toggle("secondary", next !== "erase");
  }

  canvas.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    current = { mode, size: Number(size.value) * scale(), points: [point(event)] };
    strokes.push(current);
    changed();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!current) return;
    current.points.push(point(event));
    redraw();
  });
  for (const end of ["pointerup", "pointercancel"]) {
    canvas.addEventListener(end, () => { current = null; version += 1; });
  }
  brush.addEventListener("click", () => choose("paint"));
  eraser.addEventListener("click", () => choose("erase"));
  undo.addEventListener("click", () => { strokes.pop(); changed(); });
  clear.addEventListener("click", () => { strokes.length = 0; changed(); });

  // The mask as the server wants it: the image's size, white = repaint, black = keep.
  function maskBlob() {
    const out = document.createElement("canvas");
    out.width = canvas.width;
    out.height = canvas.height;
    const c = out.getContext("2d");
    c.fillStyle = "#000";
    c.fillRect(0, 0, out.width, out.height);
    for (const stroke of strokes) draw(c, stroke, "#fff", false);
    return new Promise((resolve) => out.toBlob(resolve, "image/png"));
  }

  async function maskId() {
    if (uploaded && uploaded.version === version) return uploaded.id;
    const body = new FormData();
    body.append("file", await maskBlob(), "mask.png");
    const item = await station.send("/api/v1/media", { method: "POST", body });
    uploaded = { version, id: item.id };
    return item.id;
  }

  async function request() {
    const data = new FormData(form);
    const options = { prompt: String(data.get("prompt") || "").trim() };
    const negative = String(data.get("negative") || "").trim();
    if (negative) options.negative = negative;
    return {
      tool: root.dataset.tool, options,
      images: { image: root.dataset.image, mask: await maskId() },
    };
  }

  function say(text, cls) {
    status.replaceChildren(station.element("p", cls ? { class: cls } : {}, text));
  }

  async function run(body) {
    say("starting…");
    try {
      const job = await station.send("/api/v1/jobs", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      window.location.assign(`/jobs/${encodeURIComponent(job.id)}`);
    } catch (error) {
      say(error.message, "error");
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!strokes.some((s) => s.mode === "paint")) {
      say("Paint the region to change first.", "error");
      return;
    }
    say("Vary region: asking the price…");
    let body, q;
    try {
      body = await request();
      q = await station.send("/api/v1/quotes", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
    } catch (error) {
      say(`Vary region: ${error.message}`, "error");
      return;
    }
    const cancel = station.element("button", { type: "button", class: "link confirm-cancel" }, "Cancel");
    cancel.addEventListener("click", () => status.replaceChildren());
    if (q.fits) {
      const go = station.element("button", { type: "button", class: "small confirm-run", id: "painter-run" }, `Run · ${q.points} points`);
      go.addEventListener("click", () => run(body));
      status.dataset.points = String(q.points);
      status.replaceChildren(station.element("span", { class: "confirm-price" }, `Vary region: ${q.points} points`), " ", go, " ", cancel);
    } else {
      status.replaceChildren(station.element("span", { class: "confirm-price" }, "Vary region:"), station.shortBox(q), cancel);
    }
  });
  redraw();
})();
