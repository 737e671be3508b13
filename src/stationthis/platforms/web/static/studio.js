// The studio: the live price as the inputs change, and image inputs uploaded as they are chosen.
"use strict";
(function () {
  const form = document.getElementById("run-form");
  if (!form) return;
  const price = document.getElementById("price");
  const problem = document.getElementById("quote-error");
  const alternatives = document.getElementById("alternatives");
  let timer = null, latest = 0;

  function request() {
    const data = new FormData(form);
    const options = {}, images = {};
    for (const input of form.querySelectorAll("[data-image-input]")) {
      if (input.value) images[input.name] = input.value;
      data.delete(input.name);
    }
    for (const [name, value] of data.entries()) {
      if (name === "csrf" || name === "tool" || typeof value !== "string") continue;
      if (value.trim() === "") continue;
      options[name] = value;  // a checkbox sends "false" then "true": the last one wins
    }
    return { tool: form.dataset.tool, options, images };
  }

  async function quote() {
    const ticket = ++latest;
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
      problem.hidden = true;
      alternatives.innerHTML = "";
      alternatives.hidden = q.fits;
      if (!q.fits) {
        problem.textContent = `That is ${q.points - q.available} points more than you have.`;
        problem.hidden = false;
        for (const alt of q.alternatives) {
          const li = document.createElement("li");
          li.textContent = `${alt.description}: ${alt.points} points`;
          alternatives.appendChild(li);
        }
      }
    } catch (error) {
      if (ticket !== latest) return;
      price.textContent = "–";
      price.dataset.state = "error";
      problem.textContent = error.message;
      problem.hidden = false;
    }
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(quote, 250);
  }

  async function upload(fileInput) {
    const name = fileInput.dataset.uploadFor;
    const hidden = form.querySelector(`input[type=hidden][name="${name}"]`);
    const state = form.querySelector(`[data-upload-state="${name}"]`);
    if (!fileInput.files.length) return;
    const body = new FormData();
    body.append("file", fileInput.files[0]);
    state.textContent = "uploading…";
    try {
      const item = await station.send("/api/v1/media", { method: "POST", body });
      hidden.value = item.id;
      state.textContent = `${item.width}×${item.height} ready`;
      later();
    } catch (error) {
      hidden.value = "";
      state.textContent = error.message;
    }
  }

  form.addEventListener("input", (event) => {
    if (event.target.type !== "file") later();
  });
  form.addEventListener("change", (event) => {
    if (event.target.type === "file") upload(event.target);
    else later();
  });
  quote();
})();
