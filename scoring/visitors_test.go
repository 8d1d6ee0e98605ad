package scoring

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"testing"
)

const day = 24 * 3600_000

func TestVisitorCapsAllow(t *testing.T) {
	v := NewVisitorCaps(0)
	vis := []byte("v-1")
	if !v.Allow(vis, 1e12, 1, day) {
		t.Fatal("an unknown visitor is capped")
	}
	v.Record(vis, 1e12)
	for _, tc := range []struct {
		at      int64
		invites int
		want    bool
	}{
		{1e12 + 1000, 1, false},
		{1e12 + day - 1, 1, false},
		{1e12 + day, 1, true},
		// Another partition may decide an earlier moment later.
		{1e12 - 1000, 1, false},
		{1e12 - day, 1, true},
		{1e12 + 1000, 2, true},
	} {
		if got := v.Allow(vis, tc.at, tc.invites, day); got != tc.want {
			t.Errorf("Allow(at %+d ms, %d a day) = %v, want %v", tc.at-1e12, tc.invites, got, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { v.Allow(vis, 1e12, 1, day) }); n != 0 {
		t.Errorf("Allow allocates %v times", n)
	}
}

func TestVisitorCapsRecordKeepsTheLatest(t *testing.T) {
	v := NewVisitorCaps(0)
	vis := []byte("v-1")
	for i := range 3 * MaxCapInvites {
		v.Record(vis, int64(1000+i*10)) // in order
		v.Record(vis, int64(1000+i*10)) // twice: once
	}
	v.Record(vis, 5) // older than all kept: dropped
	e := v.index["v-1"]
	if len(e.times) != MaxCapInvites || e.times[0] != 1000+int64(3*MaxCapInvites-1)*10 || !slices.IsSortedFunc(e.times, func(a, b int64) int { return int(b - a) }) {
		t.Fatalf("times %v: want the newest %d, newest first", e.times, MaxCapInvites)
	}
}

func TestVisitorCapsBounded(t *testing.T) {
	v := NewVisitorCaps(3)
	for i, vis := range []string{"a", "b", "c"} {
		v.Record([]byte(vis), int64(1000+i))
	}
	v.Record([]byte("a"), 2000) // a is now the most recently written
	v.Record([]byte("d"), 3000) // drops b
	if v.Len() != 3 || v.Dropped() != 1 {
		t.Fatalf("Len %d, Dropped %d: want 3 and 1", v.Len(), v.Dropped())
	}
	if !v.Allow([]byte("b"), 1001, 1, day) || v.Allow([]byte("a"), 1001, 1, day) {
		t.Fatal("the least recently written visitor should be the one dropped")
	}
	if n := v.Prune(2500); n != 2 || v.Len() != 1 || v.Allow([]byte("d"), 3000, 1, day) {
		t.Fatalf("Prune(2500) forgot %d, left %d: want c and a gone, d kept", n, v.Len())
	}
}

func TestVisitorRecords(t *testing.T) {
	a, b := NewVisitorCaps(0), NewVisitorCaps(0)
	vis := []byte("v-7")
	if _, ok := a.AppendRecord(nil, vis); ok {
		t.Fatal("a record of an unknown visitor")
	}
	a.Record(vis, 1767225600000)
	a.Record(vis, 1767225600000-3600_000)
	rec, ok := a.AppendRecord([]byte("x"), vis)
	if !ok || rec[0] != 'x' {
		t.Fatal("AppendRecord must append")
	}
	// Another replica learns both invites; merging twice changes nothing.
	b.Record(vis, 1767225600000+60_000)
	for range 2 {
		if err := b.Merge(vis, rec[1:]); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := b.AppendRecord(nil, vis)
	var times [MaxCapInvites]int64
	n, err := decodeVisitorRecord(got, &times)
	if err != nil || !slices.Equal(times[:n], []int64{1767225660000, 1767225600000, 1767222000000}) {
		t.Fatalf("merged times %v (%v)", times[:n], err)
	}
	// A tombstone forgets the visitor.
	if err := b.Merge(vis, nil); err != nil || b.Len() != 0 {
		t.Fatalf("tombstone: %v, %d left", err, b.Len())
	}
	for _, bad := range [][]byte{{2, 1, 1}, {1}, {1, 2, 5}, {1, 1, 0}, {1, 2, 10, 20}, {1, 1, 5, 0}, {1, 0xff}} {
		if err := b.Merge(vis, bad); !errors.Is(err, ErrBadVisitorRecord) {
			t.Errorf("Merge(%x) = %v, want ErrBadVisitorRecord", bad, err)
		}
	}
}

// FuzzVisitorRecord: arbitrary bytes never panic, and what merges encodes
// to a record that merges to the same times.
func FuzzVisitorRecord(f *testing.F) {
	v := NewVisitorCaps(0)
	v.Record([]byte("v"), 1767225600000)
	v.Record([]byte("v"), 1767225500000)
	rec, _ := v.AppendRecord(nil, []byte("v"))
	f.Add(rec)
	f.Fuzz(func(t *testing.T, data []byte) {
		a := NewVisitorCaps(0)
		if a.Merge([]byte("v"), data) != nil || len(data) == 0 {
			return
		}
		enc, ok := a.AppendRecord(nil, []byte("v"))
		if !ok {
			t.Fatal("a merged record has no times")
		}
		b := NewVisitorCaps(0)
		if err := b.Merge([]byte("v"), enc); err != nil {
			t.Fatal(err)
		}
		if again, _ := b.AppendRecord(nil, []byte("v")); !bytes.Equal(again, enc) {
			t.Fatal("round trip changed the record")
		}
	})
}

func TestVisitorCapsConcurrent(t *testing.T) {
	v := NewVisitorCaps(64)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				vis := []byte(sid("v", (i*7+w)%100))
				if v.Allow(vis, int64(i), 1, 1000) {
					v.Record(vis, int64(i))
				}
				if rec, ok := v.AppendRecord(nil, vis); ok && i%3 == 0 {
					_ = v.Merge(vis, rec)
				}
			}
		}()
	}
	wg.Wait()
}

// TestFrequencyCap: at most one invite per visitor a day across sessions,
// the default.
func TestFrequencyCap(t *testing.T) {
	caps := NewVisitorCaps(0)
	r := newRig(t, "", WithVisitorCaps(caps))
	for _, tc := range []struct {
		session, visitor string
		start            int64
		want             Outcome
	}{
		{"s-1", "v-1", timelineBase, OutcomeInvite},
		{"s-2", "v-1", timelineBase + 3600_000, SuppressedFrequencyCap},
		{"s-3", "v-2", timelineBase + 3600_000, OutcomeInvite},
		{"s-4", "", timelineBase + 3600_000, OutcomeInvite}, // no visitor id: no cap
		{"s-5", "v-1", timelineBase + day, OutcomeInvite},
	} {
		if got, _ := r.apply(eager(tc.session, tc.visitor, "shop", tc.start)); got != tc.want {
			t.Errorf("%s of %q: %s, want %s", tc.session, tc.visitor, got, tc.want)
		}
	}

	// Two a day, per site.
	r = newRig(t, "sites: {shop: {frequency_cap: {invites: 2, per: 12h}}}", WithVisitorCaps(NewVisitorCaps(0)))
	var got []Outcome
	for i := range 3 {
		o, _ := r.apply(eager(sid("s-two", i), "v-9", "shop", timelineBase+int64(i)*3600_000))
		got = append(got, o)
	}
	if !slices.Equal(got, []Outcome{OutcomeInvite, OutcomeInvite, SuppressedFrequencyCap}) {
		t.Errorf("2 per 12h: %v", got)
	}

	// Off, or without a table: no cap.
	for _, r := range []*rig{newRig(t, "frequency_cap: {invites: 0}", WithVisitorCaps(NewVisitorCaps(0))), newRig(t, "")} {
		for i := range 2 {
			if o, _ := r.apply(eager(sid("s-off", i), "v-3", "shop", timelineBase+int64(i)*1000)); o != OutcomeInvite {
				t.Errorf("cap off, session %d: %s", i, o)
			}
		}
	}
}

// TestFrequencyCapAcrossReplicas: a replica learns of another's invite
// from the visitor's record on linger-visitors.
func TestFrequencyCapAcrossReplicas(t *testing.T) {
	capsA, capsB := NewVisitorCaps(0), NewVisitorCaps(0)
	a := newRig(t, "", WithVisitorCaps(capsA))
	b := newRig(t, "", WithVisitorCaps(capsB))
	if o, d := a.apply(eager("s-a", "v-1", "shop", timelineBase)); o != OutcomeInvite || string(d.Visitor) != "v-1" {
		t.Fatalf("replica A: %s", o)
	}
	rec, ok := capsA.AppendRecord(nil, []byte("v-1"))
	if !ok {
		t.Fatal("replica A recorded no invite of v-1")
	}
	// Before the record arrives, B does not know (the documented window).
	if o, _ := b.apply(eager("s-b1", "v-1", "shop", timelineBase+10_000)); o != OutcomeInvite {
		t.Fatalf("replica B before the record: %s", o)
	}
	if err := capsB.Merge([]byte("v-1"), rec); err != nil {
		t.Fatal(err)
	}
	if o, _ := b.apply(eager("s-b2", "v-1", "shop", timelineBase+60_000)); o != SuppressedFrequencyCap {
		t.Fatalf("replica B after the record: %s, want frequency_cap", o)
	}
}
