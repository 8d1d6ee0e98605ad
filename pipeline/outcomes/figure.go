package outcomes

import (
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Figure is an Estimate formatted in three parts, "62.1%", "[55.0–68.7]"
// and "n=111", so that a text table can align each part in its column and
// an HTML page can set the interval and n smaller. The reports' tables,
// the replay's and `linger report`'s, show every figure as one.
type Figure struct {
	Value, CI, N string
}

// String is the figure on one line, "62.1% [55.0–68.7] n=111".
func (f Figure) String() string {
	s := f.Value
	for _, p := range []string{f.CI, f.N} {
		if p != "" {
			s += " " + p
		}
	}
	return s
}

// NoFigure stands for a figure with nothing to rest on (n=0, or not a
// number): an en dash, as in a printed table.
const NoFigure = "–"

// EstimateFigure formats e with format for its value and interval bounds.
func EstimateFigure(e Estimate, format func(float64) string) Figure {
	if e.N <= 0 || !IsFinite(e.Value) {
		return Figure{Value: NoFigure}
	}
	f := Figure{Value: format(e.Value), N: "n=" + strconv.Itoa(e.N)}
	if IsFinite(e.Lo) && IsFinite(e.Hi) {
		f.CI = "[" + format(e.Lo) + "–" + format(e.Hi) + "]"
	}
	return f
}

// ProportionFigure shows a proportion as a percentage, "62.1% [55.0–68.7]":
// a rate reads faster as a percentage, and the interval is in the same
// unit, so its "%" is left out.
func ProportionFigure(e Estimate) Figure {
	f := EstimateFigure(e, Percent)
	if f.Value != NoFigure {
		f.Value += "%"
	}
	return f
}

// Percent formats a proportion as a percentage with one decimal, without
// "%".
func Percent(x float64) string { return Fixed(100*x, 1) }

// Fixed formats x with the given decimals, without the "-0.0" that a bound
// a hair below zero would print.
func Fixed(x float64, decimals int) string {
	s := strconv.FormatFloat(x, 'f', decimals, 64)
	if strings.Trim(s, "-0.") == "" {
		s = strings.TrimPrefix(s, "-")
	}
	return s
}

// FigureCells formats a column of figures with their values aligned to the
// right, so that digits line up; the interval and n follow as they come,
// which keeps the column narrow.
func FigureCells(figs []Figure) []string {
	values := make([]string, len(figs))
	for i, f := range figs {
		values[i] = f.Value
	}
	values = PadCells(values, true)
	cells := make([]string, len(figs))
	for i, f := range figs {
		f.Value = values[i]
		cells[i] = f.String()
	}
	return cells
}

// PadCells pads cells to the width of the widest, counting runes (an en
// dash is one column, three bytes), on the left when right is set. A
// column of empty cells stays empty.
func PadCells(cells []string, right bool) []string {
	width := 0
	for _, c := range cells {
		width = max(width, utf8.RuneCountInString(c))
	}
	out := make([]string, len(cells))
	for i, c := range cells {
		pad := strings.Repeat(" ", width-utf8.RuneCountInString(c))
		if right {
			out[i] = pad + c
		} else {
			out[i] = c + pad
		}
	}
	return out
}

// OneLine keeps a name or rule on its line: a newline in one would break
// the table.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// WriteTrimmed writes s without the spaces at the end of its lines that
// padded cells leave, so that a golden file and a copy-paste hold no
// invisible tails.
func WriteTrimmed(w io.Writer, s string) error {
	var out strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		nl := strings.HasSuffix(l, "\n")
		out.WriteString(strings.TrimRight(l, " \n"))
		if nl {
			out.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// EncodeJSON writes v as indented JSON, as both reports are written.
func EncodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// Names and rules are read by people and scripts, not embedded in
	// HTML: "<" is clearer than "\u003c".
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
