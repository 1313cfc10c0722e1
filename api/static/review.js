// Keyboard shortcuts for the review page; the only script the page runs (CSP: script-src 'self').
// j/k: next/previous (queue rows, or items), Enter/o: open, 1-9 and 0: relabel, r: resolve.
(function () {
  "use strict";
  function typing(target) {
    return target && target.closest && target.closest("input, textarea, select, [contenteditable]");
  }
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr[data-href]")); }
  function move(step) {
    var list = rows();
    if (!list.length) { return false; }
    var at = list.findIndex(function (r) { return r.classList.contains("selected"); });
    var next = Math.max(0, Math.min(list.length - 1, (at < 0 ? 0 : at + step)));
    list.forEach(function (r) { r.classList.remove("selected"); });
    list[next].classList.add("selected");
    list[next].scrollIntoView({ block: "nearest" });
    return true;
  }
  function follow(rel) {
    var link = document.querySelector('a[rel="' + rel + '"]');
    if (link) { window.location.assign(link.href); }
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var key = event.key;
    var onList = document.body.classList.contains("page-list");
    if (key === "j" || key === "k") {
      if (onList) { move(key === "j" ? 1 : -1); } else { follow(key === "j" ? "next" : "prev"); }
      event.preventDefault();
    } else if ((key === "Enter" || key === "o") && onList) {
      var row = document.querySelector("tr.selected[data-href]");
      if (row) { window.location.assign(row.getAttribute("data-href")); event.preventDefault(); }
    } else if (/^[0-9]$/.test(key)) {
      var button = document.querySelector('button[data-key="' + key + '"]');
      if (button) { button.click(); event.preventDefault(); }
    } else if (key === "r") {
      var form = document.getElementById("resolve-form");
      if (form) { form.requestSubmit(); event.preventDefault(); }
    }
  });
  document.addEventListener("click", function (event) {
    var row = event.target.closest && event.target.closest("tr[data-href]");
    if (row && !event.target.closest("a")) { window.location.assign(row.getAttribute("data-href")); }
  });
})();
