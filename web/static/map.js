/* Peygir's maps: vendored Leaflet, the city's tile server when one is configured
 * (PEYGIR_MAP_TILES), and the pack's district outlines over it (alone when there are no
 * tiles). Used by the web chat's point picker (chat-map.js) and the panel (panel-map.js).
 *
 *   PeygirMap.create(element) -> Promise<{map, outlines, config, districts}>
 *   PeygirMap.districtAt(districts, lat, lon) -> {code, name} | null
 *
 * Nothing is inserted as HTML: names go in as text nodes.
 */
(function () {
  "use strict";

  var IRAN = [32.4, 53.7]; // the view when the pack has no districts
  var loaded = null;

  function getJson(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (resp) {
      if (!resp.ok) throw new Error("map: " + url + " answered " + resp.status);
      return resp.json();
    });
  }

  // The configuration and the outlines, fetched once per page.
  function load() {
    if (!loaded) {
      loaded = getJson("/map/config.json").then(function (config) {
        return getJson(config.districts).then(function (districts) {
          return { config: config, districts: districts };
        });
      });
      loaded.catch(function () {
        loaded = null; // a later try may succeed
      });
    }
    return loaded;
  }

  function textEl(tag, text, className) {
    var el = document.createElement(tag);
    if (className) el.className = className;
    el.setAttribute("dir", "auto"); // Persian labels inside the map's left-to-right box
    el.textContent = text == null ? "" : String(text);
    return el;
  }

  function create(element, options) {
    options = options || {};
    if (typeof window.L === "undefined") return Promise.reject(new Error("map: no Leaflet"));
    var L = window.L;
    return load().then(function (data) {
      var config = data.config;
      var map = L.map(element, { zoomSnap: 0.25, scrollWheelZoom: options.scrollWheelZoom !== false });
      // Leaflet's own credit, without the flag it draws by default.
      map.attributionControl.setPrefix("Leaflet");
      if (config.tiles) {
        var credit = document.createElement("span");
        credit.textContent = config.attribution || "";
        L.tileLayer(config.tiles, {
          maxZoom: 19,
          attribution: credit.innerHTML, // escaped: the setting is text, not markup
        }).addTo(map);
        element.classList.add("map-tiles");
      } else {
        element.classList.add("map-outlines-only");
      }
      var outlines = L.geoJSON(data.districts, {
        style: function () {
          return { color: "#0b6e4f", weight: 2, fillColor: "#0b6e4f", fillOpacity: 0.06 };
        },
        onEachFeature: function (feature, layer) {
          var code = feature.properties && feature.properties.code;
          // Applied when the path is drawn (after this): pages and tests find a district by it.
          layer.options.className = "district" + (code ? " district-" + String(code).replace(/[^A-Za-z0-9_-]/g, "_") : "");
          var name = feature.properties && feature.properties.name;
          if (name && options.districtLabels !== false) {
            layer.bindTooltip(textEl("span", name), {
              permanent: !config.tiles, direction: "center", className: "district-label",
            });
          }
        },
      }).addTo(map);
      if (config.bounds) {
        map.fitBounds(config.bounds, { padding: [8, 8] });
      } else {
        map.setView(IRAN, 5);
      }
      element.setAttribute("data-map-ready", "true");
      return { map: map, outlines: outlines, config: config, districts: data.districts };
    });
  }

  /* ---------- which district holds a point (ray casting; GeoJSON is [lon, lat]) ---------- */

  function inRing(ring, lat, lon) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > lat) !== (yj > lat) && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) {
        inside = !inside;
      }
    }
    return inside;
  }

  function inPolygon(rings, lat, lon) {
    if (!rings.length || !inRing(rings[0], lat, lon)) return false;
    for (var k = 1; k < rings.length; k++) if (inRing(rings[k], lat, lon)) return false;
    return true;
  }

  function districtAt(districts, lat, lon) {
    var features = (districts && districts.features) || [];
    for (var i = 0; i < features.length; i++) {
      var g = features[i].geometry || {};
      var polys = g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : [];
      for (var p = 0; p < polys.length; p++) {
        if (inPolygon(polys[p], lat, lon)) return features[i].properties || {};
      }
    }
    return null;
  }

  window.PeygirMap = { create: create, load: load, districtAt: districtAt, textEl: textEl };
})();
