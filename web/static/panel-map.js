/* The panel's maps, over map.js: a ticket's point (data-map="ticket"), the queue as a map
 * (data-map="queue") and the last day's hotspots (data-map="hotspots"). Points come from the
 * panel's own JSON (same scope as the queue); every label goes in as text, never as HTML.
 */
(function () {
  "use strict";

  var COLORS = { late: "#c92a2a", urgent: "#e67700", open: "#1864ab", done: "#5c940d" };
  var PM = window.PeygirMap;
  if (!PM || typeof window.L === "undefined") return;
  var L = window.L;

  function fa(n) {
    return String(n).replace(/[0-9]/g, function (d) {
      return "۰۱۲۳۴۵۶۷۸۹".charAt(+d);
    });
  }

  function colorOf(p) {
    if (!p.open) return COLORS.done;
    if (p.late) return COLORS.late;
    return p.urgent ? COLORS.urgent : COLORS.open;
  }

  function popup(p) {
    var box = document.createElement("div");
    box.className = "map-popup";
    var link = PM.textEl("a", fa(p.code));
    link.href = "/panel/tickets/" + encodeURIComponent(p.code);
    box.appendChild(link);
    box.appendChild(PM.textEl("div", p.service));
    box.appendChild(PM.textEl("div", p.status_label + (p.urgent ? " · فوری" : "") + (p.late ? " · دیرکرد" : "")));
    return box;
  }

  function markers(m, points) {
    var layer = L.featureGroup();
    points.forEach(function (p) {
      if (typeof p.lat !== "number" || typeof p.lon !== "number") return;
      L.circleMarker([p.lat, p.lon], {
        radius: 7, color: "#fff", weight: 2, fillColor: colorOf(p), fillOpacity: 0.95,
        className: "ticket-point",
      }).bindPopup(popup(p)).addTo(layer);
    });
    layer.addTo(m.map);
    return layer;
  }

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) {
        if (!resp.ok) throw new Error(url + " answered " + resp.status);
        return resp.json();
      });
  }

  function ticketMap(el) {
    var lat = parseFloat(el.getAttribute("data-lat"));
    var lon = parseFloat(el.getAttribute("data-lon"));
    var district = el.getAttribute("data-district");
    return PM.create(el, { scrollWheelZoom: false }).then(function (m) {
      m.outlines.eachLayer(function (layer) {
        var props = layer.feature && layer.feature.properties;
        if (props && props.code === district) {
          layer.setStyle({ fillOpacity: 0.22, weight: 3 });
        }
      });
      L.marker([lat, lon], { title: "محل گزارش", keyboard: false }).addTo(m.map);
      // The street around the point; the SVG under it keeps the whole city in view.
      m.map.setView([lat, lon], Math.max(m.map.getZoom(), 15));
    });
  }

  function queueMap(el) {
    var count = document.getElementById("queue-map-count");
    return Promise.all([PM.create(el), getJson(el.getAttribute("data-src"))]).then(function (r) {
      var m = r[0], data = r[1];
      var layer = markers(m, data.points || []);
      if (layer.getLayers().length) m.map.fitBounds(layer.getBounds(), { padding: [24, 24], maxZoom: 16 });
      if (count) {
        count.textContent = fa(data.shown) + " درخواست روی نقشه" +
          (data.total > data.shown ? " (از " + fa(data.total) + "؛ فوری‌ترها)" : "");
      }
      el.setAttribute("data-points", String(layer.getLayers().length));
    });
  }

  function hotspotMap(el) {
    return Promise.all([PM.create(el, { districtLabels: false, scrollWheelZoom: false }),
      getJson(el.getAttribute("data-src"))]).then(function (r) {
      var m = r[0], data = r[1];
      var counts = {};
      var max = 0;
      (data.districts || []).forEach(function (d) {
        counts[d.code] = d.count;
        if (d.count > max) max = d.count;
      });
      // Each district shaded by its share of the day's reports, its count as its label.
      m.outlines.eachLayer(function (layer) {
        var props = (layer.feature && layer.feature.properties) || {};
        var n = counts[props.code] || 0;
        layer.setStyle({ fillColor: "#d9480f", fillOpacity: max ? 0.08 + 0.5 * (n / max) : 0.04 });
        // The name without its parenthesised note: four labels side by side on a phone.
        var name = String(props.name || props.code).replace(/\s*\(.*\)\s*$/, "");
        layer.bindTooltip(PM.textEl("span", name + ": " + fa(n)), {
          permanent: true, direction: "center", className: "district-label hot-label",
        });
      });
      var layer = markers(m, data.points || []);
      el.setAttribute("data-points", String(layer.getLayers().length));
    });
  }

  var KINDS = { ticket: ticketMap, queue: queueMap, hotspots: hotspotMap };
  Array.prototype.forEach.call(document.querySelectorAll("[data-map]"), function (el) {
    var draw = KINDS[el.getAttribute("data-map")];
    if (!draw) return;
    draw(el).catch(function () {
      el.hidden = true; // no map: the page's tables (and the ticket's SVG) still say it all
    });
  });
})();
