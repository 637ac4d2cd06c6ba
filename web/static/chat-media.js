/* The web chat's photos, videos and voice notes (issue 17).
 *
 *   POST /api/chat/upload?client_id=…&kind=photo|video|voice[&caption=…]
 *        body: the file as it is -> {replies: [...]}
 *
 * The server probes every file and answers a refused one politely, as the messengers do;
 * this page only picks, records and uploads. A voice note is held to record (pointer), or
 * pressed once to start and once to send (keyboard). A retried upload reuses its client_id.
 */
(function () {
  "use strict";
  var chat = window.peygirChat;
  if (!chat) return;
  var UPLOAD_URL = chat.api + "/upload";
  var UPLOAD_TIMEOUT_MS = 120000;
  var MAX_BYTES = 20 * 1024 * 1024; // the server's limit; checked here only to save the upload
  var MAX_RECORD_MS = 5 * 60 * 1000; // the longest note the server takes
  var MIN_RECORD_MS = 700; // a tap, not a note
  var FAST_POLL_MS = 2500; // while a note is being transcribed
  var FAST_POLL_FOR_MS = 3 * 60 * 1000;

  var MSG = {
    photo: "\u{1F4F7} عکس",
    video: "\u{1F3A5} ویدیو",
    voice: "\u{1F3A4} پیام صوتی",
    tooBig: "حجم فایل بیشتر از ۲۰ مگابایت است؛ لطفاً فایل کوچک‌تری بفرستید.",
    network: "ارتباط برقرار نشد؛ فایل ارسال نشد.",
    retry: "ارسال دوباره",
    noMic: "مرورگر شما امکان ضبط صدا را ندارد؛ لطفاً پیام را بنویسید.",
    micDenied: "اجازه استفاده از میکروفون داده نشد؛ لطفاً پیام را بنویسید.",
    recording: "در حال ضبط… برای ارسال رها کنید.",
    recordingKey: "در حال ضبط… برای ارسال دوباره بزنید.",
    tooShort: "پیام صوتی خیلی کوتاه بود؛ دکمه را نگه دارید و صحبت کنید.",
    sent: "پیام صوتی ارسال شد.",
    stop: "ارسال پیام صوتی",
    start: "پیام صوتی",
  };

  var attachBtn = document.getElementById("attach-btn");
  var cameraBtn = document.getElementById("camera-btn");
  var recordBtn = document.getElementById("record-btn");
  var recordLabel = document.getElementById("record-label");
  var recordStatus = document.getElementById("record-status");
  var attachEl = document.getElementById("attach");
  var cameraEl = document.getElementById("camera");
  var queue = []; // files waiting for their turn: one upload at a time keeps the order
  var uploading = false;
  var fastPollUntil = 0;
  var fastPollTimer = null;

  function kindOf(file) {
    var type = (file.type || "").toLowerCase();
    if (type.indexOf("image/") === 0) return "photo";
    if (type.indexOf("video/") === 0) return "video";
    if (type.indexOf("audio/") === 0) return "voice";
    return "file";
  }

  function enqueue(blob, kind) {
    queue.push({ blob: blob, kind: kind, clientId: chat.newClientId() });
    pump();
  }

  function pump() {
    if (uploading || !queue.length) return;
    if (chat.isBusy()) {
      setTimeout(pump, 300);
      return;
    }
    upload(queue.shift());
  }

  function upload(item) {
    if (item.blob.size > MAX_BYTES) {
      chat.addErrorBubble(MSG.tooBig);
      pump();
      return;
    }
    uploading = true;
    var label = MSG[item.kind] || MSG.photo;
    var caption = chat.textEl.value.trim();
    var bubble = chat.addUserBubble(label + (caption ? " — " + caption : ""));
    chat.setBusy(true);
    var url = UPLOAD_URL + "?client_id=" + encodeURIComponent(item.clientId) +
      "&kind=" + item.kind + (caption ? "&caption=" + encodeURIComponent(caption) : "");
    chat.fetchJson(url, {
      method: "POST",
      headers: { "Content-Type": "application/octet-stream", Accept: "application/json" },
      body: item.blob,
    }, UPLOAD_TIMEOUT_MS)
      .then(function (res) {
        if (res.ok && res.data) {
          if (caption) {
            chat.textEl.value = "";
            chat.autoGrow();
          }
          chat.renderReplies(res.data);
          if (item.kind === "voice") pollFast();
        } else {
          chat.addErrorBubble(chat.httpErrorText(res));
        }
      }, function () {
        // Nothing (or nothing we heard of) reached the server: offer the same upload again,
        // with the same client_id, so a file that did arrive is not taken twice.
        if (bubble.parentNode) bubble.parentNode.removeChild(bubble);
        var error = chat.addErrorBubble(MSG.network);
        var again = document.createElement("button");
        again.type = "button";
        again.className = "retry";
        again.textContent = MSG.retry;
        again.addEventListener("click", function () {
          again.disabled = true;
          queue.push(item);
          pump();
        }, { once: true });
        error.appendChild(again);
      })
      .then(function () {
        uploading = false;
        chat.setBusy(false);
        pump();
      });
  }

  // A transcript comes back later, through the poll: ask often until it has come.
  function pollFast() {
    fastPollUntil = Date.now() + FAST_POLL_FOR_MS;
    if (fastPollTimer) return;
    fastPollTimer = setInterval(function () {
      if (Date.now() > fastPollUntil) {
        clearInterval(fastPollTimer);
        fastPollTimer = null;
        return;
      }
      var before = document.querySelectorAll("#messages .msg.bot").length;
      Promise.resolve(chat.poll()).then(function () {
        if (document.querySelectorAll("#messages .msg.bot").length > before) fastPollUntil = 0;
      });
    }, FAST_POLL_MS);
  }

  function onFiles(input) {
    var files = Array.prototype.slice.call(input.files || []);
    input.value = "";
    files.forEach(function (file) {
      enqueue(file, kindOf(file));
    });
  }

  attachBtn.addEventListener("click", function () {
    attachEl.click();
  });
  cameraBtn.addEventListener("click", function () {
    cameraEl.click();
  });
  attachEl.addEventListener("change", function () {
    onFiles(attachEl);
  });
  cameraEl.addEventListener("change", function () {
    onFiles(cameraEl);
  });

  /* ---------- voice notes ---------- */

  var recorder = null;
  var chunks = [];
  var startedAt = 0;
  var stopTimer = null;
  var stream = null;
  var starting = false;
  var wantStop = false; // released before the microphone was ready

  function say(text) {
    recordStatus.textContent = text;
  }

  function mimeType() {
    var types = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm", "audio/mp4"];
    if (typeof MediaRecorder.isTypeSupported !== "function") return "";
    for (var i = 0; i < types.length; i++) {
      if (MediaRecorder.isTypeSupported(types[i])) return types[i];
    }
    return "";
  }

  function startRecording(byKey) {
    if (recorder || starting) return;
    if (!navigator.mediaDevices || typeof navigator.mediaDevices.getUserMedia !== "function" ||
        typeof MediaRecorder !== "function") {
      chat.addErrorBubble(MSG.noMic);
      return;
    }
    starting = true;
    wantStop = false;
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (s) {
      starting = false;
      stream = s;
      var type = mimeType();
      recorder = type ? new MediaRecorder(s, { mimeType: type }) : new MediaRecorder(s);
      chunks = [];
      recorder.addEventListener("dataavailable", function (e) {
        if (e.data && e.data.size) chunks.push(e.data);
      });
      recorder.addEventListener("stop", finish);
      recorder.start();
      startedAt = Date.now();
      recordBtn.classList.add("recording");
      recordBtn.setAttribute("aria-pressed", "true");
      recordLabel.textContent = MSG.stop;
      say(byKey ? MSG.recordingKey : MSG.recording);
      stopTimer = setTimeout(stopRecording, MAX_RECORD_MS);
      if (wantStop) stopRecording();
    }, function () {
      starting = false;
      chat.addErrorBubble(MSG.micDenied);
    });
  }

  function stopRecording() {
    if (starting) {
      wantStop = true;
      return;
    }
    if (!recorder || recorder.state === "inactive") return;
    clearTimeout(stopTimer);
    recorder.stop();
  }

  function finish() {
    var type = (recorder && recorder.mimeType) || "audio/webm";
    var long = Date.now() - startedAt;
    recorder = null;
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null;
    recordBtn.classList.remove("recording");
    recordBtn.setAttribute("aria-pressed", "false");
    recordLabel.textContent = MSG.start;
    if (long < MIN_RECORD_MS || !chunks.length) {
      say(MSG.tooShort);
      return;
    }
    say(MSG.sent);
    enqueue(new Blob(chunks, { type: type }), "voice");
  }

  // Pointer: hold to record, release to send.
  recordBtn.addEventListener("pointerdown", function (e) {
    if (e.button !== 0) return;
    e.preventDefault();
    try {
      recordBtn.setPointerCapture(e.pointerId);
    } catch (err) {
      /* an old browser: the release still arrives on the button */
    }
    startRecording(false);
  });
  ["pointerup", "pointercancel"].forEach(function (name) {
    recordBtn.addEventListener(name, function () {
      stopRecording();
    });
  });
  // Keyboard (and screen readers, whose "click" has no pointer): once to start, once to send.
  recordBtn.addEventListener("click", function (e) {
    if (e.detail !== 0) return; // a pointer's click: handled by down and up
    if (recorder || starting) stopRecording();
    else startRecording(true);
  });
  recordBtn.addEventListener("contextmenu", function (e) {
    e.preventDefault(); // a long press on a phone is a recording, not a menu
  });
})();
