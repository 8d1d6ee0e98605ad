package pipeline

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HTTPServer serves /metrics, /healthz (liveness: 200 unless the processor
// has failed) and /readyz (readiness: 200 once the group is joined and every
// assigned partition is served).
type HTTPServer struct {
	mux  *http.ServeMux
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// ListenHTTP starts serving on addr (host:port; port 0 picks a free one).
// healthy returns nil while the process is fine; ready reports readiness.
func ListenHTTP(addr string, g prometheus.Gatherer, healthy func() error, ready func() bool) (*HTTPServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := healthy(); err != nil {
			http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "not ready: joining the group or serving a new assignment", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	h := &HTTPServer{
		mux:  mux,
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		ln:   ln,
		done: make(chan struct{}),
	}
	go func() {
		defer close(h.done)
		// Serve returns ErrServerClosed on Close, or an accept error
		// once the listener is gone; neither needs more than ending.
		_ = h.srv.Serve(ln)
	}()
	return h, nil
}

// ServePprof adds Go's profiles under /debug/pprof/: CPU, heap,
// goroutines, execution traces. They show what a replica spends its time
// on; serve them only where the address is not reachable from outside.
func (h *HTTPServer) ServePprof() {
	h.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	h.mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	h.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	h.mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	h.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

// Addr returns the address the server listens on.
func (h *HTTPServer) Addr() string { return h.ln.Addr().String() }

// Close stops the server, waiting for in-flight requests up to ctx.
func (h *HTTPServer) Close(ctx context.Context) error {
	err := h.srv.Shutdown(ctx)
	<-h.done
	return err
}
