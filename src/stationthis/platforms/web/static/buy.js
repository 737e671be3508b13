// The Buy page: after a package was chosen, go on to Stripe's checkout page (the link is
// there for browsers without JavaScript).
// The page Stripe sends the buyer back to: while the purchase is pending ("processing"),
// ask our server for its status and show the result once the payment is confirmed.
"use strict";
(function () {
  const onward = document.getElementById("checkout-link");
  if (onward) window.location.assign(onward.href);
})();
(function () {
  const section = document.getElementById("purchase");
  if (!section || section.dataset.status !== "pending") return;
  const id = section.dataset.purchase;
  let tries = 0;
  const check = async () => {
    tries += 1;
    try {
      const answer = await fetch(`/api/v1/purchases/${encodeURIComponent(id)}`,
                                 { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (answer.ok) {
        const purchase = await answer.json();
        if (purchase.status !== "pending") {
          window.location.reload();
          return;
        }
      }
    } catch (err) {
      // the network blinked: try again
    }
    if (tries < 300) setTimeout(check, tries < 30 ? 1000 : 5000);
  };
  setTimeout(check, 1000);
})();
