package replay

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// ProgressBar returns a progress callback (Options.Progress) that draws a
// bar labelled label on w when w is a terminal, and nil otherwise: a log
// file or a pipe gets no carriage returns.
func ProgressBar(w io.Writer, label string) func(done, total int) {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return progressBar(w, label, time.Now)
}

// progressBar draws on w whatever it is, at most every 100 ms of now (and
// always at the end).
func progressBar(w io.Writer, label string, now func() time.Time) func(done, total int) {
	var last time.Time
	return func(done, total int) {
		if t := now(); t.Sub(last) < 100*time.Millisecond && done < total {
			return
		} else {
			last = t
		}
		const width = 30
		total = max(total, 1)
		done = min(max(done, 0), total)
		n := width * done / total
		fmt.Fprintf(w, "\r%s [%s%s] %3d%% %d/%d", label, strings.Repeat("#", n), strings.Repeat(".", width-n), 100*done/total, done, total)
		if done >= total {
			fmt.Fprintln(w)
		}
	}
}
