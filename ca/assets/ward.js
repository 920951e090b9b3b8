// ward dashboard: progressive enhancement only (every page works without it).
// Served from /ui/assets/ward.js; the CSP allows no inline script.
"use strict";
(function () {
  // Copy buttons: data-copy names the element whose text is copied.
  document.querySelectorAll("[data-copy]").forEach(function (b) {
    b.addEventListener("click", function () {
      var el = document.getElementById(b.getAttribute("data-copy"));
      if (!el || !navigator.clipboard) { return; }
      navigator.clipboard.writeText(el.textContent).then(function () {
        b.textContent = "Copied";
      });
    });
  });
  // Live policy validation: each problem with its JSON path.
  document.querySelectorAll("textarea[data-validate]").forEach(function (ta) {
    var out = document.getElementById(ta.id + "-problems");
    var form = ta.form;
    var csrf = form ? form.querySelector("input[name=csrf]") : null;
    if (!out || !csrf) { return; }
    var timer = null;
    function show(res) {
      out.textContent = "";
      if (res.valid) {
        var ok = document.createElement("p");
        ok.className = "fine";
        ok.textContent = "Valid policy.";
        out.appendChild(ok);
        return;
      }
      var ul = document.createElement("ul");
      res.problems.forEach(function (p) {
        var li = document.createElement("li");
        var code = document.createElement("code");
        code.textContent = p.path;
        li.appendChild(code);
        li.appendChild(document.createTextNode(": " + p.message));
        ul.appendChild(li);
      });
      out.appendChild(ul);
    }
    function check() {
      var body = new URLSearchParams();
      body.set("csrf", csrf.value);
      body.set("kind", ta.getAttribute("data-validate"));
      body.set("document", ta.value);
      fetch("/ui/api/validate-policy", { method: "POST", body: body, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (res) { if (res) { show(res); } });
    }
    ta.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(check, 300);
    });
    check();
  });
})();
