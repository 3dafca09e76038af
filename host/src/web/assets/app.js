// coophost web interface: small progressive enhancements. Every page works
// without this script; it only refreshes the parts marked as live.
//
// <section data-live="/c/velo/delivery/courier/offers" data-every="5"> is
// replaced every N seconds by the HTML fragment that URL returns.
(function () {
  "use strict";
  function refresh(el) {
    var url = el.getAttribute("data-live");
    fetch(url, { credentials: "same-origin", headers: { "X-Fragment": "1" } })
      // A redirect (to the login page, once the session has expired) is
      // not a fragment: keep the last content.
      .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
      .then(function (html) {
        if (html !== null && html !== el.innerHTML) {
          el.innerHTML = html;
        }
      })
      .catch(function () { /* keep the last content */ });
  }
  function start() {
    var live = document.querySelectorAll("[data-live]");
    Array.prototype.forEach.call(live, function (el) {
      var every = parseInt(el.getAttribute("data-every") || "5", 10);
      setInterval(function () { refresh(el); }, Math.max(every, 2) * 1000);
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
