// The counter verifier: read a holder's online code (camera, uploaded
// picture or pasted text; QR decoding with the vendored jsQR), redeem it
// at the node with the counter's access token (POST /v1/qr/verify) and
// show the result in large type. The token is read from its field when a
// code is verified and kept nowhere else: no storage, no cookie.
"use strict";
(function () {
  var TID = window.TID, t = TID.t, el = TID.el;
  var $ = function (id) { return document.getElementById(id); };
  var stream = null;
  var last = null; // the last result, redrawn when the language changes

  function decodeImage(source, w, h) {
    var canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    var ctx = canvas.getContext("2d", {willReadFrequently: true});
    ctx.drawImage(source, 0, 0, w, h);
    var data = ctx.getImageData(0, 0, w, h);
    var found = window.jsQR(data.data, w, h, {inversionAttempts: "attemptBoth"});
    return found ? found.data : null;
  }

  function onFile() {
    var f = $("file").files[0];
    if (!f) { return; }
    var url = URL.createObjectURL(f);
    var img = new Image();
    img.onload = function () {
      var text = decodeImage(img, img.naturalWidth, img.naturalHeight);
      URL.revokeObjectURL(url);
      if (!text) { $("scan-status").textContent = t("counter.noQR"); return; }
      $("code").value = text;
      $("scan-status").textContent = t("counter.decoded");
      verify();
    };
    img.onerror = function () { URL.revokeObjectURL(url); $("scan-status").textContent = t("counter.noQR"); };
    img.src = url;
  }

  function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      $("scan-status").textContent = t("counter.noCamera", {why: "getUserMedia"});
      return;
    }
    navigator.mediaDevices.getUserMedia({video: {facingMode: "environment"}, audio: false}).then(function (s) {
      stream = s;
      var v = $("video");
      v.srcObject = s;
      v.hidden = false;
      $("camera-stop").hidden = false;
      $("camera").hidden = true;
      v.play();
      $("camera-stop").focus();
      requestAnimationFrame(scanFrame);
    }, function (e) {
      $("scan-status").textContent = t("counter.noCamera", {why: e && e.name ? e.name : "?"});
    });
  }

  function stopCamera() {
    if (stream) { stream.getTracks().forEach(function (tr) { tr.stop(); }); }
    stream = null;
    $("video").hidden = true;
    $("camera-stop").hidden = true;
    $("camera").hidden = false;
  }

  function scanFrame() {
    if (!stream) { return; }
    var v = $("video");
    if (v.readyState >= 2 && v.videoWidth > 0) {
      var text = decodeImage(v, v.videoWidth, v.videoHeight);
      if (text) {
        stopCamera();
        $("code").value = text;
        $("scan-status").textContent = t("counter.decoded");
        $("camera").focus();
        verify();
        return;
      }
    }
    requestAnimationFrame(scanFrame);
  }

  function maskID(id) {
    return id.length > 10 ? id.slice(0, 4) + "…" + id.slice(-4) : id.slice(0, 2) + "…";
  }

  function verify() {
    var token = $("token").value.trim();
    var code = $("code").value.trim();
    $("scan-status").textContent = "";
    if (!token) { TID.fieldError("token", "counter.needToken"); return; }
    TID.fieldOK("token");
    if (!code) { TID.fieldError("code", "counter.needCode"); return; }
    TID.fieldOK("code");
    if (/^TIDST\d+:/.test(code)) {
      last = {kind: "note"};
      render();
      return;
    }
    $("verify").disabled = true;
    $("scan-status").textContent = t("counter.verifying");
    // A guardian's (delegated) offline code is verified only for a named
    // action; the node refuses an action with an online code.
    var body = {code: code};
    if (code.indexOf("TIDOFF2:") === 0) { body.action = $("action").value; }
    TID.call("POST", "/v1/qr/verify", body, token).then(function (res) {
      last = {kind: res.status === 200 ? "ok" : "bad", res: res};
    }, function () {
      last = {kind: "bad", res: null};
    }).then(function () {
      $("verify").disabled = false;
      $("scan-status").textContent = "";
      render();
      $("result").focus();
    });
  }

  function render() {
    var box = $("result");
    box.textContent = "";
    if (!last) { box.hidden = true; return; }
    box.hidden = false;
    if (last.kind === "note") {
      box.className = "result bad";
      box.appendChild(el("p", {}, t("counter.staticNote")));
      return;
    }
    if (last.kind === "bad") {
      var code = last.res && last.res.body && last.res.body.error ? last.res.body.error : null;
      var key = "err." + code;
      box.className = "result bad";
      box.appendChild(el("p", {"class": "verdict", id: "verdict"}, "✗ " + t("counter.invalid")));
      box.appendChild(el("p", {id: "reason"}, !last.res ? t("err.network") : (t(key) === key ? t("err.other", {code: code || last.res.status}) : t(key))));
      return;
    }
    var b = last.res.body;
    var level = "L" + b.assurance_level;
    box.className = "result ok";
    box.appendChild(el("p", {"class": "verdict", id: "verdict"}, "✓ " + t("counter.valid")));
    var dl = el("dl", {"class": "facts"});
    var add = function (k, v, id) { dl.appendChild(el("dt", {}, t(k))); dl.appendChild(el("dd", {id: id}, v)); };
    var lk = "counter.level" + level;
    add("counter.level", t(lk) === lk ? level : t(lk), "r-level");
    add("counter.region", TID.regionName(b.region), "r-region");
    add("counter.holder", maskID(b.pairwise_id || ""), "r-holder");
    // A delegated code: the holder above is the principal; who is here is
    // the actor, for the action the delegation allows.
    if (b.act) {
      var rk = "relationship." + b.act.relationship, ak = "action." + b.action;
      add("counter.actor", (t(rk) === rk ? b.act.relationship : t(rk)) + " " + maskID(b.act.pairwise_id || ""), "r-actor");
      add("counter.action", t(ak) === ak ? String(b.action) : t(ak), "r-action");
    }
    var claims = Object.keys(b.claims || {});
    var list = claims.length === 0 ? t("counter.noClaims") : claims.map(function (c) {
      var k = "claim." + c, v = b.claims[c];
      var val = v === "true" || v === true ? t("counter.yes") : (v === "false" || v === false ? t("counter.no") : String(v));
      return (t(k) === k ? c : t(k)) + ": " + val;
    }).join("；");
    add("counter.claims", list, "r-claims");
    box.appendChild(dl);
  }

  TID.onLang(render);
  TID.ready.then(function () {
    $("camera").addEventListener("click", startCamera);
    $("camera-stop").addEventListener("click", stopCamera);
    $("file").addEventListener("change", onFile);
    $("verify").addEventListener("click", verify);
  });
})();
