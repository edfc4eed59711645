"""The report form's "使用我的位置" button: a small script, served as /report/locate.js.

It is a file of its own (no inline script, so a Content-Security-Policy of ``script-src
'self'`` allows it) kept as a string here so that it installs with the code, needs no
package data and no build step, and depends on nothing: the W3C Geolocation API only.
It fills the form's #lat, #lon and #accuracy and says what happened in #locate-status.
Without it, the form works as before (address, or coordinates typed by hand).

The datum: the W3C Geolocation API's coordinates are in "the World Geodetic System (2d)
[WGS84]" (its GeolocationCoordinates interface), which is what the gateway stores and routes
on. No GCJ-02 conversion is needed here (that is for coordinates out of a Chinese map app).
"""

SCRIPT = """\
// alarmgw: the report form's "使用我的位置" (gateway/channels/web/locate.py).
// Coordinates from navigator.geolocation are WGS84, the datum the gateway stores.
(function () {
  "use strict";
  var button = document.getElementById("locate");
  var box = document.getElementById("locate-box");
  var status = document.getElementById("locate-status");
  var lat = document.getElementById("lat");
  var lon = document.getElementById("lon");
  var accuracy = document.getElementById("accuracy");
  if (!button || !box || !status || !lat || !lon || !accuracy) {
    return;
  }
  var MAX_ACCURACY = 100000; // metres: the most a report's location.accuracy_m may say
  var FAILED = {
    1: "未获得定位权限。请在浏览器中允许定位，或填写事发地点。",
    2: "暂时无法获取您的位置，请填写事发地点。",
    3: "定位超时，请重试，或填写事发地点。"
  };

  function say(text, ok) {
    status.textContent = text;
    status.className = "status " + (ok ? "ok" : "error");
  }

  // A point typed by hand has no known accuracy.
  function typed() {
    accuracy.value = "";
  }

  box.hidden = false;
  lat.addEventListener("input", typed);
  lon.addEventListener("input", typed);
  button.addEventListener("click", function () {
    if (!window.isSecureContext) {
      say("浏览器只在安全连接（HTTPS）下提供定位，请填写事发地点。", false);
      return;
    }
    if (!navigator.geolocation) {
      say("此浏览器不支持定位，请填写事发地点。", false);
      return;
    }
    button.disabled = true;
    say("正在定位…", true);
    navigator.geolocation.getCurrentPosition(
      function (position) {
        button.disabled = false;
        var c = position.coords;
        var metres = Math.ceil(c.accuracy); // rounded up: never claim better than we have
        if (!(metres >= 0 && metres <= MAX_ACCURACY)) {
          say("定位精度太低，请填写事发地点。", false);
          return;
        }
        lat.value = c.latitude.toFixed(6);
        lon.value = c.longitude.toFixed(6);
        accuracy.value = String(metres);
        say("已定位：精度约 " + metres + " 米", true);
      },
      function (error) {
        button.disabled = false;
        say(FAILED[error.code] || "无法定位，请填写事发地点。", false);
      },
      { enableHighAccuracy: true, timeout: 20000, maximumAge: 0 }
    );
  });
})();
"""
