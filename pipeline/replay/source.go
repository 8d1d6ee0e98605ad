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
	// line is the record's line in the input (1-based; 0 when it came
	// from no file), to name it when it is rejected.
	line int
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

// Read reads a whole input in the named format ("" detects it from the
// content, as ReadInput does) and returns its records in event-time order
// (stable: records of equal time keep their input order).
func Read(r io.Reader, format string) ([]Record, error) {
	in, err := ReadInput(r, format)
	if err != nil {
		return nil, err
	}
	return in.Records, nil
}

// Input is a whole input, read: its records in event-time order, and the
// format they were read as.
type Input struct {
	Records []Record
	// Format is the format the input was read as; Detected says that it
	// was told from the content rather than given.
	Format   string
	Detected bool
	// looks is the format the content looks like ("" when none): the
	// hint when the format given fits the records badly.
	looks string
}

// ReadInput reads a whole input in the named format, or, when format is
// "", in the format DetectFormat tells from its first line. Its records
// come in event-time order (stable: records of equal time keep their input
// order). The UCI Online Shoppers CSV holds sessions, not events: it is
// refused, with where it can be used instead.
func ReadInput(r io.Reader, format string) (*Input, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(64 << 10) // a short input is all there, an error shows again on reading
	looks, detectErr := DetectFormat(head)
	in := &Input{Format: format, looks: looks}
	if format == "" {
		if detectErr != nil {
			return nil, detectErr
		}
		in.Format, in.Detected = looks, true
	}
	var err error
	switch in.Format {
	case "jsonl":
		in.Records, err = ReadJSONL(br)
	case "rees46":
		in.Records, err = readREES46(br)
	case FormatUCI:
		return nil, errUCIEvents
	default:
		return nil, fmt.Errorf("unknown format %q (want one of %s, or none to detect it from the content)", format, strings.Join(Formats, ", "))
	}
	if err != nil {
		if looks != "" && looks != in.Format {
			err = fmt.Errorf("%w\nthe content looks like %s: %s", err, looksLike(looks), formatHint(looks))
		}
		return nil, err
	}
	slices.SortStableFunc(in.Records, func(a, b Record) int {
		switch {
		case a.TS < b.TS:
			return -1
		case a.TS > b.TS:
			return 1
		}
		return 0
	})
	return in, nil
}

// FormatUCI names the UCI Online Shoppers CSV (ReadUCI): one aggregated
// row per session, which `linger train` evaluates and a replay cannot
// replay.
const FormatUCI = "uci-online-shoppers"

var errUCIEvents = errors.New("the input is the UCI Online Shoppers data: one aggregated row per session, " +
	"with no events to replay; `linger train --input FILE` evaluates it")

// DetectFormat tells an input's format from its first bytes: "jsonl" when
// the first line is a JSON object; "rees46" or "uci-online-shoppers" when
// it is the CSV header of one (by its column names, in any order). It
// reads the first line only, so head need not hold the whole input.
func DetectFormat(head []byte) (string, error) {
	head = bytes.TrimPrefix(head, []byte("\uFEFF")) // a BOM from spreadsheet exports
	line := head
	for len(line) > 0 {
		var rest []byte
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line, rest = line[:i], line[i+1:]
		}
		if len(bytes.TrimSpace(line)) > 0 {
			break
		}
		line = rest
	}
	line = bytes.TrimSpace(line)
	switch {
	case len(line) == 0:
		return "", errors.New("the input is empty")
	case line[0] == '{':
		return "jsonl", nil
	}
	cols, err := csv.NewReader(bytes.NewReader(line)).Read()
	if err == nil {
		has := map[string]bool{}
		for _, c := range cols {
			has[strings.TrimSpace(c)] = true
		}
		for _, f := range []struct {
			name    string
			columns []string
		}{{"rees46", rees46Columns}, {FormatUCI, uciColumns}} {
			all := true
			for _, c := range f.columns {
				all = all && has[c]
			}
			if all {
				return f.name, nil
			}
		}
	}
	return "", fmt.Errorf("cannot tell the input's format from its first line %s: it is not a JSON object (jsonl), "+
		"nor the CSV header of rees46 (%s) or %s (%s); give --format",
		excerpt(line, 60), strings.Join(rees46Columns, ","), FormatUCI, strings.Join(uciColumns[:4], ",")+",…")
}

// looksLike names a format for a person.
func looksLike(format string) string {
	switch format {
	case "jsonl":
		return "JSON lines (v1 events)"
	case "rees46":
		return "the REES46 events CSV"
	case FormatUCI:
		return "the UCI Online Shoppers CSV"
	}
	return format
}

// formatHint is the flag that reads an input of the format.
func formatHint(format string) string {
	if format == FormatUCI {
		return "it holds sessions, not events; `linger train` evaluates it"
	}
	return "give --format " + format + " (or leave --format out to detect it)"
}

// excerpt quotes at most n runes of b.
func excerpt(b []byte, n int) string {
	r := []rune(string(b))
	if len(r) > n {
		return strconv.Quote(string(r[:n])) + "…"
	}
	return strconv.Quote(string(r))
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
		rec := Record{Key: []byte(head.Session), Value: append([]byte(nil), line...), TS: ts, line: n, feedback: feedbackTypes[head.Type]}
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
	return readCSV(r, rees46Columns, rees46Event)
}

// rees46Columns are the columns of the REES46 CSV an event is made of.
var rees46Columns = []string{"event_time", "event_type", "product_id", "price", "user_id", "user_session"}

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
		recs = append(recs, Record{Key: append([]byte(nil), ev.Session...), Value: append([]byte(nil), buf...), TS: ev.TS, line: line})
	}
}
