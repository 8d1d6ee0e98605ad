package schemas

import "testing"

// BenchmarkDecode decodes the valid golden events in turn: every type, the
// way a partition worker sees a mixed stream. Its bytes/s is the input
// rate one core can validate.
func BenchmarkDecode(b *testing.B) {
	mix := decodeMix(b)
	var size int64
	for _, r := range mix {
		size += int64(len(r.value))
	}
	var d Decoder
	var ev Event
	b.SetBytes(size / int64(len(mix)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r := mix[i%len(mix)]
		if err := d.Decode(r.key, r.value, testNowMs, &ev); err != nil && err != ErrUnknownType {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendDecision encodes an invite with three signals into a reused
// buffer, as the pipeline does for every decision it produces.
func BenchmarkAppendDecision(b *testing.B) {
	d := Decision{
		ID: []byte("s-7f3a9c21e4/3"), Session: []byte("s-7f3a9c21e4"), Visitor: []byte("v-0b12e4d8"), Site: []byte("shop-eu"),
		Action: ActionInvite, Reason: ReasonAbandonment, Score: 0.8123,
		Scores: Scores{Abandonment: 0.8123, Confusion: 0.2041},
		Signals: []Signal{
			{Name: "idle_in_checkout", Value: 45, Weight: 0.042},
			{Name: "exit_intent", Value: 1, Weight: 1.25},
			{Name: "cart_value", Value: 89.99, Weight: 0.008},
		},
		Page:    Page{URL: []byte("/checkout/shipping"), Kind: KindCheckout},
		EventTS: 1732530140000, DecidedAt: 1732530141000, ExpiresAt: 1732530201000,
		Model: []byte("m1-1a2b3c4d"), Team: []byte("sales"),
	}
	buf := AppendDecision(nil, &d)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendDecision(buf[:0], &d)
	}
}
