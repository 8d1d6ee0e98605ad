package main

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/lingerhq/linger/scoring"
	"github.com/spf13/cobra"
)

func newConfigCmd() *cobra.Command {
	var (
		check   string
		signals bool
	)
	c := &cobra.Command{
		Use:   "config [check FILE]",
		Short: "print the default scoring config, check a config file, or list the signals",
		Long: "Print the default scoring config (YAML, the starting point of a --config file),\n" +
			"check a config file (the same validation `linger run` applies when it reloads one),\n" +
			"or list the signals the models can weigh.",
		Example: `  linger config > scoring.yaml
  linger config check scoring.yaml
  linger config --signals`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			if len(args) == 1 {
				return usagef("unexpected argument %s: to check a file, run linger config check %s", args[0], args[0])
			}
			return usagef("unexpected arguments %v: to check a file, run linger config check FILE", args)
		},
	}
	c.Flags().StringVar(&check, "check", "", "check this config file and print the model name of each site (as `linger config check FILE`)")
	c.Flags().BoolVar(&signals, "signals", false, "list the signals: name, unit scale and default weights")
	c.RunE = func(c *cobra.Command, _ []string) error {
		stdout := c.OutOrStdout()
		switch {
		case signals:
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SIGNAL\tFULL AT\tABANDONMENT\tCONFUSION\tWHAT")
			for _, s := range scoring.Signals() {
				fmt.Fprintf(tw, "%s\t%g\t%g\t%g\t%s\n", s.Name, s.Scale, s.Weights[scoring.Abandonment], s.Weights[scoring.Confusion], s.Doc)
			}
			return tw.Flush()
		case check != "":
			return checkConfig(stdout, check)
		default:
			b, err := scoring.DefaultConfig().Marshal()
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "# linger scoring config: the defaults. Keys left out of a file keep these values;\n# a \"sites:\" map overrides any of them per site. Check a file with `linger config check FILE`.\n")
			_, err = stdout.Write(b)
			return err
		}
	}
	c.AddCommand(&cobra.Command{
		Use:     "check FILE",
		Short:   "check a scoring config file and print the model name of each site",
		Long:    "Check a scoring config file with the validation `linger run` applies when it reloads one:\nevery problem at once, on the file's lines, exit code 1. A good file prints the model\nname of each site.",
		Example: "  linger config check scoring.yaml",
		Args: func(c *cobra.Command, args []string) error {
			switch len(args) {
			case 1:
				return nil
			case 0:
				return usagef("check needs the file to check: linger config check FILE")
			}
			return usagef("check takes one file, not %d: linger config check FILE", len(args))
		},
		RunE: func(c *cobra.Command, args []string) error { return checkConfig(c.OutOrStdout(), args[0]) },
	})
	return c
}

// checkConfig validates the config file at path and prints the model of
// each site.
func checkConfig(stdout io.Writer, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	cfg, err := scoring.ParseConfig(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintf(stdout, "%s: ok\n  default model %s\n", path, cfg.Model())
	for _, site := range cfg.SiteNames() {
		fmt.Fprintf(stdout, "  site %-20s model %s\n", site, cfg.For([]byte(site)).Model)
	}
	return nil
}
