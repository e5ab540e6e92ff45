package webhooks

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParseSchedule reads a `schedule` line (fields split on spaces, as the Caddyfile does): no panic, no negative
// delay accepted, and an accepted schedule reads back the same from its String forms.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"0s 5s 5m 30m 2h 5h 10h 14h 20h 24h", "0s 200ms 200ms 200ms", "1h30m", "1.5h 0.25s",
		"-1s", "5", "", "9223372036854775807ns", "9223372036854775808ns", "2562047h47m16.854775807s", "1µs 1us 1ns"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		ds, err := ParseSchedule(strings.Fields(line))
		if err != nil {
			return
		}
		if len(ds) == 0 {
			t.Fatalf("%q: empty schedule accepted", line)
		}
		canon := make([]string, len(ds))
		for i, d := range ds {
			if d < 0 {
				t.Fatalf("%q: negative delay %s", line, d)
			}
			canon[i] = d.String()
		}
		back, err := ParseSchedule(canon)
		if err != nil || len(back) != len(ds) {
			t.Fatalf("%q -> %q -> %v, %v", line, canon, back, err)
		}
		for i := range ds {
			if back[i] != ds[i] {
				t.Fatalf("%q -> %q -> %v", line, canon, back)
			}
		}
	})
}

// FuzzVerifyRequest feeds a receiver's check arbitrary headers and bodies: it never panics, and never accepts a
// request whose signature it did not make. A request signed with the secret verifies whatever else the header
// carries; the same request with the body changed does not.
func FuzzVerifyRequest(f *testing.F) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	f.Add(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", []byte(`{"test": 2432232314}`))
	f.Add(secret, "msg_1", "1614265330", "v2,abc v1,!!! v1, v1,g0hM9SsE", []byte(`{}`))
	f.Add("whsec_", "", "", "", []byte(nil))
	f.Add("whsec_"+strings.Repeat("A", 200), "id", "-9223372036854775808", "v1,AAAA", []byte("x"))
	f.Add("not-a-secret", "id", "9223372036854775807", "v1,"+strings.Repeat("/", 44), []byte("\x00\xff"))
	f.Add(secret, "msg id with spaces", "1614265330 ", " v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=  ", []byte(`{"test": 2432232314}`))
	f.Fuzz(func(t *testing.T, secret, id, ts, sigs string, body []byte) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sigs)
		now := time.Unix(1614265330, 0)
		_ = VerifyRequest(secret, h, body, now, DefaultTolerance)
		err := VerifyRequest(secret, h, body, now, -1)
		unix, tsErr := strconv.ParseInt(ts, 10, 64)
		if err == nil {
			if id == "" || tsErr != nil {
				t.Fatalf("accepted a request without a usable id or timestamp: %q %q", id, ts)
			}
			if Verify(secret, id, time.Unix(unix, 0), body, sigs) != nil {
				t.Fatal("VerifyRequest accepted what Verify refuses")
			}
		}
		if _, perr := ParseSecret(secret); perr != nil || id == "" || tsErr != nil {
			return
		}
		sig, err := Sign(secret, id, time.Unix(unix, 0), body)
		if err != nil {
			t.Fatal(err)
		}
		h.Set(HeaderSignature, sigs+" "+sig)
		if err := VerifyRequest(secret, h, body, now, -1); err != nil {
			t.Fatalf("a signed request does not verify: %v", err)
		}
		if err := VerifyRequest(secret, h, append(body, 'x'), now, -1); err == nil && Verify(secret, id, time.Unix(unix, 0), append(body, 'x'), sigs) != nil {
			t.Fatal("a changed body verifies")
		}
	})
}
