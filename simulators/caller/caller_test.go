package caller

import (
	"testing"
	"time"
)

func TestParseScript(t *testing.T) {
	steps, err := ParseScript("wait 2s, press 1, enter 0104194512#; pause 300ms, hangup")
	if err != nil {
		t.Fatal(err)
	}
	want := []Step{{Wait: 2 * time.Second}, {Keys: "1"}, {Keys: "0104194512#"}, {Wait: 300 * time.Millisecond}, {Hangup: true}}
	if len(steps) != len(want) {
		t.Fatalf("got %+v", steps)
	}
	for i := range want {
		if steps[i] != want[i] {
			t.Errorf("step %d: %+v, want %+v", i, steps[i], want[i])
		}
	}
	for _, bad := range []string{"wait", "wait soon", "press", "press 1x", "dance 1"} {
		if _, err := ParseScript(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestConfigRejectsUnknownDTMFMode(t *testing.T) {
	c := Config{Target: "sip:116117@127.0.0.1:5060", DTMF: "inband"}
	c.setDefaults()
	if err := c.Validate(); err == nil {
		t.Fatal("inband accepted")
	}
}
