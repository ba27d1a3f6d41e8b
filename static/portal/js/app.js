// Theme toggle and copy-to-clipboard buttons. Everything else is plain links, forms and htmx.
(function () {
  function currentTheme() {
    return document.documentElement.getAttribute("data-bs-theme") === "dark" ? "dark" : "light";
  }

  function syncToggle() {
    var button = document.getElementById("theme-toggle");
    if (!button) return;
    var dark = currentTheme() === "dark";
    button.setAttribute("aria-pressed", dark ? "true" : "false");
    button.querySelector(".theme-label").textContent = dark ? "Light mode" : "Dark mode";
  }

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("#theme-toggle");
    if (toggle) {
      var next = currentTheme() === "dark" ? "light" : "dark";
      document.documentElement.setAttribute("data-bs-theme", next);
      try { localStorage.setItem("ironyard-theme", next); } catch (e) { /* private mode */ }
      syncToggle();
      return;
    }
    var copy = event.target.closest("[data-copy-target]");
    if (copy) {
      var source = document.getElementById(copy.getAttribute("data-copy-target"));
      if (!source || !navigator.clipboard) return;
      navigator.clipboard.writeText(source.value || source.textContent.trim()).then(function () {
        var label = copy.textContent;
        copy.textContent = "Copied";
        setTimeout(function () { copy.textContent = label; }, 2000);
      });
    }
  });

  document.addEventListener("DOMContentLoaded", syncToggle);
})();
