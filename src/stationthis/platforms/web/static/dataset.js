// A dataset's page: uploads go to the API (which allows a dataset's worth of bytes in one
// request) and the page reloads; the training price follows the number of steps.
"use strict";
(function () {
  const upload = document.getElementById("upload");
  if (upload) {
    upload.addEventListener("submit", async (event) => {
      event.preventDefault();
      const problem = document.getElementById("upload-error");
      const button = upload.querySelector("button[type=submit]");
      button.disabled = true;
      button.textContent = "Uploading…";
      try {
        await station.send(upload.dataset.api, { method: "POST", body: new FormData(upload) });
        window.location.reload();
      } catch (error) {
        problem.textContent = error.message;
        problem.hidden = false;
        button.disabled = false;
        button.textContent = "Upload";
      }
    });
  }

  const form = document.getElementById("train");
  const price = document.getElementById("train-price");
  if (!form || !price) return;
  const steps = form.querySelector("input[name=steps]");
  if (!steps) return;
  let timer = null;
  steps.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const response = await fetch(`${form.dataset.quote}?steps=${encodeURIComponent(steps.value)}`, { credentials: "same-origin" });
      const body = await response.json();
      price.textContent = response.ok ? `${body.points} points` : body.error.message;
    }, 250);
  });
})();
