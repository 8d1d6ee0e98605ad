package bench

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: whatever
// a test starts (servers, workers, clients) it must stop.
//
// With BENCH_TEST_CHILD set, the test binary is instead the processor a
// Child test starts (see childMain).
func TestMain(m *testing.M) {
	if mode := os.Getenv("BENCH_TEST_CHILD"); mode != "" {
		os.Exit(childMain(mode, os.Args[1:]))
	}
	goleak.VerifyTestMain(m)
}

// childMain stands in for `linger run` as a Child: it takes the --http
// address StartChild adds and, by mode, serves /readyz until SIGTERM
// ("ready"), never becomes ready ("never"), fails at start ("fail"), or
// exits unclean on SIGTERM ("unclean").
func childMain(mode string, args []string) int {
	addr := ""
	for i, a := range args {
		if a == "--http" && i+1 < len(args) {
			addr = args[i+1]
		}
	}
	fmt.Printf("child %s: args %v\n", mode, args)
	if mode == "fail" || addr == "" {
		fmt.Println("no brokers: set --brokers host:port")
		return 3
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	status := http.StatusOK
	if mode == "never" {
		status = http.StatusServiceUnavailable
	}
	go http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	<-term
	if mode == "unclean" {
		fmt.Println("lost the transaction")
		return 1
	}
	return 0
}
