// Theme toggle, copy-to-clipboard buttons and "select all" boxes. Everything else is plain links,
// forms and htmx. The Content-Security-Policy allows no inline script or event handler: behaviour
// lives here, delegated from the document so it survives htmx swaps, keyed on data attributes.
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

  // <input type="checkbox" data-select-all="devices"> ticks its form's input[name=devices] boxes.
  document.addEventListener("change", function (event) {
    var all = event.target.closest("[data-select-all]");
    if (!all || !all.form) return;
    var name = all.getAttribute("data-select-all");
    all.form.querySelectorAll("input[type=checkbox]").forEach(function (box) {
      if (box.name === name) box.checked = all.checked;
    });
  });

  document.addEventListener("DOMContentLoaded", syncToggle);
})();
