package hotline

import "github.com/emiago/diago/media"

// dtmfDetector turns RFC 4733 telephone-event packets into digits, one per
// event, reported on the first end-of-event packet. Unlike diago v0.42.1 it
// accepts an event whose first packet has duration 0 (SIPp's stock pcaps),
// reports an event whose start packets were lost, ignores end retransmissions,
// and treats a new start after an ended event with the same timestamp as a new
// event (a replayed capture repeats its timestamps).
type dtmfDetector struct {
	active   bool // an event has been seen
	ts       uint32
	event    uint8
	ended    bool
	reported bool
}

// packet takes one telephone-event payload with its RTP timestamp and marker.
func (d *dtmfDetector) packet(ts uint32, marker bool, payload []byte) (rune, bool) {
	var ev media.DTMFEvent
	if err := media.DTMFDecode(payload, &ev); err != nil || ev.Event > 15 {
		return 0, false
	}
	same := d.active && ts == d.ts && ev.Event == d.event
	if !ev.EndOfEvent {
		if same && !d.ended && !marker {
			return 0, false // continuation
		}
		if same && !d.ended && marker && !d.reported {
			return 0, false // retransmitted start
		}
		// A new event. If the previous one never ended, its end packets were lost:
		// report it now, so a digit is not swallowed.
		var prev rune
		report := d.active && !d.ended && !d.reported
		if report {
			prev = media.DTMFToRune(d.event)
		}
		*d = dtmfDetector{active: true, ts: ts, event: ev.Event}
		return prev, report
	}
	if same && d.ended {
		return 0, false // end retransmission
	}
	*d = dtmfDetector{active: true, ts: ts, event: ev.Event, ended: true, reported: true}
	return media.DTMFToRune(ev.Event), true
}
