/* CDP tag: first-party browser tracking, no third-party code (docs/tag.md).
 * <script async src="https://COLLECTOR/v1/tag.js" data-write-key="KEY"></script>
 * Options (data attributes): data-host (collector URL, default: where this file came from),
 * data-consent="required" (track nothing until analytics is allowed: cdp.consent(true) or
 * cdp.consent({analytics: true, ads: false, personalization: true})), data-consent-signals="tcf,gcm"
 * (follow a CMP's IAB TCF v2 or Google Consent Mode v2 signals), data-dnt="honor",
 * data-console (console URL: cdp.personalize(slot) asks it for the visitor's variants).
 * Served at Segment's snippet path (/analytics.js/v1/KEY/analytics.min.js) or RudderStack's
 * (/v3/modern/rsa.min.js), it takes over that snippet's `analytics` or `rudderanalytics`. */
(function (w, d) {
  "use strict";
  var VERSION = "1.1.0", SESSION_MS = 30 * 60 * 1000, YEAR_S = 31536000, MAX_Q = 500, BATCH = 50;
  var CAMPAIGN = { utm_source: "source", utm_medium: "medium", utm_campaign: "name", utm_term: "term", utm_content: "content" };
  var PURPOSES = ["analytics", "ads", "personalization"];
  var CLICK_IDS = ["gclid", "gbraid", "wbraid", "dclid", "msclkid", "li_fat_id", "fbclid", "ttclid", "twclid", "rdt_cid", "epik", "sccid", "qclid", "yclid", "irclid", "igshid", "mc_eid"];
  var script = d.currentScript || {};
  var attr = function (n) { return script.getAttribute ? script.getAttribute(n) : null; };
  var stub = w.cdp && w.cdp.q ? w.cdp.q : [];
  var opts = (w.cdp && w.cdp.options) || {};
  // loaded by a Segment or RudderStack snippet whose CDN host now points here
  var src = script.src || "", segKey = /\/analytics\.js\/v1\/([^/]+)\//.exec(src);
  var flavour = segKey ? "analytics" : /\/rsa(\.min)?\.js(\?|$)/.test(src) ? "rudderanalytics" : null;
  var snippet = flavour && Array.isArray(w[flavour]) ? w[flavour].slice() : [];
  var rsLoad = snippet.filter(function (c) { return c[0] === "load"; })[0];
  var writeKey = opts.writeKey || attr("data-write-key") || (segKey ? decodeURIComponent(segKey[1]) : rsLoad && rsLoad[1]);
  var host = (opts.host || attr("data-host") || (script.src ? new URL(script.src).origin : "")).replace(/\/$/, "");
  var consoleUrl = (opts.console || attr("data-console") || "").replace(/\/$/, "");
  var needConsent = (opts.consent || attr("data-consent")) === "required";
  var honorDnt = (opts.dnt || attr("data-dnt")) === "honor";
  var store = w.localStorage;

  function get(k) { try { return JSON.parse(store.getItem("cdp_" + k)); } catch (e) { return null; } }
  function set(k, v) { try { store.setItem("cdp_" + k, JSON.stringify(v)); } catch (e) { /* storage full or blocked */ } }
  function uuid() {
    if (w.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16); (w.crypto || w.msCrypto).getRandomValues(b); b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }
  function cookie(name) { var m = d.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)")); return m ? decodeURIComponent(m[1]) : null; }
  function setCookie(name, v) {
    d.cookie = name + "=" + encodeURIComponent(v) + "; Max-Age=" + YEAR_S + "; Path=/; SameSite=Lax" + (location.protocol === "https:" ? "; Secure" : "");
  }

  // ---- identity and session ---------------------------------------------------------
  function ajs(k) {  // what Segment's analytics.js left, to keep the visitor's ids
    var v = flavour === "analytics" ? cookie("ajs_" + k) || store.getItem("ajs_" + k) : null;
    return v ? v.replace(/^"|"$/g, "") || null : null;
  }
  var anonymousId = cookie("cdp_aid") || get("aid") || ajs("anonymous_id") || uuid();
  setCookie("cdp_aid", anonymousId); set("aid", anonymousId);
  if (!get("uid") && ajs("user_id")) set("uid", ajs("user_id"));

  function params(search) {
    var out = {}; new URLSearchParams(search).forEach(function (v, k) { k = k.toLowerCase(); if (!(k in out) && v) out[k] = v; }); return out;
  }
  function session() {
    var now = Date.now(), s = get("session"), q = params(location.search), c = {}, any = false, k;
    for (k in CAMPAIGN) if (q[k]) { c[CAMPAIGN[k]] = q[k]; any = true; }
    CLICK_IDS.forEach(function (id) { if (q[id]) { c[id] = q[id]; any = true; } });
    // a new session after 30 idle minutes, or when the visitor arrives through another campaign
    if (!s || now - s.last > SESSION_MS || (any && JSON.stringify(c) !== JSON.stringify(s.campaign))) {
      s = { id: uuid(), start: now, campaign: any ? c : {}, referrer: d.referrer || null };
    }
    s.last = now; set("session", s); return s;
  }

  // ---- consent by purpose ---------------------------------------------------------------
  // the visitor's answers {analytics, ads, personalization} (only those given); every event
  // carries them as context.consent.categoryPreferences (Segment's consent spec)
  function prefs() { var p = get("consent_prefs"); return p && typeof p === "object" ? p : null; }
  function allowed() {
    if (honorDnt && (navigator.doNotTrack === "1" || w.doNotTrack === "1")) return false;
    var p = prefs();
    if (p && p.analytics === false) return false;
    return !needConsent || (p !== null && p.analytics === true);
  }
  function bool(v) { return v === true || v === false; }
  if (!prefs() && bool(get("consent"))) {  // an answer given to tag 1.0's on/off gate stands for every purpose
    set("consent_prefs", { analytics: get("consent"), ads: get("consent"), personalization: get("consent") });
  }
  function fromTcf(tc) {  // IAB TCF v2.2: purposes 1 (device access) + 3/4 ads, 5/6 content, 8 measurement
    var c = (tc && tc.purpose && tc.purpose.consents) || {}, dev = !!c[1] || tc.gdprApplies === false;
    if (tc.gdprApplies === false) return { analytics: true, ads: true, personalization: true };
    return { analytics: dev && !!c[8], ads: dev && !!c[3] && !!c[4], personalization: dev && !!c[5] && !!c[6] };
  }
  function fromGcm(s) {  // Google Consent Mode v2 state: {analytics_storage, ad_storage, ad_user_data, ...}
    var out = {}, g = function (k) { return s[k] === undefined ? undefined : s[k] === "granted"; };
    if (g("analytics_storage") !== undefined) out.analytics = g("analytics_storage");
    if (g("ad_storage") !== undefined || g("ad_user_data") !== undefined) out.ads = g("ad_storage") !== false && g("ad_user_data") !== false;
    if (g("personalization_storage") !== undefined) out.personalization = g("personalization_storage");
    return out;
  }

  // ---- events ---------------------------------------------------------------------------
  function pageContext() {
    return { path: location.pathname, referrer: d.referrer || "", search: location.search, title: d.title, url: location.href };
  }
  var heldBack = false;  // the page view a missing consent kept back
  function enqueue(type, fields, always) {
    if (!always && !allowed()) { if (type === "page") heldBack = true; return; }
    var s = session(), ctx = {
      library: { name: "cdp-tag", version: VERSION }, page: pageContext(), userAgent: navigator.userAgent,
      locale: navigator.language, timezone: (Intl.DateTimeFormat().resolvedOptions() || {}).timeZone, sessionId: s.id
    };
    if (Object.keys(s.campaign).length) ctx.campaign = s.campaign;
    var cp = prefs(); if (cp) ctx.consent = { categoryPreferences: cp };
    var ev = { type: type, messageId: uuid(), anonymousId: anonymousId, timestamp: new Date().toISOString(), context: ctx };
    var uid = get("uid"); if (uid) ev.userId = uid;
    for (var k in fields) ev[k] = fields[k];
    var q = get("queue") || []; q.push(ev); if (q.length > MAX_Q) q = q.slice(q.length - MAX_Q); set("queue", q);
    schedule(q.length >= 20 ? 0 : 1000);
  }

  // ---- transport: localStorage queue -> /v1/batch ------------------------------------
  var timer = null, inflight = false, backoff = 0;
  function schedule(ms) { if (!timer) timer = setTimeout(function () { timer = null; flush(); }, ms); }
  function body(batch) { return JSON.stringify({ batch: batch, sentAt: new Date().toISOString(), writeKey: writeKey }); }
  function drop(ids) { var q = (get("queue") || []).filter(function (e) { return ids.indexOf(e.messageId) < 0; }); set("queue", q); return q; }
  function flush() {
    var q = get("queue") || [];
    if (inflight || !q.length || !writeKey) return;
    var batch = q.slice(0, BATCH), ids = batch.map(function (e) { return e.messageId; });
    inflight = true;
    // text/plain keeps it a "simple" request: no CORS preflight
    fetch(host + "/v1/batch", { method: "POST", body: body(batch), headers: { "Content-Type": "text/plain" }, keepalive: true, credentials: "omit" })
      .then(function (r) {
        inflight = false;
        if (r.ok || (r.status >= 400 && r.status < 500 && r.status !== 429 && r.status !== 408)) {
          // delivered, or refused for good (bad event, bad key): never retried
          backoff = 0; if (drop(ids).length) schedule(0);
        } else { retry(); }
      }, function () { inflight = false; retry(); });
  }
  function retry() { backoff = Math.min(backoff ? backoff * 2 : 1000, 60000); schedule(backoff + Math.random() * 500); }
  function beacon() {
    // the page is going away: hand what is queued to the browser; it is dropped from the
    // queue only when the browser accepted it, otherwise the next page sends it
    var q = get("queue") || [];
    while (q.length && !inflight && navigator.sendBeacon) {
      var batch = q.slice(0, BATCH);
      if (!navigator.sendBeacon(host + "/v1/batch", new Blob([body(batch)], { type: "text/plain" }))) break;
      q = drop(batch.map(function (e) { return e.messageId; }));
    }
  }
  d.addEventListener("visibilitychange", function () { if (d.visibilityState === "hidden") beacon(); });
  w.addEventListener("pagehide", beacon);
  w.addEventListener("online", function () { backoff = 0; flush(); });

  // ---- automatic events -------------------------------------------------------------
  var lastUrl = null, scrolled = {};
  function page(name, properties, category, type) {
    lastUrl = location.href; scrolled = {};
    var p = pageContext(), props = { path: p.path, referrer: p.referrer, search: p.search, title: p.title, url: p.url };
    for (var k in properties || {}) props[k] = properties[k];
    var f = { name: name || d.title, properties: props }; if (category) f.category = category;
    enqueue(type || "page", f);
  }
  function spa() { if (location.href !== lastUrl) page(); }
  ["pushState", "replaceState"].forEach(function (m) {
    var orig = history[m];
    history[m] = function () { var r = orig.apply(this, arguments); setTimeout(spa, 0); return r; };
  });
  w.addEventListener("popstate", spa);

  var ticking = false;
  w.addEventListener("scroll", function () {
    if (ticking) return; ticking = true;
    setTimeout(function () {
      ticking = false;
      var el = d.documentElement, h = Math.max(el.scrollHeight, d.body ? d.body.scrollHeight : 0);
      var pct = h <= w.innerHeight ? 100 : ((w.scrollY + w.innerHeight) / h) * 100;
      [25, 50, 75, 100].forEach(function (m) {
        if (pct >= m - 0.5 && !scrolled[m]) { scrolled[m] = 1; track("Scroll Depth", { percent: m, path: location.pathname }); }
      });
    }, 150);
  }, { passive: true });

  var videos = new WeakMap();
  function videoProps(v) {
    return { src: v.currentSrc || v.src, title: v.getAttribute("data-title") || v.title || null, duration: isFinite(v.duration) ? Math.round(v.duration * 10) / 10 : null };
  }
  function media(e) {
    var v = e.target; if (!v || v.tagName !== "VIDEO") return;
    var s = videos.get(v); if (!s) { s = {}; videos.set(v, s); }
    if (e.type === "play" && !s.started) { s.started = 1; track("Video Started", videoProps(v)); }
    if (e.type === "timeupdate" && v.duration) {
      [25, 50, 75].forEach(function (m) {
        if (!s[m] && (v.currentTime / v.duration) * 100 >= m) { s[m] = 1; var p = videoProps(v); p.percent = m; track("Video Progress", p); }
      });
    }
    if (e.type === "ended" && !s.done) { s.done = 1; track("Video Completed", videoProps(v)); }
  }
  ["play", "timeupdate", "ended"].forEach(function (t) { d.addEventListener(t, media, true); });

  // forms: only those opted in with data-cdp-track; never passwords, hidden fields, files or cards
  var SECRET = /(pass|card|cc-|cvc|cvv|iban|ssn|secret|token|pin)/i;
  d.addEventListener("submit", function (e) {
    var f = e.target; if (!f || !f.hasAttribute || !f.hasAttribute("data-cdp-track")) return;
    var values = {}, email = null;
    Array.prototype.forEach.call(f.elements, function (el) {
      var n = el.name || el.id, t = (el.type || "").toLowerCase();
      if (!n || !el.tagName || /^(password|hidden|file|submit|button|reset|image)$/.test(t)) return;
      if (SECRET.test(n) || SECRET.test(el.getAttribute("autocomplete") || "")) return;
      if ((t === "checkbox" || t === "radio") && !el.checked) return;
      values[n] = el.value;
      if (t === "email" || /^e-?mail$/i.test(n)) email = el.value;
    });
    track("Form Submitted", { form: f.getAttribute("data-cdp-track") || f.id || f.name || null, values: values });
    if (email) identify(null, { email: email });
  }, true);

  // ---- public API -------------------------------------------------------------------
  function track(event, properties) { enqueue("track", { event: event, properties: properties || {} }); }
  function identify(userId, traits) {
    if (userId && typeof userId === "object") { traits = userId; userId = null; }
    if (userId) set("uid", String(userId));
    enqueue("identify", { traits: traits || {} });
  }
  // cdp.consent(true|false) answers every purpose; cdp.consent({ads: false}) only those named
  function consent(answer) {
    var was = allowed(), before = JSON.stringify(prefs()), p = prefs() || {}, k;
    if (bool(answer)) { for (k = 0; k < PURPOSES.length; k++) p[PURPOSES[k]] = answer; }
    else if (answer && typeof answer === "object") { for (k in answer) if (bool(answer[k])) p[k] = answer[k]; }
    else return;
    set("consent_prefs", p);
    if (JSON.stringify(p) === before) return;
    if (!allowed()) set("queue", []);  // nothing held back is sent after a refusal
    // the answer itself always goes (a withdrawal must reach the audiences it ends)
    enqueue("track", { event: "Segment Consent Preference Updated", properties: {} }, true);
    if (!was && allowed() && heldBack) { heldBack = false; page(); }  // the page view consent held back
  }
  var signals = (opts.consentSignals || attr("data-consent-signals") || "").split(",");
  if (signals.indexOf("tcf") >= 0 && typeof w.__tcfapi === "function") {
    w.__tcfapi("addEventListener", 2, function (tc, ok) {
      if (ok && tc && (tc.eventStatus === "tcloaded" || tc.eventStatus === "useractioncomplete")) consent(fromTcf(tc));
    });
  }
  if (signals.indexOf("gcm") >= 0) {
    var dl = w.dataLayer = w.dataLayer || [], gcm = {};
    var seen = function (e) {
      if (e && e[0] === "consent" && (e[1] === "default" || e[1] === "update") && e[2] && typeof e[2] === "object") {
        for (var k in e[2]) gcm[k] = e[2][k];
        return true;
      }
      return false;
    };
    var any = false; for (var i = 0; i < dl.length; i++) any = seen(dl[i]) || any;
    if (any) consent(fromGcm(gcm));
    var push = dl.push;
    dl.push = function () {
      var r = push.apply(dl, arguments);
      for (var j = 0; j < arguments.length; j++) if (seen(arguments[j])) consent(fromGcm(gcm));
      return r;
    };
  }
  // a Promise of {variants: {slot: variant}} for the slot(s), or null
  function personalize(slots) {
    var cp = prefs();
    if (!consoleUrl || !writeKey || !allowed() || (cp && cp.personalization === false)) return Promise.resolve(null);
    var qs = "anonymousId=" + encodeURIComponent(anonymousId) + "&writeKey=" + encodeURIComponent(writeKey);
    [].concat(slots || []).forEach(function (s) { qs += "&slot=" + encodeURIComponent(s); });
    return fetch(consoleUrl + "/v1/personalize?" + qs, { credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : null; }).catch(function () { return null; });
  }
  var api = { page: page, track: track, identify: identify, consent: consent, personalize: personalize, anonymousId: function () { return anonymousId; }, flush: flush, version: VERSION };
  w.cdp = api;
  stub.forEach(function (call) { if (api[call[0]]) api[call[0]].apply(null, call[1]); });

  // ---- Segment's and RudderStack's method signatures, for their snippets -------------
  function plain(a) {  // arguments without callbacks and the snippet's buffered page context
    return Array.prototype.filter.call(a, function (x) { return typeof x !== "function" && !(x && x.__t === "bpc"); });
  }
  function pageCall(type) {
    return function () {  // ([category], [name], [properties], [options])
      var a = plain(arguments), cat = null, name = null;
      if (typeof a[0] === "string" && typeof a[1] === "string") { cat = a.shift(); name = a.shift(); }
      else if (typeof a[0] === "string" || a[0] == null) { name = a.shift(); }
      page(name, a[0], cat, type);
    };
  }
  var user = function () { return get("uid"); };
  var compat = {
    page: pageCall("page"), screen: pageCall("screen"),
    track: function () { var a = plain(arguments); track(a[0], a[1]); },
    identify: function () { var a = plain(arguments); identify(typeof a[0] === "object" ? null : a[0], typeof a[0] === "object" ? a[0] : a[1]); },
    alias: function () {
      var a = plain(arguments), prev = a[1] || user() || anonymousId; set("uid", String(a[0]));
      enqueue("alias", { userId: String(a[0]), previousId: String(prev) });
    },
    group: function () { var a = plain(arguments); enqueue("group", { groupId: String(a[0]), traits: a[1] || {} }); },
    reset: function () { anonymousId = uuid(); setCookie("cdp_aid", anonymousId); set("aid", anonymousId); set("uid", null); },
    ready: function (cb) { if (typeof cb === "function") setTimeout(cb, 0); },
    user: function () { return { id: user, anonymousId: function () { return anonymousId; } }; },
    getAnonymousId: function () { return anonymousId; }, getUserId: user,
    load: function () {}, initialized: true, cdp: api
  };
  if (flavour) {
    w[flavour] = compat;
    snippet.forEach(function (c) { if (compat[c[0]]) compat[c[0]].apply(null, c.slice(1)); });
  } else page();  // a snippet sends its own first page view
  flush();  // what an earlier page left in the queue
})(window, document);
