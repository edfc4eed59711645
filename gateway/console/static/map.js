/* The map: Leaflet drawing the jurisdictions (GeoJSON, WGS84) and the open incidents. No
   tile server unless the config names one (the police GIS, an intranet Tianditu…). */
(function () {
  "use strict";
  var el = document.getElementById("map");
  if (!el || !window.L) return;
  var map = L.map(el, { attributionControl: true, zoomSnap: 0.25 });
  window.alarmgwMap = map;
  if (el.dataset.tiles) {
    L.tileLayer(el.dataset.tiles, { maxZoom: 19, attribution: el.dataset.attribution || "" }).addTo(map);
  }
  var COLOURS = { 1: "#c62828", 2: "#ef6c00", 3: "#f9a825", 4: "#1565c0" };
  var STATE_ZH = { received: "接警", accepted: "受理", dispatched: "派警", acknowledged: "签收", on_scene: "到场", handled: "处警反馈" };
  var single = el.dataset.lat !== undefined && el.dataset.lat !== "" ? [Number(el.dataset.lat), Number(el.dataset.lon)] : null;
  var layer = null;
  var track = el.dataset.track ? JSON.parse(el.dataset.track) : [];

  function draw(doc) {
    if (layer) layer.remove();
    layer = L.geoJSON(doc, {
      style: function (f) {
        if (f.properties.kind !== "unit") return {};
        var tier = f.properties.tier;
        return { color: tier === "city" ? "#0d2b52" : tier === "district" ? "#2b5797" : "#6c8ebf",
                 weight: tier === "station" ? 1 : 2, fillOpacity: 0.04 };
      },
      pointToLayer: function (f, latlng) {
        var p = f.properties;
        return L.circleMarker(latlng, { radius: 8, color: p.missed ? "#000" : "#fff", weight: 2,
          fillColor: COLOURS[p.priority] || "#607d8b", fillOpacity: 0.95 });
      },
      onEachFeature: function (f, l) {
        var p = f.properties;
        if (p.kind === "unit") l.bindTooltip(p.name);
        else l.bindPopup('<a href="/console/incidents/' + p.number + '">' + p.number + "</a><br>" +
          (STATE_ZH[p.state] || p.state) + " · " + p.category + (p.drill ? " · 演练" : "") + "<br>" +
          (p.summary || "").replace(/[<&]/g, function (c) { return c === "<" ? "&lt;" : "&amp;"; }));
      },
    });
    // The view first: Leaflet draws nothing on a map without one.
    if (single) map.setView(single, 14);
    else if (layer.getLayers().length) map.fitBounds(layer.getBounds(), { padding: [10, 10] });
    else map.setView([0, 0], 2);
    layer.addTo(map);
    if (single) {
      L.circleMarker(single, { radius: 10, color: "#000", weight: 3, fillColor: "#c62828", fillOpacity: 1 }).addTo(map);
    }
    // A vehicle's emergency: its track while the incident is open, the latest point ringed.
    if (track.length) {
      var line = L.polyline(track, { color: "#c62828", weight: 3, dashArray: "6 4" }).addTo(map);
      L.circleMarker(track[track.length - 1], { radius: 7, color: "#c62828", weight: 3, fillColor: "#fff", fillOpacity: 1 })
        .bindTooltip("车辆最新位置").addTo(map);
      map.fitBounds(line.getBounds().extend(single || track[0]), { padding: [20, 20], maxZoom: 16 });
    }
  }

  var drill = new URLSearchParams(location.search).get("drill") === "1" ? "1" : "0";
  function load() {
    return fetch("/console/map.json?drill=" + drill, { credentials: "same-origin" })
      .then(function (r) { return r.json(); }).then(function (doc) {
        if (single) doc.features = doc.features.filter(function (f) { return f.properties.kind === "unit"; });
        draw(doc);
        el.dataset.loaded = String(doc.features.length);
      });
  }
  load();
  window.alarmgwMapReload = load;
})();
