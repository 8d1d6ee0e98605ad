package schemas_test

import (
	"errors"
	"fmt"

	"github.com/lingerhq/linger/schemas"
)

func ExampleDecoder_Decode() {
	var d schemas.Decoder // one per partition worker, reused
	var ev schemas.Event
	const now = 1732530600000 // the processor's clock, Unix ms

	records := []struct{ key, value string }{
		{"s-7f3a9c21e4", `{"v":1,"type":"form","session":"s-7f3a9c21e4","ts":1732530120000,"field":"email","action":"error","page":{"url":"/checkout/shipping","kind":"checkout"}}`},
		{"s-7f3a9c21e4", `{"v":1,"type":"video_play","session":"s-7f3a9c21e4","ts":1732530125000}`},
		{"s-7f3a9c21e4", `{"v":1,"type":"scroll","session":"s-7f3a9c21e4","ts":1732530130000,"depth":1.5}`},
	}
	for _, r := range records {
		err := d.Decode([]byte(r.key), []byte(r.value), now, &ev)
		var de *schemas.DecodeError
		switch {
		case err == nil:
			fmt.Printf("%s on %s page: field %s\n", ev.Type, ev.Page.Kind, ev.Field)
		case errors.Is(err, schemas.ErrUnknownType):
			fmt.Println("skipped: a type this release does not know")
		case errors.As(err, &de):
			fmt.Printf("to the DLQ, reason %s, field %s\n", de.Problem, de.Field)
		}
	}
	// Output:
	// form on checkout page: field email
	// skipped: a type this release does not know
	// to the DLQ, reason invalid_value, field depth
}

func ExampleAppendDecision() {
	d := schemas.Decision{
		ID:      schemas.AppendDecisionID(nil, []byte("s-7f3a9c21e4"), 3),
		Session: []byte("s-7f3a9c21e4"),
		Action:  schemas.ActionInvite,
		Reason:  schemas.ReasonConfusion,
		Score:   0.77021,
		Scores:  schemas.Scores{Abandonment: 0.33, Confusion: 0.77021},
		Signals: []schemas.Signal{{Name: "field_errors", Value: 3, Weight: 0.61, Detail: []byte("email")}},
		Page:    schemas.Page{URL: []byte("/checkout/shipping"), Kind: schemas.KindCheckout},
		EventTS: 1732530150000, DecidedAt: 1732530150012, ExpiresAt: 1732530210012,
		Model: []byte("m1-1a2b3c4d"),
		Team:  []byte("service"),
	}
	fmt.Println(string(schemas.AppendDecision(nil, &d)))
	// Output:
	// {"v":1,"id":"s-7f3a9c21e4/3","session":"s-7f3a9c21e4","action":"invite","reason":"confusion","score":0.7702,"scores":{"abandonment":0.33,"confusion":0.7702},"signals":[{"name":"field_errors","value":3,"weight":0.61,"detail":"email"}],"page":{"url":"/checkout/shipping","kind":"checkout"},"event_ts":1732530150000,"decided_at":1732530150012,"expires_at":1732530210012,"model":"m1-1a2b3c4d","holdout":false,"team":"service"}
}

func ExampleCapacityDecoder_Decode() {
	var d schemas.CapacityDecoder // one per reader, reused
	var c schemas.Capacity
	key := []byte("shop-eu/sales") // site/team
	value := []byte(`{"v":1,"type":"capacity","site":"shop-eu","team":"sales","agents":4,"free_slots":3,"avg_handle_s":240,"ts":1732530000000}`)
	if err := d.Decode(key, value, 1732530600000, &c); err != nil {
		fmt.Println("to the DLQ, reason", schemas.ProblemOf(err))
		return
	}
	fmt.Printf("%s/%s: %d free of %d agents, %gs a chat, from %d\n", c.Site, c.Team, c.FreeSlots, c.Agents, c.AvgHandleS, c.TS)

	err := d.Decode([]byte("shop-eu/service"), value, 1732530600000, &c)
	fmt.Println("to the DLQ, reason", schemas.ProblemOf(err))
	// Output:
	// shop-eu/sales: 3 free of 4 agents, 240s a chat, from 1732530000000
	// to the DLQ, reason key_mismatch
}

func ExampleAppendFeedback() {
	f := schemas.Feedback{
		Type:     schemas.FeedbackAccepted,
		InviteID: []byte("s-7f3a9c21e4/1"),
		Session:  []byte("s-7f3a9c21e4"),
		Site:     []byte("shop-eu"),
		Team:     []byte("sales"),
		TS:       1732530049000,
	}
	b := schemas.AppendFeedback(nil, &f)
	fmt.Println(string(b))

	var d schemas.FeedbackDecoder
	var back schemas.Feedback
	err := d.Decode(f.Session, b, 0, &back)
	fmt.Println(err, back.Type, string(back.InviteID))
	// Output:
	// {"v":1,"type":"invite_accepted","invite_id":"s-7f3a9c21e4/1","session":"s-7f3a9c21e4","site":"shop-eu","team":"sales","ts":1732530049000}
	// <nil> invite_accepted s-7f3a9c21e4/1
}
