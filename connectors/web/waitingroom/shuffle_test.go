package waitingroom

import (
	"context"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/core/store/storetest"
)

func TestShuffleIsAPermutation(t *testing.T) {
	t.Parallel()
	release := time.Date(2021, 5, 20, 0, 0, 0, 0, time.UTC)
	for _, size := range []int64{1, 2, 3, 7, 16, 17, 100, 1000, 4097} {
		s := newShuffle(testSecret, "booking", release, 0, size)
		seen := make(map[int64]bool, size)
		moved := 0
		for n := int64(1); n <= size; n++ {
			r := s.rank(n)
			if r < 1 || r > size || seen[r] {
				t.Fatalf("size %d: rank %d of %d repeated or out of range", size, r, n)
			}
			seen[r] = true
			if r != n {
				moved++
			}
			if again := newShuffle(testSecret, "booking", release, 0, size).rank(n); again != r {
				t.Fatalf("size %d: rank of %d not deterministic: %d then %d", size, n, r, again)
			}
		}
		if size >= 16 && moved < int(size/2) {
			t.Errorf("size %d: only %d of %d tickets moved", size, moved, size)
		}
	}
	a := newShuffle(testSecret, "booking", release, 0, 1000)
	b := newShuffle(testSecret, "booking", release.Add(time.Second), 0, 1000)
	same := 0
	for n := int64(1); n <= 1000; n++ {
		if a.rank(n) == b.rank(n) {
			same++
		}
	}
	if same > 20 {
		t.Errorf("another release round shuffles alike: %d of 1000 equal", same)
	}
}

func TestReleaseShuffleAppliesOnlyToTicketsBeforeTheReleaseTime(t *testing.T) {
	t.Parallel()
	pool := storetest.NewPool(t)
	replicas := []*Room{startRoom(t, pool, nil), startRoom(t, pool, nil)}
	srvs := []string{serve(t, replicas[0]).URL, serve(t, replicas[1]).URL}
	ctx := context.Background()
	zero := 0 // nobody admitted: positions equal ranks
	release := time.Now().Add(800 * time.Millisecond)
	if err := replicas[0].Change(ctx, Settings{SessionLimit: &zero, ReleaseAt: &release}); err != nil {
		t.Fatal(err)
	}
	const early = 24
	browsers := make([]*browser, early)
	for i := range browsers {
		browsers[i] = newBrowser(t)
		p := browsers[i].get(srvs[i%2] + "/buchen/")
		mustWait(t, p, -1)
		if p.position() != -1 {
			t.Fatalf("before the release no position is known, got %d", p.position())
		}
	}
	if time.Now().After(release) {
		t.Skip("machine too slow: tickets not all issued before the release time")
	}
	time.Sleep(time.Until(release.Add(50 * time.Millisecond)))
	late := newBrowser(t) // after the release time, before the count is fixed
	mustWait(t, late.get(srvs[0]+"/buchen/"), -1)

	eventually(t, 3*time.Second, "release round fixed on both replicas", func() bool {
		return replicas[0].view().frozen && replicas[1].view().frozen
	})
	seen := map[int]bool{}
	moved := 0
	for i, b := range browsers {
		tk, err := replicas[0].sign.decodeTicket(b.cookie(srvs[0], cookieTicket), b.cookie(srvs[0], cookieSession))
		if err != nil || tk.class != classPreRelease {
			t.Fatalf("browser %d: ticket %+v %v, want a pre-release ticket", i, tk, err)
		}
		pos := [2]int{b.get(srvs[0] + "/buchen/").position(), b.get(srvs[1] + "/buchen/").position()}
		if pos[0] != pos[1] || pos[0] < 1 || pos[0] > early || seen[pos[0]] {
			t.Fatalf("browser %d: positions %v on the two replicas (seen %v)", i, pos, seen)
		}
		seen[pos[0]] = true
		r0, _ := replicas[0].view().rankOf(tk)
		r1, _ := replicas[1].view().rankOf(tk)
		if r0 != r1 || int(r0) != pos[0] {
			t.Fatalf("browser %d: rank %d/%d, position %d", i, r0, r1, pos[0])
		}
		if int64(pos[0]) != tk.n {
			moved++
		}
	}
	if moved < early/2 {
		t.Errorf("only %d of %d early tickets moved", moved, early)
	}
	if p := late.get(srvs[1] + "/buchen/"); p.position() != early+1 {
		t.Fatalf("a ticket after the release time queues behind the shuffled ones in arrival order: position %d", p.position())
	}
	after := newBrowser(t)
	mustWait(t, after.get(srvs[1]+"/buchen/"), early+2)
}
