package schemas

import (
	"fmt"

	"github.com/valyala/fastjson"
)

// The helpers in this file read decisions with fastjson: ParseDecision is
// for consumers, off the hot path, so a general parser serves better than a
// hand-written one. Events are read by the scanner in scan.go.

// wrongTypeV is wrongType for a fastjson value.
func wrongTypeV(field, want string, v *fastjson.Value) error {
	return wrongType(field, want, v.Type().String())
}

// stringOf returns v's string bytes; max < 0 means unbounded.
func stringOf(v *fastjson.Value, field string, max int) ([]byte, error) {
	if v.Type() != fastjson.TypeString {
		return nil, wrongTypeV(field, "a string", v)
	}
	b, _ := v.StringBytes()
	if max >= 0 && len(b) > max {
		return nil, invalid(field, fmt.Sprintf("%d bytes, the limit is %d", len(b), max))
	}
	return b, nil
}

// numReader reads JSON numbers from their text, which it keeps in a buffer
// it reuses (fastjson hands the text out only through MarshalTo).
type numReader struct{ buf []byte }

func (r *numReader) intOf(v *fastjson.Value, field string) (int64, error) {
	if v.Type() != fastjson.TypeNumber {
		return 0, wrongTypeV(field, "an integer", v)
	}
	r.buf = v.MarshalTo(r.buf[:0])
	return intText(r.buf, field)
}

func (r *numReader) floatIn(v *fastjson.Value, field string, lo, hi float64) (float64, error) {
	if v.Type() != fastjson.TypeNumber {
		return 0, wrongTypeV(field, "a number", v)
	}
	r.buf = v.MarshalTo(r.buf[:0])
	return floatInText(r.buf, field, lo, hi)
}

// pageOf reads a page object into pg.
func pageOf(p *fastjson.Value, pg *Page) error {
	obj, err := p.Object()
	if err != nil {
		return wrongTypeV("page", "an object", p)
	}
	url, kind := lookup(obj, "url"), lookup(obj, "kind")
	if url == nil {
		return missing("page.url")
	}
	if pg.URL, err = stringOf(url, "page.url", MaxURLBytes); err != nil {
		return err
	}
	if pg.Kind, err = enumOf[PageKind](kind, "page.kind", kindEnum, true); err != nil {
		return err
	}
	return nil
}

// lookup returns the value of key in obj, the last one if the key is
// repeated: encoding/json and JavaScript's JSON.parse keep the last, so a
// JSON Schema validator sees that one (obj.Get returns the first).
func lookup(obj *fastjson.Object, key string) *fastjson.Value {
	var last *fastjson.Value
	obj.Visit(func(k []byte, v *fastjson.Value) {
		if string(k) == key {
			last = v
		}
	})
	return last
}

// enumOf returns the index of v's string in names. An absent v is an error
// when required, else the zero value.
func enumOf[E ~uint8](v *fastjson.Value, field string, names *enum, required bool) (E, error) {
	if v == nil {
		if required {
			return 0, missing(field)
		}
		return 0, nil
	}
	b, err := stringOf(v, field, -1)
	if err != nil {
		return 0, err
	}
	return enumByName[E](b, field, names)
}
