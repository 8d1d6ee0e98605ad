// Command linger senses hesitation on a website and responds in time: it
// consumes clickstream events from Kafka, scores every session for
// abandonment and confusion, and publishes chat-invite decisions.
//
// This package only wires: it turns flags, environment and the config file
// into the configs of the parts, starts them, waits for a signal, and stops
// them in reverse order. Its command line (cli.go) is cobra's, one command
// per file.
package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/lingerhq/linger/internal/buildinfo"
	"github.com/spf13/cobra"
)

func main() {
	os.Exit(mainWith(os.Args[1:], os.Stdout, os.Stderr))
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "print the version",
		Long:    "Print linger's version, the Go version it was built with, and the platform.",
		Example: "  linger version",
		Args:    flagsOnly("", ""),
		RunE: func(c *cobra.Command, _ []string) error {
			fmt.Fprintf(c.OutOrStdout(), "linger %s (%s %s/%s)\n", buildinfo.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
