// A cook run's page: "done/total" and the bar follow the run (polled every second); when
// the run stops or changes state, the page reloads: the server shows the pieces and controls.
"use strict";
(function () {
  const section = document.getElementById("cook-status");
  if (!section) return;
  const url = section.dataset.url;
  const start = { state: section.dataset.state };
  const live = () => section.dataset.state === "running" || Number(section.dataset.inFlight) > 0;
  if (!live()) return;
  const $ = (id) => document.getElementById(id);
  let updates = 0;

  async function poll() {
    let status;
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) return setTimeout(poll, 3000);
      status = await response.json();
    } catch (e) {
      return setTimeout(poll, 3000);
    }
    const stopped = status.state !== "running" && status.in_flight === 0;
    if (stopped || status.state !== start.state) {
      // the server renders what a stopped run offers (its pieces, review, start again)
      window.location.reload();
      return;
    }
    section.dataset.updates = String(++updates);
    section.dataset.inFlight = String(status.in_flight);
    $("cook-progress").textContent = status.progress;
    $("cook-failed").textContent = status.failed;
    $("cook-running").textContent = status.in_flight;
    $("cook-kept").textContent = status.kept;
    const pct = status.total ? Math.floor(100 * status.done / status.total) : 0;
    $("cook-bar").value = pct;
    $("cook-bar").textContent = `${pct}%`;
    if (status.reason) { $("cook-reason").textContent = status.reason; $("cook-reason").hidden = false; }
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 1000);
})();
