package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/lingerhq/linger/internal/promscrape"
	"github.com/lingerhq/linger/pipeline"
	"github.com/lingerhq/linger/pipeline/outcomes"
	"github.com/lingerhq/linger/schemas"
	"github.com/twmb/franz-go/pkg/kgo"
)

// reportFlags are the flags of `linger report`.
type reportFlags struct {
	brokers  listFlag
	events   string
	invites  string
	feedback string
	capacity string
	tallies  string
	since    time.Duration
	from     string
	metrics  listFlag
	jsonOut  string
	htmlOut  string
	timeout  time.Duration
	sec      securityFlags
	// The chat team's sections: the staffing table's zone and target,
	// and the acceptance band (percent).
	tz               string
	answerWithin     time.Duration
	serviceLevel     float64
	bandMin, bandMax float64
	config           string
}

func reportCmd(args []string, stdout, stderr io.Writer) error {
	var f reportFlags
	fs := newFlagSet("report", "", `Measure what the published invites achieved, per site, reason and team: invites
published, withdrawn, shown, accepted (acceptance rate), declined, expired, chats
started, and the conversion of invited and of holdout sessions with the uplift, each
rate with its n and a 95% confidence interval. Then the chat team's figures: acceptance
per site and team against its band (--band-min..--band-max percent) with a verdict;
staffing per site, team, weekday and hour (--tz): the agents Erlang C says answer
--service-level of the accepted chats within --answer-within, beside the agents on
shift (chat-capacity) and the sessions held back for want of agents (linger-tallies);
and post-chat satisfaction per site, team and reason.

It reads the invites, the chat platform's feedback and the events (for purchases)
read_committed, from --since ago (or --from) to the topics' ends as it starts, and the
compacted chat-capacity and linger-tallies topics in full (either may be missing: its
columns then say n/a), and prints a table; --json and --html write the report to
files. Would-be invites the policy suppressed by cause are on no topic: give --metrics
with each replica's /metrics URL to include them.

Example:
  linger report --brokers kafka-1:9092 --since 7d --tz Europe/Berlin --metrics replica-1:9464,replica-2:9464 --json week.json`)
	fs.SetOutput(stderr)
	fs.Var(&f.brokers, "brokers", "Kafka seed brokers, host:port[,host:port...] (required)")
	fs.StringVar(&f.events, "events-topic", schemas.TopicEvents, "topic of the clickstream events (purchases, and which sessions exist)")
	fs.StringVar(&f.invites, "invites-topic", schemas.TopicInvites, "topic of the decisions")
	fs.StringVar(&f.feedback, "feedback-topic", schemas.TopicFeedback, "topic of the chat platform's feedback on invites")
	fs.StringVar(&f.capacity, "capacity-topic", schemas.TopicCapacity, "topic of the chat teams' capacity records (agents on shift, handling time), read in full; may be missing")
	fs.StringVar(&f.tallies, "tallies-topic", schemas.TopicTallies, "topic of the replicas' hourly tallies (sessions held back for want of agents), read in full; may be missing")
	fs.StringVar(&f.tz, "tz", "UTC", "time zone of the staffing table's weekdays and hours: an IANA name such as Europe/Berlin, or UTC")
	fs.DurationVar(&f.answerWithin, "answer-within", 30*time.Second, "staffing target: answer chats within this long (a duration such as 30s)")
	fs.Float64Var(&f.serviceLevel, "service-level", 0.8, "staffing target: the share of accepted chats answered within --answer-within, above 0 and below 1")
	fs.StringVar(&f.config, "config", "", "the replicas' scoring config file: each site's acceptance_band (instead of --band-min and --band-max)")
	fs.Float64Var(&f.bandMin, "band-min", outcomes.DefaultBand.MinPercent, "acceptance band, lower bound, in percent of the invites shown")
	fs.Float64Var(&f.bandMax, "band-max", outcomes.DefaultBand.MaxPercent, "acceptance band, upper bound, in percent of the invites shown")
	f.since = 24 * time.Hour
	fs.Var((*days)(&f.since), "since", "report on records from this long ago to now: a duration such as 90m, 24h or 7d")
	fs.StringVar(&f.from, "from", "", "report on records from this time on instead: RFC 3339 (2026-03-01T09:00:00Z) or a date (2026-03-01, midnight UTC)")
	fs.Var(&f.metrics, "metrics", "replicas' /metrics URLs, comma-separated (host:port will do), for would-be invites suppressed by cause")
	fs.StringVar(&f.jsonOut, "json", "", "write the report as JSON to this file (- for stdout, instead of the table)")
	fs.StringVar(&f.htmlOut, "html", "", "write the report as a self-contained HTML page to this file")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "give up if the brokers (or a --metrics URL) do not answer within this")
	f.sec.register(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	from, sec, loc, err := f.validate(fs, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "linger report: %v\nRun `linger report --help` for the flags.\n", err)
		return errUsage
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The window ends where the topics end as the read starts.
	to := time.Now()

	var suppressed *outcomes.Suppressed
	if len(f.metrics) > 0 {
		// Scraped first: a replica that does not answer fails the
		// report before the topics are read.
		counts, err := promscrape.SumCounter(ctx, f.metrics, "linger_suppressed_total", "reason", f.timeout)
		if err != nil {
			return err
		}
		suppressed = &outcomes.Suppressed{ByReason: map[string]int64{}}
		for _, u := range f.metrics {
			suppressed.Sources = append(suppressed.Sources, promscrape.URL(u))
		}
		for reason, n := range counts {
			suppressed.ByReason[reason] = int64(math.Round(n))
		}
	}

	tally := outcomes.NewTally()
	tally.Window(from.UnixMilli(), to.UnixMilli())
	band := func(string) outcomes.Band { return outcomes.Band{MinPercent: f.bandMin, MaxPercent: f.bandMax} }
	if f.config != "" {
		cfg, err := loadConfig(f.config)
		if err != nil {
			return err
		}
		band = outcomes.ConfigBand(cfg)
	}
	tally.SetOptions(outcomes.Options{
		Band:     band,
		Location: loc, AnswerWithin: f.answerWithin, ServiceLevel: f.serviceLevel,
	})
	kinds := map[string]outcomes.RecordKind{f.events: outcomes.EventRecord, f.invites: outcomes.DecisionRecord, f.feedback: outcomes.FeedbackRecord,
		f.capacity: outcomes.CapacityRecord, f.tallies: outcomes.HourTallyRecord}
	read := 0
	add := func(r *kgo.Record) error {
		read++
		tally.AddRecord(kinds[r.Topic], r.Key, r.Value) // a topic not asked for is no kind: skipped
		return nil
	}
	ago := to.Sub(from).Round(time.Minute)
	fmt.Fprintf(stderr, "reading %s, %s and %s from %s (%s ago); %s and %s in full\n", f.events, f.invites, f.feedback,
		from.UTC().Format(time.RFC3339), (*days)(&ago), f.capacity, f.tallies)
	start := time.Now()
	err = pipeline.ReadTopics(ctx, pipeline.ReadConfig{
		Brokers: f.brokers, Security: sec, Topics: []string{f.events, f.invites, f.feedback},
		From: from, Timeout: f.timeout,
	}, add)
	if errors.Is(err, pipeline.ErrNoTopic) {
		return fmt.Errorf("%w: create it, or name the topic with --events-topic, --invites-topic or --feedback-topic", err)
	}
	if err != nil {
		return err
	}
	// The compacted topics hold the latest record per key: read whole, so
	// that the capacity in effect as the window starts is known. Each may
	// be missing (a cluster set up before it, a platform that sends no
	// capacity): its columns then say n/a.
	for _, t := range []struct{ topic, missing string }{
		{f.capacity, "agents available n/a, handling times from chat_ended only"},
		{f.tallies, "sessions held back for want of agents n/a"},
	} {
		err := pipeline.ReadTopics(ctx, pipeline.ReadConfig{
			Brokers: f.brokers, Security: sec, Topics: []string{t.topic}, From: time.UnixMilli(0), Timeout: f.timeout,
		}, add)
		switch {
		case errors.Is(err, pipeline.ErrNoTopic):
			fmt.Fprintf(stderr, "no %s topic: %s\n", t.topic, t.missing)
		case err != nil:
			return err
		case t.topic == f.tallies:
			tally.TalliesFrom(f.tallies)
		}
	}
	out := tally.Report()
	out.Suppressed = suppressed
	fmt.Fprintf(stderr, "read %d records in %v\n", read, time.Since(start).Round(time.Millisecond))

	if f.jsonOut != "-" {
		if err := out.WriteText(stdout); err != nil {
			return err
		}
	}
	for _, o := range []struct {
		path  string
		write func(io.Writer) error
	}{{f.jsonOut, out.WriteJSON}, {f.htmlOut, out.WriteHTML}} {
		switch o.path {
		case "":
		case "-":
			if err := o.write(stdout); err != nil {
				return err
			}
		default:
			if err := writeFile(o.path, o.write); err != nil {
				return err
			}
		}
	}
	return nil
}

// validate checks the flags, all at once, and returns the window's start,
// the Kafka security settings and the staffing table's time zone.
func (f *reportFlags) validate(fs *flagSet, now time.Time) (time.Time, pipeline.Security, *time.Location, error) {
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %v", fs.Args()))
	}
	if len(f.brokers) == 0 {
		errs = append(errs, errors.New("no brokers: give --brokers host:port (or LINGER_BROKERS)"))
	}
	from := now.Add(-f.since)
	switch {
	case f.from != "" && f.sinceGiven(fs):
		errs = append(errs, errors.New("--since and --from exclude each other"))
	case f.from != "":
		t, err := parseTime(f.from)
		if err != nil {
			errs = append(errs, err)
		} else if !t.Before(now) {
			errs = append(errs, fmt.Errorf("--from %s is not in the past", f.from))
		}
		from = t
	case f.since <= 0:
		errs = append(errs, errors.New("--since must be more than 0"))
	}
	seen := map[string]string{}
	for _, t := range []struct{ flag, topic string }{{"--events-topic", f.events}, {"--invites-topic", f.invites}, {"--feedback-topic", f.feedback},
		{"--capacity-topic", f.capacity}, {"--tallies-topic", f.tallies}} {
		if err := schemas.ValidateTopicName(t.topic); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.flag, err))
		} else if other, dup := seen[t.topic]; dup {
			errs = append(errs, fmt.Errorf("%s and %s name the same topic %s", other, t.flag, t.topic))
		}
		seen[t.topic] = t.flag
	}
	if f.jsonOut == "-" && f.htmlOut == "-" {
		errs = append(errs, errors.New("only one of --json and --html can go to stdout (-)"))
	}
	if f.timeout <= 0 {
		errs = append(errs, errors.New("--timeout must be more than 0"))
	}
	loc, err := time.LoadLocation(f.tz)
	if err != nil || f.tz == "" || strings.EqualFold(f.tz, "local") {
		// Local would make the table depend on the machine that ran it.
		errs = append(errs, fmt.Errorf("--tz %q: want an IANA time zone such as Europe/Berlin, or UTC", f.tz))
	}
	if f.answerWithin <= 0 || f.answerWithin > time.Hour {
		errs = append(errs, fmt.Errorf("--answer-within %v: want more than 0 and at most 1h, such as 30s", f.answerWithin))
	}
	if !(f.serviceLevel > 0 && f.serviceLevel < 1) {
		errs = append(errs, fmt.Errorf("--service-level %v: want a share above 0 and below 1, such as 0.8", f.serviceLevel))
	}
	if !(f.bandMin >= 0 && f.bandMin <= f.bandMax && f.bandMax <= 100) {
		errs = append(errs, fmt.Errorf("--band-min %v and --band-max %v: want percentages with 0 ≤ min ≤ max ≤ 100", f.bandMin, f.bandMax))
	}
	sec, err := f.sec.security()
	if err != nil {
		errs = append(errs, err)
	}
	return from, sec, loc, errors.Join(errs...)
}

// sinceGiven reports whether --since was set, on the command line or from
// its environment variable.
func (f *reportFlags) sinceGiven(fs *flagSet) bool {
	set := false
	fs.Visit(func(fl *flag.Flag) { set = set || fl.Name == "since" })
	return set
}

// parseTime reads RFC 3339, with or without seconds, or a date (midnight
// UTC).
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--from %q: want RFC 3339 (2026-03-01T09:00:00Z) or a date (2026-03-01)", s)
}

// days is a duration flag that also reads days: 7d, 1d12h.
type days time.Duration

func (d *days) String() string {
	v := time.Duration(*d)
	if v > 0 && v%(24*time.Hour) == 0 && v > 24*time.Hour {
		return fmt.Sprintf("%dd", v/(24*time.Hour))
	}
	s := v.String()
	if v%time.Minute == 0 && v >= time.Minute {
		s = strings.TrimSuffix(s, "0s")
	}
	if v%time.Hour == 0 && v >= time.Hour {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func (d *days) Set(s string) error {
	n, rest := 0, s
	for i, c := range s {
		if c < '0' || c > '9' {
			if c == 'd' && i > 0 {
				fmt.Sscan(s[:i], &n)
				rest = s[i+1:]
			}
			break
		}
	}
	v := time.Duration(n) * 24 * time.Hour
	if rest != "" {
		p, err := time.ParseDuration(rest)
		if err != nil {
			return fmt.Errorf("%q: want a duration such as 90m, 24h or 7d", s)
		}
		v += p
	}
	*d = days(v)
	return nil
}
