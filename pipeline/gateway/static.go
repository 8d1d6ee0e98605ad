package gateway

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"time"
)

// web holds the tracker (web/linger.js) and the demo shop (web/shop: a
// layout, its pages, and their scripts and style).
//
//go:embed web
var web embed.FS

// Tracker returns linger.js as served.
func Tracker() []byte {
	b, err := web.ReadFile("web/linger.js")
	if err != nil {
		panic("BUG: linger.js is not embedded: " + err.Error())
	}
	return b
}

var (
	tracker     = Tracker()
	trackerETag = func() string { h := sha256.Sum256(tracker); return `"` + hex.EncodeToString(h[:8]) + `"` }()
)

// serveTracker serves linger.js to any site: it is public, cached for five
// minutes, and revalidated by its ETag.
func serveTracker(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("ETag", trackerETag)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	http.ServeContent(w, r, "linger.js", time.Time{}, bytes.NewReader(tracker))
}

// shopCSP allows the shop's own scripts, styles and requests only: no
// inline script, so nothing injected into a page could run.
const shopCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// shopPages renders the shop's pages (web/shop/pages, each in
// web/shop/layout.html) once, by path: "/cart.html", and "/" for the home
// page.
func shopPages() map[string][]byte {
	names, err := fs.Glob(web, "web/shop/pages/*.html")
	if err != nil || len(names) == 0 {
		panic(fmt.Sprintf("BUG: the shop's pages are not embedded (%v)", err))
	}
	pages := map[string][]byte{}
	for _, name := range names {
		t := template.Must(template.ParseFS(web, "web/shop/layout.html", name))
		var b bytes.Buffer
		if err := t.ExecuteTemplate(&b, "layout", nil); err != nil {
			panic("BUG: shop page " + name + ": " + err.Error())
		}
		pages["/"+path.Base(name)] = b.Bytes()
	}
	pages["/"] = pages["/index.html"]
	return pages
}

// shopHandler serves the demo shop: its pages, and its scripts and style
// (web/shop/assets) at the root.
func shopHandler() http.Handler {
	pages := shopPages()
	sub, err := fs.Sub(web, "web/shop/assets")
	if err != nil {
		panic("BUG: the shop is not embedded: " + err.Error())
	}
	assets := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", shopCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-cache")
		if page, ok := pages[r.URL.Path]; ok {
			h.Set("Content-Type", "text/html; charset=utf-8")
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(page))
			return
		}
		assets.ServeHTTP(w, r)
	})
}
