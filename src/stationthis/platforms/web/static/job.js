// A job's page: the progress bar, ETA and preview follow the job's event stream; when the job
// ends, its results are fetched and shown in place.
"use strict";
(function () {
  const section = document.getElementById("job");
  if (!section) return;
  const FINAL = ["succeeded", "failed", "cancelled"];
  const id = section.dataset.jobId;
  const bar = document.getElementById("bar");
  const percent = document.getElementById("percent");
  const eta = document.getElementById("eta");
  const state = document.getElementById("state");
  const preview = document.getElementById("live-preview");
  if (FINAL.includes(section.dataset.state)) return;

  function show(value) {
    value = Math.max(0, Math.min(100, Math.round(value)));
    bar.value = value;
    bar.textContent = `${value}%`;
    percent.textContent = `${value}%`;
  }

  function setState(value) {
    section.dataset.state = value;
    state.textContent = value;
  }

  async function finish(job) {
    setState(job.state);
    if (job.state === "succeeded") show(100);
    eta.textContent = "";
    preview.hidden = true;  // the results take its place
    const cancel = document.getElementById("cancel-form");
    if (cancel) cancel.remove();
    const response = await fetch(`/jobs/${encodeURIComponent(id)}/results`, { credentials: "same-origin" });
    document.getElementById("results").innerHTML = await response.text();
    section.dataset.loaded = "true";
  }

  const source = new EventSource(`/api/v1/jobs/${encodeURIComponent(id)}/events`);
  let updates = 0;
  let start = null;  // [time, percent] of the first update: the ETA when the engine gives none
  function estimate(value) {
    if (value === null || value === undefined) return null;
    const now = performance.now() / 1000;
    if (start === null) { start = [now, value]; return null; }
    const done = value - start[1];
    return done > 0 && value < 100 ? (now - start[0]) * (100 - value) / done : null;
  }
  source.addEventListener("progress", (event) => {
    const data = JSON.parse(event.data);
    section.dataset.updates = String(++updates);  // how many live updates arrived
    setState(data.state);
    const p = data.progress || {};
    if (p.percent !== null && p.percent !== undefined) show(p.percent);
    const left = p.eta || estimate(p.percent);
    eta.textContent = left ? `about ${station.duration(left)} left` : (p.message || "");
    if (data.preview) {
      preview.src = data.preview;
      preview.hidden = false;
    }
  });
  source.addEventListener("job", (event) => {
    const job = JSON.parse(event.data);
    if (FINAL.includes(job.state)) {
      source.close();
      finish(job);
    } else {
      setState(job.state);
      if (job.progress && job.progress.percent) show(job.progress.percent);
    }
  });
  source.onerror = () => {
    // The browser reconnects by itself; once the job has ended the page is reloaded.
    if (source.readyState === EventSource.CLOSED) window.location.reload();
  };
})();
