/* The queue: live rows, sort order (priority 1 first, then oldest), keyboard. */
(function () {
  "use strict";
  var table = document.getElementById("queue");
  var tbody = document.getElementById("rows");
  var filters = new URLSearchParams(location.search);
  var pending = {};

  function rows() { return Array.prototype.slice.call(tbody.querySelectorAll("tr[data-number]")); }
  function key(tr) { return [tr.dataset.priority === "1" ? 0 : 1, tr.dataset.created]; }
  function sort() {
    var all = rows();
    all.sort(function (a, b) {
      var ka = key(a), kb = key(b);
      return ka[0] - kb[0] || (ka[1] < kb[1] ? -1 : ka[1] > kb[1] ? 1 : 0);
    });
    all.forEach(function (tr) { tbody.appendChild(tr); });
  }
  function count() {
    var n = rows().length, el = document.getElementById("count");
    if (el) el.textContent = "共 " + n + " 起";
    var empty = document.getElementById("empty");
    if (empty) empty.style.display = n ? "none" : "";
  }

  function refresh(number) {
    if (pending[number]) return;
    pending[number] = true;
    fetch("/console/rows/" + number + "?" + filters.toString(), { credentials: "same-origin" })
      .then(function (r) { return r.status === 204 ? "" : r.text(); })
      .then(function (html) {
        delete pending[number];
        var old = document.getElementById("row-" + number);
        if (!html) { if (old) old.remove(); count(); return; }
        var t = document.createElement("tbody");
        t.innerHTML = html.trim();
        var tr = t.firstElementChild;
        var wasSelected = old && old.classList.contains("sel");
        if (old) old.replaceWith(tr); else { tbody.appendChild(tr); tr.classList.add("new"); }
        if (wasSelected) tr.classList.add("sel");
        sort(); count(); window.alarmgw.tick();
      })
      .catch(function () { delete pending[number]; });
  }

  window.alarmgw.connect(table.dataset.seq, function (ev) { if (ev.incident) refresh(ev.incident); });

  // Keyboard-first: move, open, accept, dispatch without the mouse.
  function selected() { return tbody.querySelector("tr.sel"); }
  function select(tr) {
    var s = selected(); if (s) s.classList.remove("sel");
    if (tr) { tr.classList.add("sel"); tr.focus({ preventScroll: true }); tr.scrollIntoView({ block: "nearest" }); }
  }
  document.addEventListener("keydown", function (e) {
    if (window.alarmgw.typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    var all = rows(), cur = selected(), i = cur ? all.indexOf(cur) : -1;
    var open = function (hash) { if (cur) location.href = "/console/incidents/" + cur.dataset.number + (hash || ""); };
    switch (e.key) {
      case "ArrowDown": case "j": select(all[Math.min(all.length - 1, i + 1)]); break;
      case "ArrowUp": case "k": select(all[Math.max(0, i - 1)]); break;
      case "Home": select(all[0]); break;
      case "End": select(all[all.length - 1]); break;
      case "Enter": case "o": open(""); break;
      case "a": open("#accept"); break;
      case "d": open("#dispatch"); break;
      case "/": document.getElementById("f-state").focus(); break;
      default: return;
    }
    e.preventDefault();
  });
  tbody.addEventListener("click", function (e) {
    var tr = e.target.closest("tr[data-number]");
    if (tr && e.target.tagName !== "A") select(tr);
  });
})();
