/* The number form: a messenger shows a «send my number» button; a browser has none, so a
 * reply that asks for the number (request_contact) gets a form under it, with what the number
 * is for and an explicit consent box. It posts {phone: {number, consent: true}} to send.
 * A number typed in the ordinary box while the bot waits for one is taken as well. */
(function () {
  "use strict";
  var chat = window.peygirChat;
  if (!chat) return;
  var messagesEl = document.getElementById("messages");
  var DIGITS = { "۰": "0", "۱": "1", "۲": "2", "۳": "3", "۴": "4", "۵": "5", "۶": "6", "۷": "7",
    "۸": "8", "۹": "9", "٠": "0", "١": "1", "٢": "2", "٣": "3", "٤": "4", "٥": "5", "٦": "6",
    "٧": "7", "٨": "8", "٩": "9" };
  // As messages/phone.py: 09…, 9…, +989…, 00989…, 989…, with spaces or dashes between.
  var MOBILE = /^(?:\+98|0098|98|0)?9\d{9}$/;
  var TEXT = {
    label: "شماره تلفن همراه",
    why: "شماره شما فقط برای تماس واحد اجرایی درباره همین درخواست به کار می‌رود، " +
      "به کس دیگری داده نمی‌شود، و هر وقت بخواهید می‌توانید اجازه را پس بگیرید.",
    consent: "اجازه می‌دهم واحد اجرایی برای همین درخواست با این شماره با من تماس بگیرد.",
    submit: "ارسال شماره",
    invalid: "شماره همراه معتبر نیست؛ مانند ۰۹۱۲۱۲۳۴۵۶۷ بنویسید.",
    noConsent: "برای ارسال شماره، گزینه اجازه تماس را علامت بزنید.",
  };
  var formCount = 0;

  function compact(value) {
    return value.replace(/[۰-۹٠-٩]/g, function (d) {
      return DIGITS[d];
    }).replace(/[\s\-.()\u200c\u200e\u200f]/g, "");
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      node.setAttribute(k, attrs[k]);
    });
    if (text) node.textContent = text;
    return node;
  }

  function addForm(bubble) {
    formCount += 1;
    var id = "phone-" + formCount;
    var form = el("form", { class: "phone-form", novalidate: "", "aria-label": TEXT.submit });
    var label = el("label", { for: id + "-number" }, TEXT.label);
    var input = el("input", { id: id + "-number", type: "tel", inputmode: "tel",
      autocomplete: "tel", dir: "ltr", maxlength: "40", placeholder: "0912 123 4567",
      "aria-describedby": id + "-why" });
    var why = el("p", { id: id + "-why", class: "why" }, TEXT.why);
    var consentLabel = el("label", { class: "consent" });
    var box = el("input", { type: "checkbox", id: id + "-consent" });
    consentLabel.appendChild(box);
    consentLabel.appendChild(el("span", {}, TEXT.consent));
    var problem = el("p", { class: "problem", role: "alert" });
    var submit = el("button", { type: "submit" }, TEXT.submit);
    [label, input, why, consentLabel, problem, submit].forEach(function (n) {
      form.appendChild(n);
    });
    bubble.appendChild(form);
    // A problem once mended is no longer said.
    input.addEventListener("input", function () {
      problem.textContent = "";
      input.removeAttribute("aria-invalid");
    });
    box.addEventListener("change", function () {
      problem.textContent = "";
    });

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (chat.isBusy() || submit.disabled) return;
      var number = compact(input.value);
      if (!MOBILE.test(number)) {
        problem.textContent = TEXT.invalid;
        input.setAttribute("aria-invalid", "true");
        input.focus();
        return;
      }
      input.removeAttribute("aria-invalid");
      if (!box.checked) {
        problem.textContent = TEXT.noConsent;
        box.focus();
        return;
      }
      problem.textContent = "";
      var shown = chat.addUserBubble("\u{1F4DE} " + input.value.trim());
      var fields = [input, box, submit];
      fields.forEach(function (f) {
        f.disabled = true;
      });
      chat.sendAction({ phone: { number: number, consent: true } }, {
        onNetworkError: function () {
          if (shown.parentNode) shown.parentNode.removeChild(shown);
          fields.forEach(function (f) {
            f.disabled = false;
          });
        },
        onHttpError: function () {
          fields.forEach(function (f) {
            f.disabled = false;
          });
        },
      });
    });
  }

  messagesEl.addEventListener("peygir:reply", function (e) {
    var d = e.detail || {};
    if (d.reply && d.reply.request_contact === true && d.bubble) addForm(d.bubble);
  });
})();
