package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The command line is cobra's and pflag's, as in rpk and kubectl, with
// three things kept from linger's first, hand-rolled flags: a single dash
// before a long flag (-brokers x, as Go's flag package took it), the
// LINGER_<FLAG> environment variables, and mistakes said in one line of
// plain words with exit code 2.

// errUsage marks a mistake on the command line: a flag or argument that
// is missing, unknown or malformed. The exit code is 2, and the message is
// followed by where help is.
var errUsage = errors.New("usage")

// usageErr is an error that is an errUsage; its message is the mistake
// alone. An empty message is printed as nothing (the help was printed).
type usageErr struct{ msg string }

func (e *usageErr) Error() string        { return e.msg }
func (e *usageErr) Is(target error) bool { return target == errUsage }

// usagef returns an errUsage that says what is wrong.
func usagef(format string, args ...any) error {
	return &usageErr{msg: fmt.Sprintf(format, args...)}
}

// noEnv is the annotation of the commands whose flags read no
// environment variables: cobra's own (completion, help).
const noEnv = "linger/no-env"

// newRoot builds the command tree.
func newRoot() *cobra.Command {
	// Commands in the order they are listed below, most used first.
	cobra.EnableCommandSorting = false
	root := &cobra.Command{
		Use:   "linger <command>",
		Short: "score website sessions for abandonment and confusion and decide chat invites",
		Long:  "linger scores website sessions for abandonment and confusion and decides chat invites.",
		Example: `  linger demo
  linger run --brokers kafka-1:9092 --config scoring.yaml
  linger simulate --duration 2h --out events.jsonl && linger replay --input events.jsonl`,
		// The root runs only to say what is wrong: no command, or an
		// unknown one.
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			if s := c.SuggestionsFor(args[0]); len(s) > 0 {
				return usagef("unknown command %q (did you mean %s?)", args[0], strings.Join(s, " or "))
			}
			return usagef("unknown command %q", args[0])
		},
		RunE: func(c *cobra.Command, _ []string) error {
			writeHelp(c.OutOrStdout(), c)
			return &usageErr{}
		},
		PersistentPreRunE: func(c *cobra.Command, _ []string) error { return applyEnv(c) },
		SilenceErrors:     true,
		SilenceUsage:      true,
		// rn → run, bech → bench.
		SuggestionsMinimumDistance: 2,
	}
	for _, newCmd := range []func() *cobra.Command{
		newRunCmd, newDemoCmd, newBrokerCmd, newGatewayCmd, newSimulateCmd, newReplayCmd,
		newReportCmd, newTrainCmd, newBenchCmd, newConfigCmd, newVersionCmd,
	} {
		root.AddCommand(newCmd())
	}
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help":
			c.Annotations = map[string]string{noEnv: "true"}
			c.Example = "  linger help replay"
		case "completion":
			c.Short = "print a script that completes linger's commands and flags in bash, zsh, fish or PowerShell"
			c.Example = "  source <(linger completion bash)\n  linger completion zsh > \"${fpath[1]}/_linger\""
			c.Annotations = map[string]string{noEnv: "true"}
			for _, sh := range c.Commands() {
				sh.Annotations = map[string]string{noEnv: "true"}
				sh.Example = "  linger completion " + sh.Name()
			}
		}
	}
	root.SetHelpFunc(func(c *cobra.Command, _ []string) { writeHelp(c.OutOrStdout(), c) })
	root.SetUsageFunc(func(c *cobra.Command) error { writeHelp(c.OutOrStderr(), c); return nil })
	root.SetFlagErrorFunc(flagError)
	// Positional mistakes are usage errors, whichever validator finds
	// them (cobra's own, of the completion commands, too).
	var wrapArgs func(c *cobra.Command)
	wrapArgs = func(c *cobra.Command) {
		if v := c.Args; v != nil {
			c.Args = func(c *cobra.Command, args []string) error {
				err := v(c, args)
				if err != nil && !errors.Is(err, errUsage) {
					err = usagef("%v", err)
				}
				return err
			}
		}
		for _, sub := range c.Commands() {
			wrapArgs(sub)
		}
	}
	wrapArgs(root)
	return root
}

// mainWith runs linger with args and returns its exit code: 0, 1 for a
// failure, 2 for a mistake on the command line.
func mainWith(args []string, stdout, stderr io.Writer) int {
	root := newRoot()
	root.SetArgs(normalizeArgs(root, args))
	root.SetOut(stdout)
	root.SetErr(stderr)
	c, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	name := "linger"
	if c != nil && c != root {
		// A subcommand's mistakes are its command's: linger config, not
		// linger config check.
		for c.Parent() != root {
			c = c.Parent()
		}
		name = "linger " + c.Name()
	}
	msg := strings.TrimPrefix(err.Error(), name+": ")
	if errors.Is(err, errUsage) {
		if msg != "" {
			help := name + " --help"
			if strings.Contains(msg, "\n") {
				fmt.Fprintf(stderr, "%s: %s\nsee '%s'\n", name, msg, help)
			} else {
				fmt.Fprintf(stderr, "%s: %s; see '%s'\n", name, msg, help)
			}
		}
		return 2
	}
	fmt.Fprintf(stderr, "%s: %s\n", name, msg)
	return 1
}

// normalizeArgs turns the single-dash long flags Go's flag package took
// (-brokers x, -cache-bytes=1GiB) into pflag's --brokers: a single-dash
// argument whose name, up to '=', is a long flag of the command becomes
// --name. So does one that is no flag's name, unless it starts with a
// shorthand, so that the error names it as the user meant it (unknown
// flag --brokrs). A flag's value, and everything after --, stay as they
// are.
func normalizeArgs(root *cobra.Command, args []string) []string {
	out := make([]string, 0, len(args))
	c := root
	last := len(args)
	if len(args) > 0 && (args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd) {
		// A completion request: the last word is being typed.
		last = len(args) - 1
	}
	positional := false // a positional argument was seen: no more subcommands
	for i := 0; i < len(args); i++ {
		a := args[i]
		if i >= last || a == "--" {
			out = append(out, args[i:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			if sub := findSub(c, a); sub != nil && !positional {
				c = sub
			} else if a != cobra.ShellCompRequestCmd && a != cobra.ShellCompNoDescRequestCmd {
				positional = true
			}
			out = append(out, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := c.Flags().Lookup(name)
		if a[1] != '-' && len(name) > 1 {
			if f != nil || c.Flags().ShorthandLookup(name[:1]) == nil {
				a = "-" + a
			}
		}
		out = append(out, a)
		if f != nil && !hasValue && f.NoOptDefVal == "" && i+1 < last {
			// The flag's value, which may start with a dash (--rate -1).
			i++
			out = append(out, args[i])
		}
	}
	return out
}

// findSub returns c's subcommand called name, or nil.
func findSub(c *cobra.Command, name string) *cobra.Command {
	for _, sub := range c.Commands() {
		if sub.Name() == name || sub.HasAlias(name) {
			return sub
		}
	}
	return nil
}

// envName is the environment variable of a flag: cache-bytes →
// LINGER_CACHE_BYTES.
func envName(flagName string) string {
	return "LINGER_" + strings.Map(func(r rune) rune {
		if r == '-' || r == '.' {
			return '_'
		}
		return unicode.ToUpper(r)
	}, flagName)
}

// applyEnv sets every flag of c that the command line did not give from
// its environment variable, and says at once which variables hold values
// their flags do not take. A flag set so is not Changed: given tells.
func applyEnv(c *cobra.Command) error {
	if c.Annotations[noEnv] != "" || c.Parent() != nil && c.Parent().Annotations[noEnv] != "" {
		return nil
	}
	var problems []string
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "help" {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := f.Value.Set(v); err != nil {
				problems = append(problems, valueProblem(envName(f.Name), true, f, v, err))
			}
		}
	})
	if len(problems) > 0 {
		return usagef("%s", strings.Join(problems, "\n"))
	}
	return nil
}

// given reports whether the flag name was set, on the command line or by
// its environment variable.
func given(c *cobra.Command, name string) bool {
	if c.Flags().Changed(name) {
		return true
	}
	_, ok := os.LookupEnv(envName(name))
	return ok
}

// flagsOnly is the positional-argument rule of a command that takes flags
// only. If one argument is given where the flag wanted (say "input", what
// "the input") is not, the error says to give it with that flag.
func flagsOnly(wanted, what string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		switch {
		case len(args) == 0:
			return nil
		case len(args) == 1 && wanted != "" && !given(c, wanted):
			return usagef("unexpected argument %s: give %s with --%s %s", args[0], what, wanted, args[0])
		case len(args) == 1:
			return usagef("unexpected argument %s: %s takes flags only", args[0], c.CommandPath())
		}
		return usagef("unexpected arguments %s: %s takes flags only", strings.Join(args, " "), c.CommandPath())
	}
}

// required returns the usage error of a missing flag, named as it is
// typed, with what it wants.
func required(flag, what string) error {
	return usagef("--%s is required: %s", flag, what)
}

// worded is a flag value whose Set errors are already plain words, said
// after the flag's name; the errors of pflag's own values are not, and
// are said by type (valueProblem).
type worded interface {
	pflag.Value
	worded()
}

// valueProblem says that value v of flag f is not one it takes, naming
// the flag as typed (--name v) or, if env, as its variable (NAME="v").
func valueProblem(name string, env bool, f *pflag.Flag, v string, err error) string {
	q := strconv.Quote(v)
	given := "--" + f.Name + " " + v
	if env {
		given = name + "=" + q
	} else if v == "" || strings.ContainsAny(v, " \t\"'") {
		given = "--" + f.Name + " " + q
	}
	if _, ok := f.Value.(worded); !ok {
		return given + ": " + typeProblem(f.Value.Type(), v)
	}
	why := err.Error()
	if rest, ok := strings.CutPrefix(why, q+" "); ok {
		// The value's own words: --rate "20q" is not a rate.
		if env {
			return name + "=" + q + " " + rest
		}
		return "--" + f.Name + " " + q + " " + rest
	}
	// Said once: --rate -1: a rate must not be negative.
	return given + ": " + strings.TrimPrefix(why, q+": ")
}

// typeProblem says in words what a flag of pflag's type wants.
func typeProblem(typ, v string) string {
	switch typ {
	case "duration":
		if _, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			return "a duration needs a unit, such as 30s or 5m"
		}
		return "want a duration such as 30s, 5m or 1h30m"
	case "int", "int64", "int32":
		return "want a whole number"
	case "uint64", "uint", "uint32":
		return "want a whole number, 0 or more"
	case "float64", "float32":
		return "want a number"
	case "bool":
		return "want true or false"
	}
	return "not a value this flag takes"
}

// valueExample is what a flag of a type looks like, for the error of a
// flag given without a value.
func valueExample(typ string) string {
	switch typ {
	case "duration":
		return "a duration such as 30s"
	case "bytes":
		return "a size such as 256MiB"
	case "rate":
		return "a rate such as 20k"
	case "brokers":
		return "host:port[,host:port...]"
	case "int", "uint64":
		return "a whole number"
	case "float64":
		return "a number"
	}
	return "a " + typ
}

// flagError turns pflag's parse errors into one line in words.
func flagError(c *cobra.Command, err error) error {
	var (
		notExist *pflag.NotExistError
		noValue  *pflag.ValueRequiredError
		invalid  *pflag.InvalidValueError
		syntax   *pflag.InvalidSyntaxError
	)
	switch {
	case errors.As(err, &notExist):
		name := notExist.GetSpecifiedName()
		typed := "--" + name
		if notExist.GetSpecifiedShortnames() != "" {
			typed = "-" + name
		}
		if !c.HasParent() {
			return usagef("unknown flag %s: flags go after the command, such as linger run %s", typed, typed)
		}
		if s := similarFlag(c, name); s != "" {
			return usagef("unknown flag %s (did you mean --%s?)", typed, s)
		}
		return usagef("unknown flag %s", typed)
	case errors.As(err, &noValue):
		f := noValue.GetFlag()
		return usagef("--%s needs a value: %s", f.Name, valueExample(f.Value.Type()))
	case errors.As(err, &invalid):
		return usagef("%s", valueProblem("", false, invalid.GetFlag(), invalid.GetValue(), invalid.Unwrap()))
	case errors.As(err, &syntax):
		return usagef("%s is not a flag: write flags as --name value or --name=value", syntax.GetSpecifiedFlag())
	}
	return usagef("%v", err)
}

// similarFlag returns c's flag name nearest to name, if one is close
// enough to be a typo of it or starts with it.
func similarFlag(c *cobra.Command, name string) string {
	best, bestD := "", 3
	c.Flags().VisitAll(func(f *pflag.Flag) {
		d := editDistance(name, f.Name)
		if len(name) >= 3 && strings.HasPrefix(f.Name, name) {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = f.Name, d
		}
	})
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// writeHelp writes c's help: what it does, its usage line, subcommands,
// examples, and each flag with its value type, environment variable and
// default.
func writeHelp(w io.Writer, c *cobra.Command) {
	doc := c.Long
	if doc == "" {
		doc = c.Short
	}
	fmt.Fprintf(w, "%s\n\nUsage:\n  %s\n", strings.TrimSpace(doc), c.UseLine())
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(w, "\nCommands:\n")
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				fmt.Fprintf(w, "  %-10s %s\n", sub.Name(), sub.Short)
			}
		}
	}
	if c.Example != "" {
		fmt.Fprintf(w, "\nExamples:\n%s\n", strings.TrimRight(c.Example, "\n"))
	}
	env := c.Annotations[noEnv] == "" && (c.Parent() == nil || c.Parent().Annotations[noEnv] == "")
	if env {
		// Only --help: no variables to show.
		env = false
		c.Flags().VisitAll(func(f *pflag.Flag) { env = env || f.Name != "help" })
	}
	if c.HasAvailableFlags() && c.HasParent() {
		if env {
			fmt.Fprintf(w, "\nFlags (each also read from the environment variable shown):\n")
		} else {
			fmt.Fprintf(w, "\nFlags:\n")
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Hidden {
				return
			}
			line := "  --" + f.Name
			if f.Shorthand != "" {
				line = "  -" + f.Shorthand + ", --" + f.Name
			}
			if typ := f.Value.Type(); typ != "bool" {
				line += " " + typ
			}
			if env && f.Name != "help" {
				line += "  [" + envName(f.Name) + "]"
			}
			if d := f.DefValue; d != "" && d != "0" && d != "false" && d != "[]" {
				line += " (default " + d + ")"
			}
			fmt.Fprintln(w, line)
			fmt.Fprint(w, wrap(f.Usage, "      ", 100))
		})
	}
	if !c.HasParent() {
		fmt.Fprintf(w, "\nRun `linger <command> --help` for its flags. Every flag can also be set with an\nenvironment variable LINGER_<FLAG> (--cache-bytes: LINGER_CACHE_BYTES); a flag given on\nthe command line wins. A single dash works too (-cache-bytes 1GiB). `linger completion`\ncompletes commands and flags in your shell.\n")
	} else if c.HasAvailableSubCommands() {
		fmt.Fprintf(w, "\nRun `%s <command> --help` for a command's flags.\n", c.CommandPath())
	}
}

// wrap breaks text into lines of at most width columns, each starting
// with indent.
func wrap(text, indent string, width int) string {
	var b strings.Builder
	for _, para := range strings.Split(text, "\n") {
		line := indent
		for _, word := range strings.Fields(para) {
			if len(line) > len(indent) && len(line)+1+len(word) > width {
				b.WriteString(line + "\n")
				line = indent
			}
			if len(line) > len(indent) {
				line += " "
			}
			line += word
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}
