// Package htmltest serves the tests of what linger shows in a browser: it
// checks the HTML pages linger writes (the bench, replay and report pages)
// and finds the headless browser the widget's and the demo's tests drive.
package htmltest

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// WellFormed fails t unless page is well formed (see Check), saying where
// it is not.
func WellFormed(t testing.TB, page string) {
	t.Helper()
	if err := Check(page); err != nil {
		t.Fatal(err)
	}
}

// Check reports whether page is one <html> element that parses as strict
// XML, with HTML's entities: the pages close every element (void ones too,
// as <meta/>) and quote every attribute, so a tag left open, a stray "<" or anything but
// space after </html> is an error that gives the line and column.
func Check(page string) error {
	d := xml.NewDecoder(strings.NewReader(page))
	d.Strict = true
	d.Entity = xml.HTMLEntity
	var root struct{ XMLName xml.Name }
	err := d.Decode(&root) // the whole <html> element, nesting checked
	for err == nil {
		var tok xml.Token
		if tok, err = d.Token(); err == nil {
			if text, ok := tok.(xml.CharData); !ok || len(bytes.TrimSpace(text)) > 0 {
				err = fmt.Errorf("%T after </html>", tok)
			}
		}
	}
	if !errors.Is(err, io.EOF) || root.XMLName.Local != "html" {
		line, col := d.InputPos()
		return fmt.Errorf("not well formed at %d:%d (root <%s>): %v", line, col, root.XMLName.Local, err)
	}
	return nil
}

// Chromium returns the Chromium binary ($LINGER_CHROMIUM, else the first of
// chromium, chromium-browser and google-chrome on PATH), or skips the test
// without one on a developer machine; CI sets LINGER_REQUIRE_CHROMIUM=1
// (.ci/run installs Debian's chromium), which makes a missing one a failure.
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("LINGER_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("LINGER_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("chromium is not installed and LINGER_REQUIRE_CHROMIUM=1")
	}
	t.Skip("chromium is not installed (apt-get install chromium); CI runs this test")
	return ""
}
