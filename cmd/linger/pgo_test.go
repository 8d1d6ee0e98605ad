package main

import (
	"bytes"
	"compress/gzip"
	"debug/buildinfo"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The binary is built with default.pgo, the processor's CPU profile under
// `linger bench` (make pgo): guards the file against being dropped or
// replaced by a profile of something else, and the build against losing
// it (a `go build` with -pgo=off, or the file outside the package).
func TestBinaryBuiltWithTheProcessorProfile(t *testing.T) {
	info, err := buildinfo.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	pgo := ""
	for _, s := range info.Settings {
		if s.Key == "-pgo" {
			pgo = s.Value
		}
	}
	if filepath.Base(pgo) != "default.pgo" {
		t.Fatalf("the binary's build info has -pgo=%q, want cmd/linger/default.pgo", pgo)
	}

	f, err := os.Open("default.pgo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("default.pgo is not a gzipped pprof profile: %v", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	// A profile's string table names its functions: the hot path of the
	// partition engine must be among them, or PGO optimises something else.
	for _, fn := range []string{
		"github.com/lingerhq/linger/pipeline/partition.(*Processor).process",
		"github.com/lingerhq/linger/schemas.(*Decoder).Decode",
		"github.com/lingerhq/linger/scoring.(*Engine).Apply",
		"github.com/lingerhq/linger/scoring.DecodeState",
	} {
		if !bytes.Contains(raw, []byte(fn)) {
			t.Errorf("default.pgo has no samples in %s: regenerate it with make pgo", strings.TrimPrefix(fn, "github.com/lingerhq/linger/"))
		}
	}
}
