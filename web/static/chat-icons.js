/* Emoji as inline SVG: Debian's Chromium (and many phones' older browsers) has no emoji font,
 * so 📍 or 📷 would show as an empty box. The bot's texts keep their emoji (messengers draw
 * them); the page draws the ones it knows, with a spoken name, and drops a stray variation
 * selector. Text always goes in as text nodes, never as HTML. */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var ICONS = {
    "\u{1F4CD}": ["مکان", "M12 2a7 7 0 0 0-7 7c0 5.25 7 13 7 13s7-7.75 7-13a7 7 0 0 0-7-7zm0 9.5A2.5 2.5 0 1 1 12 6.5a2.5 2.5 0 0 1 0 5z"],
    "\u{1F4F7}": ["عکس", "M9 3 7.2 5H4a2 2 0 0 0-2 2v11a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2V7a2 2 0 0 0-2-2h-3.2L15 3H9zm3 5a5 5 0 1 1 0 10 5 5 0 0 1 0-10zm0 2a3 3 0 1 0 0 6 3 3 0 0 0 0-6z"],
    "\u{1F3A5}": ["ویدیو", "M4 6a2 2 0 0 0-2 2v8a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2v-2.5l6 3.5V7l-6 3.5V8a2 2 0 0 0-2-2H4z"],
    "\u{1F3A4}": ["پیام صوتی", "M12 15a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v7a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V22h2v-3.1a7 7 0 0 0 6-6.9h-2z"],
    "\u{1F4DE}": ["تلفن", "M6.6 10.8a15.2 15.2 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25 11.4 11.4 0 0 0 3.6.57 1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.45.57 3.57a1 1 0 0 1-.25 1l-2.2 2.2z"],
    "\u26A0": ["هشدار", "M1 21h22L12 2 1 21zm12-3h-2v-2h2v2zm0-4h-2v-4h2v4z"],
    "\u{1F642}": ["", "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm-3.5 6a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3zm7 0a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3zM12 17.5c-2.3 0-4.3-1.4-5.1-3.5h10.2c-.8 2.1-2.8 3.5-5.1 3.5z"],
  };
  var PATTERN = /(\u{1F4CD}|\u{1F4F7}|\u{1F3A5}|\u{1F3A4}|\u{1F4DE}|\u26A0|\u{1F642})\uFE0F?|\uFE0F/gu;

  function icon(name) {
    var spec = ICONS[name];
    var svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "1.1em");
    svg.setAttribute("height", "1.1em");
    svg.setAttribute("class", "inline-icon" + (name === "\u26A0" ? " warn" : ""));
    svg.setAttribute("focusable", "false");
    if (spec[0]) {
      svg.setAttribute("role", "img");
      svg.setAttribute("aria-label", spec[0]);
    } else {
      svg.setAttribute("aria-hidden", "true");
    }
    var path = document.createElementNS(NS, "path");
    path.setAttribute("fill", "currentColor");
    path.setAttribute("d", spec[1]);
    svg.appendChild(path);
    return svg;
  }

  /** Put `text` in `el`: text nodes, with the known emoji drawn as icons. */
  function fill(el, text) {
    el.textContent = "";
    var last = 0;
    text.replace(PATTERN, function (match, emoji, offset) {
      if (offset > last) el.appendChild(document.createTextNode(text.slice(last, offset)));
      if (emoji) el.appendChild(icon(emoji));
      last = offset + match.length;
      return match;
    });
    if (last < text.length) el.appendChild(document.createTextNode(text.slice(last)));
  }

  window.peygirIcons = { fill: fill, icon: icon };
})();
