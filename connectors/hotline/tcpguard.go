package hotline

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// tcpGuard is the hotline's TCP listener: it caps the connections held per
// source IP and in all, and closes a connection that sends nothing soon after
// it opens or that then stays idle. The SIP library keeps
// every accepted TCP connection and a goroutine for it until the peer closes
// it, so without this, idle connections from one address could use up the
// process's file descriptors and take the whole hub (HTTP included) down.
type tcpGuard struct {
	net.Listener
	perSource, total int
	firstData, idle  time.Duration
	log              *slog.Logger

	mu       sync.Mutex
	bySource map[string]int
	all      int
	refused  atomic.Int64
}

func newTCPGuard(l net.Listener, perSource, total int, firstData, idle time.Duration, log *slog.Logger) *tcpGuard {
	return &tcpGuard{Listener: l, perSource: perSource, total: total, firstData: firstData, idle: idle, log: log, bySource: map[string]int{}}
}

// Accept returns the next connection within the caps; connections over a cap
// are closed at once and never reach the SIP stack.
func (g *tcpGuard) Accept() (net.Conn, error) {
	var wait time.Duration
	for {
		c, err := g.Listener.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil, err
		}
		if err != nil {
			// Out of file descriptors and the like (what a flood causes):
			// wait and accept again, as net/http's server does, instead of
			// handing the error to the SIP stack, which would stop serving.
			wait = min(max(2*wait, 5*time.Millisecond), time.Second)
			g.log.Warn("hotline: TCP accept failed; retrying", "err", err, "retry_in", wait)
			time.Sleep(wait)
			continue
		}
		wait = 0
		src := sourceIP(c.RemoteAddr())
		g.mu.Lock()
		if g.all >= g.total || g.bySource[src] >= g.perSource {
			g.mu.Unlock()
			_ = c.Close()
			if n := g.refused.Add(1); n == 1 || n%1000 == 0 {
				g.log.Warn("hotline: TCP connection refused over the cap", "source", src, "refused_total", n,
					"per_source", g.perSource, "total", g.total)
			}
			continue
		}
		g.bySource[src]++
		g.all++
		g.mu.Unlock()
		gc := &guardedConn{Conn: c, g: g, src: src}
		_ = c.SetReadDeadline(time.Now().Add(g.firstData))
		return gc, nil
	}
}

func (g *tcpGuard) release(src string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.all--
	if g.bySource[src]--; g.bySource[src] <= 0 {
		delete(g.bySource, src)
	}
}

// held returns the connections held in all and from src.
func (g *tcpGuard) held(src string) (all, fromSource int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.all, g.bySource[src]
}

func sourceIP(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// guardedConn gives its place back when it closes or fails, and renews its
// read deadline: firstData until the first bytes, then idle.
type guardedConn struct {
	net.Conn
	g       *tcpGuard
	src     string
	started bool
	once    sync.Once
}

func (c *guardedConn) Read(b []byte) (int, error) {
	if c.started {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.g.idle))
	}
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.started = true
	}
	if err != nil {
		// The SIP stack ends its reader on any error; free the descriptor
		// and the place even if its pool keeps the connection object.
		_ = c.Close()
	}
	return n, err
}

func (c *guardedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.g.release(c.src) })
	return err
}
