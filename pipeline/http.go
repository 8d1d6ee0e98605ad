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
// assigned partition is served), or, started by Serve, any handler.
type HTTPServer struct {
	mux  *http.ServeMux // ListenHTTP's, for ServePprof
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
	h := serve(ln, mux)
	h.mux = mux
	return h, nil
}

// Serve starts serving handler on addr (host:port; port 0 picks a free
// one), with the same server settings as ListenHTTP: headers must arrive
// within 5 s and fit in 64 KiB, idle connections close after 2 min. There is
// no read or write timeout for whole requests: a handler that streams
// (Server-Sent Events) or reads a body sets its own deadlines with
// http.ResponseController.
func Serve(addr string, handler http.Handler) (*HTTPServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	return serve(ln, handler), nil
}

func serve(ln net.Listener, handler http.Handler) *HTTPServer {
	h := &HTTPServer{
		srv: &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second,
			MaxHeaderBytes: 64 << 10, IdleTimeout: 2 * time.Minute},
		ln:   ln,
		done: make(chan struct{}),
	}
	go func() {
		defer close(h.done)
		// Serve returns ErrServerClosed on Close, or an accept error
		// once the listener is gone; neither needs more than ending.
		_ = h.srv.Serve(ln)
	}()
	return h
}

// ServePprof adds Go's profiles under /debug/pprof/ (a server started by
// ListenHTTP only): CPU, heap, goroutines, execution traces. They show what
// a replica spends its time on; serve them only where the address is not
// reachable from outside.
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
