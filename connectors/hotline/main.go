package hotline

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/store"
	"github.com/vaxhub/vaxhub/internal/logcap"
	"github.com/vaxhub/vaxhub/schemas"
)

// Main runs the IVR alone against the hub's database: `vaxhub hotline
// [-addr 127.0.0.1:5060] [-transports udp,tcp]`. DATABASE_URL and
// VAXHUB_DATA_KEY (64 hex digits or base64 of 32 bytes) come from flags or
// the environment; the database must be migrated and hold a campaign.
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hotline", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var cfg Config
	var transports, dbURL, dataKey, tz, hashKey string
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:5060", "SIP listening address (UDP and TCP)")
	fs.StringVar(&transports, "transports", "udp,tcp", "SIP transports")
	fs.StringVar(&cfg.ExternalHost, "external-host", "", "address to put into Contact and SDP (NAT)")
	fs.IntVar(&cfg.RTPPortStart, "rtp-port-start", 0, "first RTP port (0: random ports)")
	fs.IntVar(&cfg.RTPPortEnd, "rtp-port-end", 0, "last RTP port")
	fs.DurationVar(&cfg.FirstDigitTimeout, "first-digit-timeout", 6*time.Second, "wait for the first key")
	fs.DurationVar(&cfg.InterDigitTimeout, "inter-digit-timeout", 4*time.Second, "wait for each further key")
	fs.Float64Var(&cfg.CallsPerSecondPerSource, "calls-per-second-per-source", 5, "new calls per second from one IP")
	fs.IntVar(&cfg.MaxCallsPerSource, "max-calls-per-source", 20, "calls one IP holds at once")
	fs.IntVar(&cfg.MaxCalls, "max-calls", 2000, "calls held at once")
	fs.StringVar(&dbURL, "database-url", envOr("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/vaxhub"), "PostgreSQL")
	fs.StringVar(&dataKey, "data-key", os.Getenv("VAXHUB_DATA_KEY"), "32-byte data key (hex or base64)")
	fs.StringVar(&hashKey, "caller-hash-key", os.Getenv("VAXHUB_CALLER_HASH_KEY"), "key of the caller-number HMAC in call events (default: random per run)")
	fs.StringVar(&tz, "time-zone", "Europe/Berlin", "campaign time zone")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Transports = strings.Split(transports, ",")
	cfg.CallerHashKey = []byte(hashKey)
	key, err := decodeDataKey(dataKey)
	if err != nil {
		return fmt.Errorf("hotline: data key: %w", err)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("hotline: database: %w", err)
	}
	defer pool.Close()
	reg, err := schemas.Load()
	if err != nil {
		return err
	}
	st, err := store.New(pool, store.Options{DataKey: key, Location: loc, Events: reg})
	if err != nil {
		return err
	}
	a, err := app.New(app.Ports{Residents: st, Campaign: st, RuleSets: st, Bookings: st, Stock: st, Waitlist: st, Reports: st, Attempts: st},
		app.Config{Location: loc})
	if err != nil {
		return err
	}
	cfg.Events = &OutboxRecorder{Pool: pool, Registry: reg}
	// One log format, the hub's: JSON lines.
	cfg.Logger = logcap.Logger(slog.NewJSONHandler(stdout, nil), logcap.Options{})
	v, err := New(a, cfg)
	if err != nil {
		return err
	}
	cfg.Logger.Info("hotline serving", "addr", cfg.Addr, "transports", transports)
	return v.Serve(ctx)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func decodeDataKey(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	return nil, errors.New("must be 32 bytes as 64 hex digits or base64 (VAXHUB_DATA_KEY)")
}
