// Shared by the pages: the session's CSRF token for fetch calls that change something, and the
// "short of points" box (by how much, what fits now, when the allowance refills, how to get
// points) built from a quote.
"use strict";
window.station = {
  csrf() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  },
  async send(url, options = {}) {
    const headers = Object.assign({ "X-CSRF-Token": this.csrf() }, options.headers || {});
    const response = await fetch(url, Object.assign({ credentials: "same-origin" }, options, { headers }));
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok) {
      const message = body && body.error ? body.error.message : `${response.status} ${response.statusText}`;
      const error = new Error(message);
      error.body = body;
      throw error;
    }
    return body;
  },
  // A form posted the way the studio's feed wants it: the answer is a tile, or what went wrong.
  async post(form) {
    const response = await fetch(form.action, {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: { "X-Studio": "feed" },
    });
    return { ok: response.ok, status: response.status, html: await response.text() };
  },
  duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (h) return `${h} h ${String(m).padStart(2, "0")} min`;
    if (m) return `${m} min ${String(s).padStart(2, "0")} s`;
    return `${s} s`;
  },
  element(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    for (const child of children) node.append(child);
    return node;
  },
  // `quote`: {points, available, alternatives}; refill facts from the studio's data-* (if any).
  shortBox(quote) {
    const el = this.element.bind(this);
    const missing = quote.points - quote.available;
    const box = el("div", { class: "short", "data-missing": String(missing) });
    box.append(el("p", { class: "error short-sentence" },
      el("b", {}, `This costs ${quote.points} points; you have ${quote.available} — ${missing} short.`)));
    if (quote.alternatives && quote.alternatives.length) {
      box.append(el("p", { class: "short-head" }, "What fits now:"));
      const list = el("ul", { class: "plain alternatives" });
      for (const alt of quote.alternatives) {
        const item = el("li", {}, `${alt.description} — ${alt.points} points `);
        if (alt.options && Object.keys(alt.options).length) {
          item.append(el("button", { type: "button", class: "secondary small",
            "data-apply": JSON.stringify(alt.options) }, "Use this"));
        }
        list.append(item);
      }
      box.append(list);
    }
    const studio = document.getElementById("studio");
    if (studio && studio.dataset.refillStep) {
      const d = studio.dataset, step = Number(d.refillStep), every = Number(d.refillEvery);
      const room = Number(d.allowanceRoom);
      let text;
      if (d.refillNext === "") {
        text = `Your free allowance is full; it refills ${step} points every ${this.duration(every)} after you spend it.`;
      } else if (step > 0 && missing <= room) {
        const wait = Number(d.refillNext) + every * (Math.ceil(missing / step) - 1);
        text = `Your free allowance refills ${step} points every ${this.duration(every)}: you will have enough in about ${this.duration(wait)}.`;
      } else {
        text = `Your free allowance refills ${step} points every ${this.duration(every)} (the next in ${this.duration(Number(d.refillNext))}), but the allowance alone will not cover this.`;
      }
      box.append(el("p", { class: "short-refill" }, text));
    }
    box.append(el("p", { class: "short-more" },
      el("a", { href: (studio && studio.dataset.getPoints) || "/buy" }, "Buy points"), " · ",
      el("a", { href: "/account#get-points" }, "where points come from")));
    return box;
  },
};

// A choice that takes effect at once (the studio's tool picker): no inline handlers, which the
// Content-Security-Policy forbids.
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target instanceof Element && target.matches("[data-autosubmit]") && target.form) {
    target.form.submit();
  }
});

// Copy buttons: <button data-copy="#id"> copies that element's text.
document.addEventListener("click", async (event) => {
  const button = event.target instanceof Element ? event.target.closest("[data-copy]") : null;
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const text = source.textContent.trim();
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch (error) {  // no clipboard here (plain http): select it for Ctrl+C instead
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    button.textContent = "Selected: press Ctrl+C";
  }
  button.dataset.copied = "true";
});
