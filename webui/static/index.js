// The index page: the node's region.
"use strict";
(function () {
  var TID = window.TID;
  var cfg = null;
  function show() {
    if (cfg) { document.getElementById("region").textContent = TID.regionName(cfg.region); }
  }
  TID.onLang(show);
  Promise.all([TID.ready, TID.config]).then(function (r) { cfg = r[1]; show(); });
})();
