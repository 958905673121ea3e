package protocol

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
)

func TestClassify(t *testing.T) {
	frozen := New(CodeFrozen, "merchant frozen")
	wrap := func(err error) error { return fmt.Errorf("layer: %w", fmt.Errorf("inner: %w", err)) }
	tests := []struct {
		err        error
		code       Code
		detail     string
		msg        string
		errorsIsOf error
	}{
		{nil, CodeOK, "", "调用成功", nil},
		{wrap(frozen), CodeFrozen, "", "商户冻结", frozen},
		{wrap(Wrap(CodeParameter, "selfie truncated JPEG", context.Canceled)), CodeParameter, "selfie truncated JPEG", "请求参数错误: selfie truncated JPEG", context.Canceled},
		// The outermost decision wins: a layer may restate what it was told.
		{Wrap(CodeSupplier, "", wrap(frozen)), CodeSupplier, "", "供应商服务异常", frozen},
		{errors.New("disk full"), CodeOther, "", "其他错误", nil},
	}
	for _, tt := range tests {
		code, detail := Classify(tt.err)
		if code != tt.code || detail != tt.detail || Msg(code, detail) != tt.msg {
			t.Errorf("Classify(%v) = %s %q (msg %q), want %s %q (%q)", tt.err, code, detail, Msg(code, detail), tt.code, tt.detail, tt.msg)
		}
		if tt.errorsIsOf != nil && !errors.Is(tt.err, tt.errorsIsOf) {
			t.Errorf("%v does not unwrap to %v", tt.err, tt.errorsIsOf)
		}
	}
}

func TestCodesHaveMessages(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Codes {
		if !c.Known() || c.Message() == "" || seen[c.Message()] {
			t.Errorf("code %s: message %q missing or repeated", c, c.Message())
		}
		seen[c.Message()] = true
	}
	if Code("4242").Known() || Code("4242").Message() != CodeOther.Message() {
		t.Error("an unknown code must read as 9999's message")
	}
}

func TestRoundScore(t *testing.T) {
	for _, tt := range []struct{ in, want float64 }{
		{87.534999, 87.53}, {87.535001, 87.54}, {-3, 0}, {100.2, 100}, {math.NaN(), 0}, {math.Inf(1), 100},
	} {
		if got := RoundScore(tt.in); got != tt.want {
			t.Errorf("RoundScore(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
