// Checks a unified social credit code as it is typed and says which position is wrong.
(function () {
  "use strict";
  const input = document.querySelector("[data-credit-code]");
  const status = document.querySelector("[data-credit-code-status]");
  if (!input || !status) return;
  let timer = null;
  input.addEventListener("input", function () {
    clearTimeout(timer);
    const code = input.value.replace(/\s+/g, "");
    if (code.length < 18) { status.textContent = ""; return; }
    timer = setTimeout(async function () {
      try {
        const response = await fetch("/api/v1/credit-codes/" + encodeURIComponent(code), {
          headers: { "Accept": "application/json" },
        });
        const result = await response.json();
        status.textContent = result.valid ? "✓ " + result.normalized
          : result.errors.map(function (e) { return e.message; }).join(" ");
        status.className = result.valid ? "ok" : "field-error";
      } catch (err) {
        status.textContent = "";
      }
    }, 250);
  });
})();
