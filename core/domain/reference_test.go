package domain

import (
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"
)

// Known Verhoeff check digits (the textbook examples).
func TestVerhoeffCheckDigitKnownValues(t *testing.T) {
	tests := []struct {
		body string
		want int
	}{
		{"236", 3},
		{"12345", 1},
		{"142857", 0},
		{"123456789012", 0},
		{"8473643095483728456789", 2},
		{"0", 4},
		{"000000000", 0},
		{"100000000", 9},
		{"999999999", 0},
		{"123456789", 0},
	}
	for _, tc := range tests {
		if got := verhoeffCheck(tc.body); got != tc.want {
			t.Errorf("verhoeffCheck(%s) = %d, want %d", tc.body, got, tc.want)
		}
	}
	for _, s := range []string{"1000000009", "9999999990", "1234567890", "0000000000"} {
		if !ValidReference(s) {
			t.Errorf("ValidReference(%s) = false, want true", s)
		}
	}
	if ValidReference("1000000006") || ValidReference("9999999993") {
		t.Error("ValidReference accepts a wrong check digit")
	}
}

// sampleBodies returns n deterministic 9-digit bodies spread over the range,
// plus a few with repeated digits.
func sampleBodies(n int) []string {
	out := []string{"100000000", "999999999", "123456789", "987654321", "111111111", "505050505", "121212121", "900000001"}
	x := uint64(2021_03_30)
	for len(out) < n {
		x = x*6364136223846793005 + 1442695040888963407
		out = append(out, strconv.FormatUint(100_000_000+(x>>20)%900_000_000, 10))
	}
	return out
}

func TestReferenceCheckDigitCatchesEverySingleDigitError(t *testing.T) {
	for _, body := range sampleBodies(300) {
		ref := body + strconv.Itoa(verhoeffCheck(body))
		if !ValidReference(ref) {
			t.Fatalf("ValidReference(%s) = false for a freshly built reference", ref)
		}
		b := []byte(ref)
		for i := range b {
			orig := b[i]
			for c := byte('0'); c <= '9'; c++ {
				if c == orig {
					continue
				}
				b[i] = c
				if ValidReference(string(b)) {
					t.Fatalf("%s with position %d changed to %c (%s) still valid", ref, i, c, b)
				}
			}
			b[i] = orig
		}
	}
}

func TestReferenceCheckDigitCatchesAdjacentSwaps(t *testing.T) {
	for _, body := range sampleBodies(300) {
		ref := body + strconv.Itoa(verhoeffCheck(body))
		b := []byte(ref)
		for i := 0; i+1 < len(b); i++ { // includes swapping the check digit itself
			if b[i] == b[i+1] {
				continue
			}
			b[i], b[i+1] = b[i+1], b[i]
			if ValidReference(string(b)) {
				t.Fatalf("%s with positions %d and %d swapped (%s) still valid", ref, i, i+1, b)
			}
			b[i], b[i+1] = b[i+1], b[i]
		}
	}
}

func TestNewReferenceIsTenDigitsWithValidCheckDigit(t *testing.T) {
	re := regexp.MustCompile(`^[1-9][0-9]{9}$`)
	seen := map[string]bool{}
	for range 2000 {
		r := NewReference()
		if !re.MatchString(r) {
			t.Fatalf("NewReference() = %q, want 10 digits not starting with 0", r)
		}
		if !ValidReference(r) {
			t.Fatalf("NewReference() = %q has a wrong check digit", r)
		}
		if got := r[9:]; got != strconv.Itoa(verhoeffCheck(r[:9])) {
			t.Fatalf("NewReference() = %q: check digit %s, want %d", r, got, verhoeffCheck(r[:9]))
		}
		seen[r] = true
	}
	// 9 random digits: 2000 draws collide with probability about 0.2%.
	if len(seen) < 1995 {
		t.Fatalf("only %d distinct references in 2000 draws", len(seen))
	}
}

func TestValidReferenceRefusesMalformedInput(t *testing.T) {
	const valid = "1234567890"
	if !ValidReference(valid) {
		t.Fatalf("fixture %s invalid", valid)
	}
	for _, s := range []string{"", "123456789", valid + "0", "12345-67890", "123 456 789", "12345678a0",
		"١٢٣٤٥٦٧٨٩٠", "+234567890", " " + valid[1:], valid[:9] + "x"} {
		if ValidReference(s) {
			t.Errorf("ValidReference(%q) = true", s)
		}
	}
}

func TestNormalizeReference(t *testing.T) {
	const ref = "1234567890"
	tests := []struct{ in, want string }{
		{ref, ref},
		{"  " + ref + "\t\n", ref},
		{"123 456 789 " + ref[9:], ref},
		{"123-456-789-" + ref[9:], ref},
		{"123/456/789/" + ref[9:], ref},
		{" 12 34-56/78 9" + ref[9:] + " ", ref},
		{"", ""},
	}
	for _, tc := range tests {
		got := NormalizeReference(tc.in)
		if got != tc.want {
			t.Errorf("NormalizeReference(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if tc.want == ref && !ValidReference(got) {
			t.Errorf("normalised %q not valid", tc.in)
		}
	}
}

// FuzzValidReference: a reference is valid exactly when its last digit is
// the Verhoeff check digit of the first nine, and normalising never turns an
// invalid reference into a valid one except by removing separators.
func FuzzValidReference(f *testing.F) {
	for _, s := range []string{"1000000009", "9999999990", "1234567890", "123 456 789 0", "0000000000",
		"", "abcdefghij", "12345678901", "١٢٣٤٥٦٧٨٩٠", "123-456-789/5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := ValidReference(s)
		want := len(s) == 10
		for i := 0; want && i < len(s); i++ {
			want = s[i] >= '0' && s[i] <= '9'
		}
		want = want && int(s[9]-'0') == verhoeffCheck(s[:9])
		if got != want {
			t.Fatalf("ValidReference(%q) = %v, want %v", s, got, want)
		}
		n := NormalizeReference(s)
		if ValidReference(n) {
			// Every digit of the normalised text came from s, in order.
			if !slices.Equal(digitsOf(n), digitsOf(s)) {
				t.Fatalf("NormalizeReference(%q) = %q invents or drops digits", s, n)
			}
		}
	})
}

func digitsOf(s string) []byte {
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			out = append(out, s[i])
		}
	}
	return out
}

var reUUIDv7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewIDIsUUIDv7AndSortsByTime(t *testing.T) {
	before := time.Now().UnixMilli()
	var ids []string
	for range 5 {
		ids = append(ids, NewID())
		time.Sleep(3 * time.Millisecond) // a new millisecond for the next ID
	}
	after := time.Now().UnixMilli()
	for _, id := range ids {
		if !reUUIDv7.MatchString(id) {
			t.Fatalf("NewID() = %q is not a UUIDv7 (version 7, RFC 9562 variant)", id)
		}
		ms, err := strconv.ParseInt(id[0:8]+id[9:13], 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		if ms < before || ms > after {
			t.Fatalf("NewID() = %q carries %d ms, want between %d and %d", id, ms, before, after)
		}
	}
	if !slices.IsSorted(ids) {
		t.Fatalf("IDs made one after another do not sort by time: %v", ids)
	}
	if len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Fatalf("duplicate IDs: %v", ids)
	}
	// Within one millisecond the rest is random: IDs are still distinct.
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if seen[id] {
			t.Fatalf("NewID() repeated %s", id)
		}
		seen[id] = true
	}
}

func TestValidID(t *testing.T) {
	for s, want := range map[string]bool{
		NewID():                                 true,
		"0178a9f2-4c1e-7b3d-9a2f-5e6f7a8b9c01":  true,
		"0178A9F2-4C1E-7B3D-9A2F-5E6F7A8B9C01":  false, // IDs are issued in lower case
		"0178a9f24c1e7b3d9a2f5e6f7a8b9c01":      false,
		"0178a9f2-4c1e-7b3d-9a2f-5e6f7a8b9c0":   false,
		"0178a9f2-4c1e-7b3d-9a2f-5e6f7a8b9c0g":  false,
		"0178a9f2-4c1e-7b3d-9a2f-5e6f7a8b9c012": false,
		"":                                      false,
	} {
		if ValidID(s) != want {
			t.Errorf("ValidID(%q) = %v, want %v", s, !want, want)
		}
	}
}
