package bench

import (
	"fmt"

	"github.com/lingerhq/linger/schemas"
)

func ExampleSimulator_Session() {
	sim, err := NewSimulator(Config{Seed: 1, Mix: Mix{Hesitator: 1}})
	if err != nil {
		panic(err)
	}
	s := sim.Session(0)
	fmt.Println(s.Persona, string(s.ID), string(s.Visitor))
	fmt.Printf("%s\n", s.AppendEvent(nil, 0))
	// Output:
	// hesitator s-1-0 v-1-0
	// {"v":1,"type":"page_view","session":"s-1-0","visitor":"v-1-0","site":"demo-shop","ts":1767225600000,"page":{"url":"/p/monitor-arm","kind":"product"},"ref":"https://www.instagram.com/"}
}

func ExampleStream() {
	sim, err := NewSimulator(Config{Seed: 1, Rate: 2})
	if err != nil {
		panic(err)
	}
	st := sim.Stream(0) // for ever: stop when you have enough
	var rec Record
	var ev schemas.Event
	var dec schemas.Decoder
	for range 6 {
		st.NextRecord(&rec)
		if err := dec.Decode(rec.Key, rec.Value, 0, &ev); err != nil {
			panic(err)
		}
		fmt.Println(rec.TS-sim.Config().StartMs, string(rec.Key), rec.Persona, ev.Type, string(ev.Page.URL))
	}
	// Output:
	// 0 s-1-0 browser page_view /c/home-office
	// 146 s-1-1 browser page_view /search?q=boots
	// 203 s-1-2 buyer page_view /p/webcam
	// 1519 s-1-3 buyer page_view /p/rain-boots
	// 1660 s-1-4 abandoner page_view /p/kettle
	// 2016 s-1-1 browser mouse /search?q=boots
}
