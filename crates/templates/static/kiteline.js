// Kiteline's only script. It adds conveniences; every page works without it.
// It loads nothing and sends nothing.
(function () {
  "use strict";
  // The profile form: offer the browser's time zone when it differs.
  var select = document.getElementById("time_zone");
  var hint = document.getElementById("tz-browser");
  var use = document.getElementById("tz-use");
  if (!select || !hint || !use || !window.Intl) return;
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone || select.value === zone) return;
  var known = Array.prototype.some.call(select.options, function (o) { return o.value === zone; });
  if (!known) return;
  use.textContent = zone;
  hint.hidden = false;
  use.addEventListener("click", function () {
    select.value = zone;
    hint.hidden = true;
    select.focus();
  });
})();
