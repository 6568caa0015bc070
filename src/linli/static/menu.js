// The phone menu: a button that opens and closes the navigation. Without this script (or on
// a wide screen) the menu is simply shown, wrapped over as many rows as it needs.
(function () {
  "use strict";
  var button = document.querySelector(".menu-button");
  var nav = document.getElementById("main-nav");
  if (!button || !nav) {
    return;
  }
  document.documentElement.classList.add("with-menu-button");
  button.addEventListener("click", function () {
    var open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", open ? "true" : "false");
    nav.classList.toggle("open", open);
  });
})();
