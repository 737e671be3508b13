// The actions on a result (variations, upscale, remove background, regenerate) show their
// price first: the first press asks for a quote and shows it with Run and Cancel (or, when the
// points are short, by how much and what fits); Run starts it — in the studio's feed in place,
// elsewhere as a plain form post.
"use strict";
(function () {
  function body(form) {
    const out = {};
    for (const [name, value] of new FormData(form).entries()) {
      if (name !== "csrf" && typeof value === "string" && value !== "") out[name] = value;
    }
    return out;
  }

  function stripFor(form) {
    const holder = form.closest(".actions, .tile-foot") || form;
    let strip = holder.nextElementSibling;
    if (!strip || !strip.classList.contains("confirm")) {
      strip = station.element("div", { class: "confirm", role: "status" });
      holder.after(strip);
    }
    return strip;
  }

  async function run(form, strip) {
    if (!window.stationFeed) { form.submit(); return; }  // the job page: go to the new job
    strip.textContent = "starting…";
    const answer = await station.post(form);
    if (answer.ok) {
      const tile = window.stationFeed.add(answer.html);
      strip.remove();
      if (tile) tile.scrollIntoView({ behavior: "smooth", block: "nearest" });
    } else {
      strip.innerHTML = answer.html;  // the server's own (escaped) fragment
    }
  }

  async function price(form) {
    const strip = stripFor(form);
    const what = form.dataset.what || "This";
    strip.dataset.for = what;
    strip.textContent = `${what}: asking the price…`;
    let q;
    try {
      q = await station.send(form.dataset.quote, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body(form)),
      });
    } catch (error) {
      strip.replaceChildren(station.element("p", { class: "error" }, `${what}: ${error.message}`));
      return;
    }
    const cancel = station.element("button", { type: "button", class: "link confirm-cancel" }, "Cancel");
    cancel.addEventListener("click", () => strip.remove());
    if (q.fits) {
      const go = station.element("button", { type: "button", class: "small confirm-run" }, `Run · ${q.points} points`);
      go.addEventListener("click", () => run(form, strip));
      strip.dataset.points = String(q.points);
      strip.replaceChildren(station.element("span", { class: "confirm-price" }, `${what}: ${q.points} points`), " ", go, " ", cancel);
    } else {
      const box = station.shortBox(q);
      box.addEventListener("click", (event) => {
        const button = event.target instanceof Element ? event.target.closest("[data-apply]") : null;
        if (!button) return;
        for (const [name, value] of Object.entries(JSON.parse(button.dataset.apply))) {
          const input = form.querySelector(`[name="${name}"]`);
          if (input) input.value = value;
        }
        price(form);
      });
      strip.replaceChildren(station.element("span", { class: "confirm-price" }, `${what}:`), box, cancel);
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.matches("form[data-priced]")) return;
    event.preventDefault();
    price(form);
  });
})();
