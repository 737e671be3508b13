// The studio's feed: each running job's tile follows its event stream (progress, ETA, preview)
// and is replaced by its finished form when the job ends; older tiles load as the user scrolls
// near the end; cancel works in place; "use as input" fills the studio's image input.
"use strict";
(function () {
  const tiles = document.getElementById("tiles");
  if (!tiles) return;
  const FINAL = ["succeeded", "failed", "cancelled"];
  const MAX_STREAMS = 4;  // a browser opens only ~6 connections per host: leave room for the rest
  const waiting = [];
  let streams = 0;

  function follow(tile) {
    if (FINAL.includes(tile.dataset.state) || tile.dataset.following) return;
    tile.dataset.following = "true";
    if (streams >= MAX_STREAMS) waiting.push(tile);
    else stream(tile);
  }

  function stream(tile) {
    streams++;
    const id = tile.dataset.jobId;
    const bar = tile.querySelector("progress");
    const percent = tile.querySelector(".tile-percent");
    const eta = tile.querySelector(".tile-eta");
    const state = tile.querySelector(".tile-state");
    const preview = tile.querySelector(".tile-preview");
    const source = new EventSource(`/api/v1/jobs/${encodeURIComponent(id)}/events`);
    let updates = 0, ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      source.close();
      streams--;
      const next = waiting.shift();
      if (next) stream(next);
      refresh(id);
    };
    const show = (value) => {
      value = Math.max(0, Math.min(100, Math.round(value)));
      if (bar) { bar.value = value; bar.textContent = `${value}%`; }
      if (percent) percent.textContent = `${value}%`;
    };
    const setState = (value) => {
      tile.dataset.state = value;
      if (state) state.textContent = value;
    };
    source.addEventListener("progress", (event) => {
      const data = JSON.parse(event.data);
      tile.dataset.updates = String(++updates);  // how many live updates arrived
      setState(data.state);
      const p = data.progress || {};
      if (p.percent !== null && p.percent !== undefined) show(p.percent);
      if (eta) eta.textContent = p.eta ? `about ${station.duration(p.eta)} left` : (p.message || "");
      if (data.preview && preview) {
        preview.src = data.preview;
        preview.hidden = false;
      }
    });
    source.addEventListener("job", (event) => {
      const job = JSON.parse(event.data);
      if (FINAL.includes(job.state)) {
        show(job.state === "succeeded" ? 100 : 0);
        end();
      } else {
        setState(job.state);
        if (job.progress && job.progress.percent) show(job.progress.percent);
      }
    });
    source.onerror = () => {
      // The browser reconnects by itself; a closed stream means the job has ended.
      if (source.readyState === EventSource.CLOSED) end();
    };
  }

  function fragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  }

  async function refresh(id) {
    const response = await fetch(`/studio/tiles/${encodeURIComponent(id)}`, { credentials: "same-origin" });
    if (!response.ok) return;
    const fresh = fragment(await response.text()).querySelector(".tile");
    const old = document.getElementById(`tile-${id}`);
    if (fresh && old) {
      old.replaceWith(fresh);
      follow(fresh);  // a job that is still going (e.g. the stream dropped) is followed again
    }
  }

  // A new job's tile (from Run or an action) goes to the top.
  function add(html) {
    const content = fragment(html);
    const tile = content.querySelector(".tile");
    if (!tile) return null;
    const empty = document.getElementById("feed-empty");
    if (empty) empty.remove();
    const existing = document.getElementById(tile.id);
    if (existing) existing.remove();
    tiles.prepend(tile);
    follow(tile);
    return tile;
  }
  window.stationFeed = { add, follow };

  // ----- older work, as the user scrolls -------------------------------------------------------
  const observer = "IntersectionObserver" in window
    ? new IntersectionObserver((entries) => {
      for (const entry of entries) if (entry.isIntersecting) more(entry.target);
    }, { rootMargin: "600px 0px" })
    : null;

  async function more(sentinel) {
    if (sentinel.dataset.loading) return;
    sentinel.dataset.loading = "true";
    observer.unobserve(sentinel);
    const url = `/studio/feed?before=${encodeURIComponent(sentinel.dataset.next)}`;
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) { delete sentinel.dataset.loading; return; }
    const content = fragment(await response.text());
    const added = [...content.querySelectorAll(".tile")].filter((t) => !document.getElementById(t.id));
    for (const tile of content.querySelectorAll(".tile")) {
      if (!added.includes(tile)) tile.remove();  // already shown (it moved up meanwhile)
    }
    sentinel.replaceWith(content);
    added.forEach(follow);
    watch();
  }

  function watch() {
    const sentinel = tiles.querySelector(".feed-more[data-next]");
    if (sentinel && observer) observer.observe(sentinel);
  }

  // ----- cancel and "use as input", in place -------------------------------------------------------
  tiles.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.matches("form[data-feed]")) return;
    event.preventDefault();
    const answer = await station.post(form);
    const tile = form.closest(".tile");
    if (answer.ok && tile) {
      const fresh = fragment(answer.html).querySelector(".tile");
      if (fresh) tile.replaceWith(fresh);
    }
  });
  tiles.addEventListener("click", (event) => {
    const link = event.target instanceof Element
      ? event.target.closest("a.use-as-input, a.use-as-reference, a.describe-image") : null;
    if (link && window.stationStudio
        && window.stationStudio.useImage(link.dataset.mediaId, link.dataset.category)) {
      event.preventDefault();
    }
    const use = event.target instanceof Element ? event.target.closest("a.use-prompt") : null;
    if (use && window.stationStudio && window.stationStudio.usePrompt(use.dataset.prompt)) {
      event.preventDefault();
    }
  });

  tiles.querySelectorAll(".tile").forEach(follow);
  watch();
})();
