package partition

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/lingerhq/linger/schemas"
)

// hesitation is a session that is invited at 100 s (idle at checkout with
// a full cart), in the v1 wire format.
func hesitation(session string, t0 int64) []string {
	ev := func(at int64, body string) string {
		return fmt.Sprintf(`{"v":1,"session":%q,"visitor":"v-%s","site":"shop","ts":%d,%s}`, session, session, t0+at*1000, body)
	}
	return []string{
		ev(0, `"type":"page_view","page":{"url":"/p/desk","kind":"product"}`),
		ev(5, `"type":"cart","action":"add","value":49900,"items":1,"page":{"url":"/p/desk","kind":"product"}`),
		ev(10, `"type":"page_view","page":{"url":"/checkout/payment","kind":"checkout"}`),
		ev(11, `"type":"checkout","step":2,"page":{"url":"/checkout/payment","kind":"checkout"}`),
		ev(100, `"type":"idle","ms":89000,"page":{"url":"/checkout/payment","kind":"checkout"}`),
	}
}

// sessionOf returns the session id of a record value, its key.
func sessionOf(value string) []byte {
	rest := strings.SplitN(value, `"session":"`, 2)[1]
	return []byte(rest[:strings.IndexByte(rest, '"')])
}

// TestFeedback: a purchase soon after an invite withdraws it, unless the
// front-end reported it shown; chat_started counts as the visitor opening
// chat; feedback of an unknown session changes nothing; bad feedback goes
// to the DLQ marked as feedback.
func TestFeedback(t *testing.T) {
	const t0 = 1_767_225_600_000
	purchase := func(s string) string {
		return fmt.Sprintf(`{"v":1,"type":"purchase","session":%q,"ts":%d,"value":49900,"items":1,"page":{"url":"/thanks","kind":"checkout"}}`, s, t0+120_000)
	}
	feedback := func(typ, s string, at int64) string {
		return fmt.Sprintf(`{"v":1,"type":%q,"invite_id":"%s/1","session":%q,"site":"shop","ts":%d}`, typ, s, s, t0+at*1000)
	}
	for _, c := range []struct {
		name     string
		feedback []string // after the invite, before the purchase
		want     string   // the actions decided, in order
	}{
		{"not shown: withdrawn", nil, "invite withdraw"},
		{"shown: stays", []string{feedback("invite_shown", "s-f", 101)}, "invite"},
		{"another session's feedback", []string{feedback("invite_shown", "s-other", 101)}, "invite withdraw"},
		// An answer implies the invite was shown: a chat started on it
		// is not taken back, nor is an accepted or declined one.
		{"chat started before the purchase", []string{feedback("chat_started", "s-f", 101)}, "invite"},
		{"accepted", []string{feedback("invite_accepted", "s-f", 101)}, "invite"},
		{"declined", []string{feedback("invite_declined", "s-f", 101)}, "invite"},
		{"expired: withdrawn", []string{feedback("invite_expired", "s-f", 101)}, "invite withdraw"},
		{"shown, about another invite of the session", []string{strings.Replace(feedback("invite_shown", "s-f", 101), "s-f/1", "s-f/7", 1)}, "invite withdraw"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := New(0, Config{Epoch: 1, Store: NewStore(0), Now: fixedClock})
			var got []string
			batch := func(events, feedback []string) {
				p.Begin()
				for i, f := range feedback {
					p.Feedback(sessionOf(f), []byte(f), int64(i))
				}
				for i, e := range events {
					p.Process(sessionOf(e), []byte(e), int64(i))
				}
				out := p.End()
				if len(out.Rejected()) > 0 {
					t.Fatalf("rejected: %+v", out.Rejected())
				}
				for i := range out.Decisions() {
					_, v := out.Decision(i)
					d, err := schemas.ParseDecision(v)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, d.Action.String())
				}
				p.Commit()
			}
			batch(hesitation("s-f", t0), nil)
			batch(nil, c.feedback)
			batch([]string{purchase("s-f")}, nil)
			if s := strings.Join(got, " "); s != c.want {
				t.Errorf("decisions %q, want %q", s, c.want)
			}
		})
	}

	p := New(0, Config{Epoch: 1, Store: NewStore(0), Now: fixedClock})
	p.Begin()
	p.Feedback([]byte("s-x"), []byte(`{"v":1,"type":"invite_shown","session":"s-x"}`), 7)
	p.Feedback([]byte("s-x"), []byte(`{"v":1,"type":"invite_hovered","invite_id":"s-x/1","session":"s-x","ts":1}`), 8)
	out := p.End()
	if rj := out.Rejected(); len(rj) != 1 || !rj[0].Feedback || rj[0].Offset != 7 {
		t.Fatalf("rejected %+v, want the record at offset 7, marked as feedback", rj)
	}
	if n := p.Commit().Feedback[schemas.FeedbackUnknown]; n != 1 {
		t.Errorf("unknown feedback types counted %d, want 1", n)
	}
}

// TestForgedAndRepeatedFeedback: feedback naming an invite the session was
// never sent is ignored and counted, as is a second record of a type for
// the same invite; a forged chat_started does not open chat (which would
// keep the session from being invited), and repeats cannot inflate the
// acceptance counts.
func TestForgedAndRepeatedFeedback(t *testing.T) {
	const t0 = 1_767_225_600_000
	fb := func(typ, id string, at int64) string {
		return fmt.Sprintf(`{"v":1,"type":%q,"invite_id":%q,"session":"s-f","site":"shop","ts":%d}`, typ, id, t0+at*1000)
	}
	p := New(0, Config{Epoch: 1, Store: NewStore(0), Now: fixedClock})
	run := func(events, feedback []string) *Counts {
		p.Begin()
		for i, f := range feedback {
			p.Feedback(sessionOf(f), []byte(f), int64(i))
		}
		for i, e := range events {
			p.Process(sessionOf(e), []byte(e), int64(i))
		}
		p.End()
		return p.Commit()
	}
	// Before any invite: a forged chat_started must not open chat.
	evs := hesitation("s-f", t0)
	run(evs[:4], nil)
	run(nil, []string{fb("chat_started", "s-f/1", 50)})
	run(evs[4:], nil)
	sl := p.hot.get(xxhash.Sum64String("s-f"))
	if sl == nil || sl.st.Invites != 1 {
		t.Fatalf("the forged chat_started kept the session from its invite: %+v", sl)
	}
	c := run(nil, []string{
		fb("invite_accepted", "s-f/1", 101),
		fb("invite_accepted", "s-f/1", 102), // again
		fb("invite_accepted", "s-f/9", 103), // never sent
		fb("invite_accepted", "s-g/1", 104), // another session's
	})
	if c.FeedbackRepeat != 1 || c.FeedbackForeign != 2 {
		t.Errorf("repeat %d, foreign %d; want 1 and 2", c.FeedbackRepeat, c.FeedbackForeign)
	}
	if p.Totals().FeedbackForeign != 3 {
		t.Errorf("foreign feedback in all %d, want 3 (the early chat_started too)", p.Totals().FeedbackForeign)
	}
	var accepted uint64
	for _, row := range c.Teams.Rows() {
		accepted += row.Accepted
	}
	if accepted != 1 {
		t.Errorf("%d acceptances counted, want 1", accepted)
	}
}

// TestRestoreSkipsCorruptRecords: changelog records that do not decode (a
// session's state, the partition record, its budget) are counted and
// skipped: a restore that failed on them for good would leave the
// partition unserved.
func TestRestoreSkipsCorruptRecords(t *testing.T) {
	p := New(0, Config{Epoch: 1, Store: NewStore(0), Now: fixedClock})
	corrupt := 0
	for _, rec := range []struct{ k, v string }{
		{"s-bad", "\xff not a state"},
		{"", "\x09"},                     // a partition record of an unknown version
		{"", "\x02\x80\x80\x01\xff\xff"}, // version 2 with a budget that does not decode
	} {
		// An error says the record was skipped, for the caller to count.
		if err := p.Restore([]byte(rec.k), []byte(rec.v)); err != nil {
			corrupt++
		}
	}
	p.FinishRestore()
	if n := corrupt; n != 3 {
		t.Errorf("corrupt records counted %v, want 3", n)
	}
	if _, found := p.store.get(nil, p.storeKey(nil, xxhash.Sum64String("s-bad"))); found {
		t.Error("the corrupt state was loaded into the cache")
	}
}
