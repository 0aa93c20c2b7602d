package bus

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"regexp"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kfake serves SaslHandshake v1 only and advertises exactly that (min 1,
// max 1) in its ApiVersions answer. Real Kafka advertises 0..1, and
// librdkafka (kcat) refuses to authenticate with SCRAM at all unless v0 is
// listed ("SASL Handshake not supported by broker"), although it then sends
// v1. advertiseSASLHandshakeV0 makes the embedded broker's ApiVersions
// answers list SaslHandshake 0..1 like Kafka's; a client that really sends
// v0 is still refused by kfake. Everything else in the answer is kfake's
// own: it is asked once per version at start-up and kept.
func advertiseSASLHandshakeV0(ctx context.Context, c *kfake.Cluster, addr string) error {
	answers := map[int16]*kmsg.ApiVersionsResponse{}
	for v := int16(0); v <= 4; v++ {
		resp, err := askAPIVersions(ctx, addr, v)
		if err != nil {
			return fmt.Errorf("bus: embedded broker: ApiVersions v%d: %w", v, err)
		}
		if resp.ErrorCode != 0 {
			continue
		}
		for i := range resp.ApiKeys {
			if resp.ApiKeys[i].ApiKey == int16(kmsg.SASLHandshake) && resp.ApiKeys[i].MinVersion == 1 {
				resp.ApiKeys[i].MinVersion = 0
			}
		}
		answers[v] = resp
	}
	c.ControlKey(int16(kmsg.ApiVersions), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.ApiVersionsRequest)
		a, ok := answers[r.Version]
		if !ok || (r.Version >= 3 && (!softwareName.MatchString(r.ClientSoftwareName) || !softwareName.MatchString(r.ClientSoftwareVersion))) {
			return nil, nil, false // kfake answers (and refuses what is invalid)
		}
		out := *a
		out.ApiKeys = append([]kmsg.ApiVersionsResponseApiKey(nil), a.ApiKeys...)
		return &out, nil, true
	})
	return nil
}

// softwareName is what Kafka accepts as client software name and version.
var softwareName = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

// askAPIVersions sends one ApiVersions request of the given version.
func askAPIVersions(ctx context.Context, addr string, version int16) (*kmsg.ApiVersionsResponse, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = version
	req.ClientSoftwareName, req.ClientSoftwareVersion = "vaxhub", "1"
	if _, err := conn.Write(kmsg.NewRequestFormatter(kmsg.FormatterClientID("vaxhub")).AppendRequest(nil, req, 1)); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(conn, body); err != nil {
		return nil, err
	}
	if len(body) < 4 {
		return nil, fmt.Errorf("short answer of %d bytes", len(body))
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = version
	// The ApiVersions response header is never flexible: the correlation
	// ID, then the body.
	if err := resp.ReadFrom(body[4:]); err != nil {
		return nil, err
	}
	return resp, nil
}
