// TrustID pages: language, strings and calls to the node. Loaded by every
// page before its own script. No inline script anywhere (the pages' CSP
// forbids it): every page reads its strings from i18n.json.
"use strict";
(function () {
  var LANGS = ["zh-CN", "en"];
  var KEY = "trustid-ui-lang"; // the language choice only; never a token
  var dict = null;
  var lang = "zh-CN";
  var listeners = [];

  function initialLang() {
    var q = new URLSearchParams(window.location.search).get("lang");
    if (q && LANGS.indexOf(q) >= 0) { return q; }
    try {
      var saved = window.localStorage.getItem(KEY);
      if (saved && LANGS.indexOf(saved) >= 0) { return saved; }
    } catch (e) { /* storage off: Chinese */ }
    return "zh-CN";
  }

  // t returns the string key in the current language, with {name}
  // replaced from vars.
  function t(key, vars) {
    var s = (dict && dict[lang] && dict[lang][key]);
    if (s === undefined) { s = key; }
    if (vars) {
      s = s.replace(/\{(\w+)\}/g, function (m, k) { return vars[k] !== undefined ? String(vars[k]) : m; });
    }
    return s;
  }

  function apply() {
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-i18n]").forEach(function (el) { el.textContent = t(el.getAttribute("data-i18n")); });
    document.querySelectorAll("[data-i18n-label]").forEach(function (el) { el.setAttribute("aria-label", t(el.getAttribute("data-i18n-label"))); });
    document.querySelectorAll("[data-i18n-alt]").forEach(function (el) { el.setAttribute("alt", t(el.getAttribute("data-i18n-alt"))); });
    var b = document.getElementById("lang");
    if (b) {
      b.textContent = t("lang.switch");
      b.setAttribute("aria-label", t("lang.switchLabel"));
      b.setAttribute("lang", lang === "en" ? "zh-CN" : "en");
    }
    listeners.forEach(function (fn) { fn(lang); });
  }

  function setLang(l) {
    lang = l;
    try { window.localStorage.setItem(KEY, l); } catch (e) { /* not kept */ }
    apply();
  }

  // call sends a request to the node and resolves to {status, body}
  // (body parsed as JSON when it is JSON). token, when given, goes in the
  // Authorization header and nowhere else.
  function call(method, path, body, token) {
    var opts = {method: method, headers: {}, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer"};
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    if (token) { opts.headers.Authorization = "Bearer " + token; }
    return fetch(path, opts).then(function (r) {
      var ct = r.headers.get("Content-Type") || "";
      var read = ct.indexOf("json") >= 0 ? r.json().catch(function () { return null; }) : r.text();
      return read.then(function (b) { return {status: r.status, body: b}; });
    });
  }

  // el makes an element with text (or children) and attributes.
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    (Array.isArray(children) ? children : (children === undefined ? [] : [children])).forEach(function (c) {
      e.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    });
    return e;
  }

  // fieldError marks field id in error and shows the string key beside
  // it, tied by aria-describedby (kept in the page's language by apply),
  // then focuses it; fieldOK undoes it.
  function fieldError(id, key) {
    var f = document.getElementById(id), e = document.getElementById(id + "-error");
    if (!e) {
      e = el("p", {id: id + "-error", "class": "error"});
      f.insertAdjacentElement("afterend", e);
      f.setAttribute("aria-describedby", ((f.getAttribute("aria-describedby") || "") + " " + e.id).trim());
    }
    e.setAttribute("data-i18n", key);
    e.textContent = t(key);
    f.setAttribute("aria-invalid", "true");
    f.focus();
  }
  function fieldOK(id) {
    var f = document.getElementById(id), e = document.getElementById(id + "-error");
    if (!e) { return; }
    e.remove();
    f.removeAttribute("aria-invalid");
    var rest = (f.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (x) { return x && x !== e.id; });
    if (rest.length) { f.setAttribute("aria-describedby", rest.join(" ")); } else { f.removeAttribute("aria-describedby"); }
  }

  // region names of the province-level codes pages show.
  var REGIONS = {
    "110000": ["北京市", "Beijing"], "120000": ["天津市", "Tianjin"], "310000": ["上海市", "Shanghai"],
    "320000": ["江苏省", "Jiangsu"], "330000": ["浙江省", "Zhejiang"], "440000": ["广东省", "Guangdong"],
    "500000": ["重庆市", "Chongqing"]
  };
  function regionName(code) {
    var r = REGIONS[code];
    return r ? code + " " + (lang === "en" ? r[1] : r[0]) : code;
  }

  var ready = fetch("/ui/assets/i18n.json", {cache: "no-cache"}).then(function (r) { return r.json(); }).then(function (d) {
    dict = d;
    lang = initialLang();
    var b = document.getElementById("lang");
    if (b) {
      b.addEventListener("click", function () { setLang(lang === "en" ? "zh-CN" : "en"); });
    }
    apply();
  });
  var config = fetch("/ui/config.json", {cache: "no-cache"}).then(function (r) { return r.json(); });

  window.TID = {
    t: t, call: call, el: el, regionName: regionName, fieldError: fieldError, fieldOK: fieldOK,
    lang: function () { return lang; },
    onLang: function (fn) { listeners.push(fn); },
    ready: ready, config: config
  };
})();
