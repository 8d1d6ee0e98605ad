// Package layout checks the properties of the source tree that the README's
// Layout table promises: dependencies point down only, the partition engine
// needs neither a Kafka client nor Prometheus, replay needs no Kafka client,
// the packages that speak Kafka keep a small surface, and no file grows past
// what one reader holds in mind. It has tests only.
//
// `go test ./internal/layout -run TestSurface -v` prints every package's
// line count and exported-name count.
package layout

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/lingerhq/linger"

// pkg is one package of the module as `go list` sees it.
type pkg struct {
	path    string // import path without the module prefix ("" for none)
	dir     string
	files   []string // non-test Go files
	imports []string // direct imports
	deps    []string // every dependency, transitively
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}\t{{.Dir}}\t{{join .GoFiles \",\"}}\t{{join .Imports \",\"}}\t{{join .Deps \",\"}}", module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			t.Fatalf("go list line %q", line)
		}
		p := pkg{path: strings.TrimPrefix(strings.TrimPrefix(f[0], module), "/"), dir: f[1]}
		p.files = split(f[2])
		p.imports = split(f[3])
		p.deps = split(f[4])
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// ours returns the imports of p that are packages of this module.
func ours(imports []string) []string {
	var o []string
	for _, i := range imports {
		if rest, ok := strings.CutPrefix(i, module+"/"); ok {
			o = append(o, rest)
		}
	}
	return o
}

// kafkaClient reports whether a dependency list holds a Kafka client.
func kafkaClient(deps []string) bool {
	return slices.ContainsFunc(deps, func(d string) bool {
		return strings.HasPrefix(d, "github.com/twmb/franz-go/") || strings.HasPrefix(d, "github.com/segmentio/kafka-go")
	})
}

func prometheusClient(deps []string) bool {
	return slices.ContainsFunc(deps, func(d string) bool {
		return strings.HasPrefix(d, "github.com/prometheus/")
	})
}

// TestDependenciesPointDown holds each package to the imports the Layout
// table allows it.
func TestDependenciesPointDown(t *testing.T) {
	allowed := map[string][]string{
		"schemas":            {},
		"scoring":            {"schemas"},
		"scoring/learn":      {"scoring"},
		"pipeline/partition": {"scoring", "schemas"},
		// scoring/learn for Newcombe's interval of a difference, which the
		// outcomes and the replay's quality figures share.
		"pipeline/outcomes": {"internal/svgplot", "scoring", "scoring/learn", "schemas"},
		"pipeline/replay":   {"internal/svgplot", "pipeline/partition", "pipeline/outcomes", "scoring", "scoring/learn", "schemas"},
		"pipeline":          {"internal/buildinfo", "pipeline/partition", "scoring", "schemas"},
		"pipeline/gateway":  {"internal/buildinfo", "pipeline", "schemas"},
		"bench":             {"internal/promscrape", "internal/svgplot", "schemas"},
		// linger simulate needs the engine's decisions for the visitors'
		// answers; the simulator and the load driver do not.
		"bench/simulate":     {"bench", "pipeline/partition", "schemas", "scoring"},
		"internal/svgplot":   {},
		"internal/buildinfo": {},
	}
	for _, p := range listPackages(t) {
		want, ok := allowed[p.path]
		if !ok {
			continue // cmd, deploy, test helpers: free to wire what they need
		}
		for _, imp := range ours(p.imports) {
			if !slices.Contains(want, imp) {
				t.Errorf("%s imports %s; the Layout table allows %v", p.path, imp, want)
			}
		}
	}
}

// TestEngineNeedsNoKafka checks the properties that make replay decide
// exactly as run: the engine has no Kafka client and no Prometheus among its
// dependencies, and replay no Kafka client.
func TestEngineNeedsNoKafka(t *testing.T) {
	found := 0
	for _, p := range listPackages(t) {
		switch p.path {
		case "pipeline/partition", "scoring", "schemas":
			found++
			if kafkaClient(p.deps) {
				t.Errorf("%s depends on a Kafka client", p.path)
			}
			if prometheusClient(p.deps) {
				t.Errorf("%s depends on Prometheus", p.path)
			}
		case "pipeline/replay", "pipeline/outcomes":
			found++
			if kafkaClient(p.deps) {
				t.Errorf("%s depends on a Kafka client", p.path)
			}
		}
	}
	if found != 5 {
		t.Errorf("found %d of the 5 packages checked: a package moved?", found)
	}
}

// surface is what one package shows and weighs.
type surface struct {
	exported int // exported top-level names plus exported fields of exported structs
	lines    int // lines of non-test Go files
	longest  int
	longFile string
}

// measure counts p's exported names the way a reviewer would: top-level
// exported functions, types, consts and vars, and the exported fields of
// exported struct types; methods are not counted.
func measure(t *testing.T, p pkg) surface {
	t.Helper()
	var s surface
	fset := token.NewFileSet()
	for _, name := range p.files {
		path := filepath.Join(p.dir, name)
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		n := strings.Count(string(src), "\n")
		s.lines += n
		if n > s.longest {
			s.longest, s.longFile = n, name
		}
		f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && d.Name.IsExported() {
					s.exported++
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch spec := spec.(type) {
					case *ast.ValueSpec:
						for _, n := range spec.Names {
							if n.IsExported() {
								s.exported++
							}
						}
					case *ast.TypeSpec:
						if !spec.Name.IsExported() {
							continue
						}
						s.exported++
						if st, ok := spec.Type.(*ast.StructType); ok {
							for _, fl := range st.Fields.List {
								for _, n := range fl.Names {
									if n.IsExported() {
										s.exported++
									}
								}
							}
						}
					}
				}
			}
		}
	}
	return s
}

// maxExported bounds the surface of a package that speaks Kafka: beyond
// it, the package is doing more than one job.
const maxExported = 90

// maxFileLines bounds a non-test source file.
const maxFileLines = 700

// TestSurface keeps the packages that import the Kafka client small (the
// bench harness, the gateway and test helpers aside) and every source file
// under maxFileLines; with -v it prints each package's figures.
func TestSurface(t *testing.T) {
	for _, p := range listPackages(t) {
		s := measure(t, p)
		t.Logf("%-22s %6d lines %4d exported  longest %s (%d)", p.path, s.lines, s.exported, s.longFile, s.longest)
		if s.longest > maxFileLines {
			t.Errorf("%s/%s has %d lines; the most is %d: split it by job", p.path, s.longFile, s.longest, maxFileLines)
		}
		exempt := p.path == "bench" || p.path == "pipeline/gateway" || strings.HasPrefix(p.path, "cmd/") ||
			strings.HasSuffix(p.path, "test") || strings.HasPrefix(p.path, "deploy")
		if !exempt && kafkaClient(p.imports) && s.exported > maxExported {
			t.Errorf("%s imports a Kafka client and exports %d names; the most is %d", p.path, s.exported, maxExported)
		}
	}
}
