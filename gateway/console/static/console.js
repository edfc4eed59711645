/* alarmgw console: the live stream, alerts (sound and sight), countdowns, keyboard.
   Plain script, no build step. Everything a person reads is Chinese. */
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var alerts = (window.alarmgwAlerts = window.alarmgwAlerts || []);
  var audioCtx = null;

  function beep(times) {
    // A two-tone alarm made with WebAudio: no sound file to fetch, works offline.
    try {
      audioCtx = audioCtx || new (window.AudioContext || window.webkitAudioContext)();
      if (audioCtx.state === "suspended") audioCtx.resume();
      for (var i = 0; i < (times || 2); i++) {
        var o = audioCtx.createOscillator(), g = audioCtx.createGain();
        o.type = "square";
        o.frequency.value = i % 2 ? 660 : 880;
        g.gain.value = 0.15;
        o.connect(g); g.connect(audioCtx.destination);
        var t = audioCtx.currentTime + i * 0.25;
        o.start(t); o.stop(t + 0.2);
      }
      return audioCtx.state;
    } catch (e) {
      return "unavailable";
    }
  }
  // Browsers keep audio off until the person interacts with the page once.
  document.addEventListener("keydown", function () { if (audioCtx && audioCtx.state === "suspended") audioCtx.resume(); }, { once: true });
  document.addEventListener("click", function () { audioCtx = audioCtx || new (window.AudioContext || window.webkitAudioContext)(); }, { once: true });

  function alarm(kind, text, number) {
    var sound = beep(kind === "priority1" ? 4 : 2);
    alerts.push({ kind: kind, text: text, number: number || null, sound: sound, at: Date.now() });
    var box = document.getElementById("alerts");
    if (!box) {
      box = document.createElement("div");
      box.id = "alerts"; box.className = "alert"; box.setAttribute("role", "alert");
      document.body.appendChild(box);
    }
    var div = document.createElement("div");
    div.className = "alert-item alert-" + kind;
    div.textContent = text;
    if (number) {
      div.style.cursor = "pointer";
      div.addEventListener("click", function () { location.href = "/console/incidents/" + number; });
    }
    box.appendChild(div);
    setTimeout(function () { div.remove(); }, 20000);
    var title = document.title;
    document.title = "【警报】" + title.replace(/^【警报】/, "");
    setTimeout(function () { document.title = title.replace(/^【警报】/, ""); }, 8000);
  }

  var me = {
    unit: (document.body.dataset.unit || ""),
    scope: (document.body.dataset.scope || "").split(",").filter(Boolean),
  };

  function inMyUnit(code) { return !!code && me.scope.indexOf(code) >= 0; }

  // Alerts common to every page: a new priority-1 incident, a missed deadline, an
  // escalation or a dispatch into this user's unit.
  var STEP_ZH = { accept: "受理", dispatch: "派警", acknowledge: "签收", arrive: "到场", feedback: "反馈" };
  function alertsFor(ev) {
    var n = ev.incident;
    if (ev.drill && !document.body.classList.contains("show-drills")) return;
    var tag = ev.drill ? "【演练】" : "";
    if ((ev.action === "create" && ev.priority === 1) ||
        (ev.action === "accept" && ev.data && ev.data.priority === 1)) {
      alarm("priority1", tag + "一级警情 " + n + (ev.summary ? "：" + ev.summary : ""), n);
    } else if (ev.action === "deadline_missed") {
      alarm("missed", tag + "超时：" + n + " 的" + (STEP_ZH[(ev.data || {}).step] || "") + "时限已过", n);
    } else if (ev.action === "escalate" && inMyUnit((ev.data || {}).unit) && me.unit === (ev.data || {}).unit) {
      alarm("escalated", tag + "警情 " + n + " 已升级到本单位", n);
    } else if ((ev.action === "dispatch" || ev.action === "transfer") && me.unit && (ev.data || {}).unit === me.unit) {
      alarm("dispatched", tag + "新派警情 " + n + "，请签收", n);
    }
  }

  function connect(seq, onEvent) {
    var live = document.getElementById("live");
    var es = new EventSource("/console/events?since=" + encodeURIComponent(seq));
    es.onopen = function () { if (live) { live.className = "live on"; live.title = "实时连接正常"; } };
    es.onerror = function () {
      if (live) { live.className = "live off"; live.title = "实时连接中断，正在重连…"; }
      // A refused stream (the session ended: 401) is not retried by the browser: load the
      // page again, which leads to the login page if that is why.
      if (es.readyState === EventSource.CLOSED) setTimeout(function () { location.reload(); }, 5000);
    };
    es.addEventListener("incident", function (m) {
      var ev = JSON.parse(m.data);
      window.alarmgwLastSeq = ev.seq;
      alertsFor(ev);
      if (onEvent) onEvent(ev);
    });
    es.addEventListener("screenpop", function (m) {
      var ev = JSON.parse(m.data);
      alerts.push({ kind: "screenpop", number: ev.incident, at: Date.now() });
      location.href = "/console/incidents/" + ev.incident + "?pop=1";
    });
    es.addEventListener("reload", function () { location.reload(); });
    window.alarmgwStream = es;
    return es;
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function clock(s) {
    s = Math.abs(Math.floor(s));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return (h ? h + ":" + pad(m) : m) + ":" + pad(sec);
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-due]").forEach(function (el) {
      var due = el.dataset.due ? Date.parse(el.dataset.due) : NaN;
      if (el.dataset.missed === "1") {
        el.className = "countdown missed";
        el.textContent = "已超时" + (isNaN(due) ? "" : " " + clock((now - due) / 1000));
        return;
      }
      if (isNaN(due)) { el.textContent = "—"; return; }
      var left = (due - now) / 1000;
      if (left < 0) {
        el.className = "countdown missed";
        el.textContent = "超时 " + clock(-left);
      } else {
        el.className = "countdown" + (left < 60 ? " soon" : "");
        el.textContent = clock(left);
      }
    });
  }
  setInterval(tick, 1000);
  document.addEventListener("DOMContentLoaded", tick);

  var ERROR_ZH = {
    invalid: "输入有误", invalid_action: "输入有误", not_found: "未找到",
    conflict: "当前状态不允许此操作", forbidden: "无权执行此操作", csrf: "页面已过期，请刷新后重试",
    unauthorized: "登录已失效，请重新登录", unavailable: "系统暂时不可用，请稍后重试",
    too_large: "内容过长", bad_json: "请求格式有误",
  };
  var FIELD_ZH = {
    category: "警情类别", priority: "优先级", location: "位置", "location.lat": "纬度",
    "location.lon": "经度", "location.address": "地址", reason: "原因", master: "主警情编号",
    unit: "单位", result: "处警结果", text: "短信内容", message: "回复内容", calltaker: "接警席位",
    report: "报告回执号",
  };

  // An action through the workflow API, on the session's authority (with its CSRF token).
  function act(number, body) {
    return fetch("/api/v1/incidents/" + number + "/actions", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (doc) {
        if (r.ok) return doc;
        var msg = (ERROR_ZH[doc.error] || "操作未完成") +
          (doc.field ? "（" + (FIELD_ZH[doc.field] || doc.field) + "）" : "");
        var err = new Error(msg);
        err.detail = doc.message || "";
        err.status = r.status;
        throw err;
      });
    });
  }

  function typing(e) {
    var t = e.target;
    return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
  }

  window.alarmgw = { connect: connect, alarm: alarm, act: act, typing: typing, tick: tick, csrf: csrf };
})();
