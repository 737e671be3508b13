// The account page: the allowance refill countdown ticks.
"use strict";
(function () {
  const refill = document.getElementById("refill");
  if (!refill) return;
  let left = Number(refill.dataset.seconds);
  const tick = () => {
    left = Math.max(0, left - 1);
    refill.textContent = left ? station.duration(left) : "a moment (reload to see it)";
    if (left) setTimeout(tick, 1000);
  };
  setTimeout(tick, 1000);
})();
