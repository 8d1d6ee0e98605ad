package htmltest

import "testing"

func TestCheck(t *testing.T) {
	good := []string{
		`<html><head><meta charset="utf-8"/><title>a &amp; b &mdash; c</title></head><body><p>x</p><br/></body></html>`,
		"<!DOCTYPE html>\n<html><body><svg><rect/></svg></body></html>\n",
	}
	for _, page := range good {
		if err := Check(page); err != nil {
			t.Errorf("%q: %v", page, err)
		}
	}
	bad := []string{
		`<html><body><div></body></html>`,            // a tag left open
		`<html><body>1 < 2</body></html>`,            // a stray "<"
		`<html><body><p class=x>y</p></body></html>`, // an unquoted attribute
		`<html><body></body></html><p>after</p>`,     // something after </html>
		`<div>not a page</div>`,                      // not an html root
		`<html><body><p>cut short`,                   // truncated
	}
	for _, page := range bad {
		if err := Check(page); err == nil {
			t.Errorf("%q passed", page)
		}
	}
}
