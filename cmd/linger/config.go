package main

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/lingerhq/linger/scoring"
)

func configCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("config", "[check FILE]", "Print the default scoring config (YAML, the starting point of a --config file),\ncheck a config file (the same validation `linger run` applies when it reloads one),\nor list the signals the models can weigh.")
	fs.SetOutput(stderr)
	check := fs.String("check", "", "check this config file and print the model name of each site")
	signals := fs.Bool("signals", false, "list the signals: name, unit scale and default weights")
	if err := fs.parse(args); err != nil {
		return err
	}
	// `linger config check FILE` is --check FILE.
	if fs.NArg() == 2 && fs.Arg(0) == "check" {
		*check = fs.Arg(1)
	} else if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: unexpected arguments %v (did you mean `linger config check FILE`?)", errUsage, fs.Args())
	}
	switch {
	case *signals:
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SIGNAL\tFULL AT\tABANDONMENT\tCONFUSION\tWHAT")
		for _, s := range scoring.Signals() {
			fmt.Fprintf(tw, "%s\t%g\t%g\t%g\t%s\n", s.Name, s.Scale, s.Weights[scoring.Abandonment], s.Weights[scoring.Confusion], s.Doc)
		}
		return tw.Flush()
	case *check != "":
		data, err := os.ReadFile(*check)
		if err != nil {
			return err
		}
		cfg, err := scoring.ParseConfig(data)
		if err != nil {
			return fmt.Errorf("%s: %w", *check, err)
		}
		fmt.Fprintf(stdout, "%s: ok\n  default model %s\n", *check, cfg.Model())
		for _, site := range cfg.SiteNames() {
			fmt.Fprintf(stdout, "  site %-20s model %s\n", site, cfg.For([]byte(site)).Model)
		}
		return nil
	default:
		b, err := scoring.DefaultConfig().Marshal()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "# linger scoring config: the defaults. Keys left out of a file keep these values;\n# a \"sites:\" map overrides any of them per site. Check a file with `linger config --check FILE`.\n")
		_, err = stdout.Write(b)
		return err
	}
}
