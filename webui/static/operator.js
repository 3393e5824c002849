// The operator view: figures from the node's public routes (/ui/config.json,
// /readyz, /.well-known/jwks.json, /status and each list) and, with an
// admin token the operator pastes, from GET /v1/admin/clients and
// GET /v1/admin/registry (the region's terminals and issuers by status). The token
// is read from its field for each request and kept nowhere else.
"use strict";
(function () {
  var TID = window.TID, t = TID.t, el = TID.el;
  var $ = function (id) { return document.getElementById(id); };
  var state = {cfg: null, ready: null, keys: null, lists: null, clients: null, registry: null};

  function b64urlBytes(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out;
  }

  // inflate decompresses with the browser's DecompressionStream ("gzip"
  // for Bitstring Status Lists, "deflate" (zlib) for Token Status Lists).
  function inflate(bytes, format) {
    var ds = new DecompressionStream(format);
    var stream = new Blob([bytes]).stream().pipeThrough(ds);
    return new Response(stream).arrayBuffer().then(function (b) { return new Uint8Array(b); });
  }

  // countSet counts the entries of bits bits each that are not zero.
  function countSet(bytes, bits) {
    var n = 0, per = 8 / bits, mask = (1 << bits) - 1;
    for (var i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0) { continue; }
      for (var j = 0; j < per; j++) { if ((bytes[i] >> (j * bits)) & mask) { n++; } }
    }
    return {set: n, size: bytes.length * per};
  }

  function loadList(id) {
    return fetch("/status/" + encodeURIComponent(id), {cache: "no-store"}).then(function (r) {
      var ct = r.headers.get("Content-Type") || "";
      if (ct.indexOf("statuslist+jwt") >= 0) {
        return r.text().then(function (jwt) {
          var payload = JSON.parse(new TextDecoder().decode(b64urlBytes(jwt.split(".")[1])));
          var sl = payload.status_list;
          return inflate(b64urlBytes(sl.lst), "deflate").then(function (bytes) {
            var c = countSet(bytes, sl.bits);
            return {id: id, bits: sl.bits, size: c.size, set: c.set};
          });
        });
      }
      return r.json().then(function (vc) {
        var cs = vc.credentialSubject || {};
        return inflate(b64urlBytes(String(cs.encodedList || "").replace(/^u/, "")), "gzip").then(function (bytes) {
          var c = countSet(bytes, 1);
          return {id: id, purpose: cs.statusPurpose || "?", size: c.size, set: c.set};
        });
      });
    });
  }

  function load() {
    TID.call("GET", "/readyz").then(function (res) { state.ready = res; render(); });
    TID.call("GET", "/.well-known/jwks.json").then(function (res) { state.keys = res.body && res.body.keys || []; render(); });
    TID.call("GET", "/status").then(function (res) {
      var ids = res.body && res.body.lists || [];
      return Promise.all(ids.map(loadList));
    }).then(function (lists) { state.lists = lists; render(); }, function () { state.lists = []; render(); });
  }

  function loadRegistry() {
    var token = $("admin-token").value.trim();
    if (!token) { TID.fieldError("admin-token", "operator.needToken"); return; }
    TID.fieldOK("admin-token");
    $("registry-status").textContent = t("operator.loading");
    Promise.all([TID.call("GET", "/v1/admin/clients", undefined, token), TID.call("GET", "/v1/admin/registry", undefined, token)]).then(function (res) {
      state.clients = res[0];
      state.registry = res[1];
      render();
    }, function () {
      state.clients = {status: 0, body: {error: "network"}};
      render();
    });
  }

  var statusNames = {active: "operator.st.active", suspended: "operator.st.suspended", revoked: "operator.st.revoked"};

  // byStatus fills tbody with one row per status of counts and returns
  // the total.
  function byStatus(tbody, counts) {
    var total = 0;
    tbody.textContent = "";
    ["active", "suspended", "revoked"].concat(Object.keys(counts || {}).sort()).forEach(function (s, i, all) {
      if (all.indexOf(s) !== i || !(counts && counts[s])) { return; }
      total += counts[s];
      tbody.appendChild(el("tr", {}, [el("td", {}, statusNames[s] ? t(statusNames[s]) : s), el("td", {"class": "num"}, counts[s])]));
    });
    return total;
  }

  function okText(v) { return v === "ok" || v === "ready" ? t("common.ok") : (v ? t("common.down") + " (" + v + ")" : "…"); }

  // purposeText words a status list's purpose in the page's language: a
  // token status list with its bits per entry, or a W3C list's
  // statusPurpose (shown as the code it is when the page has no words).
  function purposeText(l) {
    if (l.bits) { return t("operator.tokenList", {bits: l.bits}); }
    var k = "operator.purpose." + l.purpose;
    return t(k) === k ? el("code", {}, l.purpose) : t(k);
  }

  function render() {
    if (state.cfg) {
      $("op-region").textContent = TID.regionName(state.cfg.region);
      $("op-issuer").textContent = state.cfg.issuer;
    }
    if (state.ready) {
      var b = state.ready.body || {};
      $("op-ready").textContent = okText(b.status);
      $("op-store").textContent = okText(b.store);
      $("op-ledger").textContent = okText(b.ledger);
      var l = (b.details && b.details.ledger) || {};
      $("op-backlog").textContent = l.outbox_backlog_changes !== undefined ? l.outbox_backlog_changes : "—";
      $("op-heads").textContent = l.outbox_pending_heads !== undefined ? l.outbox_pending_heads : "—";
      $("op-oldest").textContent = l.outbox_oldest_age_seconds !== undefined ? Math.round(l.outbox_oldest_age_seconds) : "—";
      $("op-viewage").textContent = l.view_refresh_age_seconds !== undefined ? Math.round(l.view_refresh_age_seconds) : "—";
    }
    if (state.keys) {
      $("op-keycount").textContent = state.keys.length;
      var tb = $("op-keys");
      tb.textContent = "";
      state.keys.forEach(function (k) {
        tb.appendChild(el("tr", {}, [el("td", {}, k.alg || k.crv || k.kty), el("td", {}, el("code", {}, k.kid || ""))]));
      });
    }
    if (state.lists) {
      var total = 0, sb = $("op-statuslists");
      sb.textContent = "";
      state.lists.forEach(function (l) {
        total += l.set;
        sb.appendChild(el("tr", {}, [el("td", {}, el("code", {}, l.id)), el("td", {}, purposeText(l)),
          el("td", {"class": "num"}, l.size), el("td", {"class": "num"}, l.set)]));
      });
      $("op-lists").textContent = state.lists.length;
      $("op-settotal").textContent = total;
    }
    if (state.clients) {
      var res = state.clients;
      if (res.status === 200 && state.registry && state.registry.status !== 200) { res = state.registry; }
      if (res.status !== 200) {
        $("registry").hidden = true;
        // A refusal the pages explain (an expired token: get a new one)
        // in words, any other by its code.
        var code = res.body && res.body.error ? res.body.error : res.status, key = "err." + code;
        $("registry-status").textContent = t("operator.loadFailed", {code: t(key) === key ? code : t(key)});
        return;
      }
      var clients = res.body.clients || [];
      var disabled = clients.filter(function (c) { return c.disabled; }).length;
      var scopes = {};
      clients.forEach(function (c) { (c.scopes || []).forEach(function (s) { scopes[s] = (scopes[s] || 0) + 1; }); });
      $("op-clients").textContent = clients.length;
      $("op-active").textContent = clients.length - disabled;
      $("op-disabled").textContent = disabled;
      var st = $("op-scopes");
      st.textContent = "";
      Object.keys(scopes).sort().forEach(function (s) {
        st.appendChild(el("tr", {}, [el("td", {}, el("code", {}, s)), el("td", {"class": "num"}, scopes[s])]));
      });
      var reg = state.registry.body || {};
      $("op-terminals").textContent = byStatus($("op-terminal-status"), reg.terminals);
      $("op-issuers").textContent = byStatus($("op-issuer-status"), reg.issuers);
      $("registry").hidden = false;
      $("registry-status").textContent = "";
    }
  }

  TID.onLang(render);
  Promise.all([TID.ready, TID.config]).then(function (r) {
    state.cfg = r[1];
    $("refresh").addEventListener("click", load);
    $("load-registry").addEventListener("click", loadRegistry);
    // The buttons start disabled: a press before their listeners were
    // attached did nothing.
    $("refresh").disabled = false;
    $("load-registry").disabled = false;
    load();
    render();
  });
})();
