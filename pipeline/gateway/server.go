package gateway

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The phases of a connection's life, each bounded, so that no client holds
// a connection, a goroutine and a file descriptor for longer whatever it
// sends or fails to send.
const (
	// headerTimeout bounds the request line and headers.
	headerTimeout = 5 * time.Second
	// requestReadTimeout bounds reading a whole request, headers and body,
	// from its first byte. Handlers that read a body set their own
	// deadline (bodyReadTimeout) as they start reading it.
	requestReadTimeout = 20 * time.Second
	// writeTimeout bounds writing an answer, from the end of the
	// request's headers; a stream sets a deadline per write instead.
	writeTimeout = 20 * time.Second
	// idleTimeout bounds a kept-alive connection between requests (the
	// tracker posts every 2 s while a page is busy).
	idleTimeout = 60 * time.Second
	// maxHeaderBytes bounds the request line and headers.
	maxHeaderBytes = 64 << 10
	// refusalWriteTimeout bounds writing the answer to a connection
	// refused as it is accepted.
	refusalWriteTimeout = time.Second
)

// Server is the gateway's HTTP server: Handler behind the connection caps
// (Config.MaxConns, Config.MaxConnsPerIP) and the timeouts above.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// Listen serves the gateway on addr (host:port; port 0 picks a free one)
// until Close. Serving Handler from a server of one's own loses the
// connection caps and timeouts: Listen is the way to put the gateway on a
// public address.
func (g *Gateway) Listen(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("gateway: listen: %w", err)
	}
	s := &Server{srv: g.httpServer(), ln: g.limitListener(ln), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		// Serve returns ErrServerClosed on Close, or an accept error
		// once the listener is gone; neither needs more than ending.
		_ = s.srv.Serve(s.ln)
	}()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops accepting, and waits up to ctx for requests in flight (end
// the streams first: Gateway.EndStreams), then closes every connection.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	<-s.done
	return err
}

// serverTimeouts are the server's deadlines (the constants above; tests
// shorten them).
type serverTimeouts struct {
	header, read, write, idle time.Duration
}

// httpServer is the http.Server of the gateway, without its listener.
func (g *Gateway) httpServer() *http.Server {
	return &http.Server{
		Handler:           g.handler,
		ReadHeaderTimeout: g.timeouts.header,
		ReadTimeout:       g.timeouts.read,
		WriteTimeout:      g.timeouts.write,
		IdleTimeout:       g.timeouts.idle,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// limitListener caps the connections ln accepts: Config.MaxConns in all,
// and Config.MaxConnsPerIP per peer address unless a proxy stands in front
// (ClientIPHeader set: the proxy is then the one peer, and the cap applies
// to each forwarded address's requests in flight instead, see edge). A
// connection over a cap is answered at once and closed, before any of it
// is read.
func (g *Gateway) limitListener(ln net.Listener) net.Listener {
	perKey := g.cfg.MaxConnsPerIP
	if g.cfg.ClientIPHeader != "" {
		perKey = int(^uint(0) >> 1)
	}
	return &limitedListener{Listener: ln, g: g, caps: newCounts(g.cfg.MaxConns, perKey)}
}

type limitedListener struct {
	net.Listener
	g    *Gateway
	caps *counts
}

// Accept returns the next connection within the caps, refusing those
// over them as they come.
func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := addrKey(peerAddr(c.RemoteAddr().String()))
		switch l.caps.open(key) {
		case capTotal:
			l.g.m.connRefused.WithLabelValues("total").Inc()
			refuseConn(c, http.StatusServiceUnavailable, "too many connections: retry later")
			continue
		case capKey:
			l.g.m.connRefused.WithLabelValues("address").Inc()
			refuseConn(c, http.StatusTooManyRequests, "too many connections from this address")
			continue
		}
		l.g.m.conns.Inc()
		return &countedConn{Conn: c, release: func() { l.caps.close(key); l.g.m.conns.Dec() }}, nil
	}
}

// refuseConn answers a connection it has not read with code and closes it.
// A client may not see the answer if it was still sending (its unread
// bytes make the close a reset); it sees the connection end at once either
// way.
func refuseConn(c net.Conn, code int, msg string) {
	body := `{"error":"` + msg + `"}` + "\n"
	_ = c.SetWriteDeadline(time.Now().Add(refusalWriteTimeout))
	_, _ = io.WriteString(c, "HTTP/1.1 "+strconv.Itoa(code)+" "+http.StatusText(code)+"\r\n"+
		"Content-Type: application/json; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n"+
		"Retry-After: 5\r\nConnection: close\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
	_ = c.Close()
}

// countedConn releases its place under the caps once, when closed.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite lets the HTTP server half-close the connection before its
// last close, as it does for a plain TCP connection.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// edge wraps every route: it counts requests in flight, caps them per
// forwarded address behind a proxy, warns when the proxy header comes from
// a peer that cannot be the proxy, and makes sure that an answer written
// before the request's body was read never waits for that body (see
// edgeWriter).
func (g *Gateway) edge(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.m.inFlight.Inc()
		defer g.m.inFlight.Dec()
		var body *trackedBody
		if r.Body != nil && r.Body != http.NoBody {
			body = &trackedBody{ReadCloser: r.Body}
			r.Body = body
		}
		ew := &edgeWriter{ResponseWriter: w, body: body}
		if g.cfg.ClientIPHeader != "" {
			g.checkProxyPeer(r)
			key := g.clientKey(r)
			if g.fwdCaps.open(key) != capNone {
				g.m.connRefused.WithLabelValues("address").Inc()
				ew.Header().Set("Retry-After", "5")
				writeError(ew, http.StatusTooManyRequests, "too many requests in flight from this address")
				return
			}
			defer g.fwdCaps.close(key)
		}
		h.ServeHTTP(ew, r)
	})
}

// checkProxyPeer warns, at most once a minute, when a request carrying the
// client address header comes straight from a public address: the header
// is then whatever that client wrote, and every per-address limit can be
// dodged by writing another.
func (g *Gateway) checkProxyPeer(r *http.Request) {
	peer := peerAddr(r.RemoteAddr)
	if !peer.IsValid() || trustedPeer(peer) || len(r.Header.Values(g.cfg.ClientIPHeader)) == 0 {
		return
	}
	g.m.untrustedProxy.Inc()
	now := time.Now().UnixNano()
	last := g.proxyWarned.Load()
	if now-last >= int64(time.Minute) && g.proxyWarned.CompareAndSwap(last, now) {
		g.log.Warn("the client address header came from a public address: --client-ip-header is meant only behind a proxy that sets it, and clients can write it to dodge the per-address limits",
			"header", g.cfg.ClientIPHeader, "peer", peer.String())
	}
}

// trackedBody notes whether a request body was read to its end.
type trackedBody struct {
	io.ReadCloser
	eof atomic.Bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof.Store(true)
	}
	return n, err
}

// edgeWriter closes the connection after every error answer, and after
// any answer written before the request's body was read to its end. In
// the latter case it also ends reading at once: Go's server would
// otherwise read (and wait for) up to 256 KiB of the unread body before
// answering, or after, to keep the connection, and a client that declared
// a body and sends none would hold the connection until the read timeout.
type edgeWriter struct {
	http.ResponseWriter
	body  *trackedBody
	wrote bool
}

func (e *edgeWriter) WriteHeader(code int) {
	if !e.wrote {
		e.wrote = true
		unread := e.body != nil && !e.body.eof.Load()
		if code >= 400 || unread {
			e.Header().Set("Connection", "close")
		}
		if unread {
			// A deadline in the past fails the server's read of the
			// rest at once; the answer is written all the same.
			_ = http.NewResponseController(e.ResponseWriter).SetReadDeadline(time.Unix(1, 0))
		}
	}
	e.ResponseWriter.WriteHeader(code)
}

func (e *edgeWriter) Write(b []byte) (int, error) {
	if !e.wrote {
		e.WriteHeader(http.StatusOK)
	}
	return e.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (Flush,
// deadlines).
func (e *edgeWriter) Unwrap() http.ResponseWriter { return e.ResponseWriter }
