package scoring

// The walk of a config file's node tree against Config's structure:
// what is unknown, what has the wrong type, and the words for both.

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// walker checks a node tree against a Go type and returns a copy of it
// without the entries that would not decode, so that decoding the copy
// cannot fail and the rules of Validate see every value that is well
// formed. It never changes the tree it reads.
type walker struct {
	// prefix is put before every key it reports (sites.<name> for a
	// site's overrides).
	prefix path
	// site: the tree is a site's overrides, which cannot hold sites.
	site     bool
	problems []ConfigProblem
	// dropped are the paths (relative to the tree) of entries left out
	// or replaced: a rule's issue about them would only repeat a problem
	// already reported, about a default that stood in for the value.
	dropped []path
	// memo holds what walk made of each anchored node (&name), which
	// aliases (*name) can reach many times: it is walked once per type,
	// so that a document of aliases of aliases cannot make the walk
	// exponential, and an alias inside its own anchor cannot make it
	// endless.
	memo map[walked]walkResult
}

type walked struct {
	n *yaml.Node
	t reflect.Type
}

type walkResult struct {
	n        *yaml.Node
	ok, busy bool
}

func (w *walker) report(line int, key path, format string, args ...any) {
	w.problems = append(w.problems, ConfigProblem{Line: line, Key: w.prefix.with(key...).String(), Message: fmt.Sprintf(format, args...)})
}

// walk returns a cleaned copy of n, or false when n itself cannot be a t
// (the problem is then reported, and the caller leaves n out). An alias
// stays an alias (of the cleaned anchor), so that the decoder's own guard
// against documents of excessive aliasing still applies.
func (w *walker) walk(n *yaml.Node, t reflect.Type, at path) (*yaml.Node, bool) {
	alias := n
	if n = deref(n); n.Anchor == "" {
		return w.walkNode(n, t, at)
	}
	if w.memo == nil {
		w.memo = map[walked]walkResult{}
	}
	key := walked{n, t}
	r, seen := w.memo[key]
	switch {
	case seen && r.busy:
		w.report(alias.Line, at, "*%s refers to the anchor &%s it is in", alias.Value, n.Anchor)
		return nil, false
	case !seen:
		w.memo[key] = walkResult{busy: true}
		r.n, r.ok = w.walkNode(n, t, at)
		w.memo[key] = r
	}
	if alias.Kind == yaml.AliasNode && r.ok {
		a := *alias
		a.Alias = r.n
		return &a, true
	}
	return r.n, r.ok
}

func (w *walker) walkNode(n *yaml.Node, t reflect.Type, at path) (*yaml.Node, bool) {
	switch {
	case t == nodeType:
		// A site's overrides: checked on their own, against Config, by
		// Config.check. Made to stand alone first: Marshal writes the
		// sites in name order, which need not be the order of an
		// anchor (&base) and its aliases (*base) across sites.
		x := expander{budget: maxSiteNodes, active: map[*yaml.Node]bool{}}
		c := x.expand(n)
		if x.problem != "" {
			if x.line == 0 {
				x.line = n.Line // too big: the site is
			}
			w.report(x.line, at, "%s", x.problem)
			return nil, false
		}
		return c, true
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.wrongType(n, t, at)
			return nil, false
		}
		return w.mapping(n, t, at, func(k, v *yaml.Node) (*yaml.Node, bool) {
			key := at.with(k.Value)
			if w.site && t == configType && len(at) == 0 && k.Value == "sites" {
				w.report(k.Line, nil, "a site cannot have sites of its own")
				return nil, false
			}
			f, ok := fieldByKey(t, k.Value)
			if !ok {
				w.report(k.Line, at, "%s", unknownKey(k.Value, w.keysOf(t, at)))
				return nil, false
			}
			return w.walk(v, f.Type, key)
		}), true
	case t.Kind() == reflect.Map:
		if isNull(n) {
			return n, true // an empty map
		}
		if n.Kind != yaml.MappingNode {
			w.wrongType(n, t, at)
			return nil, false
		}
		return w.mapping(n, t, at, func(k, v *yaml.Node) (*yaml.Node, bool) {
			return w.walk(v, t.Elem(), at.with(k.Value))
		}), true
	case t.Kind() == reflect.Slice:
		if isNull(n) {
			return n, true // an empty list
		}
		if n.Kind != yaml.SequenceNode {
			w.wrongType(n, t, at)
			return nil, false
		}
		out := *n
		out.Content = make([]*yaml.Node, len(n.Content))
		for i, item := range n.Content {
			c, ok := w.walk(item, t.Elem(), at.with(index(i)))
			if !ok {
				// Keep the item's place with a zero value, so the items
				// after it keep their index (routes[2] is still the
				// third rule; the decoder skips a null item).
				w.dropped = append(w.dropped, at.with(index(i)))
				c = zeroNode(t.Elem(), item)
			}
			out.Content[i] = c
		}
		return &out, true
	default:
		return n, w.scalar(n, t, at)
	}
}

// maxSiteNodes bounds a site's overrides with their aliases expanded: a
// site sets a few dozen values, and a document of aliases of aliases
// expands exponentially.
const maxSiteNodes = 10_000

// expander copies a tree, replacing every alias by a copy of what it
// names, so that no node is an anchor or an alias.
type expander struct {
	budget int                 // nodes it may still make
	active map[*yaml.Node]bool // the anchors being copied, outermost first
	// problem says why the copy stopped, on line (0: the whole tree's);
	// "" while it goes on.
	problem string
	line    int
}

func (x *expander) expand(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		if x.active[n.Alias] {
			x.problem, x.line = fmt.Sprintf("*%s refers to the anchor &%s it is in", n.Value, n.Alias.Anchor), n.Line
			return nil
		}
		return x.expand(n.Alias)
	}
	if x.budget--; x.budget < 0 {
		x.problem = fmt.Sprintf("holds more than %d values once its aliases (*name) are expanded", maxSiteNodes)
		return nil
	}
	out := *n
	out.Anchor = ""
	if n.Content != nil {
		if n.Anchor != "" {
			x.active[n] = true
			defer delete(x.active, n)
		}
		out.Content = make([]*yaml.Node, len(n.Content))
		for i, c := range n.Content {
			if out.Content[i] = x.expand(c); x.problem != "" {
				return nil
			}
		}
	}
	return &out
}

// zeroNode is a node that decodes as the zero value of t (a struct or a
// string: the config's lists hold nothing else), in the place of n.
func zeroNode(t reflect.Type, n *yaml.Node) *yaml.Node {
	z := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Line: n.Line, Column: n.Column}
	if t.Kind() == reflect.Struct {
		z.Kind, z.Tag = yaml.MappingNode, "!!map"
	}
	return z
}

// mapping copies the key/value pairs of n that each accepts (returning the
// cleaned value), reporting keys that are not names and keys given twice.
// A merge key (<<: *defaults) is kept, its maps checked like n's own
// entries.
func (w *walker) mapping(n *yaml.Node, t reflect.Type, at path, each func(k, v *yaml.Node) (*yaml.Node, bool)) *yaml.Node {
	out := *n
	out.Content = make([]*yaml.Node, 0, len(n.Content))
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			if merged, ok := w.merge(v, t, at); ok {
				out.Content = append(out.Content, k, merged)
			}
			continue
		}
		if k.Kind != yaml.ScalarNode || isNull(k) {
			w.report(k.Line, at, "a key must be a name, got %s", describe(k))
			continue
		}
		if line, twice := first[k.Value]; twice {
			w.report(k.Line, at, "key %q given twice (first on line %d)", k.Value, line)
			w.dropped = append(w.dropped, at.with(k.Value))
			continue
		}
		first[k.Value] = k.Line
		c, ok := each(k, v)
		if !ok {
			w.dropped = append(w.dropped, at.with(k.Value))
			continue
		}
		out.Content = append(out.Content, k, c)
	}
	return &out
}

// merge checks the value of a merge key: a map, or a list of maps, each
// checked as a t.
func (w *walker) merge(v *yaml.Node, t reflect.Type, at path) (*yaml.Node, bool) {
	if d := deref(v); d.Kind == yaml.SequenceNode {
		out := *d
		out.Content = nil
		for _, item := range d.Content {
			if c, ok := w.walk(item, t, at); ok {
				out.Content = append(out.Content, c)
			}
		}
		return &out, true
	}
	return w.walk(v, t, at)
}

// scalar reports whether n decodes as a t, as the decoder of the whole file
// would decode it, and stricter where the decoder is silent: an empty value
// and a whole-number key given a fraction (which the decoder truncates) are
// problems.
func (w *walker) scalar(n *yaml.Node, t reflect.Type, at path) bool {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		w.wrongType(n, t, at)
		return false
	}
	v := reflect.New(t)
	if err := n.Decode(v.Interface()); err != nil {
		w.wrongType(n, t, at)
		return false
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var f float64
		if t != durationType && n.Decode(&f) == nil && f != math.Trunc(f) {
			w.wrongType(n, t, at)
			return false
		}
	}
	return true
}

// wrongType reports that n is not what t wants, in words.
func (w *walker) wrongType(n *yaml.Node, t reflect.Type, at path) {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		if t == durationType {
			if _, err := strconv.ParseFloat(n.Value, 64); err == nil && n.ShortTag() != "!!str" {
				// A bare number: show it with a unit, the fix at hand.
				w.report(n.Line, at, "want a duration such as %ss", n.Value)
				return
			}
		}
		if isPercentKey(at) && strings.HasSuffix(n.Value, "%") {
			if _, err := strconv.ParseFloat(strings.TrimSuffix(n.Value, "%"), 64); err == nil {
				w.report(n.Line, at, "want a plain number such as %s (the key is in percent), got %s", strings.TrimSuffix(n.Value, "%"), describe(n))
				return
			}
		}
	}
	w.report(n.Line, at, "want %s, got %s", wantOf(t, at), describe(n))
}

func isPercentKey(at path) bool {
	return len(at) > 0 && strings.HasSuffix(at[len(at)-1], "_percent")
}

// wantOf says what a value of type t looks like in the file.
func wantOf(t reflect.Type, at path) string {
	switch {
	case t == durationType:
		return "a duration such as 45s"
	case t == configType:
		return "a map of keys such as {silence: 45s}"
	case t == reflect.TypeFor[map[string]yaml.Node]():
		return "a map of site names to the keys they override, such as {shop-eu: {holdout_percent: 10}}"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number such as 3"
	case reflect.Float32, reflect.Float64:
		if isPercentKey(at) {
			return "a percentage as a plain number such as 10"
		}
		return "a number such as 0.7"
	case reflect.String:
		return "a single value"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return "a list of maps, each with the keys " + strings.Join(keysOf(t.Elem()), ", ")
		}
		// The config's only lists of words are lists of page kinds.
		return "a list such as [cart, checkout]"
	case reflect.Map:
		// The config's only maps of numbers are keyed by signal.
		return "a map of signal names to numbers such as {rage_clicks: 3}"
	case reflect.Struct:
		return "a map with the keys " + strings.Join(keysOf(t), ", ")
	}
	return "a value of another kind"
}

// describe says what n is, for "got ...": the value as written (quoted
// when the file quotes it or it is not a number or a boolean), or its kind.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "no value"
		}
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		switch n.ShortTag() {
		case "!!int", "!!float", "!!bool":
			return v
		}
		return strconv.Quote(v)
	}
	return "something else"
}

// keysOf lists the yaml keys of struct type t, in field order.
func keysOf(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			keys = append(keys, name)
		}
	}
	return keys
}

// keysOf lists the keys allowed at this point of the tree: a site's
// overrides do not include sites.
func (w *walker) keysOf(t reflect.Type, at path) []string {
	keys := keysOf(t)
	if w.site && t == configType && len(at) == 0 {
		keys = deleteString(keys, "sites")
	}
	return keys
}

func deleteString(s []string, x string) []string {
	out := s[:0:0]
	for _, v := range s {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

// yamlName is the key of struct field f in the file, "" for a field the
// file cannot set.
func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	switch name {
	case "-":
		return ""
	case "":
		return strings.ToLower(f.Name) // the decoder's default
	}
	return name
}

func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); yamlName(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// unknownKey is the message for a key that is not one of known, with the
// known key it is most likely a typo of.
func unknownKey(key string, known []string) string {
	if s := closest(key, known); s != "" {
		return fmt.Sprintf("unknown key %q (did you mean %q?)", key, s)
	}
	return fmt.Sprintf("unknown key %q", key)
}

// closest returns the word of known that word is most likely a mistyping
// of, or "" when none is close enough to suggest: within an edit distance
// that grows with the word's length (1 up to 5 letters, 2 up to 10, then 3),
// or, failing that, the one known word that holds word as whole parts
// ("breathing" for breathing_space).
func closest(word string, known []string) string {
	lower := strings.ToLower(word)
	limit := 1
	switch {
	case len(word) > 10:
		limit = 3
	case len(word) > 5:
		limit = 2
	}
	best, bestD := "", limit+1
	for _, k := range known {
		if d := editDistance(lower, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return best
	}
	if len(word) < 4 {
		return ""
	}
	var found []string
	for _, k := range known {
		if strings.HasPrefix(k, lower+"_") || strings.HasSuffix(k, "_"+lower) || strings.Contains(k, "_"+lower+"_") {
			found = append(found, k)
		}
	}
	if len(found) == 1 {
		return found[0]
	}
	return ""
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of neighbours count one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows of the table: two back (for swaps), previous, current.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
