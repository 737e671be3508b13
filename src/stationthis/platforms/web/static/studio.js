// The studio's form: the live price as the inputs change (no error before the user has typed
// anything), aspect presets that set the size, image inputs uploaded as they are chosen (a
// refused file says why), and Run in place: the new job's tile goes to the top of the feed.
"use strict";
(function () {
  const form = document.getElementById("run-form");
  if (!form) return;
  const studio = document.getElementById("studio");
  const price = document.getElementById("price");
  const problem = document.getElementById("quote-error");
  const runProblem = document.getElementById("run-problem");
  const runButton = document.getElementById("run");
  const MAX_BYTES = Number(studio.dataset.maxUpload) || 0;
  const TYPES = ["image/png", "image/jpeg", "image/webp"];
  const rejected = {};  // image input name → why its file was refused
  let timer = null, latest = 0, touched = false;

  const field = (name) => form.querySelector(`[name="${name}"]:not([type=hidden]), [name="${name}"][data-image-input]`);
  const megabytes = (n) => `${(n / (1024 * 1024)).toFixed(n < 10 * 1024 * 1024 ? 1 : 0)} MB`;

  function request() {
    const data = new FormData(form);
    const options = {}, images = {};
    for (const input of form.querySelectorAll("[data-image-input]")) {
      if (input.value) images[input.name] = input.value;
      data.delete(input.name);
    }
    for (const [name, value] of data.entries()) {
      if (["csrf", "tool", "aspect"].includes(name) || typeof value !== "string") continue;
      if (value.trim() === "") continue;
      options[name] = value;  // a checkbox sends "false" then "true": the last one wins
    }
    return { tool: form.dataset.tool, options, images };
  }

  function say(message) {
    problem.textContent = message || "";
    problem.hidden = !message;
  }

  // What must be there before a price can be asked: a required image (or why it was refused).
  function missing() {
    for (const input of form.querySelectorAll("[data-image-input]")) {
      if (rejected[input.name]) return { error: `The image for “${input.name}” was not accepted: ${rejected[input.name]} Choose another file.` };
      if (!input.value && input.dataset.required === "true") return { hint: "choose an image to see the price" };
    }
    return null;
  }

  async function quote() {
    const ticket = ++latest;
    const lacking = missing();
    if (lacking) {
      price.textContent = lacking.hint || "–";
      price.dataset.state = "idle";
      say(touched && lacking.error ? lacking.error : "");
      runProblem.replaceChildren();
      return;
    }
    price.dataset.state = "loading";
    try {
      const q = await station.send("/api/v1/quotes", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(request()),
      });
      if (ticket !== latest) return;
      price.textContent = `${q.points} points`;
      price.dataset.state = q.fits ? "fits" : "short";
      price.dataset.points = q.points;
      document.getElementById("balance").textContent = q.available;
      say("");
      runProblem.replaceChildren();
      if (!q.fits) runProblem.append(station.shortBox(q));
    } catch (error) {
      if (ticket !== latest) return;
      price.textContent = "–";
      price.dataset.state = touched ? "error" : "idle";
      say(touched ? error.message : "");  // nothing is wrong before the user did anything
      runProblem.replaceChildren();
    }
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(quote, 250);
  }

  // ----- image inputs ----------------------------------------------------------------------
  function refuse(name, state, why) {
    rejected[name] = why;
    form.querySelector(`input[type=hidden][name="${name}"]`).value = "";
    state.textContent = why;
    state.dataset.rejected = "true";
    touched = true;
    later();
  }

  async function upload(fileInput) {
    const name = fileInput.dataset.uploadFor;
    const hidden = form.querySelector(`input[type=hidden][name="${name}"]`);
    const state = form.querySelector(`[data-upload-state="${name}"]`);
    if (!fileInput.files.length) return;
    const file = fileInput.files[0];
    delete rejected[name];
    delete state.dataset.rejected;
    if (MAX_BYTES && file.size > MAX_BYTES) {
      return refuse(name, state, `${file.name} is ${megabytes(file.size)}; images of at most ${megabytes(MAX_BYTES)} are accepted.`);
    }
    if (file.type && !TYPES.includes(file.type)) {
      return refuse(name, state, `${file.name} is not a PNG, JPEG or WebP image (it is ${file.type}).`);
    }
    const body = new FormData();
    body.append("file", file);
    state.textContent = "uploading…";
    try {
      const item = await station.send("/api/v1/media", { method: "POST", body });
      hidden.value = item.id;
      state.textContent = `${item.width}×${item.height} ready`;
      showThumb(name, item.id);
      later();
    } catch (error) {
      refuse(name, state, `${file.name} was not accepted: ${error.message}`);
    }
  }

  function showThumb(name, mediaId) {
    let thumb = form.querySelector(`[data-thumb-for="${name}"]`);
    if (!thumb) {
      thumb = station.element("img", { class: "input-thumb", alt: "the chosen image", "data-thumb-for": name });
      form.querySelector(`[data-upload-state="${name}"]`).after(thumb);
    }
    thumb.src = `/api/v1/media/${encodeURIComponent(mediaId)}/thumbnail`;
  }

  // "Use as input" on a tile: this form's image input takes that image. "Use as reference"
  // (``category``) only where this form's tool is of that category; else the link opens it.
  window.stationStudio = {
    useImage(mediaId, category) {
      const hidden = form.querySelector("[data-image-input]");
      if (!hidden || (category && form.dataset.category !== category)) return false;
      hidden.value = mediaId;
      delete rejected[hidden.name];
      const state = form.querySelector(`[data-upload-state="${hidden.name}"]`);
      state.textContent = "an image from your work";
      delete state.dataset.rejected;
      showThumb(hidden.name, mediaId);
      form.scrollIntoView({ behavior: "smooth", block: "start" });
      touched = true;
      later();
      return true;
    },
    // "Use this prompt" under a describe: the prompt bar takes it (false: this tool has none).
    usePrompt(text) {
      const prompt = document.getElementById("in-prompt");
      if (!prompt) return false;
      prompt.value = text;
      form.scrollIntoView({ behavior: "smooth", block: "start" });
      prompt.focus();
      touched = true;
      later();
      return true;
    },
  };

  // ----- the server's LoRAs: a pick adds its <lora:Name:0.8> tag to the prompt ------------------
  form.addEventListener("click", (event) => {
    const pick = event.target instanceof Element ? event.target.closest("button.lora-pick") : null;
    const prompt = document.getElementById("in-prompt");
    if (!pick || !prompt) return;
    const tag = pick.dataset.tag;
    if (!prompt.value.includes(tag)) {
      prompt.value = prompt.value.trim() ? `${prompt.value.trimEnd()} ${tag}` : tag;
    }
    prompt.focus();
    touched = true;
    later();
  });

  // ----- aspect presets ----------------------------------------------------------------------
  function applyAspect(radio) {
    const width = field("width"), height = field("height");
    if (width) width.value = radio.dataset.width;
    if (height) height.value = radio.dataset.height;
  }

  function matchAspect() {
    const width = field("width"), height = field("height");
    if (!width || !height) return;
    for (const radio of form.querySelectorAll("input[name=aspect]")) {
      radio.checked = radio.dataset.width === width.value && radio.dataset.height === height.value;
    }
  }

  // ----- alternatives that fit ---------------------------------------------------------------
  runProblem.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("[data-apply]") : null;
    if (!button) return;
    for (const [name, value] of Object.entries(JSON.parse(button.dataset.apply))) {
      const input = field(name);
      if (!input) continue;
      input.value = value;
      const more = input.closest("details");
      if (more) more.open = true;
    }
    matchAspect();
    quote();
  });

  // ----- run in place --------------------------------------------------------------------------
  form.addEventListener("submit", async (event) => {
    if (!window.stationFeed) return;  // no feed on this page: a plain post
    event.preventDefault();
    touched = true;
    const lacking = missing();
    if (lacking && lacking.error) { say(lacking.error); return; }
    runButton.disabled = true;
    try {
      const answer = await station.post(form);
      if (answer.ok) {
        window.stationFeed.add(answer.html);
        runProblem.replaceChildren();
        say("");
        quote();  // the balance changed
      } else {
        say("");
        runProblem.innerHTML = answer.html;  // the server's own (escaped) fragment
      }
    } catch (error) {
      say(`Could not reach the server: ${error.message}`);
    } finally {
      runButton.disabled = false;
    }
  });

  form.addEventListener("input", (event) => {
    if (event.target.type === "file") return;
    if (event.isTrusted) touched = true;
    if (event.target.name === "width" || event.target.name === "height") matchAspect();
    later();
  });
  form.addEventListener("change", (event) => {
    if (event.isTrusted) touched = true;
    if (event.target.type === "file") upload(event.target);
    else {
      if (event.target.name === "aspect") applyAspect(event.target);
      later();
    }
  });
  // Ctrl/Cmd+Enter in the prompt runs.
  form.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  quote();
})();
