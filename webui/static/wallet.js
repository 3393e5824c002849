// The holder wallet demo: enroll a made-up identity through the node's
// demo route (--demo), show the online code the node issues (POST /v1/qr,
// with a body the demo wallet signs with its device key) and refresh it
// before it expires, and present the identity credential with the chosen
// disclosures, verified by the node (POST /presentations/verify).
"use strict";
(function () {
  var TID = window.TID, t = TID.t, el = TID.el;
  var $ = function (id) { return document.getElementById(id); };
  var wallet = null;    // the demo wallet (its handle lives in this tab only)
  var timer = null;     // the next refresh or countdown tick
  var expiresAt = 0;    // ms since the epoch
  var refreshAt = 0;
  var lastPresent = null;

  function errText(res) {
    var code = res && res.body && res.body.error ? res.body.error : String(res && res.status);
    var key = "err." + code;
    return t(key) === key ? t("err.other", {code: code}) : t(key);
  }

  function checkboxes(box, name, items) {
    box.textContent = "";
    items.forEach(function (c, i) {
      var id = name + "-" + i;
      var input = el("input", {type: "checkbox", id: id, value: c});
      if (name === "consent" || c === "age_over_18") { input.checked = true; }
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
      stop(true);
      wallet = null;
      $("identity").hidden = true;
      $("enroll-status").textContent = "";
      ["consent-set", "disclose-set", "show-code", "present"].forEach(function (id) { $(id).disabled = true; });
      $("enroll").focus();
      res.gone = true;
    }
    return res;
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
    // The button starts disabled: a press before its listener was
    // attached did nothing.
    $("enroll").disabled = false;
  });
})();
