/* Peygir web chat front-end. Plain ES2017, no build step, no external resources.
 *
 * API (JSON, same origin, chat identified by an HttpOnly cookie):
 *   POST /api/chat/send  {client_id, text} | {client_id, callback} | {client_id, location: {lat, lon}}
 *        -> {replies: [{text, buttons: [[{label, data}]], request_location}]}
 *   GET  /api/chat/poll  -> {replies: [...]}
 *   GET  /api/chat/history -> {lines: [{from: "citizen", kind, text} | {from: "bot", ...reply, live}]}
 *
 * On load the page shows the chat's history first (a reload, another tab, a restarted
 * server); only the buttons the server calls live stay pressable, and any button works once.
 *
 * Message text is always inserted with textContent (never innerHTML).
 */
(function () {
  "use strict";

  // The web chat talks to /api/chat; the Eitaa mini-app (same page) to /api/eitaa.
  var API = document.body.getAttribute("data-api") || "/api/chat";
  var SEND_URL = API + "/send";
  var POLL_URL = API + "/poll";
  var HISTORY_URL = API + "/history"; // the Eitaa mini-app has none: a 404 shows nothing
  var PHOTO_URL = API + "/photo";
  // Inside Eitaa: the signed initData goes with every request; the server checks it.
  var eitaa = window.Eitaa && window.Eitaa.WebApp ? window.Eitaa.WebApp : null;
  var INIT_DATA = eitaa && typeof eitaa.initData === "string" ? eitaa.initData : "";
  if (eitaa) {
    try {
      if (typeof eitaa.ready === "function") eitaa.ready();
      if (typeof eitaa.expand === "function") eitaa.expand();
    } catch (e) {
      /* an older client without these: carry on */
    }
  }
  var POLL_INTERVAL_MS = 15000;
  var SEND_TIMEOUT_MS = 45000;
  var POLL_TIMEOUT_MS = 20000;

  var MSG = {
    network: "ارتباط برقرار نشد؛ دوباره تلاش کنید.",
    server: "متأسفانه خطایی پیش آمد؛ لطفاً کمی بعد دوباره تلاش کنید.",
    tooMany: "تعداد پیام‌ها زیاد است؛ لطفاً کمی صبر کنید و دوباره بفرستید.",
    tooLong: "پیام خیلی طولانی است؛ لطفاً کوتاه‌تر بنویسید.",
    badRequest: "درخواست نامعتبر بود؛ لطفاً دوباره تلاش کنید.",
    locationSent: "📍 موقعیت مکانی من",
    locationUnsupported: "مرورگر شما امکان ارسال موقعیت مکانی را ندارد؛ لطفاً نشانی را بنویسید.",
    locationDenied: "دسترسی به موقعیت مکانی داده نشد؛ لطفاً نشانی را بنویسید.",
    locationFailed: "موقعیت مکانی پیدا نشد؛ لطفاً دوباره تلاش کنید یا نشانی را بنویسید.",
    photoSent: "📷 عکس",
  };

  var messagesEl = document.getElementById("messages");
  var typingEl = document.getElementById("typing");
  var formEl = document.getElementById("composer");
  var textEl = document.getElementById("text");
  var sendEl = document.getElementById("send");
  var locationEl = document.getElementById("location");
  var photoEl = document.getElementById("photo");

  var busy = false; // a send is in flight (blocks double submits)
  var pollInFlight = null; // Promise of the running poll, if any
  var pollTimer = null;
  // The last action that failed because of a network error: retrying the same
  // action reuses its client_id so the server can drop duplicates.
  var failedAction = null; // {key, clientId}

  /* ---------- helpers ---------- */

  function newClientId() {
    var c = window.crypto || window.msCrypto;
    if (c && typeof c.randomUUID === "function") {
      try {
        return c.randomUUID();
      } catch (e) {
        /* fall through (non-secure context) */
      }
    }
    var bytes = new Uint8Array(16);
    if (c && typeof c.getRandomValues === "function") {
      c.getRandomValues(bytes);
    } else {
      for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // variant 10
    var hex = Array.prototype.map
      .call(bytes, function (b) {
        return (b < 16 ? "0" : "") + b.toString(16);
      })
      .join("");
    return (
      hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" +
      hex.slice(16, 20) + "-" + hex.slice(20)
    );
  }

  function actionKey(action) {
    return JSON.stringify(action);
  }

  function clientIdFor(action) {
    var key = actionKey(action);
    if (failedAction && failedAction.key === key) return failedAction.clientId;
    return newClientId();
  }

  // Whether the list is scrolled to (near) its end; kept there when the
  // viewport changes size (phone keyboard opening, rotation, window resize).
  var atBottom = true;

  function nearBottom() {
    return messagesEl.scrollHeight - messagesEl.scrollTop - messagesEl.clientHeight < 40;
  }

  function scrollToBottom() {
    // Wait for layout so that the new bubble's height is known.
    window.requestAnimationFrame(function () {
      messagesEl.scrollTop = messagesEl.scrollHeight;
    });
  }

  function hasPersianLetters(s) {
    return /[\u0600-\u06FF]/.test(s);
  }

  /* ---------- rendering ---------- */

  function addBubble(kind, text, extraClass) {
    var wrap = document.createElement("div");
    wrap.className = "msg " + kind + (extraClass ? " " + extraClass : "");
    var t = document.createElement("div");
    t.className = "text";
    // The citizen's words may be Latin or mixed: each line finds its own direction.
    if (kind === "user") t.setAttribute("dir", "auto");
    // Emoji need a font Debian's Chromium lacks: chat-icons.js draws them as SVG.
    if (window.peygirIcons) window.peygirIcons.fill(t, text == null ? "" : String(text));
    else t.textContent = text == null ? "" : String(text);
    wrap.appendChild(t);
    messagesEl.appendChild(wrap);
    scrollToBottom();
    return wrap;
  }

  function addUserBubble(text) {
    return addBubble("user", text);
  }

  function addErrorBubble(text) {
    return addBubble("bot", text, "error");
  }

  function setButtonsDisabled(bubble, disabled) {
    var buttons = bubble.querySelectorAll("button.choice");
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = disabled;
  }

  function renderReply(reply) {
    if (!reply || typeof reply !== "object") return;
    var bubble = addBubble("bot", reply.text || "");
    var photos = Array.isArray(reply.photos) ? reply.photos : [];
    photos.forEach(function (url) {
      if (typeof url !== "string" || url.indexOf("/media/") !== 0) return;
      var img = document.createElement("img");
      img.className = "evidence";
      img.src = url;
      img.alt = "عکس مستندات کار";
      img.loading = "lazy";
      bubble.insertBefore(img, bubble.firstChild);
    });
    var rows = Array.isArray(reply.buttons) ? reply.buttons : [];
    var choices = null;
    rows.forEach(function (row) {
      if (!Array.isArray(row)) row = [row];
      var rowEl = null;
      row.forEach(function (btn) {
        if (!btn || typeof btn !== "object") return;
        if (!choices) {
          choices = document.createElement("div");
          choices.className = "choices";
          bubble.appendChild(choices);
        }
        if (!rowEl) {
          rowEl = document.createElement("div");
          rowEl.className = "choice-row";
          choices.appendChild(rowEl);
        }
        var b = document.createElement("button");
        b.type = "button";
        b.className = "choice";
        b.textContent = btn.label == null ? "" : String(btn.label);
        b.setAttribute("data-callback", btn.data == null ? "" : String(btn.data));
        rowEl.appendChild(b);
      });
    });
    scrollToBottom();
    // chat-phone.js (and others) add to a reply's bubble: the number form, for one.
    messagesEl.dispatchEvent(new CustomEvent("peygir:reply", {
      detail: { reply: reply, bubble: bubble },
    }));
    return bubble;
  }

  function renderReplies(data) {
    var replies = data && Array.isArray(data.replies) ? data.replies : [];
    replies.forEach(renderReply);
    var offers = replies.some(function (r) {
      return r && Array.isArray(r.buttons) && r.buttons.length > 0;
    });
    if (offers) keepLastButtons();
    return replies;
  }

  // Only the buttons offered last stay pressable, as the server keeps them live (and as a
  // reload shows them): earlier ones stay on screen, disabled.
  function keepLastButtons() {
    var bubbles = messagesEl.querySelectorAll(".msg.bot");
    var last = null;
    for (var i = bubbles.length - 1; i >= 0 && !last; i--) {
      if (bubbles[i].querySelector("button.choice")) last = bubbles[i];
    }
    for (var j = 0; j < bubbles.length; j++) {
      if (bubbles[j] !== last) setButtonsDisabled(bubbles[j], true);
    }
  }

  // What the citizen sent, as the page showed it when it was sent.
  var SENT = { location: "locationSent", photo: "photoSent", video: "photoSent" };
  var SENT_OTHER = {
    voice: "🎤 پیام صوتی", audio: "🎤 پیام صوتی", video_note: "🎤 پیام صوتی",
    contact: "📞 شمارهٔ تماس", document: "📎 پرونده",
  };

  function renderHistory(data) {
    var lines = data && Array.isArray(data.lines) ? data.lines : [];
    lines.forEach(function (line) {
      if (!line || typeof line !== "object") return;
      if (line.from === "citizen") {
        var said = typeof line.text === "string" ? line.text : "";
        var what = MSG[SENT[line.kind]] || SENT_OTHER[line.kind];
        if (what) said = said ? what + " — " + said : what;
        if (said) addUserBubble(said);
        return;
      }
      var bubble = renderReply(line);
      // Buttons already used (or replaced by later ones) are shown, not pressable.
      if (bubble && line.live !== true) setButtonsDisabled(bubble, true);
    });
  }

  function restore() {
    return fetchJson(
      HISTORY_URL,
      { method: "GET", headers: { Accept: "application/json" } },
      POLL_TIMEOUT_MS
    )
      .then(function (res) {
        if (res.ok && res.data) renderHistory(res.data);
      })
      .catch(function () {
        /* no history: the page starts empty, as before */
      });
  }

  function setBusy(value) {
    busy = value;
    sendEl.disabled = value;
    locationEl.disabled = value;
    formEl.setAttribute("aria-busy", value ? "true" : "false");
    typingEl.hidden = !value;
    if (value) scrollToBottom();
  }

  function setLocationHighlight(on) {
    locationEl.classList.toggle("highlight", !!on);
  }

  /* ---------- networking ---------- */

  function fetchJson(url, options, timeoutMs) {
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = null;
    if (controller) {
      options.signal = controller.signal;
      timer = setTimeout(function () {
        controller.abort();
      }, timeoutMs);
    }
    options.credentials = "same-origin";
    options.cache = "no-store";
    if (INIT_DATA) {
      options.headers = Object.assign({}, options.headers || {}, {
        "X-Eitaa-Init-Data": INIT_DATA,
      });
    }
    return fetch(url, options)
      .then(
        function (resp) {
          return resp.text().then(function (body) {
            var data = null;
            try {
              data = body ? JSON.parse(body) : null;
            } catch (e) {
              data = null;
            }
            return { ok: resp.ok, status: resp.status, data: data };
          });
        },
        function (err) {
          var e = new Error("network");
          e.network = true;
          e.cause = err;
          throw e;
        }
      )
      .then(
        function (res) {
          if (timer) clearTimeout(timer);
          return res;
        },
        function (err) {
          if (timer) clearTimeout(timer);
          if (!err.network) {
            // Body read failed/aborted mid-way: treat as network failure too.
            var e = new Error("network");
            e.network = true;
            e.cause = err;
            throw e;
          }
          throw err;
        }
      );
  }

  function httpErrorText(res) {
    var detail = res.data && typeof res.data.detail === "string" ? res.data.detail : "";
    if (detail && hasPersianLetters(detail) && detail.length <= 300) return detail;
    if (res.status === 429) return MSG.tooMany;
    if (res.status === 413) return MSG.tooLong;
    if (res.status >= 400 && res.status < 500) return MSG.badRequest;
    return MSG.server;
  }

  /**
   * Send one user action.
   * @param {object} action  {text} | {callback} | {location}
   * @param {object} hooks   onNetworkError(): undo optimistic UI; onSuccess()
   */
  async function sendAction(action, hooks) {
    hooks = hooks || {};
    setBusy(true);
    var clientId = clientIdFor(action);
    var key = actionKey(action);
    try {
      if (pollInFlight) {
        try {
          await pollInFlight;
        } catch (e) {
          /* ignore */
        }
      }
      var body = Object.assign({ client_id: clientId }, action);
      var res = await fetchJson(
        SEND_URL,
        {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify(body),
        },
        SEND_TIMEOUT_MS
      );
      // The server answered: this action is done, a new action gets a new id.
      failedAction = null;
      if (res.ok && res.data && typeof res.data === "object") {
        var replies = renderReplies(res.data);
        if (replies.length) {
          setLocationHighlight(replies[replies.length - 1].request_location === true);
        }
        if (hooks.onSuccess) hooks.onSuccess();
      } else {
        addErrorBubble(res.ok ? MSG.server : httpErrorText(res));
        if (hooks.onHttpError) hooks.onHttpError(res);
      }
    } catch (err) {
      failedAction = { key: key, clientId: clientId };
      if (hooks.onNetworkError) hooks.onNetworkError();
      addErrorBubble(MSG.network);
    } finally {
      setBusy(false);
    }
  }

  function poll() {
    if (busy || pollInFlight) return Promise.resolve();
    if (document.visibilityState && document.visibilityState !== "visible") {
      return Promise.resolve();
    }
    pollInFlight = fetchJson(
      POLL_URL,
      { method: "GET", headers: { Accept: "application/json" } },
      POLL_TIMEOUT_MS
    )
      .then(function (res) {
        if (res.ok && res.data) {
          var replies = renderReplies(res.data);
          if (replies.length) {
            setLocationHighlight(replies[replies.length - 1].request_location === true);
          }
        }
      })
      .catch(function () {
        /* polling is best effort; stay quiet */
      })
      .then(function () {
        pollInFlight = null;
      });
    return pollInFlight;
  }

  function schedulePolling() {
    if (pollTimer) clearInterval(pollTimer);
    pollTimer = setInterval(poll, POLL_INTERVAL_MS);
  }

  /* ---------- user actions ---------- */

  function autoGrow() {
    textEl.style.height = "auto";
    var max = 160;
    textEl.style.height = Math.min(textEl.scrollHeight, max) + "px";
    textEl.style.overflowY = textEl.scrollHeight > max ? "auto" : "hidden";
  }

  function submitText() {
    if (busy) return;
    var raw = textEl.value;
    var text = raw.trim();
    if (!text) return;
    var bubble = addUserBubble(text);
    textEl.value = "";
    autoGrow();
    sendAction(
      { text: text },
      {
        onNetworkError: function () {
          // Keep what the user typed so that they can simply send again.
          if (bubble.parentNode) bubble.parentNode.removeChild(bubble);
          if (!textEl.value.trim()) {
            textEl.value = raw;
            autoGrow();
          }
        },
      }
    );
  }

  function onChoiceClick(button) {
    if (busy || button.disabled) return;
    var bubble = button.closest(".msg");
    var data = button.getAttribute("data-callback") || "";
    var label = button.textContent;
    if (bubble) setButtonsDisabled(bubble, true);
    button.classList.add("chosen");
    var userBubble = addUserBubble(label);
    sendAction(
      { callback: data },
      {
        onNetworkError: function () {
          if (userBubble.parentNode) userBubble.parentNode.removeChild(userBubble);
          button.classList.remove("chosen");
          if (bubble) setButtonsDisabled(bubble, false);
        },
      }
    );
  }

  function onLocationClick() {
    if (busy) return;
    if (!navigator.geolocation || typeof navigator.geolocation.getCurrentPosition !== "function") {
      addErrorBubble(MSG.locationUnsupported);
      return;
    }
    locationEl.disabled = true;
    locationEl.classList.add("locating");
    navigator.geolocation.getCurrentPosition(
      function (pos) {
        locationEl.classList.remove("locating");
        locationEl.disabled = false;
        // Round to ~1 m; enough for a street address, avoids float noise.
        var lat = Math.round(pos.coords.latitude * 1e5) / 1e5;
        var lon = Math.round(pos.coords.longitude * 1e5) / 1e5;
        sendLocation(lat, lon);
      },
      function (err) {
        locationEl.classList.remove("locating");
        locationEl.disabled = busy;
        addErrorBubble(err && err.code === 1 ? MSG.locationDenied : MSG.locationFailed);
      },
      { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 }
    );
  }

  function sendLocation(lat, lon) {
    var userBubble = addUserBubble(MSG.locationSent);
    sendAction(
      { location: { lat: lat, lon: lon } },
      {
        onNetworkError: function () {
          if (userBubble.parentNode) userBubble.parentNode.removeChild(userBubble);
        },
      }
    );
  }

  // A point picked on the map (chat-map.js) goes as a shared location does.
  document.addEventListener("peygir:pick", function (e) {
    var p = e.detail || {};
    if (busy || typeof p.lat !== "number" || typeof p.lon !== "number") return;
    sendLocation(p.lat, p.lon);
  });

  function onPhotoChosen() {
    var file = photoEl.files && photoEl.files[0];
    if (!file || busy) return;
    var caption = textEl.value.trim();
    var clientId = newClientId();
    var userBubble = addUserBubble(MSG.photoSent + (caption ? " — " + caption : ""));
    setBusy(true);
    var url = PHOTO_URL + "?client_id=" + encodeURIComponent(clientId) +
      (caption ? "&caption=" + encodeURIComponent(caption) : "");
    fetchJson(url, {
      method: "POST",
      headers: { "Content-Type": file.type || "application/octet-stream", Accept: "application/json" },
      body: file,
    }, SEND_TIMEOUT_MS)
      .then(function (res) {
        if (res.ok && res.data) {
          if (caption) {
            textEl.value = "";
            autoGrow();
          }
          renderReplies(res.data);
        } else {
          addErrorBubble(httpErrorText(res));
        }
      }, function () {
        if (userBubble.parentNode) userBubble.parentNode.removeChild(userBubble);
        addErrorBubble(MSG.network);
      })
      .then(function () {
        photoEl.value = "";
        setBusy(false);
      });
  }

  /* ---------- wiring ---------- */

  if (photoEl) photoEl.addEventListener("change", onPhotoChosen);

  formEl.addEventListener("submit", function (e) {
    e.preventDefault();
    submitText();
  });

  textEl.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submitText();
    }
  });

  textEl.addEventListener("input", autoGrow);

  messagesEl.addEventListener(
    "scroll",
    function () {
      atBottom = nearBottom();
    },
    { passive: true }
  );

  function keepBottomOnResize() {
    if (atBottom) messagesEl.scrollTop = messagesEl.scrollHeight;
  }
  if (typeof ResizeObserver === "function") {
    new ResizeObserver(keepBottomOnResize).observe(messagesEl);
  } else {
    window.addEventListener("resize", keepBottomOnResize);
  }

  messagesEl.addEventListener("click", function (e) {
    var target = e.target;
    var button = target && target.closest ? target.closest("button.choice") : null;
    if (button && messagesEl.contains(button)) onChoiceClick(button);
  });

  locationEl.addEventListener("click", onLocationClick);

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      poll();
      schedulePolling();
    } else if (pollTimer) {
      clearInterval(pollTimer);
      pollTimer = null;
    }
  });

  // What chat-media.js and chat-phone.js share with this file.
  window.peygirChat = {
    api: API,
    fetchJson: fetchJson,
    renderReplies: renderReplies,
    addUserBubble: addUserBubble,
    addErrorBubble: addErrorBubble,
    httpErrorText: httpErrorText,
    newClientId: newClientId,
    sendAction: sendAction,
    setBusy: setBusy,
    isBusy: function () {
      return busy;
    },
    poll: poll,
    textEl: textEl,
    autoGrow: autoGrow,
  };

  // A petition's sign link (/?petition=<id>, from /petitions) shows that petition with its
  // «sign» button; the link itself never signs. The address is cleaned so a reload does not
  // show it again.
  function openPetition() {
    var match = /[?&]petition=(\d{1,9})(?:&|$)/.exec(window.location.search);
    if (!match) return;
    if (window.history && typeof window.history.replaceState === "function") {
      window.history.replaceState(null, "", window.location.pathname);
    }
    sendAction({ callback: "pet:show:" + match[1] });
  }

  // A staff member's or a place's QR code (/q/<token> redirects to /?qr=<token>) opens
  // the chat with that entry known; the address is cleaned so the code is not kept in it.
  function openQr() {
    var match = /[?&]qr=([A-Za-z0-9_-]{16,64})(?:&|$)/.exec(window.location.search);
    if (!match) return;
    if (window.history && typeof window.history.replaceState === "function") {
      window.history.replaceState(null, "", window.location.pathname);
    }
    sendAction({ callback: "qr:open:" + match[1] });
  }

  autoGrow();
  restore().then(poll).then(openPetition).then(openQr); // the history first: a poll then brings only what is new
  schedulePolling();
})();
