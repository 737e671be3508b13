// Shared by the pages: the session's CSRF token for fetch calls that change something.
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
  duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (h) return `${h} h ${String(m).padStart(2, "0")} min`;
    if (m) return `${m} min ${String(s).padStart(2, "0")} s`;
    return `${s} s`;
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
