package hotline

import (
	"bufio"
	"errors"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestIdleTCPConnectionsFromOneSourceLeaveRoomForOthers: one address opens
// far more TCP connections to the SIP port than it may hold and sends
// nothing. The IVR keeps at most MaxTCPConnsPerSource of them, closes the
// silent ones after TCPFirstDataTimeout, and a caller from another address
// is answered over TCP throughout (an OPTIONS request gets 200).
func TestIdleTCPConnectionsFromOneSourceLeaveRoomForOthers(t *testing.T) {
	t.Parallel()
	const perSource = 10
	l := startIVR(t, nil, func(c *Config) {
		c.MaxTCPConnsPerSource = perSource
		c.TCPFirstDataTimeout = 1500 * time.Millisecond
	})
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range 60 {
		c, err := net.Dial("tcp", l.addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
	}
	// Connections over the cap are closed by the IVR at once: their reads end.
	time.Sleep(500 * time.Millisecond)
	if all, mine := l.ivr.tcp.held("127.0.0.1"); mine > perSource || all > perSource {
		t.Fatalf("held %d from 127.0.0.1 (%d in all), want at most %d", mine, all, perSource)
	}
	closed := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		var b [1]byte
		if _, err := c.Read(b[:]); err != nil && !isTimeout(err) {
			closed++
		}
	}
	if closed < 60-perSource {
		t.Errorf("%d of 60 connections were closed by the IVR, want at least %d", closed, 60-perSource)
	}

	// Another address is still served over TCP.
	if got := optionsOverTCP(t, "127.0.0.2", l.addr); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Errorf("OPTIONS from 127.0.0.2 over TCP: %q, want 200", got)
	}

	// The silent connections are closed after TCPFirstDataTimeout and their
	// places come back.
	time.Sleep(2 * time.Second)
	if _, mine := l.ivr.tcp.held("127.0.0.1"); mine != 0 {
		t.Errorf("%d silent connections from 127.0.0.1 still held after the first-data timeout", mine)
	}
	if got := optionsOverTCP(t, "127.0.0.1", l.addr); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Errorf("OPTIONS from 127.0.0.1 after its silent connections were closed: %q, want 200", got)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// optionsOverTCP sends one OPTIONS from local address from and returns the
// status line of the answer.
func optionsOverTCP(t *testing.T, from, to string) string {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", to)
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	defer c.Close()
	la := c.LocalAddr().String()
	msg := "OPTIONS sip:116117@" + to + " SIP/2.0\r\n" +
		"Via: SIP/2.0/TCP " + la + ";branch=z9hG4bK-guard-" + strings.ReplaceAll(la, ":", "-") + "\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:probe@" + from + ">;tag=guard\r\nTo: <sip:116117@" + to + ">\r\n" +
		"Call-ID: guard-" + la + "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "error: " + err.Error()
	}
	return strings.TrimSpace(line)
}

// failingOnce fails its first Accept the way a process out of file
// descriptors does, then accepts normally.
type failingOnce struct {
	net.Listener
	failed bool
}

func (f *failingOnce) Accept() (net.Conn, error) {
	if !f.failed {
		f.failed = true
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return f.Listener.Accept()
}

// TestTCPGuardKeepsAcceptingAfterAFailedAccept: a failed Accept (EMFILE under a
// flood) is waited out, not handed to the SIP stack, which would stop serving.
func TestTCPGuardKeepsAcceptingAfterAFailedAccept(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := newTCPGuard(&failingOnce{Listener: l}, 5, 5, time.Second, time.Second, slog.New(slog.DiscardHandler))
	defer g.Close()
	go func() {
		if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
			defer c.Close()
			time.Sleep(time.Second)
		}
	}()
	c, err := g.Accept()
	if err != nil {
		t.Fatalf("Accept after a failed accept: %v", err)
	}
	c.Close()
	_ = g.Close()
	if _, err := g.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept on a closed listener: %v, want net.ErrClosed", err)
	}
}
