package merchant

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portrait-id/portrait/protocol"
)

const testID = "11010519491231002X"

type failingCounter struct{}

func (failingCounter) Incr(context.Context, string, string) (int64, error) {
	return 0, errors.New("redis down")
}

func TestIDLimitsFailClosed(t *testing.T) {
	l := &IDLimits{PerMerchant: 5, Counter: failingCounter{}}
	if err := l.Check(context.Background(), "ak", testID); err == nil {
		t.Error("a failing counter let the call through")
	}
	var off *IDLimits
	if err := off.Check(context.Background(), "ak", testID); err != nil {
		t.Errorf("no limit configured: %v", err)
	}
}

// One merchant reaching its limit for an ID number leaves the others theirs;
// the global ceiling stops all of them; a new UTC day starts afresh.
func TestIDLimitsPerMerchantAndGlobal(t *testing.T) {
	day := time.Date(2026, 12, 1, 23, 59, 0, 0, time.UTC)
	l := &IDLimits{PerMerchant: 2, Global: 5, Counter: NewMemoryCounter(), Now: func() time.Time { return day }}
	check := func(appKey string) string {
		err := l.Check(context.Background(), appKey, testID)
		if err != nil && !errors.Is(err, ErrIDDailyLimit) {
			t.Fatalf("Check: %v", err)
		}
		return string(protocol.CodeOf(err))
	}
	var got []string
	for _, ak := range []string{"a", "a", "a", "a", "b", "b", "c", "c", "d", "b"} {
		got = append(got, ak+":"+check(ak))
	}
	// a's excess (calls 3 and 4) does not count globally: b and c get
	// their two, d's first reaches the ceiling of 5 only after them.
	want := "a:0000 a:0000 a:1006 a:1006 b:0000 b:0000 c:0000 c:1006 d:1006 b:1006"
	if strings.Join(got, " ") != want {
		t.Errorf("codes\n %s\nwant\n %s", strings.Join(got, " "), want)
	}
	day = day.Add(2 * time.Minute)
	if c := check("a"); c != "0000" {
		t.Errorf("next UTC day: %s", c)
	}
}

func TestIDKeyHidesTheNumber(t *testing.T) {
	k := idKey("global\x00" + testID)
	if len(k) != 32 || k == idKey("global\x00110105194912310037") || k == idKey("merchant\x00a\x00"+testID) {
		t.Errorf("idKey = %q", k)
	}
	for _, part := range []string{testID[:6], testID[len(testID)-4:]} {
		if strings.Contains(k, part) {
			t.Errorf("idKey %q shows %q", k, part)
		}
	}
}
