/* The web chat's point picker: the citizen taps the place on the map, or takes the device's
 * point and drags it to the right spot, then sends it. The chat (chat.js) sends the point as
 * it sends a shared location, on the "peygir:pick" event; the server routes it by district.
 */
(function () {
  "use strict";

  var button = document.getElementById("map-pick");
  var sheet = document.getElementById("map-sheet");
  if (!button || !sheet || !window.PeygirMap) return;

  var MSG = {
    hint: "روی نقشه، محل مشکل را بزنید یا نشانگر را بکشید.",
    outside: "این نقطه بیرون از محدودهٔ مناطق شهر است.",
    noMap: "نقشه باز نشد؛ لطفاً نشانی را بنویسید یا موقعیت مکانی را بفرستید.",
    noDevice: "موقعیت دستگاه پیدا نشد؛ محل را روی نقشه بزنید.",
  };

  var mapEl = document.getElementById("map-pick-map");
  var hintEl = document.getElementById("map-pick-hint");
  var sendEl = document.getElementById("map-pick-send");
  var mineEl = document.getElementById("map-pick-mine");
  var closeEl = document.getElementById("map-pick-close");

  var ready = null; // Promise of {map, districts}
  var marker = null;
  var point = null; // {lat, lon}

  function round(x) {
    return Math.round(x * 1e5) / 1e5; // about a metre, as the location button sends
  }

  function describe() {
    if (!point) {
      hintEl.textContent = MSG.hint;
      sendEl.disabled = true;
      return;
    }
    ready.then(function (m) {
      var d = window.PeygirMap.districtAt(m.districts, point.lat, point.lon);
      hintEl.textContent = d ? "📍 " + (d.name || d.code) : MSG.outside;
    });
    sendEl.disabled = false;
  }

  function place(lat, lon, m) {
    point = { lat: round(lat), lon: round(lon) };
    if (!marker) {
      marker = window.L.marker([lat, lon], { draggable: true, autoPan: true, title: "محل" }).addTo(m.map);
      marker.on("dragend", function () {
        var at = marker.getLatLng();
        point = { lat: round(at.lat), lon: round(at.lng) };
        describe();
      });
    } else {
      marker.setLatLng([lat, lon]);
    }
    describe();
  }

  function open() {
    sheet.hidden = false;
    button.setAttribute("aria-expanded", "true");
    if (!ready) {
      ready = window.PeygirMap.create(mapEl, { scrollWheelZoom: true });
      ready.then(function (m) {
        m.map.on("click", function (e) {
          place(e.latlng.lat, e.latlng.lng, m);
        });
      }, function () {
        ready = null;
        hintEl.textContent = MSG.noMap;
      });
    }
    if (ready) {
      ready.then(function (m) {
        m.map.invalidateSize(); // the sheet was hidden while the map was laid out
      });
    }
    describe();
  }

  function close() {
    sheet.hidden = true;
    button.setAttribute("aria-expanded", "false");
    button.focus();
  }

  function useDevice() {
    if (!ready || !navigator.geolocation) {
      hintEl.textContent = MSG.noDevice;
      return;
    }
    mineEl.disabled = true;
    navigator.geolocation.getCurrentPosition(
      function (pos) {
        mineEl.disabled = false;
        ready.then(function (m) {
          place(pos.coords.latitude, pos.coords.longitude, m);
          m.map.setView([pos.coords.latitude, pos.coords.longitude], Math.max(m.map.getZoom(), 15));
        });
      },
      function () {
        mineEl.disabled = false;
        hintEl.textContent = MSG.noDevice;
      },
      { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 }
    );
  }

  function send() {
    if (!point) return;
    document.dispatchEvent(new CustomEvent("peygir:pick", { detail: { lat: point.lat, lon: point.lon } }));
    close();
    if (marker) {
      marker.remove();
      marker = null;
    }
    point = null;
  }

  button.addEventListener("click", function () {
    if (sheet.hidden) open();
    else close();
  });
  closeEl.addEventListener("click", close);
  mineEl.addEventListener("click", useDevice);
  sendEl.addEventListener("click", send);
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && !sheet.hidden) close();
  });
})();
