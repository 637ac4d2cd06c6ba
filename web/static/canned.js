// The ticket page's canned replies: picking one puts its text, already filled in for this
// ticket by the server, into the reply box, where staff may still edit it before sending.
// A file of its own: the panel's Content-Security-Policy allows no inline script.
(function () {
  "use strict";
  var picker = document.getElementById("canned-reply");
  var box = document.getElementById("reply-text");
  if (!picker || !box) return;
  picker.addEventListener("change", function () {
    var chosen = picker.options[picker.selectedIndex];
    var text = chosen && chosen.getAttribute("data-text");
    if (text) {
      box.value = text;
      box.focus();
    }
  });
})();
