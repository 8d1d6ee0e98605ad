package replay

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

const rees46Header = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"

// rees46Rows writes n view rows of the REES46 CSV, one session per row.
func rees46Rows(n int) string {
	var b strings.Builder
	b.WriteString(rees46Header)
	for i := range n {
		fmt.Fprintf(&b, "2019-10-01 00:%02d:%02d UTC,view,%d,2053013552326770905,,acme,12.50,%d,sess-%d\n", i/60%60, i%60, 1000+i, 500+i, i)
	}
	return b.String()
}

func TestDetectFormat(t *testing.T) {
	for _, c := range []struct {
		name, head, want, err string
	}{
		{"jsonl", `{"v":1,"type":"page_view"}` + "\n", "jsonl", ""},
		{"jsonl after blank lines and a BOM", "\uFEFF\n  \n" + `  {"v":1}`, "jsonl", ""},
		{"rees46", rees46Header, "rees46", ""},
		{"rees46, columns in another order", "user_session,user_id,price,product_id,event_type,event_time\n", "rees46", ""},
		{"uci", strings.Join(uciColumns, ",") + "\n0,0", FormatUCI, ""},
		{"a CSV of something else", "a,b,c\n1,2,3\n", "", `cannot tell the input's format from its first line "a,b,c"`},
		{"empty", "\n\n", "", "the input is empty"},
		{"a first line cut short (only the head read)", "event_time,event_type,product_id,pri", "", "give --format"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := DetectFormat([]byte(c.head))
			if got != c.want {
				t.Errorf("format %q, want %q", got, c.want)
			}
			if (err != nil) != (c.err != "") || err != nil && !strings.Contains(err.Error(), c.err) {
				t.Errorf("error %v, want one saying %q", err, c.err)
			}
		})
	}
}

func TestReadInputDetectsAndRefuses(t *testing.T) {
	in, err := ReadInput(strings.NewReader(rees46Rows(5)), "")
	if err != nil || in.Format != "rees46" || !in.Detected || len(in.Records) != 5 {
		t.Fatalf("rees46 without a format: %+v, %v", in, err)
	}
	if in.Records[2].line != 4 {
		t.Errorf("record 3 says line %d, want 4 (the header is line 1)", in.Records[2].line)
	}
	in, err = ReadInput(strings.NewReader(rees46Rows(5)), "rees46")
	if err != nil || in.Detected {
		t.Fatalf("rees46 given: %+v, %v", in, err)
	}
	// The UCI data holds sessions: refused, saying where it can be used.
	if _, err := ReadInput(strings.NewReader(strings.Join(uciColumns, ",")+"\n"), ""); !errors.Is(err, errUCIEvents) || !strings.Contains(err.Error(), "linger train") {
		t.Errorf("UCI: %v", err)
	}
	// A format given that the content does not fit says what it looks like.
	_, err = ReadInput(strings.NewReader(`{"v":1,"type":"page_view","session":"a","ts":1}`+"\n"), "rees46")
	if err == nil || !strings.Contains(err.Error(), "looks like JSON lines") || !strings.Contains(err.Error(), "--format jsonl") {
		t.Errorf("jsonl read as rees46: %v", err)
	}
	if _, err := ReadInput(strings.NewReader("a,b\n"), "parquet"); err == nil || !strings.Contains(err.Error(), "unknown format") {
		t.Errorf("unknown format: %v", err)
	}
}

// TestCheckRejected: a CSV read as JSON lines is refused with the first
// reasons, their lines and the flag that reads it; an input with a few bad
// lines is not.
func TestCheckRejected(t *testing.T) {
	in, err := ReadInput(strings.NewReader(rees46Rows(20)), "jsonl")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(in.Records, Options{Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	err = res.CheckRejected(in)
	var re *RejectedError
	if !errors.As(err, &re) {
		t.Fatalf("a CSV read as JSON lines: %v", err)
	}
	if re.Rejected != 21 || re.Records != 21 || len(re.Examples) != maxRejectExamples {
		t.Errorf("%d of %d rejected, %d examples; want 21 of 21 and %d", re.Rejected, re.Records, len(re.Examples), maxRejectExamples)
	}
	for i, x := range re.Examples {
		if want := fmt.Sprintf("line %d: invalid_json", i+1); !strings.HasPrefix(x, want) {
			t.Errorf("example %d is %q, want it to start %q", i, x, want)
		}
	}
	if !strings.Contains(err.Error(), "give --format rees46") {
		t.Errorf("no hint of the format to give:\n%v", err)
	}

	var lines []string
	for i := range 10 {
		lines = append(lines, fmt.Sprintf(`{"v":1,"type":"page_view","session":"s%d","ts":%d,"page":{"url":"/p","kind":"product"}}`, i, 1_750_000_000_000+int64(i)))
	}
	lines = append(lines, "not json", `{"v":1}`)
	in, err = ReadInput(strings.NewReader(strings.Join(lines, "\n")), "")
	if err != nil {
		t.Fatal(err)
	}
	res, err = Run(in.Records, Options{Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.CheckRejected(in); err != nil || res.rejected != 2 {
		t.Errorf("2 bad lines of 12: %v (%d rejected)", err, res.rejected)
	}

	// Feedback only: nothing to replay.
	in, err = ReadInput(strings.NewReader(`{"v":1,"type":"invite_shown","invite_id":"a/1","session":"a","ts":1750000000000}`+"\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if res, err = Run(in.Records, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := res.CheckRejected(in); !errors.Is(err, ErrNoEvents) {
		t.Errorf("feedback only: %v", err)
	}
}
