// The holder wallet demo: enroll a made-up identity through the node's
// demo route (--demo), show the online code the node issues (POST /v1/qr,
// with a body the demo wallet signs with its device key) and refresh it
// before it expires, and present the identity credential with the chosen
// disclosures, verified by the node (POST /presentations/verify). The
// node keeps a wallet an hour: a minute before, the page warns and offers
// to keep it another hour (WCAG 2.2.1 Extend; docs/ui.md).
"use strict";
(function () {
  var TID = window.TID, t = TID.t, el = TID.el;
  var $ = function (id) { return document.getElementById(id); };
  var wallet = null;    // the demo wallet (its handle lives in this tab only)
  var timer = null;     // the next refresh or countdown tick
  var expiresAt = 0;    // ms since the epoch
  var refreshAt = 0;
  var lastPresent = null;
  // WARN_BEFORE is how long before the node forgets the wallet the page
  // warns (WCAG 2.2.1: at least 20 s to extend).
  var WARN_BEFORE = 60000;
  var walletEnd = 0;      // ms since the epoch, by the page's clock
  var walletTimer = null; // the warning or the end
  var timeMsg = null;     // what #wallet-time says: {key, vars}
  var focusBefore = null; // where focus was when the warning took it

  function errText(res) {
    var code = res && res.body && res.body.error ? res.body.error : String(res && res.status);
    var key = "err." + code;
    return t(key) === key ? t("err.other", {code: code}) : t(key);
  }

  // checkboxes lists items to tick in box, ticked as the person left
  // them for the wallet before (a wallet enrolled again after the node
  // forgot one keeps the choices), else by default.
  function checkboxes(box, name, items) {
    var was = {};
    box.querySelectorAll("input").forEach(function (i) { was[i.value] = i.checked; });
    box.textContent = "";
    items.forEach(function (c, i) {
      var id = name + "-" + i;
      var input = el("input", {type: "checkbox", id: id, value: c});
      input.checked = c in was ? was[c] : (name === "consent" || c === "age_over_18");
      var label = el("label", {"for": id}, [input, el("span", {"data-claim": c}, claimName(c))]);
      box.appendChild(label);
    });
  }

  function claimName(c) {
    var k = "claim." + c;
    return t(k) === k ? c : t(k) + " (" + c + ")";
  }

  function checked(box) {
    return Array.prototype.map.call(box.querySelectorAll("input:checked"), function (i) { return i.value; });
  }

  function showIdentity() {
    if (!wallet) { return; }
    $("id-name").textContent = wallet.name;
    $("id-document").textContent = wallet.document;
    $("id-level").textContent = wallet.assurance_level;
    $("id-region").textContent = TID.regionName(wallet.region);
    $("enroll-status").textContent = t("wallet.enrolled", {level: wallet.assurance_level});
    document.querySelectorAll("[data-claim]").forEach(function (s) { s.textContent = claimName(s.getAttribute("data-claim")); });
  }

  function enroll() {
    stop(true);
    clearTimeout(walletTimer);
    say(null);
    $("keep").hidden = true;
    $("enroll").disabled = true;
    $("enroll-status").textContent = t("wallet.enrolling");
    TID.call("POST", "/ui/demo/wallets").then(function (res) {
      $("enroll").disabled = false;
      if (res.status !== 201) {
        $("enroll-status").textContent = errText(res);
        return;
      }
      wallet = res.body;
      checkboxes($("consent"), "consent", wallet.consent);
      checkboxes($("disclose"), "disclose", wallet.disclosable);
      $("identity").hidden = false;
      ["consent-set", "disclose-set", "show-code", "present"].forEach(function (id) { $(id).disabled = false; });
      $("present-result").textContent = "";
      showIdentity();
      keepFor(wallet.expires_in);
    }, function () {
      $("enroll").disabled = false;
      $("enroll-status").textContent = t("err.network");
    });
  }

  // code asks the demo wallet to sign a code request, sends it to the
  // node's POST /v1/qr as a phone would, and shows the code.
  function code(refresh) {
    if (!wallet) { $("code-status").textContent = t("wallet.needEnroll"); return; }
    var consent = checked($("consent"));
    TID.call("POST", "/ui/demo/wallets/" + encodeURIComponent(wallet.wallet) + "/code-request", {consent: consent}).then(function (res) {
      if (res.status !== 200) { throw walletRefused(res); }
      return TID.call("POST", "/v1/qr", res.body);
    }).then(function (res) {
      if (res.status !== 201) { throw res; }
      draw(res.body.code);
      var now = Date.now();
      expiresAt = now + res.body.expires_in * 1000;
      // Refresh a quarter of the lifetime (at most 10 s) before expiry.
      refreshAt = expiresAt - Math.min(10000, res.body.expires_in * 250);
      $("code-box").hidden = false;
      $("stop-code").disabled = false;
      $("code-status").textContent = refresh ? t("wallet.refreshed") : "";
      tick();
    }).catch(function (res) {
      stop(true);
      $("code-status").textContent = res && res.gone ? t("wallet.gone") : res && res.status ? errText(res) : t("err.network");
    });
  }

  // walletRefused returns a demo wallet route's refusal; a 404 means the
  // node no longer has the wallet (kept an hour, forgotten on a restart):
  // the page forgets it too, marks the refusal gone, and its message asks
  // to enroll again (docs/ui.md) rather than showing the code; focus goes
  // to the enroll button, the way on, from the button now disabled.
  function walletRefused(res) {
    if (res.status === 404) {
      forget();
      say(null);
      res.gone = true;
    }
    return res;
  }

  // forget drops the wallet the node no longer keeps: its code stops, its
  // buttons are off, and focus goes to the enroll button.
  function forget() {
    stop(true);
    clearTimeout(walletTimer);
    wallet = null;
    $("identity").hidden = true;
    $("keep").hidden = true;
    $("enroll-status").textContent = "";
    ["consent-set", "disclose-set", "show-code", "present"].forEach(function (id) { $(id).disabled = true; });
    $("enroll").focus();
  }

  // say puts the string key in the wallet's alert region (null empties
  // it), kept in the page's language.
  function say(key, vars) {
    timeMsg = key ? {key: key, vars: vars} : null;
    $("wallet-time").textContent = key ? t(key, vars) : "";
  }

  // keepFor times the wallet the node keeps s seconds from now: the
  // warning WARN_BEFORE its end (at once when less is left).
  function keepFor(s) {
    if (typeof s !== "number") { return; }
    walletEnd = Date.now() + s * 1000;
    clearTimeout(walletTimer);
    walletTimer = setTimeout(warnEnd, Math.max(0, walletEnd - WARN_BEFORE - Date.now()));
  }

  // warnEnd says in the alert region when the node will forget the
  // wallet and offers one button, given focus, that keeps it another
  // hour: a press of the space bar or Enter. At the end the page says
  // the identity ended, and how to get a new one.
  function warnEnd() {
    var left = walletEnd - Date.now();
    if (left <= 0) { forget(); say("wallet.ended"); return; }
    say("wallet.endsIn", {s: Math.round(left / 1000)});
    if ($("keep").hidden) {
      focusBefore = document.activeElement;
      $("keep").hidden = false;
      $("keep").focus();
    }
    walletTimer = setTimeout(warnEnd, left);
  }

  // keep asks the node to keep the wallet another lifetime; focus goes
  // back where it was before the warning.
  function keep() {
    if (!wallet) { return; }
    $("keep").disabled = true;
    TID.call("POST", "/ui/demo/wallets/" + encodeURIComponent(wallet.wallet) + "/extend").then(function (res) {
      $("keep").disabled = false;
      if (res.status === 404) { walletRefused(res); say("wallet.gone"); return; }
      if (res.status !== 200) { say("wallet.keepFailed"); return; }
      keepFor(res.body.expires_in);
      $("keep").hidden = true;
      say("wallet.kept", {m: Math.max(1, Math.round(res.body.expires_in / 60))});
      var b = focusBefore;
      var back = b && b !== document.body && document.body.contains(b) && !b.disabled && !b.closest("[hidden]") ? b : $("main");
      back.focus();
    }, function () {
      $("keep").disabled = false;
      say("wallet.keepFailed");
    });
  }

  function draw(text) {
    var qr = window.qrcode(0, "M");
    qr.addData(text, "Alphanumeric");
    qr.make();
    $("qr").src = qr.createDataURL(8, 4);
    $("code-text").textContent = text;
    $("qr").setAttribute("data-code", text);
  }

  function tick() {
    clearTimeout(timer);
    var now = Date.now();
    if (now >= refreshAt) { code(true); return; }
    $("countdown").textContent = t("wallet.expiresIn", {s: Math.max(0, Math.ceil((expiresAt - now) / 1000))});
    timer = setTimeout(tick, Math.min(1000, refreshAt - now));
  }

  function stop(quiet) {
    clearTimeout(timer);
    timer = null;
    $("code-box").hidden = true;
    $("qr").removeAttribute("src");
    $("code-text").textContent = "";
    $("stop-code").disabled = true;
    if (!quiet) { $("code-status").textContent = t("wallet.stopped"); }
  }

  function randomNonce() {
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }

  function present() {
    if (!wallet) { return; }
    var disclose = checked($("disclose"));
    var audience = window.location.origin + "/ui/counter";
    var nonce = randomNonce();
    var box = $("present-result");
    box.textContent = "";
    TID.call("POST", "/ui/demo/wallets/" + encodeURIComponent(wallet.wallet) + "/presentation",
      {disclose: disclose, audience: audience, nonce: nonce}).then(function (res) {
      if (res.status !== 200) { throw walletRefused(res); }
      return TID.call("POST", "/presentations/verify",
        {verifiablePresentation: res.body.presentation, options: {challenge: nonce, domain: audience}});
    }).then(function (res) {
      lastPresent = {ok: res.status === 200 && res.body && res.body.verified === true, res: res, disclose: disclose};
      showPresent();
    }).catch(function (res) {
      lastPresent = {ok: false, res: res, disclose: disclose};
      showPresent();
    });
  }

  // showPresent shows what the verifier saw: the disclosed claims only.
  function showPresent() {
    var box = $("present-result");
    box.textContent = "";
    if (!lastPresent) { return; }
    var p = lastPresent;
    if (!p.ok && p.res && p.res.gone) {
      box.className = "result bad";
      box.appendChild(el("p", {}, t("wallet.gone")));
      return;
    }
    if (!p.ok) {
      var code = p.res && p.res.body && p.res.body.errors && p.res.body.errors[0] ? p.res.body.errors[0].code : (p.res && p.res.status ? errText(p.res) : t("err.network"));
      box.className = "result bad";
      box.appendChild(el("p", {}, t("wallet.presentFail", {code: code})));
      return;
    }
    box.className = "result ok";
    box.appendChild(el("p", {id: "present-verdict"}, t("wallet.presentOk")));
    var cred = p.res.body.credential || {};
    var shown = p.disclose.filter(function (c) { return cred[c] !== undefined; });
    box.appendChild(el("h3", {}, t("wallet.disclosed")));
    if (shown.length === 0) {
      box.appendChild(el("p", {}, t("wallet.nothingDisclosed")));
      return;
    }
    var dl = el("dl", {"class": "facts", id: "disclosed"});
    shown.forEach(function (c) {
      dl.appendChild(el("dt", {}, claimName(c)));
      dl.appendChild(el("dd", {"data-claim-value": c}, typeof cred[c] === "object" ? JSON.stringify(cred[c]) : String(cred[c])));
    });
    box.appendChild(dl);
  }

  TID.onLang(function () {
    if (timeMsg) { say(timeMsg.key, timeMsg.vars); }
    showIdentity();
    showPresent();
    if (timer) { tick(); }
  });
  Promise.all([TID.ready, TID.config]).then(function (r) {
    var cfg = r[1];
    if (!cfg.demo) {
      $("demo-off").hidden = false;
      $("enroll").disabled = true;
      return;
    }
    $("enroll").addEventListener("click", enroll);
    $("show-code").addEventListener("click", function () { code(false); });
    $("stop-code").addEventListener("click", function () { stop(false); });
    $("present").addEventListener("click", present);
    $("keep").addEventListener("click", keep);
    // The button starts disabled: a press before its listener was
    // attached did nothing.
    $("enroll").disabled = false;
  });
})();
