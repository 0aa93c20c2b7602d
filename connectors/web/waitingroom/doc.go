// Package waitingroom is the digital waiting room in front of the web booking
// flow: when the active booking sessions reach their limit, new visitors get a
// signed ticket bound to their browser and are admitted in arrival order, at a
// rate that never exceeds the core's measured booking capacity, with one queue
// shared by every hub replica through PostgreSQL.
// It must never keep a row per waiting visitor, never admit a ticket twice or
// in another browser than the one it was issued to, and never stand in front
// of the hotline or of information pages: callers do not queue here, although
// they book from the same capacity.
//
// # Mounting
//
//	room, err := waitingroom.New(ctx, pool, waitingroom.Config{Secret: secret, Capacity: meter})
//	go room.Run(ctx)
//	mux.Handle("/buchen/", room.Gate(bookingFlow))             // the booking flow only
//	mux.Handle("POST /api/v1/appointments", meter.MeasureBookings(bookHandler))
//	mux.Handle("GET /warteraum/status", room.Status())        // JSON for the waiting page
//	mux.Handle("GET /warteraum/wait.js", room.Script())        // the waiting page's script (CSP: 'self')
//	mux.Handle("POST /buchen/fertig", room.Leave("/"))         // ends the booking session
//	mux.Handle("/admin/waiting-room", staffOnly(room.Admin())) // GET, PUT
//
// # How the queue works
//
// A waiting visitor is nothing but a cookie: a ticket carrying an arrival
// number drawn from a PostgreSQL sequence and an HMAC-SHA256 over it and the
// browser's session ID. The queue itself is one row per room
// (waiting_room_state) with an admitted-up-to counter that whichever replica
// holds the row lock advances, by at most the free session slots and at most
// the booking capacity per second (a GCRA limiter whose virtual time lives in
// the same row). A ticket whose rank is at or below the counter is called; on
// its browser's next request it is redeemed into an admission session, a row
// that is unique per ticket, so a replayed ticket admits nobody (see
// redeemTicket for why both a consumed-ticket key and the session binding are
// used). Position checks read a per-replica snapshot refreshed every tick and
// verify the HMAC, so they cost no database round trip.
//
// # Release-time shuffle
//
// An operator may announce a release time. Tickets drawn before it come from
// a second sequence; shortly after the release their count is fixed and each
// gets a rank from a keyed pseudo-random permutation (a Feistel network over
// HMAC-SHA256, see shuffle.go), so the order among them is random, the same
// on every replica, and needs no state per visitor. Tickets drawn after the
// release queue behind them in arrival order.
//
// # Shared booking capacity
//
// The gate limits web booking sessions only. Hotline callers book through
// connectors/hotline straight into core/app and never wait here; they draw on
// the same slots and the same booking path, which is why the admission rate
// follows the capacity measured on that path rather than a fixed number.
package waitingroom
