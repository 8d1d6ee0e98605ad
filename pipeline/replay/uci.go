package replay

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/lingerhq/linger/scoring/learn"
)

// The UCI "Online Shoppers Purchasing Intention" dataset (Sakar et al.,
// 2019): 12,330 sessions of one shop, each one aggregated row of page counts
// and durations with whether it ended in a purchase (Revenue). It has no
// event sequences, so linger cannot replay it; it serves instead to check,
// against published results, how much of purchase intent the kind of
// features linger computes live can capture, and how much is left to
// features linger cannot have (the shop's page values). The copy used and
// its provenance are described in shared/data/online-shoppers/SOURCE.md.

// uciSession is one row of the UCI dataset.
type uciSession struct {
	// Pages of each kind visited, and seconds spent on them.
	Administrative, Informational, ProductRelated                         int
	AdministrativeDuration, InformationalDuration, ProductRelatedDuration float64
	// Mean Google Analytics bounce rate, exit rate and page value of the
	// pages visited.
	BounceRates, ExitRates, PageValues float64
	// SpecialDay is the closeness of the visit to a special day, 0 to 1.
	SpecialDay float64
	// Month as written in the file ("Feb", "June", …).
	Month string
	// Integer codes of the visitor's system and origin.
	OperatingSystems, Browser, Region, TrafficType int
	// VisitorType: Returning_Visitor, New_Visitor or Other.
	VisitorType string
	Weekend     bool
	// Revenue is the label: the session ended in a purchase.
	Revenue bool
}

// UCIData is the parsed dataset, rows in file order.
type UCIData struct {
	sessions []uciSession
}

// Sessions counts the sessions read.
func (d *UCIData) Sessions() int { return len(d.sessions) }

// Purchases counts the sessions that ended in a purchase.
func (d *UCIData) Purchases() int {
	n := 0
	for i := range d.sessions {
		if d.sessions[i].Revenue {
			n++
		}
	}
	return n
}

// uciColumns are the columns ReadUCI needs, as the UCI header names them.
var uciColumns = []string{
	"Administrative", "Administrative_Duration", "Informational", "Informational_Duration",
	"ProductRelated", "ProductRelated_Duration", "BounceRates", "ExitRates", "PageValues",
	"SpecialDay", "Month", "OperatingSystems", "Browser", "Region", "TrafficType",
	"VisitorType", "Weekend", "Revenue",
}

// ReadUCI parses the dataset's CSV. Columns are found by their header names,
// in any order (extra columns are ignored), because copies of the file in
// circulation differ in layout; a copy that lost its header is refused, not
// misread by position. A
// value that is missing, not a number where one is expected, or out of its
// range (a negative count, a rate above 1) is an error naming its line and
// column: a silently zeroed cell would bias every figure computed from it.
func ReadUCI(r io.Reader) (*UCIData, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("uci: empty input: no header line")
	}
	if err != nil {
		return nil, fmt.Errorf("uci: header: %w", err)
	}
	at := map[string]int{}
	for i, name := range header {
		name = strings.TrimSpace(strings.TrimPrefix(name, "\uFEFF")) // a BOM from spreadsheet exports
		if _, dup := at[name]; dup {
			return nil, fmt.Errorf("uci: line 1: column %q appears twice", name)
		}
		at[name] = i
	}
	for _, name := range uciColumns {
		if _, ok := at[name]; !ok {
			return nil, fmt.Errorf("uci: line 1: the header has no column %q (it needs %s)", name, strings.Join(uciColumns, ","))
		}
	}
	d := &UCIData{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			// csv.ParseError says the line and column.
			return nil, fmt.Errorf("uci: %w", err)
		}
		p := uciRow{cr: cr, rec: rec, at: at}
		s := uciSession{
			Administrative:         p.count("Administrative"),
			AdministrativeDuration: p.number("Administrative_Duration", 0, math.Inf(1)),
			Informational:          p.count("Informational"),
			InformationalDuration:  p.number("Informational_Duration", 0, math.Inf(1)),
			ProductRelated:         p.count("ProductRelated"),
			ProductRelatedDuration: p.number("ProductRelated_Duration", 0, math.Inf(1)),
			BounceRates:            p.number("BounceRates", 0, 1),
			ExitRates:              p.number("ExitRates", 0, 1),
			PageValues:             p.number("PageValues", 0, math.Inf(1)),
			SpecialDay:             p.number("SpecialDay", 0, 1),
			Month:                  p.text("Month"),
			OperatingSystems:       p.code("OperatingSystems"),
			Browser:                p.code("Browser"),
			Region:                 p.code("Region"),
			TrafficType:            p.code("TrafficType"),
			VisitorType:            p.text("VisitorType"),
			Weekend:                p.boolean("Weekend"),
			Revenue:                p.boolean("Revenue"),
		}
		if p.err != nil {
			return nil, p.err
		}
		d.sessions = append(d.sessions, s)
	}
	if len(d.sessions) == 0 {
		return nil, errors.New("uci: no sessions after the header")
	}
	return d, nil
}

// uciRow parses the fields of one record, keeping the first error so that
// a row reads as one struct literal.
type uciRow struct {
	cr  *csv.Reader
	rec []string
	at  map[string]int
	err error
}

// field returns the named column's value, or ok false once an error is
// kept.
func (p *uciRow) field(name string) (string, bool) {
	if p.err != nil {
		return "", false
	}
	return strings.TrimSpace(p.rec[p.at[name]]), true
}

func (p *uciRow) fail(name, format string, args ...any) {
	line, col := p.cr.FieldPos(p.at[name])
	p.err = fmt.Errorf("uci: line %d, column %d (%s): %s", line, col, name, fmt.Sprintf(format, args...))
}

// number parses a finite value in [lo, hi].
func (p *uciRow) number(name string, lo, hi float64) float64 {
	s, ok := p.field(name)
	if !ok {
		return 0
	}
	v, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil || math.IsNaN(v) || math.IsInf(v, 0):
		p.fail(name, "%q is not a number", s)
	case v < lo || v > hi:
		p.fail(name, "%v is out of range [%v, %v]", v, lo, hi)
	}
	return v
}

// count parses a whole number ≥ 0 (written "3" or "3.0").
func (p *uciRow) count(name string) int {
	v := p.number(name, 0, math.Inf(1))
	switch {
	case p.err != nil:
	case v != math.Trunc(v):
		p.fail(name, "%v is not a whole number", v)
	case v > math.MaxInt32:
		p.fail(name, "%v is too large for a page count", v)
	}
	return int(v)
}

// code parses an integer category code.
func (p *uciRow) code(name string) int {
	s, ok := p.field(name)
	if !ok {
		return 0
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		p.fail(name, "%q is not an integer code", s)
	}
	return v
}

func (p *uciRow) text(name string) string {
	s, ok := p.field(name)
	if ok && s == "" {
		p.fail(name, "empty")
	}
	return s
}

func (p *uciRow) boolean(name string) bool {
	s, ok := p.field(name)
	if !ok {
		return false
	}
	v, err := strconv.ParseBool(s) // TRUE/FALSE as in the file; true/1 too
	if err != nil {
		p.fail(name, "%q is not TRUE or FALSE", s)
	}
	return v
}

// UCIResult is the cross-validated ROC AUC of one feature set for
// predicting a purchase, from EvaluateUCI for WriteUCITable.
type UCIResult struct {
	name string
	// features is the number of model inputs (one-hot columns counted
	// one each).
	features int
	// folds of the cross-validation.
	folds int
	// auc of the out-of-fold scores of all sessions pooled, 95% CI by
	// Hanley–McNeil.
	auc learn.Estimate
}

// uciFeature is one model input computed from a session.
type uciFeature struct {
	name  string
	value func(s *uciSession) float64
}

// uciRealTime are the features linger can compute live from a session's
// events: pages and time by page kind, in total, and how the pages visited
// tend to end sessions. Counts and durations are log1p'd: they are heavily
// right-skewed (durations reach 64,000 s), and a logistic model linear in
// raw seconds would let a few marathon sessions set the slope.
func uciRealTime() []uciFeature {
	log1p := func(name string, v func(s *uciSession) float64) uciFeature {
		return uciFeature{"log1p(" + name + ")", func(s *uciSession) float64 { return math.Log1p(v(s)) }}
	}
	return []uciFeature{
		log1p("Administrative", func(s *uciSession) float64 { return float64(s.Administrative) }),
		log1p("Administrative_Duration", func(s *uciSession) float64 { return s.AdministrativeDuration }),
		log1p("Informational", func(s *uciSession) float64 { return float64(s.Informational) }),
		log1p("Informational_Duration", func(s *uciSession) float64 { return s.InformationalDuration }),
		log1p("ProductRelated", func(s *uciSession) float64 { return float64(s.ProductRelated) }),
		log1p("ProductRelated_Duration", func(s *uciSession) float64 { return s.ProductRelatedDuration }),
		log1p("pages", func(s *uciSession) float64 {
			return float64(s.Administrative + s.Informational + s.ProductRelated)
		}),
		log1p("duration", func(s *uciSession) float64 {
			return s.AdministrativeDuration + s.InformationalDuration + s.ProductRelatedDuration
		}),
		{"BounceRates", func(s *uciSession) float64 { return s.BounceRates }},
		{"ExitRates", func(s *uciSession) float64 { return s.ExitRates }},
	}
}

// uciPageValues adds the shop's page value, log1p'd for the same reason as
// durations: it is a currency amount, 0 for most sessions and up to 360.
func uciPageValues() []uciFeature {
	return append(uciRealTime(), uciFeature{"log1p(PageValues)", func(s *uciSession) float64 { return math.Log1p(s.PageValues) }})
}

// uciAll adds every other column: categories one-hot, one input per level
// found in d (the L2 penalty makes a full set of levels identifiable next to
// the bias, so none needs dropping).
func uciAll(d *UCIData) []uciFeature {
	fs := append(uciPageValues(),
		uciFeature{"SpecialDay", func(s *uciSession) float64 { return s.SpecialDay }},
		uciFeature{"Weekend", func(s *uciSession) float64 { return b2f(s.Weekend) }},
	)
	fs = append(fs, uciOneHot(d, "Month", func(s *uciSession) string { return s.Month })...)
	fs = append(fs, uciOneHot(d, "VisitorType", func(s *uciSession) string { return s.VisitorType })...)
	fs = append(fs, uciOneHot(d, "OperatingSystems", func(s *uciSession) int { return s.OperatingSystems })...)
	fs = append(fs, uciOneHot(d, "Browser", func(s *uciSession) int { return s.Browser })...)
	fs = append(fs, uciOneHot(d, "Region", func(s *uciSession) int { return s.Region })...)
	fs = append(fs, uciOneHot(d, "TrafficType", func(s *uciSession) int { return s.TrafficType })...)
	return fs
}

// uciOneHot returns one indicator per distinct value of a category, sorted
// so that the feature order does not depend on row order. The levels come
// from all rows, labels unseen: a level that only one fold has is constant
// in the others' training data and gets weight 0 there.
func uciOneHot[T cmp.Ordered](d *UCIData, name string, of func(s *uciSession) T) []uciFeature {
	var levels []T
	for i := range d.sessions {
		levels = append(levels, of(&d.sessions[i]))
	}
	slices.Sort(levels)
	levels = slices.Compact(levels)
	fs := make([]uciFeature, len(levels))
	for i, level := range levels {
		fs[i] = uciFeature{fmt.Sprintf("%s=%v", name, level), func(s *uciSession) float64 { return b2f(of(s) == level) }}
	}
	return fs
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// EvaluateUCI measures how well each feature set predicts a purchase: the
// ROC AUC of an L2-regularised logistic regression (learn.Fit, default
// options), by k-fold cross-validation with folds from learn.KFold(seed).
// Every session is scored once, by the model that did not see it, and the
// AUC is taken over all these scores pooled. The three sets share the folds,
// so their difference is not fold luck. The sets, in order:
//
//	(a) linger real-time: pages and durations by kind and in total
//	    (log1p), BounceRates, ExitRates — what linger can compute live;
//	(b) (a) + PageValues: the literature's strongest predictor, which needs
//	    the shop's revenue attribution that linger does not have live;
//	(c) all columns: (b) + SpecialDay, Weekend, and Month, VisitorType,
//	    OperatingSystems, Browser, Region, TrafficType one-hot.
func EvaluateUCI(d *UCIData, folds int, seed uint64) ([]UCIResult, error) {
	if d == nil || len(d.sessions) == 0 {
		return nil, errors.New("uci: no sessions to evaluate")
	}
	n := len(d.sessions)
	if folds < 2 || folds > n {
		return nil, fmt.Errorf("uci: %d folds for %d sessions; need 2 ≤ folds ≤ sessions", folds, n)
	}
	sets := []struct {
		name     string
		features []uciFeature
	}{
		{"(a) linger real-time", uciRealTime()},
		{"(b) (a) + PageValues", uciPageValues()},
		{"(c) all columns", uciAll(d)},
	}
	y := make([]bool, n)
	for i := range d.sessions {
		y[i] = d.sessions[i].Revenue
	}
	split := learn.KFold(n, folds, seed)
	var out []UCIResult
	for _, set := range sets {
		X := uciMatrix(d, set.features)
		scores, err := uciOutOfFold(X, y, split)
		if err != nil {
			return nil, fmt.Errorf("uci: %s: %w", set.name, err)
		}
		out = append(out, UCIResult{name: set.name, features: len(set.features), folds: folds, auc: learn.AUC(scores, y)})
	}
	return out, nil
}

// uciMatrix computes the features of every session, rows sharing one
// backing array.
func uciMatrix(d *UCIData, fs []uciFeature) [][]float64 {
	p := len(fs)
	flat := make([]float64, len(d.sessions)*p)
	X := make([][]float64, len(d.sessions))
	for i := range d.sessions {
		row := flat[i*p : (i+1)*p : (i+1)*p]
		for j, f := range fs {
			row[j] = f.value(&d.sessions[i])
		}
		X[i] = row
	}
	return X
}

// uciOutOfFold fits a model on all folds but one and scores that one, for
// each fold.
func uciOutOfFold(X [][]float64, y []bool, split [][]int) ([]float64, error) {
	scores := make([]float64, len(X))
	inTest := make([]bool, len(X))
	for f, test := range split {
		clear(inTest)
		for _, i := range test {
			inTest[i] = true
		}
		var train learn.Dataset
		for i := range X {
			if !inTest[i] {
				train.X = append(train.X, X[i])
				train.Y = append(train.Y, y[i])
			}
		}
		m, err := learn.Fit(train, learn.Options{})
		if err != nil {
			return nil, fmt.Errorf("fold %d of %d: %w", f+1, len(split), err)
		}
		for _, i := range test {
			scores[i] = m.Score(X[i])
		}
	}
	return scores, nil
}

// uciPublished is the reference row of WriteUCITable: the best published
// ROC AUC on this dataset we know of, to show how far the logistic models
// are from it. It is quoted, not reproduced: this package fits only
// logistic models. Source: Abdullah-All-Tanvir, I. Ali Khandokar, A.K.M.
// Muzahidul Islam, S. Islam, S. Shatabda, "A gradient boosting classifier
// for purchase intention prediction of online shoppers", Heliyon 9(4):
// e15163, 2023, doi:10.1016/j.heliyon.2023.e15163 — auROC 0.937 (auPR
// 0.754) in its abstract, for XGBoost after feature selection and
// oversampling: not all columns, and its evaluation protocol is not that of
// EvaluateUCI.
const uciPublished = "XGBoost, selected features + oversampling (published: Abdullah-All-Tanvir et al., Heliyon 2023)"

// WriteUCITable writes rs as a Markdown table, with a quoted published
// result for reference and a note saying how the figures were obtained.
func WriteUCITable(w io.Writer, rs []UCIResult) error {
	var b strings.Builder
	b.WriteString("| model: L2 logistic regression unless stated | inputs | ROC AUC | 95% CI | sessions |\n")
	b.WriteString("|---|---:|---:|---|---:|\n")
	folds, sameFolds := 0, true
	for i, r := range rs {
		fmt.Fprintf(&b, "| %s | %d | %.3f | %.3f–%.3f | %d |\n", r.name, r.features, r.auc.Value, r.auc.Lo, r.auc.Hi, r.auc.N)
		if i == 0 {
			folds = r.folds
		} else if r.folds != folds {
			sameFolds = false
		}
	}
	fmt.Fprintf(&b, "| %s | a subset of the 17 columns | 0.937 | not given | — |\n", uciPublished)
	b.WriteString("\nROC AUC of predicting a purchase (`Revenue`) on the UCI Online Shoppers Purchasing Intention dataset, ")
	if sameFolds && folds > 0 {
		fmt.Fprintf(&b, "from %d-fold cross-validation: ", folds)
	} else {
		b.WriteString("from k-fold cross-validation: ")
	}
	b.WriteString("each session scored by the model fitted without it, scores pooled; 95% CI by Hanley–McNeil. " +
		"Counts, durations and PageValues enter as log1p. " +
		"The XGBoost figure is quoted from the literature (the paper's abstract), not reproduced here, " +
		"and was measured under that paper's own protocol.\n")
	_, err := io.WriteString(w, b.String())
	return err
}
