/* The demo shop: a catalogue, a cart in localStorage, a consent banner
   that lets linger.js start, and a checkout form that validates. Every
   text is set with textContent: nothing is parsed as HTML. */
(function (w, d) {
  "use strict";
  var CATALOGUE = [
    { id: "oak-desk", name: "Oak desk lamp", price: 12900, color: "oak", desc: "Solid oak, linen shade, warm 2700 K bulb." },
    { id: "linen-floor", name: "Linen floor lamp", price: 24900, color: "linen", desc: "Tall, dimmable, with a hand-sewn linen shade." },
    { id: "brass-reading", name: "Brass reading lamp", price: 17900, color: "brass", desc: "An adjustable arm and a focused, glare-free beam." }
  ];
  function $(id) { return d.getElementById(id); }
  function money(c) { return "€" + (c / 100).toFixed(2); }
  function byId(id) { for (var i = 0; i < CATALOGUE.length; i++) if (CATALOGUE[i].id === id) return CATALOGUE[i]; return null; }
  function el(tag, text, cls) { var e = d.createElement(tag); if (text) e.textContent = text; if (cls) e.className = cls; return e; }
  function cart() { try { return JSON.parse(localStorage.getItem("shop.cart")) || []; } catch (e) { return []; } }
  function saveCart(c) { localStorage.setItem("shop.cart", JSON.stringify(c)); count(); }
  function total(c) { return c.reduce(function (s, l) { var p = byId(l.id); return s + (p ? p.price * l.qty : 0); }, 0); }
  function count() { var n = cart().reduce(function (s, l) { return s + l.qty; }, 0); if ($("cart-count")) $("cart-count").textContent = n; }
  var tracker = w.linger || { cart: function () {}, checkout: function () {}, purchase: function () {}, consent: function () {} };

  // Consent: linger records nothing until the visitor allows it here.
  function consent() {
    var c = localStorage.getItem("shop.consent");
    if (c === "yes") return tracker.consent(true);
    if (c === "no") return;
    var b = el("div", null, "consent");
    b.id = "consent";
    b.appendChild(el("p", "This shop uses linger to notice when you seem stuck, so someone can offer help. It records clicks, pages and which form field you are on, never what you type."));
    var yes = el("button", "Allow", "button"), no = el("button", "No thanks", "button secondary");
    yes.type = no.type = "button";
    yes.id = "consent-allow";
    no.id = "consent-deny";
    yes.onclick = function () { localStorage.setItem("shop.consent", "yes"); b.remove(); tracker.consent(true); };
    no.onclick = function () { localStorage.setItem("shop.consent", "no"); b.remove(); };
    b.appendChild(yes); b.appendChild(no);
    // At the top of the page, in its flow: it pushes the page down rather
    // than covering a form the visitor is filling in.
    d.body.insertBefore(b, d.body.firstChild);
  }

  function category() {
    var ul = $("products");
    CATALOGUE.forEach(function (p) {
      var li = el("li"), a = el("a", null, "card");
      a.href = "/product.html?id=" + encodeURIComponent(p.id);
      a.id = "product-" + p.id;
      a.appendChild(el("div", null, "swatch " + p.color));
      a.appendChild(el("h2", p.name));
      a.appendChild(el("p", money(p.price), "price"));
      li.appendChild(a); ul.appendChild(li);
    });
  }

  function product() {
    var p = byId(new URLSearchParams(location.search).get("id")) || CATALOGUE[0];
    $("product-name").textContent = p.name;
    $("product-desc").textContent = p.desc;
    $("product-price").textContent = money(p.price);
    $("product-swatch").className = "swatch big " + p.color;
    $("add-to-cart").onclick = function () {
      var c = cart(), line = c.filter(function (l) { return l.id === p.id; })[0];
      if (line) line.qty++; else c.push({ id: p.id, qty: 1 });
      saveCart(c);
      tracker.cart("add", p.price, 1);
      $("added").hidden = false;
    };
  }

  function cartPage() {
    var c = cart(), body = $("cart-lines");
    c.forEach(function (l) {
      var p = byId(l.id);
      if (!p) return;
      var tr = el("tr");
      tr.appendChild(el("td", p.name));
      tr.appendChild(el("td", "× " + l.qty));
      tr.appendChild(el("td", money(p.price * l.qty)));
      var rm = el("button", "Remove", "link");
      rm.type = "button";
      rm.onclick = function () {
        saveCart(cart().filter(function (x) { return x.id !== l.id; }));
        tracker.cart("remove", p.price * l.qty, l.qty);
        tr.remove(); $("cart-total").textContent = money(total(cart()));
      };
      var td = el("td"); td.appendChild(rm); tr.appendChild(td);
      body.appendChild(tr);
    });
    $("cart-total").textContent = money(total(c));
    $("cart-empty").hidden = c.length > 0;
    $("to-checkout").hidden = c.length === 0;
  }

  // luhn reports whether digits pass the card number checksum.
  function luhn(digits) {
    var sum = 0;
    for (var i = 0; i < digits.length; i++) {
      var n = +digits[digits.length - 1 - i];
      if (i % 2 === 1) { n *= 2; if (n > 9) n -= 9; }
      sum += n;
    }
    return digits.length >= 13 && digits.length <= 19 && sum % 10 === 0;
  }

  function checkout() {
    var form = $("checkout"), c = cart();
    $("checkout-total").textContent = money(total(c));
    tracker.checkout(1);
    var card = $("card-number"), msg = $("card-number-error"), started = false;
    form.addEventListener("focusin", function () { if (!started) { started = true; tracker.checkout(2); } });
    function checkCard() {
      var digits = card.value.replace(/[\s-]/g, "");
      var problem = "";
      if (!/^\d*$/.test(digits)) problem = "Use digits only.";
      else if (!luhn(digits)) problem = "This card number is not valid: check the digits.";
      card.setCustomValidity(problem);
      msg.textContent = problem; // its room is kept: nothing moves under the pointer
      return !problem;
    }
    card.addEventListener("input", function () { card.removeAttribute("aria-invalid"); msg.textContent = ""; card.setCustomValidity(""); });
    card.addEventListener("change", function () { if (card.value && !checkCard()) card.setAttribute("aria-invalid", "true"); });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      checkCard();
      Array.prototype.forEach.call(form.elements, function (f) {
        if (f.willValidate) { if (f.checkValidity()) f.removeAttribute("aria-invalid"); else f.setAttribute("aria-invalid", "true"); }
      });
      if (!form.reportValidity()) return;
      tracker.checkout(3);
      tracker.purchase(total(cart()), cart().reduce(function (s, l) { return s + l.qty; }, 0) || 1);
      saveCart([]);
      setTimeout(function () { location.href = "/thanks.html"; }, 300);
    });
  }

  count();
  consent();
  var kind = d.body.getAttribute("data-linger-kind");
  if (kind === "category") category();
  if (kind === "product") product();
  if (kind === "cart") cartPage();
  if (kind === "checkout") checkout();
})(window, document);
