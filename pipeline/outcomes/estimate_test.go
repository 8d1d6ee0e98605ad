package outcomes

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

// TestEstimateJSONFields: the JSON form of Estimate writes its fields,
// with their names and in their order, so that a field renamed or added
// there cannot silently go missing from the JSON.
func TestEstimateJSONFields(t *testing.T) {
	v := Estimate{Value: 1, N: 1, Lo: 1, Hi: 1}
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

func TestFigures(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		got  Figure
		want string
	}{
		{ProportionFigure(Estimate{Value: 0.4217, N: 512, Lo: 0.3789, Hi: 0.4657}), "42.2% [37.9–46.6] n=512"},
		{ProportionFigure(Estimate{Value: 0, N: 40, Lo: -1e-17, Hi: 0.0876}), "0.0% [0.0–8.8] n=40"},
		{ProportionFigure(Estimate{Value: nan, N: 0, Lo: nan, Hi: nan}), "–"},
		{ProportionFigure(Estimate{}), "–"},
		{ProportionFigure(Estimate{Value: nan, N: 7, Lo: nan, Hi: nan}), "–"},
		{ProportionFigure(Estimate{Value: 0.5, N: 2, Lo: nan, Hi: nan}), "50.0% n=2"},
	} {
		if got := c.got.String(); got != c.want {
			t.Errorf("figure %q, want %q", got, c.want)
		}
	}
}

func TestQuantileInterval(t *testing.T) {
	xs := make([]float64, 1000)
	for i := range xs {
		xs[i] = float64(i)
	}
	e := Quantile(xs, 0.5)
	if e.Value < 495 || e.Value > 505 || e.Lo > e.Value || e.Hi < e.Value || e.Hi-e.Lo > 80 || e.Hi-e.Lo < 40 {
		t.Fatalf("median of 0..999: %+v", e)
	}
	if e := Quantile(nil, 0.5); !math.IsNaN(e.Value) || e.N != 0 {
		t.Fatalf("quantile of nothing: %+v", e)
	}
}
