package replay

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lingerhq/linger/internal/htmltest"
	"github.com/lingerhq/linger/internal/svgplot"

	"github.com/lingerhq/linger/pipeline/outcomes"
)

var update = flag.Bool("update", false, "rewrite testdata/render/*.golden from the current code")

// sampleReport is a report as a replay of a day of shop traffic could give:
// two baselines (one named with "<" and ">" to test escaping), a ROC of 20
// points, a histogram of 20 bins, 30 threshold points of which the last
// reach no session, and figures that rest on nothing (n=0).
func sampleReport() *Report {
	nan := math.NaN()
	r := &Report{
		Input:             "testdata/shop-2026-01-05.jsonl",
		Model:             "m1-6abb717e",
		Events:            52418,
		Rejected:          12,
		Sessions:          1400,
		SessionsByOutcome: map[string]int{"purchase": 180, "abandoned": 310, "browse": 850, "censored": 60},
		Warnings:          []Warning{{Code: WarnNoAbandoned, Message: "a warning long enough to be wrapped: " + strings.Repeat("word ", 30) + "<end>"}},
		EligibleSessions:  1200,
		Invites:           inviteCounts{Total: 151, Abandonment: 112, Confusion: 39, Holdout: 9, Withdrawn: 4},
		InviteShare: InviteShare{
			All:         outcomes.Estimate{Value: 0.12417, N: 1200, Lo: 0.10674, Hi: 0.14397},
			Abandonment: outcomes.Estimate{Value: 0.09167, N: 1200, Lo: 0.07658, Hi: 0.10935},
			Confusion:   outcomes.Estimate{Value: 0.0325, N: 1200, Lo: 0.02427, Hi: 0.04339},
			Band:        Band{Low: 0.03, High: 0.1},
		},
		HighestScores:   Scores{Abandonment: 0.97, Confusion: nan},
		InvitedSessions: 148,
		Quality: Quality{
			InviteRate: outcomes.Estimate{Value: 0.11269, N: 1340, Lo: 0.09663, Hi: 0.13101},
			Precision:  outcomes.Estimate{Value: 0.58940, N: 151, Lo: 0.50966, Hi: 0.66460},
			Recall:     outcomes.Estimate{Value: 0.28710, N: 310, Lo: 0.23944, Hi: 0.33997},
			AUC:        outcomes.Estimate{Value: 0.84123, N: 1340, Lo: 0.81502, Hi: 0.86744},
			LeadTime: leadTime{
				P50: outcomes.Estimate{Value: 42.3, N: 151, Lo: 35.1, Hi: 51.0},
				P90: outcomes.Estimate{Value: 187.5, N: 151, Lo: 150.2, Hi: 240.8},
			},
		},
		Signals: []signalCount{
			{"idle_checkout_s", 71}, {"exit_intent", 64}, {"pricing_revisits", 40},
			{"cart_value", 38}, {"back_forth", 33}, {"rage_clicks", 21},
			{"form_errors", 19}, {"pointer_jitter", 11}, {"scroll_reversals", 6},
			{"coupon_field_focus", 4}, {"shipping_lookups", 2},
		},
		Baselines: []baseline{
			{
				Name: "exit-intent", Rule: "pop up on exit intent (pointer leaves toward the tab bar) on any page; vendor default", Invites: 402,
				Quality: Quality{
					InviteRate: outcomes.Estimate{Value: 0.3, N: 1340, Lo: 0.27603, Hi: 0.32507},
					Precision:  outcomes.Estimate{Value: 0.27363, N: 402, Lo: 0.23232, Hi: 0.31927},
					Recall:     outcomes.Estimate{Value: 0.35484, N: 310, Lo: 0.30363, Hi: 0.40957},
					AUC:        outcomes.Estimate{Value: nan, N: 0, Lo: nan, Hi: nan},
					LeadTime: leadTime{
						P50: outcomes.Estimate{Value: 3.2, N: 402, Lo: 2.5, Hi: 4.1},
						P90: outcomes.Estimate{Value: 19.75, N: 402, Lo: 14.2, Hi: 26.0},
					},
				},
			},
			{
				Name: "idle<30s> on <cart>", Rule: "invite after 30 s idle on cart or checkout, at linger's invite rate", Invites: 151,
				Quality: Quality{
					InviteRate: outcomes.Estimate{Value: 0.11269, N: 1340, Lo: 0.09663, Hi: 0.13101},
					Precision:  outcomes.Estimate{Value: 0.41060, N: 151, Lo: 0.33527, Hi: 0.49025},
					Recall:     outcomes.Estimate{Value: 0.2, N: 310, Lo: 0.15917, Hi: 0.24822},
					AUC:        outcomes.Estimate{}, // no score: a rule only fires or not
					LeadTime: leadTime{
						P50: outcomes.Estimate{Value: 61, N: 151, Lo: 48, Hi: 75},
						P90: outcomes.Estimate{Value: nan, N: 0, Lo: nan, Hi: nan},
					},
				},
			},
		},
		Plots: plotData{
			ScoreHistogram: scoreHistogram{
				Bins:      20,
				Purchase:  []int{61, 38, 24, 16, 11, 8, 6, 4, 3, 2, 2, 1, 1, 1, 1, 1, 0, 0, 0, 0},
				Abandoned: []int{20, 15, 14, 14, 13, 13, 13, 13, 14, 14, 15, 15, 16, 17, 18, 19, 20, 20, 15, 12},
				Browse:    []int{400, 170, 95, 60, 38, 25, 17, 12, 9, 7, 5, 4, 3, 2, 1, 1, 1, 0, 0, 0},
			},
		},
	}
	for i := range 20 {
		x := math.Pow(float64(i)/19, 2)
		r.Plots.ROC = append(r.Plots.ROC, curvePoint{X: x, Y: 1 - math.Pow(1-x, 4)})
	}
	for i := range 30 {
		t := float64(i) / 29
		p := thresholdPoint{Threshold: t, InviteRate: 0.03 + math.Exp(-5*t), ConfusionRate: 0.03, Precision: 0.22 + 0.6*t}
		if i >= 27 {
			p.InviteRate, p.Precision = 0.03, nan
		}
		r.Plots.Thresholds = append(r.Plots.Thresholds, p)
	}
	r.Plots.AbandonmentThreshold, r.Plots.ConfusionThreshold = 0.7, 0.7
	r.Plots.Band = Band{Low: 0.03, High: 0.1}
	return r
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "NaN") {
		t.Errorf("JSON holds NaN:\n%s", out)
	}
	if !strings.Contains(out, "\n  \"input\": ") {
		t.Errorf("JSON not indented:\n%.200s", out)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("JSON does not parse: %v", err)
	}

	checkQuality := func(where string, m map[string]any) {
		t.Helper()
		for _, k := range []string{"invite_rate", "precision", "recall", "auc"} {
			e, ok := m[k].(map[string]any)
			if !ok {
				t.Errorf("%s: %q missing or not an object: %v", where, k, m[k])
				continue
			}
			for _, f := range []string{"value", "n", "ci_low", "ci_high"} {
				if _, ok := e[f]; !ok {
					t.Errorf("%s.%s: no %q", where, k, f)
				}
			}
		}
		lt, ok := m["lead_time_s"].(map[string]any)
		if !ok {
			t.Errorf("%s: lead_time_s missing: %v", where, m["lead_time_s"])
			return
		}
		for _, p := range []string{"p50", "p90"} {
			if _, ok := lt[p].(map[string]any); !ok {
				t.Errorf("%s: lead_time_s.%s missing", where, p)
			}
		}
	}
	checkQuality("report", doc)
	if so, ok := doc["sessions_by_outcome"].(map[string]any); !ok || so["abandoned"] != 310.0 {
		t.Errorf("sessions_by_outcome = %v", doc["sessions_by_outcome"])
	}
	if inv, ok := doc["invites"].(map[string]any); !ok || inv["total"] != 151.0 {
		t.Errorf("invites = %v", doc["invites"])
	}
	baselines, ok := doc["baselines"].([]any)
	if !ok || len(baselines) != 2 {
		t.Fatalf("baselines = %v", doc["baselines"])
	}
	for i, bl := range baselines {
		m := bl.(map[string]any)
		for _, k := range []string{"name", "rule", "invites"} {
			if _, ok := m[k]; !ok {
				t.Errorf("baselines[%d]: no %q", i, k)
			}
		}
		checkQuality("baselines["+m["name"].(string)+"]", m)
	}

	// n=0: value and interval null, n 0; both the NaN and the zero
	// Estimate.
	for i, bl := range baselines {
		auc := bl.(map[string]any)["auc"].(map[string]any)
		want := map[string]any{"value": nil, "n": 0.0, "ci_low": nil, "ci_high": nil}
		if !reflect.DeepEqual(auc, want) {
			t.Errorf("baselines[%d].auc = %v, want %v", i, auc, want)
		}
	}
	p90 := baselines[1].(map[string]any)["lead_time_s"].(map[string]any)["p90"].(map[string]any)
	if p90["value"] != nil || p90["ci_low"] != nil {
		t.Errorf("n=0 lead time p90 = %v, want nulls", p90)
	}
	prec := doc["precision"].(map[string]any)
	if prec["value"] != 0.5894 || prec["n"] != 151.0 || prec["ci_low"] != 0.50966 {
		t.Errorf("precision = %v", prec)
	}
	thr := doc["plots"].(map[string]any)["thresholds"].([]any)
	if last := thr[len(thr)-1].(map[string]any); last["precision"] != nil || last["invite_rate"] != 0.03 || last["confusion_rate"] != 0.03 {
		t.Errorf("last threshold point = %v, want precision null, invite rate and confusion rate 0.03", last)
	}
	if ws, ok := doc["warnings"].([]any); !ok || len(ws) != 1 || ws[0].(map[string]any)["code"] != WarnNoAbandoned {
		t.Errorf("warnings = %v", doc["warnings"])
	}
	if sh := doc["invite_share"].(map[string]any); sh["all"].(map[string]any)["n"] != 1200.0 || sh["band"].(map[string]any)["high"] != 0.1 {
		t.Errorf("invite_share = %v", sh)
	}
	if hs := doc["highest_scores"].(map[string]any); hs["abandonment"] != 0.97 || hs["confusion"] != nil {
		t.Errorf("highest_scores = %v, want a number and a null", hs)
	}

	// Top-level keys come in the order of the struct.
	want := []string{"input", "model", "warnings", "events", "rejected", "sessions", "sessions_by_outcome", "eligible_sessions", "invites",
		"invite_share", "highest_scores", "invited_sessions", "invite_rate", "precision", "recall", "auc", "lead_time_s", "signals", "baselines", "plots"}
	if got := topLevelKeys(t, b.Bytes()); !reflect.DeepEqual(got, want) {
		t.Errorf("top-level keys\n got %v\nwant %v", got, want)
	}
}

// topLevelKeys lists an object's keys in the order they are written.
func topLevelKeys(t *testing.T, doc []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestJSONRoundTrip: a report read back from its JSON renders as the
// original does, figures with nothing to rest on included.
func TestJSONRoundTrip(t *testing.T) {
	orig := sampleReport()
	var j bytes.Buffer
	if err := orig.WriteJSON(&j); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(j.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if p := back.Plots.Thresholds[29].Precision; !math.IsNaN(p) {
		t.Errorf("null precision read back as %v, want NaN", p)
	}
	for _, w := range []func(*Report, *bytes.Buffer) error{
		func(r *Report, b *bytes.Buffer) error { return r.WriteText(b) },
		func(r *Report, b *bytes.Buffer) error { return r.WriteHTML(b) },
		func(r *Report, b *bytes.Buffer) error { return r.WriteJSON(b) },
	} {
		var a, b bytes.Buffer
		if err := w(orig, &a); err != nil {
			t.Fatal(err)
		}
		if err := w(&back, &b); err != nil {
			t.Fatal(err)
		}
		if a.String() != b.String() {
			t.Errorf("rendering differs after a JSON round trip:\n%s\n----\n%s", a.String(), b.String())
		}
	}
}

// TestJSONFieldsMatchReport: the JSON forms in text.go write the fields of
// report.go, with their names and in their order, so that a field renamed
// or added there cannot silently go missing from the JSON.
func TestJSONFieldsMatchReport(t *testing.T) {
	for _, v := range []any{outcomes.Estimate{Value: 1, N: 1, Lo: 1, Hi: 1}, curvePoint{X: 1, Y: 1},
		thresholdPoint{Threshold: 1, InviteRate: 1, ConfusionRate: 1, Precision: 1}, Scores{Abandonment: 1, Confusion: 1}} {
		var want []string
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			want = append(want, strings.Split(rt.Field(i).Tag.Get("json"), ",")[0])
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := topLevelKeys(t, b); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: JSON keys %v, struct %v", rt.Name(), got, want)
		}
		if got := string(b); strings.Count(got, `":1`) != len(want) {
			t.Errorf("%s: values lost: %s", rt.Name(), got)
		}
	}
}

func TestWriteTextGolden(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteText(&b); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	checkGolden(t, filepath.Join("testdata", "render", "report.golden.txt"), got)

	// Checked on their own too, so that a golden refreshed with -update
	// cannot make a wrong summary pass.
	for _, s := range []string{
		"exit-intent", "idle<30s> on <cart>", // every baseline, named as is: a terminal needs no escaping
		"58.9% [51.0–66.5]", // linger's precision
		"27.4% [23.2–31.9]", // a baseline's precision
		"0.84 [0.82–0.87]",  // AUC
		"42s [35–51]",       // lead time, whole seconds
		"3.2s [2.5–4.1]",    // a short lead time, a decimal
		"abandoned    310  22.1%",
		"idle_checkout_s",
		"warning: a warning long enough to be wrapped",
		"invites        151  decisions, over all 1400 sessions",
		"eligible       1200  85.7%",
		"12.4% [10.7–14.4]  of the eligible sessions; above rate_band 3–10%",
		"invite rate: invited of the 1340",
		"recall: of the 310 abandoned",
	} {
		if !strings.Contains(got, s) {
			t.Errorf("text lacks %q:\n%s", s, got)
		}
	}
	lines := strings.Split(got, "\n")
	auc := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "AUC") && strings.Contains(l, "lead p50") })
	if auc < 0 {
		t.Fatalf("no AUC table:\n%s", got)
	}
	for i, line := range lines {
		if utf8.RuneCountInString(line) > textWidth {
			t.Errorf("line %d is %d columns wide, more than %d: %q", i+1, utf8.RuneCountInString(line), textWidth, line)
		}
		if i > auc && (strings.HasPrefix(line, "exit-intent  ") || strings.HasPrefix(line, "idle<30s> on <cart>  ")) {
			// The AUC of a rule rests on nothing: a dash, not NaN or 0.
			if strings.Contains(line, "NaN") || !strings.Contains(line, " – ") {
				t.Errorf("baseline row without a dash for its n=0 AUC: %q", line)
			}
		}
		if strings.HasSuffix(line, " ") {
			t.Errorf("trailing space: %q", line)
		}
	}
	// The invited column counts sessions with a known outcome: linger's is
	// not its 151 decisions.
	if !regexp.MustCompile(`(?m)^linger +148 +11\.3%`).MatchString(got) {
		t.Errorf("linger's row does not count the 148 invited sessions with a known outcome:\n%s", got)
	}
	// The table is aligned: every row of it starts its precision at the
	// same column.
	var cols []int
	for _, line := range lines[:auc] {
		for _, name := range []string{"linger  ", "exit-intent  ", "idle<30s> on <cart>  "} {
			if strings.HasPrefix(line, name) {
				fields := regexp.MustCompile(`\d+\.\d%`).FindAllStringIndex(line, -1)
				if len(fields) < 2 {
					t.Fatalf("row %q: too few figures", line)
				}
				cols = append(cols, len([]rune(line[:fields[1][0]])))
			}
		}
	}
	if len(cols) != 3 || cols[0] != cols[1] || cols[1] != cols[2] {
		t.Errorf("precision starts at columns %v, want 3 equal", cols)
	}
}

// TestTextFitsWidth: with the widest figures a report can hold and the
// baselines' real names, every line of the text fits textWidth columns,
// and a baseline at linger's rate sits under its rule.
func TestTextFitsWidth(t *testing.T) {
	r := sampleReport()
	wide := outcomes.Estimate{Value: 1, N: 99999, Lo: 0.99961, Hi: 1}
	r.Quality = Quality{InviteRate: wide, Precision: wide, Recall: wide, AUC: outcomes.Estimate{Value: 1, N: 99999, Lo: 0.999, Hi: 1},
		LeadTime: leadTime{P50: outcomes.Estimate{Value: 1234, N: 9, Lo: 999, Hi: 1999}, P90: outcomes.Estimate{Value: 9999, N: 9, Lo: 8888, Hi: 99999}}}
	r.InvitedSessions = 99999
	r.Baselines = nil
	for _, rl := range rules {
		for _, name := range []string{rl.name, rl.name + ", at linger's invite rate"} {
			r.Baselines = append(r.Baselines, baseline{Name: name, Rule: rl.describe(3*time.Minute + 20758*time.Millisecond), Invites: 99999, Quality: r.Quality})
		}
	}
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(b.String(), "\n") {
		if n := utf8.RuneCountInString(line); n > textWidth {
			t.Errorf("%d columns: %q", n, line)
		}
	}
	if !strings.Contains(b.String(), "\n  at linger's invite rate  ") {
		t.Errorf("the baseline at linger's rate is not under its rule:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "time on site > 3m21s") || strings.Contains(b.String(), "20.758") {
		t.Errorf("a rule's duration is not rounded:\n%s", b.String())
	}
}

func TestWriteHTML(t *testing.T) {
	r := sampleReport()
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	// A golden page too, so that a change to the page shows in review, and
	// can be opened in a browser there.
	checkGolden(t, filepath.Join("testdata", "render", "report.golden.html"), page)

	if !strings.HasPrefix(page, "<!DOCTYPE html>") {
		t.Errorf("page starts %.40q", page)
	}
	svgs := regexp.MustCompile(`<svg [^>]*>`).FindAllString(page, -1)
	plots, bars := 0, 0
	for _, s := range svgs {
		switch {
		case strings.Contains(s, `class="plot"`):
			plots++
		case strings.Contains(s, `class="bars"`):
			bars++
		}
	}
	if len(svgs) != 4 || plots != 3 || bars != 1 {
		t.Errorf("%d svg elements, %d plots, %d bar charts; want 3 plots and 1 bar chart", len(svgs), plots, bars)
	}

	// Self-contained: nothing to fetch.
	rest := strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, "")
	for _, s := range []string{"http://", "https://", "<script", "<link", "@import", "url(", "src="} {
		if strings.Contains(strings.ToLower(rest), s) {
			t.Errorf("page holds %q", s)
		}
	}

	// Escaped: the baseline named "idle<30s> on <cart>" shows as text.
	if strings.Contains(page, "<cart>") || strings.Contains(page, "idle<30s>") {
		t.Error("a baseline name is not escaped")
	}
	if !strings.Contains(page, "idle&lt;30s&gt; on &lt;cart&gt;") {
		t.Error("the escaped baseline name is missing")
	}
	// And in the SVG, which is built outside html/template.
	sig := signalsSVG([]signalCount{{`form_errors<"postcode">&more`, 3}}, 0, 3)
	if strings.Contains(sig, `<"postcode">`) || !strings.Contains(sig, `form_errors&lt;&#34;postcode&#34;&gt;&amp;more`) {
		t.Errorf("a signal name is not escaped in the SVG:\n%s", sig)
	}
	for _, s := range []string{"NaN", "Inf", "%!"} {
		if strings.Contains(page, s) {
			t.Errorf("page holds %q", s)
		}
	}

	// The summary table shows what the text shows, the warnings and the
	// share of eligible sessions included; the threshold plot says what it
	// counts and draws the band.
	for _, s := range []string{"58.9%", "[51.0–66.5] n=151", "exit-intent", "idle_checkout_s", "AUC 0.84 [0.82–0.87] n=1340",
		`<p class="warning"><strong>warning:</strong> a warning long enough`, "Invited of the 1200 eligible sessions", "above rate_band 3–10%",
		"Invite share and precision against the abandonment threshold", `class="band"`, `data-series="confusion-rate"`,
		"of which confusion", "rate_band 3–10%", "invite share, both reasons"} {
		if !strings.Contains(page, s) {
			t.Errorf("page lacks %q", s)
		}
	}

	// Each plot's data is there.
	m := regexp.MustCompile(`<polyline id="roc-curve"[^>]* points="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no ROC curve")
	}
	if n := len(strings.Fields(m[1])); n != len(r.Plots.ROC) {
		t.Errorf("ROC curve has %d points, want %d", n, len(r.Plots.ROC))
	}
	if n := strings.Count(page, `class="bin hover"`); n != r.Plots.ScoreHistogram.Bins {
		t.Errorf("histogram has %d bins, want %d", n, r.Plots.ScoreHistogram.Bins)
	}
	for _, o := range []string{"purchase", "abandoned", "browse"} {
		if !strings.Contains(page, `data-outcome="`+o+`"`) {
			t.Errorf("histogram has no %s series", o)
		}
	}
	if n := strings.Count(page, `class="thr hover"`); n != len(r.Plots.Thresholds) {
		t.Errorf("threshold plot has %d points, want %d", n, len(r.Plots.Thresholds))
	}
	// Precision breaks where it is not a number: 27 points, one segment.
	pm := regexp.MustCompile(`data-series="precision" d="([^"]*)"`).FindStringSubmatch(page)
	if pm == nil || strings.Count(pm[1], "M") != 1 || strings.Count(pm[1], "L") != 26 {
		t.Errorf("precision line = %v, want one segment of 27 points", pm)
	}
	if n := strings.Count(page, `class="bar"`); n != len(r.Signals) {
		t.Errorf("bar chart has %d bars, want %d", n, len(r.Signals))
	}
	if strings.Contains(page, "no data") {
		t.Error(`a plot with data says "no data"`)
	}

	htmltest.WellFormed(t, page)
}

// checkGolden compares got with the golden file, or rewrites the file with
// -update.
func checkGolden(t *testing.T, golden, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./pipeline/replay -run %s -update creates it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s; if the change is meant, go test ./pipeline/replay -run %s -update refreshes it:\n--- got\n%s\n--- want\n%s",
			golden, t.Name(), got, want)
	}
}

// TestEmptyReport: a replay of nothing renders, its plots saying so.
func TestEmptyReport(t *testing.T) {
	var r Report
	var j, txt, h bytes.Buffer
	if err := r.WriteJSON(&j); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(j.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc["baselines"].([]any); !ok {
		t.Errorf("baselines = %v, want []", doc["baselines"])
	}
	if err := r.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(txt.String(), "top signals of invites: none") {
		t.Errorf("text:\n%s", txt.String())
	}
	if err := r.WriteHTML(&h); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(h.String(), ">no data<"); n != 4 {
		t.Errorf(`%d "no data", want 4 (three plots and the bar chart)`, n)
	}
	htmltest.WellFormed(t, h.String())

	// Points that are not numbers are no data either.
	r.Plots.ROC = []curvePoint{{math.NaN(), math.NaN()}}
	r.Plots.Thresholds = []thresholdPoint{{Threshold: math.NaN()}}
	r.Plots.ScoreHistogram = scoreHistogram{Bins: 20, Purchase: make([]int, 20)}
	h.Reset()
	if err := r.WriteHTML(&h); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(h.String(), ">no data<"); n != 4 {
		t.Errorf(`%d "no data", want 4`, n)
	}
}

// TestThresholdMarker: the configured threshold is marked with the
// figures read off the curves there.
func TestThresholdMarker(t *testing.T) {
	pts := []thresholdPoint{{0.6, 0.2, 0.04, 0.5}, {0.7, 0.1126, 0.04, 0.625}, {0.8, 0.05, 0.04, math.NaN()}}
	band := Band{Low: 0.03, High: 0.1}
	s := thresholdsSVG(pts, 0.7, band)
	if !strings.Contains(s, `class="configured"`) || !strings.Contains(s, "configured 0.7: invite share 11.3%, precision 62.5%") {
		t.Errorf("no marker:\n%s", s)
	}
	// Between points, the figures are the nearest point's, and say so.
	if s := thresholdsSVG(pts, 0.72, band); !strings.Contains(s, "configured 0.72 · at 0.7: invite share 11.3%") {
		t.Errorf("marker between points:\n%s", s)
	}
	if s := thresholdsSVG(pts, math.NaN(), band); strings.Contains(s, `class="configured"`) {
		t.Error("a marker without a configured threshold")
	}
}

func TestFigures(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		got  outcomes.Figure
		want string
	}{
		// Proportions are checked in package outcomes, which formats them.
		{aucFigure(outcomes.Estimate{Value: nan, N: 0, Lo: nan, Hi: nan}), "–"},
		{aucFigure(outcomes.Estimate{Value: 0.5, N: 9, Lo: 0.1, Hi: 0.9}), "0.50 [0.10–0.90] n=9"},
		{secondsFigure(outcomes.Estimate{Value: 9.94, N: 3, Lo: 1, Hi: 30}), "9.9s [1.0–30.0] n=3"},
		{secondsFigure(outcomes.Estimate{Value: 10, N: 3, Lo: 1.4, Hi: 30}), "10s [1–30] n=3"},
	} {
		if got := c.got.String(); got != c.want {
			t.Errorf("figure %q, want %q", got, c.want)
		}
	}
	if got := svgplot.NiceStep(0.23, 5); got != 0.05 {
		t.Errorf("niceStep(0.23, 5) = %v", got)
	}
	if got := svgplot.Ticks(0, 1, 0.1); len(got) != 11 || got[10] != 1 {
		t.Errorf("ticks(0, 1, 0.1) = %v", got)
	}
}
