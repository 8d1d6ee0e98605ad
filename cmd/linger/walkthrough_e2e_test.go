package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// walkthroughMarker opens the README's walkthrough: the sh block after it is
// what TestREADMEWalkthrough runs.
const walkthroughMarker = "<!-- walkthrough:"

// TestREADMEWalkthrough runs the README's first-hour walkthrough as a newcomer
// types it: each line in its own shell, in the directory and with the
// environment the lines before it left (cd and export are followed), and
// checks that each step exits 0 and prints or writes what its comment says.
// The clone is checked, not run: the test already runs in a checkout, which a
// "linger" link in a scratch directory stands for. A line without a check
// here fails the test, so the README cannot grow a step nobody runs.
func TestREADMEWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("the walkthrough needs make, as the README's quick start does")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	steps := walkthroughSteps(t, filepath.Join(root, "README.md"))

	w := &walker{t: t, root: root, dir: t.TempDir()}
	w.env = append(os.Environ(), "TMPDIR="+t.TempDir())
	if err := os.Symlink(root, filepath.Join(w.dir, "linger")); err != nil {
		t.Fatal(err)
	}
	for i, line := range steps {
		t.Logf("step %d: %s", i+1, line)
		w.step(line)
		if t.Failed() {
			t.Fatalf("step %d failed: %s", i+1, line)
		}
	}
}

// walkthroughSteps returns the commands of the README's walkthrough block,
// comments and blank lines removed.
func walkthroughSteps(t *testing.T, readme string) []string {
	t.Helper()
	f, err := os.Open(readme)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var steps []string
	state := 0 // 0: before the marker, 1: before the block, 2: in it
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case state == 0 && strings.HasPrefix(line, walkthroughMarker):
			state = 1
		case state == 1 && strings.HasPrefix(line, "```"):
			state = 2
		case state == 2 && strings.HasPrefix(line, "```"):
			if len(steps) == 0 {
				t.Fatal("README: the walkthrough block is empty")
			}
			return steps
		case state == 2:
			if cmd := stripShellComment(line); cmd != "" {
				steps = append(steps, cmd)
			}
		}
	}
	t.Fatalf("README: no complete sh block after %q", walkthroughMarker)
	return nil
}

// stripShellComment cuts a line at the first # that starts a word outside
// quotes, as sh would, and trims the rest.
func stripShellComment(line string) string {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return strings.TrimSpace(line[:i])
		}
	}
	return strings.TrimSpace(line)
}

// walker carries what a terminal carries from one command to the next.
type walker struct {
	t    *testing.T
	root string   // the checkout the clone stands for
	dir  string   // the working directory
	env  []string // the environment
}

// sh runs line in the walker's directory and environment.
func (w *walker) sh(line string, timeout time.Duration) (stdout, stderr string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", line)
	cmd.Dir, cmd.Env = w.dir, w.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		w.t.Errorf("%s: still running after %v\nstdout:\n%s\nstderr:\n%s", line, timeout, tail(out.String()), tail(errb.String()))
	} else if err != nil {
		w.t.Errorf("%s: %v\nstdout:\n%s\nstderr:\n%s", line, err, tail(out.String()), tail(errb.String()))
	}
	return out.String(), errb.String()
}

// tail keeps the end of a long output for a failure message.
func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

func (w *walker) file(name string) string {
	w.t.Helper()
	b, err := os.ReadFile(filepath.Join(w.dir, name))
	if err != nil {
		w.t.Errorf("the step should have written %s: %v", name, err)
	}
	return string(b)
}

func (w *walker) want(what, text, re string) {
	w.t.Helper()
	if !regexp.MustCompile(re).MatchString(text) {
		w.t.Errorf("%s does not match %q:\n%s", what, re, tail(text))
	}
}

// step runs one line of the walkthrough and checks what it promises.
func (w *walker) step(line string) {
	t := w.t
	t.Helper()
	fields := strings.Fields(line)
	switch {
	case fields[0] == "git" && fields[1] == "clone":
		mod, err := os.ReadFile(filepath.Join(w.root, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		path := strings.TrimPrefix(strings.SplitN(string(mod), "\n", 2)[0], "module ")
		if len(fields) != 3 || fields[2] != "https://"+path {
			t.Errorf("the walkthrough clones %v; the module is %s", fields[2:], path)
		}
	case fields[0] == "cd":
		out, _ := w.sh(line+" && pwd", time.Minute)
		w.dir = strings.TrimSpace(out)
	case fields[0] == "export":
		name, _, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			t.Fatalf("cannot follow %q", line)
		}
		out, _ := w.sh(line+` && printf %s "$`+name+`"`, time.Minute)
		w.env = append(w.env, name+"="+out)
		if name == "PATH" {
			lp, err := w.lookPath("linger")
			if err != nil || lp != filepath.Join(w.root, "bin", "linger") {
				t.Errorf("after %s, linger is %q (%v), not the one make build wrote", line, lp, err)
			}
		}
	case strings.HasPrefix(line, "make demo"):
		out, errOut := w.sh(line, 3*time.Minute)
		w.want("make demo's output", out+errOut, `linger demo: embedded broker`)
		w.want("make demo's output", out, `(?m)^\S+\s+invite\s+(abandonment|confusion)\s+0\.\d+`)
	case line == "make build":
		w.sh(line, 3*time.Minute)
		// The version is what make stamps in from git, as the image's is.
		bin := filepath.Join(w.root, "bin", "linger")
		got, err := exec.Command(bin, "version").Output()
		if err != nil {
			t.Fatalf("%s version: %v", bin, err)
		}
		desc, err := exec.Command("git", "-C", w.root, "describe", "--tags", "--always", "--dirty").Output()
		if err != nil {
			t.Logf("not a git checkout (%v): the version is not checked", err)
			break
		}
		w.want("linger version", string(got), `^linger `+regexp.QuoteMeta(strings.TrimSpace(string(desc)))+` \(go`)
	case strings.HasPrefix(line, "linger simulate"):
		out, errOut := w.sh(line, 3*time.Minute)
		w.want("simulate's summary", out+errOut, `simulated 1h0m0s: \d+ events, \d+ sessions, \d+ feedback records`)
		if fi, err := os.Stat(filepath.Join(w.dir, "events.jsonl")); err != nil || fi.Size() < 1<<20 {
			t.Errorf("events.jsonl: %v", err)
		}
	case strings.HasPrefix(line, "linger replay") && strings.Contains(line, "--sweep"):
		out, _ := w.sh(line, 5*time.Minute)
		for _, th := range []string{"0.6", "0.7", "0.8", "0.9"} {
			w.want("the sweep", out, `(?m)^\s*\*?\s*`+regexp.QuoteMeta(th)+`\s`)
		}
	case strings.HasPrefix(line, "linger replay"):
		out, errOut := w.sh(line, 5*time.Minute)
		w.want("the report", out, `precision`)
		w.want("the report", out, `acceptance`)
		if strings.Contains(errOut, "warning:") {
			t.Errorf("a replay of simulated traffic warns:\n%s", errOut)
		}
		if strings.Contains(line, "--report-html base.html") {
			w.want("base.html", w.file("base.html"), `<svg`)
		}
	case line == "linger config > defaults.yaml":
		w.sh(line, time.Minute)
		w.want("defaults.yaml", w.file("defaults.yaml"), `(?m)^    abandonment: 0\.7$`)
	case fields[0] == "sed":
		w.sh(line, time.Minute)
		w.want("candidate.yaml", w.file("candidate.yaml"), `(?m)^    abandonment: 0\.8$`)
	case strings.HasPrefix(line, "linger train"):
		_, errOut := w.sh(line, 5*time.Minute)
		w.want("train's summary", errOut, `AUC`)
		w.want("trained.yaml", w.file("trained.yaml"), `(?m)^thresholds:`)
	case strings.HasPrefix(line, "linger config check"):
		out, _ := w.sh(line, time.Minute)
		w.want("config check", out, `trained.yaml: ok`)
	default:
		t.Fatalf("the walkthrough has a step this test does not know: %q; teach step what it should check", line)
	}
}

// lookPath finds name on the walker's PATH, as its shell would.
func (w *walker) lookPath(name string) (string, error) {
	for i := len(w.env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(w.env[i], "PATH="); ok {
			for _, d := range filepath.SplitList(v) {
				p := filepath.Join(d, name)
				if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
					return p, nil
				}
			}
			break
		}
	}
	return "", errors.New("not on PATH")
}
