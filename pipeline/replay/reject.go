package replay

import (
	"errors"
	"fmt"
	"strings"
)

// maxRejectExamples is how many refused records an error names: enough to
// see a pattern, few enough to read.
const maxRejectExamples = 3

// rejection is a record the replay refused, as run would send it to the
// dead-letter topic.
type rejection struct {
	index  int    // in the records replayed
	line   int    // in the input, 0 if unknown
	detail string // why, as the DLQ's header says it
}

// RejectedError is CheckRejected's error: most of the input's records were
// refused, so a report of the rest would measure next to nothing.
type RejectedError struct {
	// Rejected of Records (events: feedback and capacity records aside).
	Rejected, Records int
	// Examples say why the first few were refused, each with its line.
	Examples []string
	// Hint says what would read the input, "" when nothing is known to.
	Hint string
}

func (e *RejectedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d records rejected as not valid v1 events (run would send them to the dead-letter topic)", e.Rejected, e.Records)
	if len(e.Examples) > 0 {
		b.WriteString("; the first:")
		for _, x := range e.Examples {
			b.WriteString("\n  " + x)
		}
	}
	if e.Hint != "" {
		b.WriteString("\n" + e.Hint)
	}
	return b.String()
}

// ErrNoEvents is CheckRejected's error for an input of feedback or
// capacity records only: there is nothing to replay.
var ErrNoEvents = errors.New("the input holds no events, only feedback or capacity records: nothing to replay")

// CheckRejected returns a *RejectedError when more than half of the event
// records of in were refused: the input is most likely in another format
// than the one it was read as, or not events at all, and a report of what
// is left would mislead. It returns ErrNoEvents when there was no event
// record at all. in may be nil (no hint is given then).
func (r *Result) CheckRejected(in *Input) error {
	records := r.Events + r.rejected
	if records == 0 {
		return ErrNoEvents
	}
	if r.rejected == 0 || 2*r.rejected <= records {
		return nil
	}
	e := &RejectedError{Rejected: r.rejected, Records: records}
	for _, rj := range r.firstRejected {
		where := fmt.Sprintf("record %d", rj.index+1)
		if rj.line > 0 {
			where = fmt.Sprintf("line %d", rj.line)
		}
		e.Examples = append(e.Examples, where+": "+oneLine(rj.detail, 160))
	}
	if in != nil {
		switch {
		case in.looks != "" && in.looks != in.Format:
			e.Hint = "the content looks like " + looksLike(in.looks) + ": " + formatHint(in.looks)
		case in.looks == "" && in.Format == "jsonl":
			e.Hint = "the first line is not a JSON object: if the input is a CSV, its header names no format linger reads (" +
				strings.Join(Formats[1:], ", ") + "); see --format"
		}
	}
	return e
}

// oneLine keeps s on one line and at most n runes long.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return s
}
