package schemas

import (
	"slices"
	"testing"
)

// Every enum finds each of its names, and for anything else (the zero
// value's name, a name cut short or run on, a name with any one byte
// changed, a name of another enum) says what a search down the list says.
func TestEnumIndexAgreesWithTheList(t *testing.T) {
	enums := []*enum{typeEnum, kindEnum, visibilityEnum, scrollEnum, formEnum, cartEnum, chatEnum, actionEnum, reasonEnum, triggerEnum, feedbackEnum}
	var all []string
	for _, e := range enums {
		all = append(all, e.names...)
	}
	for _, e := range enums {
		want := func(b []byte) uint8 {
			if i := slices.Index(e.names, string(b)); i > 0 {
				return uint8(i)
			}
			return 0
		}
		check := func(b []byte) {
			t.Helper()
			if got, w := e.index(b), want(b); got != w {
				t.Fatalf("enum %q: index(%q) = %d, want %d", e.names, b, got, w)
			}
		}
		tries := []string{"", "x", e.names[0]}
		tries = append(tries, all...)
		for _, name := range e.names {
			tries = append(tries, name+"s", name+"_", " "+name)
			if len(name) > 0 {
				tries = append(tries, name[:len(name)-1], name[1:])
			}
		}
		for _, s := range tries {
			check([]byte(s))
		}
		for i, name := range e.names {
			if i > 0 && e.index([]byte(name)) != uint8(i) {
				t.Fatalf("enum %q: %q not found at %d", e.names, name, i)
			}
			for p := range len(name) {
				for c := range 256 {
					b := []byte(name)
					b[p] = byte(c)
					check(b)
				}
			}
		}
	}
}
