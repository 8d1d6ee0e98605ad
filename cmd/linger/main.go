// Command linger senses hesitation on a website and responds in time: it
// consumes clickstream events from Kafka, scores every session for
// abandonment and confusion, and publishes chat-invite decisions.
//
// This package only wires: it turns flags, environment and the config file
// into the configs of the parts, starts them, waits for a signal, and stops
// them in reverse order.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/lingerhq/linger/internal/buildinfo"
)

type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"run", "process visitor-events and publish chat invites (one replica of the consumer group)", runCmd},
	{"demo", "embedded broker + visitor simulator + processor in one process, printing invites live", demoCmd},
	{"broker", "run the embedded Kafka-protocol broker with every topic linger uses", brokerCmd},
	{"gateway", "serve browsers: sessions, events in, invites out as Server-Sent Events, feedback, the tracker script", gatewayCmd},
	{"simulate", "write hours of simulated traffic (events and the visitors' answers to invites) as JSONL for replay, in seconds", simulateCmd},
	{"replay", "backtest: run recorded traffic through the scoring, report what the decisions would have achieved", replayCmd},
	{"report", "measured outcomes: invites shown, accepted, declined, expired, and the conversion of invited vs holdout sessions", reportCmd},
	{"train", "fit the abandonment model's weights to recorded sessions, or evaluate on the UCI Online Shoppers data", trainCmd},
	{"bench", "load-test: drive the processor with simulated visitors at a fixed rate, report throughput, latency, CPU and memory", benchCmd},
	{"config", "print the default scoring config, check a config file, or list the signals", configCmd},
	{"version", "print the version", versionCmd},
}

func main() {
	os.Exit(mainWith(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks errors that are explained by the usage text printed with
// them; the exit code is 2, as for flag errors.
var errUsage = errors.New("usage")

func mainWith(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(args[1:], stdout, stderr)
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				return 2
			default:
				fmt.Fprintf(stderr, "linger %s: %v\n", c.name, err)
				return 1
			}
		}
	}
	fmt.Fprintf(stderr, "linger: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "linger scores website sessions for abandonment and confusion and decides chat invites.\n\nUsage:\n  linger <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun `linger <command> --help` for its flags. Every flag can also be set with an\nenvironment variable LINGER_<FLAG> (--cache-bytes: LINGER_CACHE_BYTES).\n")
}

func versionCmd(args []string, stdout, _ io.Writer) error {
	fs := newFlagSet("version", "", "Print the version.")
	if err := fs.parse(args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "linger %s (%s %s/%s)\n", buildinfo.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
