package replay

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lingerhq/linger/schemas"
)

// Record is one input record: as on visitor-events, keyed by session id,
// with its event time for ordering (0 when the value has none).
type Record struct {
	Key, Value []byte
	TS         int64
	// feedback marks a chat-feedback record (its type is a feedback
	// type): the replay measures outcomes with it, and does not process
	// it as an event.
	feedback bool
	// capacity marks a chat-capacity record (type "capacity", keyed by
	// site/team): the replay's capacity table holds it, by event time, as
	// a live replica's does.
	capacity bool
}

// Formats lists the input formats Read understands.
var Formats = []string{"jsonl", "rees46"}

// Read reads a whole input in the named format and returns its records in
// event-time order (stable: records of equal time keep their input order).
func Read(r io.Reader, format string) ([]Record, error) {
	var recs []Record
	var err error
	switch format {
	case "jsonl":
		recs, err = ReadJSONL(r)
	case "rees46":
		recs, err = readREES46(r)
	default:
		return nil, fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(Formats, ", "))
	}
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(recs, func(a, b Record) int {
		switch {
		case a.TS < b.TS:
			return -1
		case a.TS > b.TS:
			return 1
		}
		return 0
	})
	return recs, nil
}

// ReadJSONL reads v1 events, one JSON object per line, as on the topic. The
// record key is the event's session; a line that is not a valid event is
// kept as it is (keyed by its session if it has one), so the replay counts
// it as run would send it to the DLQ. Lines of v1 feedback (chat-feedback
// records, told apart by their type: invite_shown, ...) may be mixed in:
// the replay measures outcomes with them; and lines of v1 capacity
// (chat-capacity records, type "capacity"), which it decides with.
func ReadJSONL(r io.Reader) ([]Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), schemas.MaxEventBytes*4)
	var recs []Record
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var head struct {
			Type    string          `json:"type"`
			Session string          `json:"session"`
			Site    string          `json:"site"`
			Team    string          `json:"team"`
			TS      json.RawMessage `json:"ts"`
		}
		_ = json.Unmarshal(line, &head) // a bad line is the processor's to judge
		ts, _ := strconv.ParseInt(string(head.TS), 10, 64)
		rec := Record{Key: []byte(head.Session), Value: append([]byte(nil), line...), TS: ts, feedback: feedbackTypes[head.Type]}
		if head.Type == schemas.CapacityType {
			rec.Key, rec.capacity = schemas.AppendCapacityKey(nil, []byte(head.Site), []byte(head.Team)), true
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("jsonl: line %d is longer than %d bytes", len(recs)+1, schemas.MaxEventBytes*4)
		}
		return nil, fmt.Errorf("jsonl: %w", err)
	}
	return recs, nil
}

// feedbackTypes are the type values of feedback records.
var feedbackTypes = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range schemas.FeedbackTypes() {
		if t != schemas.FeedbackUnknown.String() {
			m[t] = true
		}
	}
	return m
}()

// readREES46 reads the REES46 e-commerce CSV ("eCommerce behavior data from
// multi category store", Kaggle): view rows become product page views,
// cart rows cart additions (from the product page), remove_from_cart rows
// cart removals, purchase rows purchases; the session is user_session, the
// visitor user_id, the site "rees46", prices become minor units. Rows that
// lack a field (the head file ends with a cut row) are skipped.
func readREES46(r io.Reader) ([]Record, error) {
	return readCSV(r, []string{"event_time", "event_type", "product_id", "price", "user_id", "user_session"}, rees46Event)
}

func rees46Event(row func(string) string) (schemas.Event, bool, error) {
	t, err := time.Parse("2006-01-02 15:04:05 MST", row("event_time"))
	if err != nil {
		return schemas.Event{}, false, fmt.Errorf("event_time: %w", err)
	}
	price, err := strconv.ParseFloat(row("price"), 64)
	if err != nil || price < 0 || math.IsInf(price, 0) {
		return schemas.Event{}, false, fmt.Errorf("price %q: not a price", row("price"))
	}
	ev := schemas.Event{
		Session: []byte(row("user_session")),
		Visitor: []byte(row("user_id")),
		Site:    []byte("rees46"),
		TS:      t.UnixMilli(),
		Page:    schemas.Page{URL: []byte("/p/" + row("product_id")), Kind: schemas.KindProduct},
	}
	value := int64(math.Round(price * 100))
	switch row("event_type") {
	case "view":
		ev.Type = schemas.TypePageView
	case "cart":
		ev.Type, ev.CartAction, ev.Value, ev.Items = schemas.TypeCart, schemas.CartAdd, value, 1
	case "remove_from_cart":
		ev.Type, ev.CartAction, ev.Value, ev.Items = schemas.TypeCart, schemas.CartRemove, value, 1
	case "purchase":
		ev.Type, ev.Value, ev.Items = schemas.TypePurchase, value, 1
		ev.Page = schemas.Page{}
	default:
		return ev, false, nil // a type the adapter does not map
	}
	return ev, len(ev.Session) > 0, nil
}

// readCSV is the common part of CSV adapters: it finds the named columns in
// the header, and turns each complete row into an event with toEvent, which
// says whether to keep it. Another CSV dataset needs only its toEvent.
func readCSV(r io.Reader, columns []string, toEvent func(row func(string) string) (schemas.Event, bool, error)) ([]Record, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // rows of the wrong width are skipped, not fatal
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("csv header: %w", err)
	}
	index := map[string]int{}
	for i, h := range header {
		index[strings.TrimSpace(h)] = i
	}
	for _, c := range columns {
		if _, ok := index[c]; !ok {
			return nil, fmt.Errorf("csv: no column %q in the header %v", c, header)
		}
	}
	var recs []Record
	var buf []byte
	for line := 2; ; line++ {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return recs, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) && pe.Err == csv.ErrFieldCount {
				continue
			}
			return nil, fmt.Errorf("csv line %d: %w", line, err)
		}
		if len(row) != len(header) {
			continue
		}
		ev, keep, err := toEvent(func(c string) string { return row[index[c]] })
		if err != nil {
			return nil, fmt.Errorf("csv line %d: %w", line, err)
		}
		if !keep {
			continue
		}
		buf = schemas.AppendEvent(buf[:0], &ev)
		recs = append(recs, Record{Key: append([]byte(nil), ev.Session...), Value: append([]byte(nil), buf...), TS: ev.TS})
	}
}
