/* The demo chat widget: it listens to the gateway's invite stream for this
   visitor's session and shows an invite with the reason an agent can act
   on, built from the decision's signals; accept and decline go back as
   feedback. Every text is set with textContent. */
(function (w, d) {
  "use strict";
  if (!w.linger) return;
  var SEEN = "linger.widget.seen";
  var box = null, current = null, hideTimer = 0, session = null;

  function el(tag, text, cls) { var e = d.createElement(tag); if (text) e.textContent = text; if (cls) e.className = cls; return e; }
  function seen() { try { return JSON.parse(sessionStorage.getItem(SEEN)) || []; } catch (e) { return []; } }
  function markSeen(id) { var s = seen(); s.push(id); sessionStorage.setItem(SEEN, JSON.stringify(s.slice(-20))); }

  // fieldLabel names a form field as the page labels it, else from its name.
  function fieldLabel(name) {
    var f = null;
    try { f = d.querySelector("[name=\"" + CSS.escape(name) + "\"]"); } catch (e) { /* no CSS.escape */ }
    var l = f && f.labels && f.labels[0] && f.labels[0].textContent.trim();
    return (l || String(name).replace(/[-_]+/g, " ")).toLowerCase();
  }
  function secs(v) { return Math.round(v) + " s"; }
  // Each signal in words: first for the visitor, then for the agent.
  var WORDS = {
    form_errors: function (s) { return s.detail ? ["Looks stuck on the " + fieldLabel(s.detail) + " field", "rejected " + Math.round(s.value * 10) / 10 + "× on " + fieldLabel(s.detail)] : ["Having trouble with the form", "form errors"]; },
    field_stuck_s: function (s) { return ["Looks stuck on a form field", secs(s.value) + " on one field without progress"]; },
    field_reedits: function () { return ["Keeps correcting the form", "re-edited fields"]; },
    field_churn: function () { return ["Looking for the right field", "fields left without typing"]; },
    rage_clicks: function () { return ["Something on this page does not respond", "rage clicks"]; },
    dead_clicks: function () { return ["Clicking on things that do nothing", "clicks on nothing clickable"]; },
    pointer_jitter: function () { return ["Searching the page", "pointer going back and forth"]; },
    idle_checkout_s: function (s) { return ["Paused at checkout", secs(s.value) + " idle in cart or checkout"]; },
    idle_current_s: function (s) { return ["Paused for a while", secs(s.value) + " idle"]; },
    exit_intent: function () { return ["About to leave", "pointer left for the tab bar"]; },
    pricing_revisits: function () { return ["Checking prices and delivery again", "returned to pricing or shipping"]; },
    back_forth: function () { return ["Comparing pages", "back and forth between pages"]; },
    cart_value: function (s) { return ["Has a full cart", "cart worth " + Math.round(s.value)]; },
    tab_hidden: function () { return ["Switching tabs", "left the tab"]; }
  };
  function words(s) {
    var f = WORDS[s.name];
    return f ? f(s) : [null, s.name.replace(/_/g, " ") + " " + Math.round(s.value * 10) / 10];
  }
  function headline(dec) {
    for (var i = 0; i < dec.signals.length; i++) { var t = words(dec.signals[i])[0]; if (t) return t + " — can I help?"; }
    return dec.reason === "confusion" ? "Looks stuck — can I help?" : "Anything I can help with before you go?";
  }

  function feedback(type, dec) {
    if (!session) return;
    fetch(session.endpoint + "/v1/feedback", {
      method: "POST", keepalive: true, credentials: "omit",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + session.token },
      body: JSON.stringify({ v: 1, type: type, invite_id: dec.id, session: session.session, site: dec.site, team: dec.team, ts: Date.now() })
    }).catch(function () { /* feedback is best effort */ });
  }

  function hide() {
    clearTimeout(hideTimer);
    if (box) box.remove();
    box = current = null;
  }

  function show(dec) {
    if (current || seen().indexOf(dec.id) >= 0) return;
    current = dec;
    markSeen(dec.id);
    box = el("aside", null, "chat-invite");
    box.id = "chat-invite";
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-label", "Chat invitation");
    box.setAttribute("data-reason", dec.reason);
    box.appendChild(el("p", "Sam from our " + (dec.team || "support") + " team", "agent"));
    var h = el("p", headline(dec), "headline");
    h.id = "chat-invite-headline";
    box.appendChild(h);
    var why = el("p", null, "why");
    why.id = "chat-invite-why";
    why.textContent = "Why you see this: " + dec.reason + " " + dec.score.toFixed(2) + " · " +
      dec.signals.map(function (s) { return words(s)[1]; }).join(" · ");
    box.appendChild(why);
    var yes = el("button", "Chat now", "button"), no = el("button", "No thanks", "button secondary");
    yes.type = no.type = "button";
    yes.id = "chat-accept";
    no.id = "chat-decline";
    yes.onclick = function () {
      feedback("invite_accepted", dec);
      w.linger.chat("open");
      clearTimeout(hideTimer);
      box.textContent = "";
      box.appendChild(el("p", "Sam from our " + (dec.team || "support") + " team", "agent"));
      var m = el("p", "Hi! I am here now. What can I help you with?", "headline");
      m.id = "chat-open";
      box.appendChild(m);
      current = null;
    };
    no.onclick = function () { feedback("invite_declined", dec); hide(); };
    box.appendChild(yes); box.appendChild(no);
    d.body.appendChild(box);
    feedback("invite_shown", dec);
    hideTimer = setTimeout(function () { if (current === dec) { feedback("invite_expired", dec); hide(); } }, Math.max(0, dec.expires_at - Date.now()));
  }

  w.linger.session(function (s) {
    session = s;
    var es = new EventSource(s.endpoint + "/v1/invites?token=" + encodeURIComponent(s.token));
    es.addEventListener("invite", function (e) {
      var dec = JSON.parse(e.data);
      if (!dec.holdout && dec.expires_at > Date.now()) show(dec);
    });
    es.addEventListener("withdraw", function (e) {
      var dec = JSON.parse(e.data);
      if (current && current.id === dec.invite_id) hide();
    });
  });
})(window, document);
