// Apply the remembered theme (or the OS preference) before the page paints.
(function () {
  var stored = null;
  try { stored = localStorage.getItem("ironyard-theme"); } catch (e) { /* private mode */ }
  var prefersDark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  var theme = stored === "dark" || stored === "light" ? stored : (prefersDark ? "dark" : "light");
  document.documentElement.setAttribute("data-bs-theme", theme);
})();
