package deploy

import (
	"regexp"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd, args string
	line      int
}

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	var out []instruction
	cur, start := "", 0
	for i, line := range strings.Split(string(readFile(t, path)), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur == "" {
			start = i + 1
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur += strings.TrimSuffix(trimmed, "\\") + " "
			continue
		}
		cur += trimmed
		cmd, args, _ := strings.Cut(cur, " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args), start})
		cur = ""
	}
	return out
}

// buildLine is the Dockerfile's go build command, which deploy/check.sh finds
// with the same pattern and runs as plain shell.
var buildLine = regexp.MustCompile(`(?m)^RUN (CGO_ENABLED=0 .*go build .*)$`)

// TestDockerfile lints deploy/Dockerfile: a build stage on the Go image, a
// static build with the Makefile's -ldflags, a distroless non-root final
// stage, no ADD of remote files.
func TestDockerfile(t *testing.T) {
	const path = "Dockerfile"
	ins := parseDockerfile(t, path)
	var stages [][]instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("%s:%d: %s before the first FROM", path, in.line, in.cmd)
			}
			continue
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
		if in.cmd == "ADD" {
			t.Errorf("%s:%d: ADD (use COPY; never ADD a URL)", path, in.line)
		}
		if in.cmd == "RUN" && regexp.MustCompile(`(curl|wget)\s`).MatchString(in.args) {
			t.Errorf("%s:%d: downloads in RUN: %s", path, in.line, in.args)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("%s: %d stages, want a build stage and a final one", path, len(stages))
	}
	from := regexp.MustCompile(`^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$`)
	build := from.FindStringSubmatch(stages[0][0].args)
	if build == nil || !strings.HasPrefix(build[1], "golang:1.26") || build[2] != "build" {
		t.Errorf("%s: first stage %q, want FROM golang:1.26 AS build", path, stages[0][0].args)
	}
	final := stages[len(stages)-1]
	base := from.FindStringSubmatch(final[0].args)
	if base == nil || !strings.HasPrefix(base[1], "gcr.io/distroless/static") || !strings.HasSuffix(base[1], ":nonroot") {
		t.Errorf("%s: final stage %q, want a distroless static :nonroot base", path, final[0].args)
	}
	last := map[string]string{}
	for _, in := range final {
		last[in.cmd] = in.args
	}
	if u := last["USER"]; u != "nonroot" && u != "nonroot:nonroot" && !regexp.MustCompile(`^[1-9][0-9]*(:[1-9][0-9]*)?$`).MatchString(u) {
		t.Errorf("%s: final stage USER %q, want a non-root user", path, u)
	}
	if e := last["ENTRYPOINT"]; e != `["/usr/local/bin/linger"]` {
		t.Errorf("%s: ENTRYPOINT %s, want [\"/usr/local/bin/linger\"]", path, e)
	}
	if c := last["CMD"]; c != `["run"]` {
		t.Errorf("%s: CMD %s, want [\"run\"]", path, c)
	}
	if !strings.Contains(" "+last["EXPOSE"]+" ", " 9464 ") {
		t.Errorf("%s: EXPOSE %q, want 9464", path, last["EXPOSE"])
	}
	if last["ENV"] != "LINGER_HTTP=0.0.0.0:9464" {
		t.Errorf("%s: ENV %q, want LINGER_HTTP=0.0.0.0:9464 (linger's default listens on loopback only)", path, last["ENV"])
	}
	if c := last["COPY"]; c != "--from=build /out/linger /usr/local/bin/linger" {
		t.Errorf("%s: final COPY %q", path, c)
	}

	// The build command: one line, static, -trimpath, the Makefile's ldflags.
	m := buildLine.FindAllStringSubmatch(string(readFile(t, path)), -1)
	if len(m) != 1 {
		t.Fatalf("%s: %d lines match %s, want exactly one (deploy/check.sh runs it)", path, len(m), buildLine)
	}
	cmd := m[0][1]
	for _, want := range []string{"CGO_ENABLED=0", " -trimpath ", " -o /out/linger ", " ./cmd/linger"} {
		if !strings.Contains(cmd+" ", want) {
			t.Errorf("%s: the go build line lacks %q: %s", path, want, cmd)
		}
	}
	mk := regexp.MustCompile(`(?m)^LDFLAGS\s*:?=\s*(.*)$`).FindStringSubmatch(string(readFile(t, "../Makefile")))
	if mk == nil {
		t.Fatal("Makefile: no LDFLAGS")
	}
	ldflags := strings.ReplaceAll(strings.TrimSpace(mk[1]), "$(VERSION)", "${VERSION}")
	if !strings.Contains(cmd, ldflags) {
		t.Errorf("%s: the go build line does not pass the Makefile's ldflags %q: %s", path, ldflags, cmd)
	}

	// The context is the repository root; .dockerignore keeps .git out.
	ignore := strings.Fields(string(readFile(t, "../.dockerignore")))
	for _, want := range []string{".git", "bin"} {
		found := false
		for _, l := range ignore {
			found = found || l == want
		}
		if !found {
			t.Errorf(".dockerignore: does not exclude %s", want)
		}
	}
}
