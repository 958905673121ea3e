package upstream

import (
	"context"
	"errors"
	"strings"
	"testing"
)

const testID = "11010519491231002X"

type failingCounter struct{}

func (failingCounter) Incr(context.Context, string, string) (int64, error) {
	return 0, errors.New("redis down")
}

func TestIDLimitFailsClosed(t *testing.T) {
	l := &IDLimit{Max: 5, Counter: failingCounter{}}
	if err := l.Check(context.Background(), testID); err == nil {
		t.Error("a failing counter let the call through")
	}
	var off *IDLimit
	if err := off.Check(context.Background(), testID); err != nil {
		t.Errorf("no limit configured: %v", err)
	}
}

func TestIDKeyHidesTheNumber(t *testing.T) {
	k := idKey(testID)
	if len(k) != 32 || k == idKey("110105194912310037") {
		t.Errorf("idKey = %q", k)
	}
	for _, part := range []string{testID[:6], testID[len(testID)-4:]} {
		if strings.Contains(k, part) {
			t.Errorf("idKey %q shows %q", k, part)
		}
	}
}
