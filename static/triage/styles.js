// Sizes and colours computed on the server (bar widths, waterfall depth, chart colours)
// arrive as data-style: the Content-Security-Policy refuses style attributes in markup,
// but styles set from our own script are allowed. Runs again on each htmx swap.
(function () {
  function apply(root) {
    const els = Array.from(root.querySelectorAll("[data-style]"));
    if (root.dataset && root.dataset.style !== undefined) els.push(root);
    els.forEach(function (el) { el.style.cssText = el.dataset.style; });
  }
  if (window.htmx) window.htmx.onLoad(apply);
  else document.addEventListener("DOMContentLoaded", function () { apply(document); });
})();
