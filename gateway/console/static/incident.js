/* The incident page: one form per action, sent to the workflow API; live refresh. */
(function () {
  "use strict";
  var info = document.getElementById("incident");
  var number = info.dataset.number;
  var busy = false;

  function body(form) {
    var out = { action: form.dataset.action };
    new FormData(form).forEach(function (value, name) {
      value = String(value).trim();
      if (value === "") return;
      if (name.indexOf("location.") === 0) {
        out.location = out.location || {};
        var k = name.slice(9);
        out.location[k] = k === "address" ? value : Number(value);
      } else if (name === "priority") {
        out.priority = Number(value);
      } else {
        out[name] = value;
      }
    });
    return out;
  }

  document.querySelectorAll("form.act").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var msg = form.querySelector(".msg");
      msg.hidden = true;
      busy = true;
      form.querySelector("button[type=submit]").disabled = true;
      window.alarmgw.act(number, body(form)).then(function () {
        location.replace(location.pathname + "?done=" + form.dataset.action);
      }).catch(function (err) {
        busy = false;
        form.querySelector("button[type=submit]").disabled = false;
        msg.textContent = err.message + (err.detail ? "：" + err.detail : "");
        msg.hidden = false;
      });
    });
    // Keyboard-first: Enter on a select sends the form, as it does in a text field (a
    // select has no implicit submission of its own): `d` then Enter dispatches.
    form.addEventListener("keydown", function (e) {
      if (e.key !== "Enter" || e.target.tagName !== "SELECT" || e.ctrlKey || e.metaKey || e.altKey) return;
      e.preventDefault();
      form.requestSubmit();
    });
  });
  document.querySelectorAll("button.detach").forEach(function (b) {
    b.addEventListener("click", function () {
      window.alarmgw.act(number, { action: "detach", report: b.dataset.report }).then(function (doc) {
        location.href = "/console/incidents/" + (doc.number || number);
      }).catch(function (err) { window.alarmgw.alarm("error", err.message + "：" + err.detail); });
    });
  });

  var done = new URLSearchParams(location.search).get("done");
  if (done) {
    var el = document.getElementById("done");
    var s = document.querySelector("summary");
    el.textContent = "操作已完成。";
    el.hidden = false;
    history.replaceState(null, "", location.pathname);
  }

  function open(id) {
    var d = document.getElementById(id);
    if (!d) return false;
    document.querySelectorAll(".actions details[open]").forEach(function (x) { if (x !== d) x.open = false; });
    d.open = true;
    var first = d.querySelector("select, input, textarea, button");
    if (first) first.focus();
    return true;
  }
  if (location.hash) {
    // Opened as …#accept (the queue's `a`, `d`): open that form with its first field
    // focused. The fragment is dropped first: chromium moves focus to a fragment's target
    // once the page has loaded, and off our field when the target (a <details>) cannot
    // take it.
    var wanted = location.hash.slice(1);
    history.replaceState(null, "", location.pathname + location.search);
    open(wanted);
  }

  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") {
      document.querySelectorAll(".actions details[open]").forEach(function (x) { x.open = false; });
      // The field that had the focus is hidden now: let go of it at once, or the next
      // shortcut (q, a …) goes to it until the browser moves the focus on its own.
      var active = document.activeElement;
      if (active && active.closest(".actions")) active.blur();
      return;
    }
    if (window.alarmgw.typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    var keys = { a: "accept", d: "dispatch", s: "acknowledge", r: "arrive", f: "feedback", c: "close", m: "merge", t: "transfer", e: "escalate", i: "mark_invalid" };
    if (e.key === "q") { location.href = "/console/"; e.preventDefault(); return; }
    if (keys[e.key] && open(keys[e.key])) e.preventDefault();
  });

  window.alarmgw.connect(info.dataset.seq, function (ev) {
    if (ev.incident !== number || busy) return;
    var editing = document.querySelector(".actions details[open]");
    if (!editing) location.reload();
    else {
      var el = document.getElementById("done");
      el.textContent = "此警情已被更新（" + ev.action + "），请刷新查看。";
      el.className = "notice"; el.hidden = false;
    }
  });
})();
