package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// goNames are words of Go's and the flag libraries' that must not reach a
// user: types, functions and their error texts.
var goNames = []string{"*flag.", "pflag", "cobra", "strconv.", "time.Parse", "ParseDuration", "ParseFloat", "ParseInt",
	"invalid value", "invalid argument", "invalid syntax", "bad flag syntax", "unknown shorthand", "flag provided but not defined",
	"parse error", "Error:", "Usage:"}

// checkWords fails the test if out holds a Go name or says a command's
// prefix twice.
func checkWords(t *testing.T, out string) {
	t.Helper()
	for _, name := range goNames {
		if strings.Contains(out, name) {
			t.Errorf("%q reaches the user:\n%s", name, out)
		}
	}
	if m := regexp.MustCompile(`(\w+): (linger )?(\w+): `).FindStringSubmatch(out); m != nil && m[1] == m[3] {
		t.Errorf("a doubled prefix %q:\n%s", m[0], out)
	}
}

// TestCommandLineMistakes runs linger with a missing or wrong argument of
// each kind: exit code 2 (1 where the tests of the command pin it), one
// line that names the mistake as the user typed it and says where help
// is, and no Go names.
func TestCommandLineMistakes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  []string
		code int
		want string
	}{
		{args: []string{"replay"}, code: 2, want: "linger replay: --input is required: the recorded traffic to replay, such as --input events.jsonl"},
		{args: []string{"replay", "events.jsonl"}, code: 2, want: "linger replay: unexpected argument events.jsonl: give the input with --input events.jsonl"},
		{args: []string{"train", "events.jsonl"}, code: 2, want: "give the input with --input events.jsonl"},
		{args: []string{"simulate", "out.jsonl"}, code: 2, want: "give the file to write with --out out.jsonl"},
		{args: []string{"train"}, code: 2, want: "linger train: --input is required"},
		{args: []string{"simulate"}, code: 2, want: "linger simulate: --out is required"},
		{args: []string{"config", "cfg.yaml"}, code: 2, want: "linger config: unexpected argument cfg.yaml: to check a file, run linger config check cfg.yaml"},
		{args: []string{"config", "check"}, code: 2, want: "linger config: check needs the file to check"},
		{args: []string{"config", "check", "a.yaml", "b.yaml"}, code: 2, want: "check takes one file, not 2"},
		{args: []string{"run", "--brokrs", "x:1"}, code: 2, want: "linger run: unknown flag --brokrs (did you mean --brokers?)"},
		{args: []string{"run", "-brokrs", "x:1"}, code: 2, want: "linger run: unknown flag --brokrs (did you mean --brokers?)"},
		{args: []string{"replay", "--inptu", "x"}, code: 2, want: "linger replay: unknown flag --inptu (did you mean --input?)"},
		{args: []string{"run", "--nothing-like-it"}, code: 2, want: "linger run: unknown flag --nothing-like-it;"},
		{args: []string{"--brokers", "x:1"}, code: 2, want: "linger: unknown flag --brokers: flags go after the command"},
		{args: []string{"rn"}, code: 2, want: `linger: unknown command "rn" (did you mean run?)`},
		{args: []string{"nonsense"}, code: 2, want: `linger: unknown command "nonsense"`},
		{args: []string{"run", "--brokers"}, code: 2, want: "linger run: --brokers needs a value: host:port[,host:port...]"},
		{args: []string{"bench", "--duration", "30"}, code: 2, want: "linger bench: --duration 30: a duration needs a unit, such as 30s or 5m"},
		{args: []string{"demo", "--warmup", "5"}, code: 2, want: "linger demo: --warmup 5: a duration needs a unit, such as 30s or 5m"},
		{args: []string{"broker", "--retention", "an hour"}, code: 2, want: `linger broker: --retention "an hour": want a duration such as 30s, 5m or 1h30m`},
		{args: []string{"report", "--since", "30"}, code: 2, want: "linger report: --since 30: a duration needs a unit, such as 90m, 24h or 7d"},
		{args: []string{"run", "--cache-bytes", "lots"}, code: 2, want: `linger run: --cache-bytes "lots" is not a size`},
		{args: []string{"bench", "--rate", "fast"}, code: 2, want: `linger bench: --rate "fast" is not a rate`},
		{args: []string{"simulate", "--out", "x", "--partitions", "four"}, code: 2, want: "linger simulate: --partitions four: want a whole number"},
		{args: []string{"simulate", "--out", "x", "--seed", "-1"}, code: 2, want: "linger simulate: --seed -1: want a whole number, 0 or more"},
		{args: []string{"report", "--service-level", "most"}, code: 2, want: "linger report: --service-level most: want a number"},
		{args: []string{"run", "--pprof=maybe"}, code: 2, want: "linger run: --pprof maybe: want true or false"},
		{args: []string{"version", "extra"}, code: 2, want: "linger version: unexpected argument extra: linger version takes flags only"},
		{args: []string{"run"}, env: []string{"LINGER_COMMIT_INTERVAL=5"}, code: 2, want: `linger run: LINGER_COMMIT_INTERVAL="5": a duration needs a unit, such as 30s or 5m`},
		// `linger run` alone: exit 1, as the tests of run have it.
		{args: []string{"run"}, code: 1, want: "linger run: no brokers: set --brokers host:port (or LINGER_BROKERS)"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out := runEnv(t, tc.env, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want %d and a line containing %q:\n%s", code, tc.code, tc.want, out)
			}
			if n := strings.Count(strings.TrimSuffix(out, "\n"), "\n"); n != 0 {
				t.Errorf("%d lines, want one:\n%s", n+1, out)
			}
			if code == 2 && !strings.Contains(out, "--help'") {
				t.Errorf("does not say where help is:\n%s", out)
			}
			checkWords(t, out)
		})
	}
}

// TestMistakesAllAtOnce: several problems of the environment are said
// together, one a line, and the help after them.
func TestMistakesAllAtOnce(t *testing.T) {
	code, out := runEnv(t, []string{"LINGER_CACHE_BYTES=lots", "LINGER_GROUP_SESSION_TIMEOUT=10"}, "run", "--brokers", "x:1")
	want := `linger run: LINGER_CACHE_BYTES="lots" is not a size (e.g. 256MiB, 1GiB, 268435456)
LINGER_GROUP_SESSION_TIMEOUT="10": a duration needs a unit, such as 30s or 5m
see 'linger run --help'
`
	if code != 2 || out != want {
		t.Fatalf("exit %d, output:\n%s\nwant exit 2 and:\n%s", code, out, want)
	}
}

// TestSingleDashFlags: the single-dash long flags Go's flag package took
// still work, with a value after them or after =.
func TestSingleDashFlags(t *testing.T) {
	addr := startBroker(t, 2)

	t.Run("run", func(t *testing.T) {
		r := start(t, nil, "run", "-brokers", addr, "-http=127.0.0.1:0", "-group", "single-dash", "-cache-bytes=64MiB", "-log-level", "info")
		httpAddr := r.waitOutput(t, `addr=http://(127\.0\.0\.1:\d+)`, 20*time.Second)[1]
		waitReady(t, "http://"+httpAddr+"/readyz")
		r.waitOutput(t, `linger run starting.* group=single-dash .*cache_bytes=67108864`, 5*time.Second)
		r.stop(t, 10*time.Second)
	})
	t.Run("bench", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			code int
			want string
		}{
			{[]string{"-brokers", "127.0.0.1:1", "-embedded"}, 1, "--brokers and --embedded exclude each other"},
			{[]string{"-mode=both", "-brokers=127.0.0.1:1"}, 1, "--mode both needs --embedded"},
			{[]string{"-duration=30"}, 2, "--duration 30: a duration needs a unit"},
			{[]string{"-rate", "-1"}, 2, "linger bench: --rate -1: a rate must not be negative;"},
		} {
			code, out := run(t, append([]string{"bench"}, tc.args...)...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("bench %v: exit %d, want %d and %q:\n%s", tc.args, code, tc.code, tc.want, out)
			}
			checkWords(t, out)
		}
	})
	t.Run("report", func(t *testing.T) {
		code, out := run(t, "report", "-brokers", addr, "-since=90m", "-tz", "Europe/Berlin")
		if code != 0 || !strings.Contains(out, "(1h30m ago)") || !strings.Contains(out, "0 events, 0 decisions, 0 feedback records") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		code, out = run(t, "report", "-brokers", addr, "-since", "2h", "-from=2026-01-01")
		if code != 2 || !strings.Contains(out, "--since and --from exclude each other") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("help", func(t *testing.T) {
		code, out := run(t, "replay", "-help")
		if code != 0 || !strings.Contains(out, "Examples:\n  linger replay --input events.jsonl") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
}

// TestEnvironment: every flag is read from LINGER_<FLAG> when the command
// line does not give it, and the command line wins.
func TestEnvironment(t *testing.T) {
	addr := startBroker(t, 2)

	t.Run("run", func(t *testing.T) {
		// The variables give the brokers and the cache; --http and
		// --group win over theirs.
		r := start(t, []string{"LINGER_BROKERS=" + addr, "LINGER_CACHE_BYTES=64MiB", "LINGER_HTTP=127.0.0.1:1", "LINGER_GROUP=from-env"},
			"run", "--http", "127.0.0.1:0", "--group", "from-flag")
		httpAddr := r.waitOutput(t, `addr=http://(127\.0\.0\.1:\d+)`, 20*time.Second)[1]
		if httpAddr == "127.0.0.1:1" {
			t.Fatal("LINGER_HTTP won over --http")
		}
		waitReady(t, "http://"+httpAddr+"/readyz")
		r.waitOutput(t, `linger run starting.* group=from-flag .*cache_bytes=67108864`, 5*time.Second)
		r.stop(t, 10*time.Second)
	})
	t.Run("bench", func(t *testing.T) {
		for _, tc := range []struct {
			env  []string
			args []string
			code int
			want string
		}{
			{[]string{"LINGER_RATE=20q"}, nil, 2, `linger bench: LINGER_RATE="20q" is not a rate`},
			{[]string{"LINGER_DURATION=30"}, nil, 2, `LINGER_DURATION="30": a duration needs a unit, such as 30s or 5m`},
			{[]string{"LINGER_MODE=fast"}, nil, 1, `--mode "fast": want linger, passthrough or both`},
			{[]string{"LINGER_BROKERS=127.0.0.1:1", "LINGER_EMBEDDED=true"}, nil, 1, "--brokers and --embedded exclude each other"},
			// The command line wins: a variable it overrides is not read.
			{[]string{"LINGER_RATE=20q", "LINGER_MODE=fast"}, []string{"--rate", "1k", "--mode", "both", "--brokers", "127.0.0.1:1"}, 1, "--mode both needs --embedded"},
		} {
			code, out := runEnv(t, tc.env, append([]string{"bench"}, tc.args...)...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("%v bench %v: exit %d, want %d and %q:\n%s", tc.env, tc.args, code, tc.code, tc.want, out)
			}
			checkWords(t, out)
		}
	})
	t.Run("report", func(t *testing.T) {
		code, out := runEnv(t, []string{"LINGER_BROKERS=" + addr, "LINGER_SINCE=3h", "LINGER_TZ=Mars/Olympus_Mons"}, "report", "--tz", "UTC")
		if code != 0 || !strings.Contains(out, "(3h ago)") {
			t.Fatalf("LINGER_SINCE=3h, LINGER_TZ overridden by --tz: exit %d:\n%s", code, out)
		}
		// A --since from the environment is given, as on the command line.
		code, out = runEnv(t, []string{"LINGER_BROKERS=" + addr, "LINGER_SINCE=2h"}, "report", "--from", "2026-01-01")
		if code != 2 || !strings.Contains(out, "--since and --from exclude each other") {
			t.Fatalf("LINGER_SINCE with --from: exit %d:\n%s", code, out)
		}
	})
}

// TestHelp: every command's help says what it does, its usage, an
// example, and each flag with its value type, variable and default.
func TestHelp(t *testing.T) {
	code, out := run(t, "--help")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	commands := regexp.MustCompile(`(?m)^  ([a-z]+) +\S`).FindAllStringSubmatch(out[strings.Index(out, "Commands:"):strings.Index(out, "Examples:")], -1)
	if len(commands) < 12 {
		t.Fatalf("%d commands listed:\n%s", len(commands), out)
	}
	for _, m := range commands {
		name := m[1]
		code, out := run(t, name, "--help")
		if code != 0 || !strings.Contains(out, "Usage:\n  linger "+name) || !strings.Contains(out, "Examples:\n  ") ||
			!regexp.MustCompile(`(?m)^  .*linger `+name).MatchString(out[strings.Index(out, "Examples:"):]) {
			t.Errorf("linger %s --help: exit %d, want its usage and an example:\n%s", name, code, out)
		}
	}
	for cmd, lines := range map[string][]string{
		"run":    {"--brokers brokers  [LINGER_BROKERS]\n", "--cache-bytes bytes  [LINGER_CACHE_BYTES] (default 256MiB)\n", "--commit-interval duration  [LINGER_COMMIT_INTERVAL] (default 100ms)\n", "--pprof  [LINGER_PPROF]\n"},
		"bench":  {"--rate rate  [LINGER_RATE] (default 20k)\n", "--duration duration  [LINGER_DURATION] (default 30s)\n", "--metrics urls  [LINGER_METRICS]\n"},
		"report": {"--since duration  [LINGER_SINCE] (default 24h)\n", "--service-level float64  [LINGER_SERVICE_LEVEL] (default 0.8)\n"},
		"config": {"Commands:\n  check "},
	} {
		_, out := run(t, cmd, "--help")
		for _, l := range lines {
			if !strings.Contains(out, l) {
				t.Errorf("linger %s --help lacks %q:\n%s", cmd, l, out)
			}
		}
	}
	if code, out := run(t, "config", "check", "--help"); code != 0 || !strings.Contains(out, "Usage:\n  linger config check FILE") {
		t.Errorf("linger config check --help: exit %d:\n%s", code, out)
	}
}

// TestCompletion: `linger completion SHELL` prints a script the shell
// takes, and the completions it asks for name linger's commands and flags.
func TestCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		code, out := run(t, "completion", sh)
		if code != 0 || !strings.Contains(out, "linger") || len(out) < 1000 {
			t.Errorf("linger completion %s: exit %d, %d bytes", sh, code, len(out))
		}
	}
	for args, want := range map[string]string{
		"__complete re":           "replay\t",
		"__complete run --cache-": "--cache-bytes\t",
		"__complete config ch":    "check\t",
		"__complete bench --ra":   "--rate\t",
	} {
		code, out := run(t, strings.Fields(args)...)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("linger %s: exit %d, want %q among:\n%s", args, code, want, out)
		}
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to load the script into")
	}
	script := "source <(" + binary + " completion bash) && complete -p linger"
	out, err := exec.Command(bash, "-c", script).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "__start_linger linger") {
		t.Errorf("bash does not take the script: %v\n%s", err, out)
	}
}

// TestREADMEShowsTheCommandLine: the mistakes and the help the README's
// Running it shows are what linger prints.
func TestREADMEShowsTheCommandLine(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"replay", "events.jsonl"}, {"run", "--brokrs", "kafka-1:9092"}, {"bench", "--duration", "30"}} {
		_, out := run(t, args...)
		if shown := "$ linger " + strings.Join(args, " ") + "\n" + out; !strings.Contains(string(readme), shown) {
			t.Errorf("README.md does not show:\n%s", shown)
		}
	}
	_, help := run(t, "run", "--help")
	i := strings.Index(string(readme), "$ linger run --help\n")
	if i < 0 {
		t.Fatal("README.md shows no `linger run --help`")
	}
	block := string(readme)[i:]
	block = block[:strings.Index(block, "```")]
	for _, line := range strings.Split(strings.TrimSpace(block), "\n")[1:] {
		if line != "..." && !strings.Contains(help, line+"\n") {
			t.Errorf("README.md's `linger run --help` shows %q, which the help does not have", line)
		}
	}
}
