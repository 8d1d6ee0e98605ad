package replay

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressBar(t *testing.T) {
	if ProgressBar(&bytes.Buffer{}, "x") != nil {
		t.Fatal("a bar on something that is not a terminal")
	}
	var b bytes.Buffer
	now := time.Unix(0, 0)
	bar := progressBar(&b, "training", func() time.Time { return now })
	bar(5, 10)
	if got := b.String(); got != "\rtraining [###############...............]  50% 5/10" {
		t.Fatalf("bar %q", got)
	}
	bar(6, 10) // within 100 ms of the last: not drawn
	if strings.Contains(b.String(), "6/10") {
		t.Fatal("drawn twice within 100 ms")
	}
	now = now.Add(150 * time.Millisecond)
	bar(7, 10)
	bar(10, 10) // the end is always drawn, and ends the line
	if got := b.String(); !strings.Contains(got, "7/10") || !strings.HasSuffix(got, "] 100% 10/10\n") {
		t.Fatalf("bar %q", got)
	}
}
