package bench

import (
	"testing"

	"github.com/lingerhq/linger/schemas"
)

func TestScratch(t *testing.T) {
	sim := newSim(t, Config{Seed: 9})
	t.Log(sim.MeanEvents(20000), sim.MeanEvents(2000))
	maxd := int64(0)
	first0 := 0
	for i := range 20000 {
		s := sim.Session(i)
		maxd = max(maxd, s.TS(s.Len()-1)-s.TS(0))
		if s.TS(0) != s.Start {
			first0++
		}
	}
	t.Log(maxd, MaxSessionMs, first0)
	var ev schemas.Event
	_ = ev
}
