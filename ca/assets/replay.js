// ward dashboard: session replay (/ui/recordings/{id}). Served from
// /ui/assets/replay.js; the CSP allows no inline script.
//
// The element #replay names the cast in data-cast (a same-origin /ui/ URL
// that goes through the same authorized call as GET /v1/recordings/{id}).
// The cast is fetched here and handed to the vendored asciinema player as
// a string: it is data for the player's terminal emulator, never HTML. A
// refusal (its code and explanation from ward's JSON error) is shown as
// text in #replay-status.
"use strict";
(function () {
  var el = document.getElementById("replay");
  var status = document.getElementById("replay-status");
  if (!el || !status) { return; }
  function say(text) {
    status.textContent = text;
    status.hidden = false;
    el.setAttribute("data-state", "failed");
  }
  if (typeof AsciinemaPlayer === "undefined") {
    say("The player did not load.");
    return;
  }
  var url = el.getAttribute("data-cast");
  fetch(url, { credentials: "same-origin", headers: { "accept": "application/x-asciicast" } })
    .then(function (r) {
      return r.text().then(function (text) { return { r: r, text: text }; });
    })
    .then(function (x) {
      if (!x.r.ok) {
        var why = "HTTP " + x.r.status;
        try {
          var e = JSON.parse(x.text).error;
          why = e.code + ": " + e.message;
        } catch (ignored) { /* not ward's JSON error: the status says it */ }
        say("The recording cannot be replayed. " + why);
        return;
      }
      AsciinemaPlayer.create({ data: x.text }, el, {
        fit: "width",
        idleTimeLimit: 2,
        preload: true
      });
      el.setAttribute("data-state", "ready");
    })
    .catch(function (e) { say("The recording could not be fetched: " + e); });
})();
