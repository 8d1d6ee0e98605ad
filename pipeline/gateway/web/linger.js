/* linger.js: tells the linger gateway what a visitor does on the page, so
   a chat team can offer help to those who hesitate. Dependency-free.
   It records and sends nothing until the page allows it (linger.consent),
   strips query strings and fragments from URLs (data-keep-query="true"
   keeps them), maps paths to templates before sending them, and never
   sends what is typed: only that a field was focused, changed, emptied or
   rejected.

   <script src="https://gateway.example/linger.js" data-site="shop-eu"
           data-consent="required" data-idle-ms="15000"
           data-path-template="/user/{email} /orders/{id}"></script>
   <body data-linger-kind="checkout">  (home category product search cart
                                        checkout pricing help account other)
   linger.consent(true)              after the visitor agreed
   linger.cart("add", 2999, 1)       value in minor units (cents)
   linger.checkout(2)  linger.purchase(5998, 2)  linger.chat("open")
   linger.paths(function (path) { return path; })   before DOMContentLoaded
   linger.session(function (s) { s.session, s.token, s.endpoint })      */
(function (w, d) {
  "use strict";
  if (w.linger && w.linger.v) return;
  var me = d.currentScript || {}, ds = me.dataset || {};
  var endpoint = (ds.endpoint || (me.src ? new URL(me.src, location.href).origin : location.origin)).replace(/\/$/, "");
  var site = ds.site || "";
  var idleMs = +ds.idleMs || 15000;
  var win = +ds.windowMs || 2000;
  var keepQuery = ds.keepQuery === "true";
  var templates = (ds.pathTemplate || "").split(/[\s,]+/).filter(Boolean).map(function (t) { return t.split("/"); });
  var pathFn = null;
  // ready: the page's scripts (linger.paths) ran; only a leaving page sends before.
  var ready = d.readyState === "complete";
  var allowed = ds.consent === "none";
  var KINDS = " home category product search cart checkout pricing help account other ";
  var SKEY = "linger.session", VKEY = "linger.visitor";
  var queue = [], sess = null, creating = false, waiting = [], sending = false;
  var now = Date.now;

  function store(s, k, v) {
    try { if (v === undefined) return s.getItem(k); if (v === null) s.removeItem(k); else s.setItem(k, v); } catch (e) { /* storage off */ }
    return null;
  }
  function clip(s) { return String(s || "").slice(0, 128); }
  function cleanURL(u) {
    try {
      u = new URL(u, location.href);
      var s = (u.origin === location.origin ? "" : u.origin) + u.pathname + (keepQuery ? u.search + u.hash : "");
      return s.slice(0, 2048);
    } catch (e) { return ""; }
  }
  // mapURL: a path of this site as its template ({x}: any one segment),
  // then as the linger.paths hook has it ("/" if that fails).
  function mapURL(u) {
    if (!u || u.charAt(0) !== "/") return u;
    var i = u.search(/[?#]|$/), p = u.slice(0, i), segs = p.split("/");
    templates.some(function (t) {
      var hit = t.length === segs.length && t.every(function (x, k) { return /^\{.*\}$/.test(x) || x === segs[k]; });
      if (hit) p = t.join("/");
      return hit;
    });
    if (pathFn) { try { p = pathFn(p); } catch (e) { p = 0; } if (typeof p !== "string") p = "/"; }
    return (p + u.slice(i)).slice(0, 2048);
  }
  function page() {
    var k = d.body && d.body.getAttribute("data-linger-kind") || d.documentElement.getAttribute("data-linger-kind") || "other";
    return { url: cleanURL(location.href) || "/", kind: KINDS.indexOf(" " + k + " ") >= 0 ? k : "other" };
  }
  function visitor() {
    var v = store(localStorage, VKEY);
    if (!v) { v = "v-" + Math.random().toString(36).slice(2) + now().toString(36); store(localStorage, VKEY, v); }
    return v;
  }

  // push queues one event; nothing is kept before consent.
  function push(type, f) {
    if (!allowed) return;
    var e = { v: 1, type: type, session: "", ts: now(), page: page() };
    if (site) e.site = site;
    for (var k in f) e[k] = f[k];
    queue.push(e);
    if (queue.length > 500) queue.splice(0, queue.length - 500);
  }

  function withSession(cb) {
    if (sess && sess.exp > now() + 60000) {
      var ws = waiting; waiting = [];
      ws.concat(cb).forEach(function (f) { f(sess); });
      return;
    }
    waiting.push(cb);
    if (creating) return;
    creating = true;
    // The token is bound to the site (text/plain: no preflight).
    fetch(endpoint + "/v1/sessions", { method: "POST", credentials: "omit", body: JSON.stringify({ site: site }) }).then(function (r) {
      if (!r.ok) throw new Error("linger: session " + r.status);
      return r.json();
    }).then(function (j) {
      sess = { session: j.session, token: j.token, exp: j.expires_at, endpoint: endpoint };
      store(sessionStorage, SKEY, JSON.stringify(sess));
      withSession(function () {});
    }).catch(function () { /* the next flush tries again */ }).then(function () { creating = false; });
  }

  function flush(leaving) {
    if (!allowed || !queue.length || (sending || !ready) && !leaving) return;
    withSession(function (s) {
      var batch = queue.splice(0, 50), vis = visitor();
      if (!batch.length) return;
      // Paths are mapped as they leave; the queue keeps them as they were.
      var body = JSON.stringify(batch.map(function (e) {
        var c = {}, k;
        for (k in e) c[k] = e[k];
        c.session = s.session; c.visitor = vis;
        c.page = { url: mapURL(e.page.url) || "/", kind: e.page.kind };
        if (e.ref) c.ref = mapURL(e.ref);
        return c;
      })), url = endpoint + "/v1/events";
      var back = function () { queue = batch.concat(queue); };
      sending = true;
      fetch(url, { method: "POST", keepalive: true, credentials: "omit", body: body,
        headers: { "Content-Type": "application/json", Authorization: "Bearer " + s.token } }).then(function (r) {
        if (r.status === 401) { sess = null; store(sessionStorage, SKEY, null); back(); }
        else if (r.status === 429 || r.status >= 500) back();
      }).catch(function () {
        // Refused keepalive (its quota is 64 KB in flight) while leaving:
        // a beacon carries the token in the URL instead.
        if (!(leaving && navigator.sendBeacon && navigator.sendBeacon(url + "?token=" + encodeURIComponent(s.token), body))) back();
      }).then(function () { sending = false; });
    });
  }

  // Pointer, scroll and idle, aggregated per window.
  var m = { moves: 0, dir_changes: 0, clicks: 0, rage_clicks: 0, dead_clicks: 0 };
  var lastX = 0, lastY = 0, sx = 0, sy = 0, burst = [], active = now(), idleSent = 0;
  var depth = 0, sentDepth = 0, lastScroll = 0, dir = "down", lastExit = 0;
  function act() { active = now(); idleSent = 0; }
  function on(t, f, o) { d.addEventListener(t, f, o || true); }

  on("mousemove", function (e) {
    var dx = e.clientX - lastX, dy = e.clientY - lastY, nx = dx > 0 ? 1 : dx < 0 ? -1 : 0, ny = dy > 0 ? 1 : dy < 0 ? -1 : 0;
    if ((nx && sx && nx !== sx) || (ny && sy && ny !== sy)) m.dir_changes++;
    if (nx) sx = nx;
    if (ny) sy = ny;
    lastX = e.clientX; lastY = e.clientY; m.moves++; act();
  });
  on("click", function (e) {
    var t = now();
    m.clicks++; act();
    burst = burst.filter(function (c) { return t - c.t < 700 && Math.abs(c.x - e.clientX) < 30 && Math.abs(c.y - e.clientY) < 30; });
    burst.push({ t: t, x: e.clientX, y: e.clientY });
    if (burst.length >= 3) { m.rage_clicks++; burst = []; }
    var el = e.target;
    if (el && el.closest && !el.closest("a,button,input,select,textarea,label,summary,option,[role=button],[onclick],[tabindex],[contenteditable]")) m.dead_clicks++;
  });
  on("keydown", act);
  on("touchstart", act);
  w.addEventListener("scroll", function () {
    var h = d.documentElement, max = Math.max(h.scrollHeight, 1), y = w.scrollY || h.scrollTop;
    depth = Math.max(depth, Math.min(1, (y + w.innerHeight) / max));
    dir = y < lastScroll ? "up" : "down";
    lastScroll = y; act();
  }, { passive: true });
  on("mouseout", function (e) {
    if (!e.relatedTarget && e.clientY <= 0 && now() - lastExit > 3000) { lastExit = now(); push("exit_intent", {}); }
  });
  on("visibilitychange", function () {
    var hidden = d.visibilityState === "hidden";
    if (hidden) pointer();
    push("visibility", { state: hidden ? "hidden" : "visible" });
    if (hidden) flush(true);
  });
  // Leaving: the pointer's last window goes with the visibility event
  // (sent just before), or alone when the page was hidden already.
  w.addEventListener("pagehide", function () { pointer(); flush(true); });
  function go() { if (!ready) { ready = true; flush(false); } }
  d.addEventListener("DOMContentLoaded", go);
  w.addEventListener("load", go);

  // Forms: which field, never its value.
  var typed = {}, filled = {}, lastErr = {};
  function field(el) {
    if (!el || !/^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName) || el.type === "hidden") return null;
    return { form: clip(el.form && (el.form.id || el.form.getAttribute("name")) || "form"), field: clip(el.name || el.id || el.type) };
  }
  function formEv(el, action) {
    var f = field(el);
    if (f) { f.action = action; push("form", f); }
    return f;
  }
  function fieldError(el) {
    var f = field(el);
    if (!f || now() - (lastErr[f.field] || 0) < 500) return;
    lastErr[f.field] = now();
    formEv(el, "error");
    typed[f.field] = false;
  }
  on("focusin", function (e) { var f = formEv(e.target, "focus"); if (f) typed[f.field] = false; act(); });
  on("focusout", function (e) { formEv(e.target, "blur"); });
  on("input", function (e) {
    var f = field(e.target);
    if (!f) return;
    act();
    var has = e.target.value !== "";
    if (!has && filled[f.field]) formEv(e.target, "clear");
    else if (!typed[f.field]) formEv(e.target, "input");
    typed[f.field] = true; filled[f.field] = has;
  });
  on("invalid", function (e) { fieldError(e.target); });
  on("submit", function (e) { var el = e.target.querySelector("input,select,textarea"); if (el) formEv(el, "submit"); });
  if (w.MutationObserver) new MutationObserver(function (ms) {
    ms.forEach(function (r) { if (r.target.getAttribute("aria-invalid") === "true") fieldError(r.target); });
  }).observe(d.documentElement, { subtree: true, attributes: true, attributeFilter: ["aria-invalid"] });

  function pointer() {
    if (m.moves || m.clicks) {
      var f = { ms: win };
      for (var k in m) { f[k] = m[k]; m[k] = 0; }
      push("mouse", f);
    }
  }
  setInterval(function () {
    pointer();
    if (depth - sentDepth >= 0.1) {
      push("scroll", { depth: Math.round(depth * 100) / 100, dir: dir });
      sentDepth = depth;
    }
    var gap = now() - active;
    if (d.visibilityState !== "hidden" && gap >= idleMs * (idleSent + 1)) { idleSent++; push("idle", { ms: gap }); }
    flush(false);
  }, win);

  function start() {
    var s = store(sessionStorage, SKEY);
    try { s = s && JSON.parse(s); } catch (e) { s = null; }
    if (s && s.exp > now() + 60000 && s.endpoint === endpoint) sess = s;
    var ref = d.referrer ? cleanURL(d.referrer) : "";
    push("page_view", ref ? { ref: ref } : {});
    flush(false);
  }

  w.linger = {
    v: 1,
    endpoint: endpoint,
    // consent(true) starts recording; consent(false) stops and forgets.
    consent: function (yes) {
      if (yes && !allowed) { allowed = true; start(); }
      if (!yes) { allowed = false; queue = []; waiting = []; sess = null; store(sessionStorage, SKEY, null); store(localStorage, VKEY, null); }
    },
    cart: function (action, value, items) { push("cart", { action: action === "remove" ? "remove" : "add", value: Math.max(0, Math.round(value || 0)), items: Math.max(1, items || 1) }); flush(false); },
    checkout: function (step) { push("checkout", { step: Math.max(1, step | 0) }); },
    purchase: function (value, items) { push("purchase", { value: Math.max(0, Math.round(value || 0)), items: Math.max(1, items || 1) }); flush(true); },
    chat: function (action) { push("chat", { action: action === "close" ? "close" : "open" }); flush(false); },
    // paths(fn): fn(path) returns what to send for a path of this site.
    paths: function (fn) { pathFn = typeof fn === "function" ? fn : null; },
    // session(cb) calls cb({session, token, endpoint}) once there is one.
    session: function (cb) { if (allowed) withSession(cb); else waiting.push(cb); }
  };
  if (allowed) start();
})(window, document);
