package pipeline

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
)

// kgoLogger hands the Kafka client's logs to slog, at warn and above by
// default: the client's info lines (every metadata refresh) drown a
// processor's own.
type kgoLogger struct {
	l     *slog.Logger
	level kgo.LogLevel
}

// KafkaLogger returns l as a franz-go logger the way the runner's clients
// log: warn and above, info too when l logs debug.
func KafkaLogger(l *slog.Logger) kgo.Logger { return newKgoLogger(l) }

func newKgoLogger(l *slog.Logger) kgo.Logger {
	level := kgo.LogLevelWarn
	if l.Enabled(context.Background(), slog.LevelDebug) {
		level = kgo.LogLevelInfo
	}
	return &kgoLogger{l: l.With("component", "kafka"), level: level}
}

func (k *kgoLogger) Level() kgo.LogLevel { return k.level }

func (k *kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var sl slog.Level
	switch level {
	case kgo.LogLevelError:
		sl = slog.LevelError
	case kgo.LogLevelWarn:
		sl = slog.LevelWarn
	case kgo.LogLevelInfo:
		sl = slog.LevelInfo
	default:
		sl = slog.LevelDebug
	}
	k.l.Log(context.Background(), sl, msg, keyvals...)
}
