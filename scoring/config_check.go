package scoring

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file turns a config file into the problems a data engineer reads:
// the YAML is read into a node tree first and walked against Config's
// structure (its yaml tags, by reflection), so every unknown key and every
// value of the wrong type is found with its line, in words rather than Go
// types; the bad entries are left out of the tree, which is then decoded, so
// the rules of Validate still run on everything else. Nothing here is on the
// hot path.

// ConfigProblem is one problem in a scoring config: where it is and what is
// wrong, in words.
type ConfigProblem struct {
	// Line is the line of the file the problem is on, counted from 1; 0
	// when there is no file (a Config built in code) or its lines would
	// mean nothing to the user (see ConfigError.WithoutLines).
	Line int
	// Key is the key the problem is about, dotted as in the file:
	// thresholds.abandonment, sites.shop-eu.silence, routes[0].team; ""
	// for the file as a whole.
	Key string
	// Message says what is wrong and, where it can, what is wanted.
	Message string
}

// String returns the problem as a user reads it:
// `line 3: silence: want a duration such as 45s`.
func (p ConfigProblem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ConfigError is the error of ParseConfig and Validate: every problem
// found, sorted by line, so a file is fixed in one go.
type ConfigError struct {
	Problems []ConfigProblem
}

// Error returns the one problem, or a count followed by one indented line
// per problem.
func (e *ConfigError) Error() string {
	if len(e.Problems) == 1 {
		return e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// WithoutLines returns a copy of e without line numbers, for a config the
// user did not write line by line (a sweep's variant of their file, built
// from a key and a value they gave): there a line would point into a
// document they never saw, and the key says it all.
func (e *ConfigError) WithoutLines() *ConfigError {
	out := &ConfigError{Problems: append([]ConfigProblem(nil), e.Problems...)}
	for i := range out.Problems {
		out.Problems[i].Line = 0
	}
	return out
}

// newConfigError sorts ps by line (those without a line last, in the order
// found), drops repeats (an anchor's content is walked once per alias) and
// returns nil when there is nothing to say.
func newConfigError(ps []ConfigProblem) error {
	if len(ps) == 0 {
		return nil
	}
	sort.SliceStable(ps, func(i, j int) bool {
		li, lj := ps[i].Line, ps[j].Line
		if li == 0 || lj == 0 {
			return lj == 0 && li != 0
		}
		return li < lj
	})
	out := ps[:0]
	seen := make(map[ConfigProblem]bool, len(ps))
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return &ConfigError{Problems: out}
}

// path is a key's place in a config document: map keys, and "[i]" for the
// items of a list. It is kept in parts so that a key holding a dot (a site
// name, a mistyped signal) is still found.
type path []string

func (p path) String() string {
	var b strings.Builder
	for i, s := range p {
		if i > 0 && !isIndex(s) {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

// with returns p extended by parts, without sharing p's array.
func (p path) with(parts ...string) path {
	return append(append(make(path, 0, len(p)+len(parts)), p...), parts...)
}

func (p path) hasPrefix(q path) bool {
	if len(q) > len(p) {
		return false
	}
	for i := range q {
		if p[i] != q[i] {
			return false
		}
	}
	return true
}

func index(i int) string { return "[" + strconv.Itoa(i) + "]" }

func isIndex(s string) bool {
	_, ok := parseIndex(s)
	return ok
}

func parseIndex(s string) (int, bool) {
	if len(s) < 3 || s[0] != '[' || s[len(s)-1] != ']' {
		return 0, false
	}
	i, err := strconv.Atoi(s[1 : len(s)-1])
	return i, err == nil && i >= 0
}

// issue is a problem found by a rule of Validate, before its line is known:
// it is about key, and its line is that of the first of at (default: key)
// that the file holds.
type issue struct {
	key path
	at  []path
	msg string
}

// where returns the paths whose line the issue is on, best first.
func (is issue) where() []path {
	if len(is.at) > 0 {
		return is.at
	}
	return []path{is.key}
}

// parseDocument reads data as one YAML document. It returns the document's
// top node (nil when the file is empty) and the problems of the file as
// YAML: a syntax error, or a second document that would be ignored.
func parseDocument(data []byte) (*yaml.Node, []ConfigProblem) {
	text := string(data)
	dec := yaml.NewDecoder(strings.NewReader(text))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, []ConfigProblem{syntaxProblem(text, err)}
	}
	var root *yaml.Node
	if len(doc.Content) > 0 && !isNull(doc.Content[0]) {
		root = doc.Content[0]
	}
	for {
		// An empty document (a --- at the end) is harmless; anything
		// else after the first would be silently ignored.
		var more yaml.Node
		switch err := dec.Decode(&more); {
		case errors.Is(err, io.EOF):
			return root, nil
		case err != nil:
			return root, []ConfigProblem{syntaxProblem(text, err)}
		case len(more.Content) > 0 && !isNull(more.Content[0]):
			return root, []ConfigProblem{{Line: more.Content[0].Line,
				Message: "a second YAML document (after ---): a config file holds one, and the rest would be ignored"}}
		}
	}
}

var (
	yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	// The messages of the YAML parser (as opposed to its scanner), whose
	// line the library gives counted from 0, and leaves out on the first.
	yamlParserProblem = regexp.MustCompile(`^(did not find expected|found duplicate %|found incompatible YAML document|found undefined tag handle)`)
)

// syntaxProblem turns the YAML library's error ("yaml: line 3: mapping
// values are not allowed in this context") into a problem on that line.
func syntaxProblem(data string, err error) ConfigProblem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if yamlParserProblem.MatchString(msg) {
		line++
	}
	// At the end of a file without a final newline the library counts
	// one line more than there is.
	if n := strings.Count(strings.TrimSuffix(data, "\n"), "\n") + 1; line > n {
		line = n
	}
	return ConfigProblem{Line: line, Message: "not valid YAML: " + msg}
}

// undecodable is the message for a checked tree that still does not
// decode: the walker lets through only what decodes, so this is the
// decoder's guard against excessive aliasing (a document of aliases of
// aliases, which would take the decoder exponential time).
func undecodable(err error) string {
	return "cannot be read: " + strings.TrimPrefix(err.Error(), "yaml: ")
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// deref follows an alias (*name) to the node it names.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

var (
	configType   = reflect.TypeFor[Config]()
	durationType = reflect.TypeFor[time.Duration]()
	nodeType     = reflect.TypeFor[yaml.Node]()
)

// locate returns the line of the node at p under n (of its key, or of the
// list item), and whether all of p is in the file; when it is not, the
// line of the deepest part of p that is (0 for none).
func locate(n *yaml.Node, p path) (line int, exact bool) {
	if n == nil {
		return 0, false
	}
	for _, part := range p {
		switch n = deref(n); n.Kind {
		case yaml.MappingNode:
			k, v := lookup(n, part)
			if k == nil {
				return line, false
			}
			line, n = k.Line, v
		case yaml.SequenceNode:
			i, ok := parseIndex(part)
			if !ok || i >= len(n.Content) {
				return line, false
			}
			n = n.Content[i]
			line = n.Line
		default:
			return line, false
		}
	}
	return line, true
}

// lookup finds key in mapping n, its own entries first, then those it
// merges (<<), as the decoder applies them.
func lookup(n *yaml.Node, key string) (k, v *yaml.Node) {
	return lookupMerged(n, key, 0)
}

// maxMergeDepth bounds the merges lookup follows: a map that merges itself
// is an error the walker reports, not a reason to loop.
const maxMergeDepth = 8

func lookupMerged(n *yaml.Node, key string, depth int) (k, v *yaml.Node) {
	var merges []*yaml.Node
	for i := len(n.Content) - 2; i >= 0; i -= 2 {
		kn := deref(n.Content[i])
		if kn.Kind != yaml.ScalarNode {
			continue
		}
		if kn.ShortTag() == "!!merge" {
			merges = append(merges, deref(n.Content[i+1]))
		} else if kn.Value == key {
			return kn, n.Content[i+1]
		}
	}
	if depth >= maxMergeDepth {
		return nil, nil
	}
	for _, m := range merges {
		switch m.Kind {
		case yaml.MappingNode:
			if k, v := lookupMerged(m, key, depth+1); k != nil {
				return k, v
			}
		case yaml.SequenceNode:
			for _, item := range m.Content {
				if item = deref(item); item.Kind == yaml.MappingNode {
					if k, v := lookupMerged(item, key, depth+1); k != nil {
						return k, v
					}
				}
			}
		}
	}
	return nil, nil
}

// place finds the line of is in the tree n: the first of its paths that the
// file holds, else the nearest part of the first.
func (is issue) place(n *yaml.Node) (line int, exact bool) {
	where := is.where()
	for _, p := range where {
		if l, ok := locate(n, p); ok {
			return l, true
		}
	}
	line, _ = locate(n, where[0])
	return line, false
}

// covered reports whether is concerns an entry the walker left out: it was
// reported already, and the default that took its place is not the user's.
func (is issue) covered(dropped []path) bool {
	for _, p := range is.where() {
		for _, d := range dropped {
			if p.hasPrefix(d) {
				return true
			}
		}
	}
	return false
}
