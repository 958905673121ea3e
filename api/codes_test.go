package api

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/portrait-id/portrait/client"
	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/idcard"
	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/sign"
	"github.com/portrait-id/portrait/upstream"
	"github.com/portrait-id/portrait/verify"
)

func TestCodeOf(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("layer: %w", fmt.Errorf("inner: %w", err)) }
	tests := []struct {
		err  error
		want string
	}{
		{nil, "0000"},
		{wrap(sign.ErrSignature), "1000"},
		{notUTF8("name"), "1001"},
		{missingParam("name"), "1002"},
		{wrap(sign.ErrTimestampFormat), "1002"},
		{wrap(&idcard.RuleError{Rule: "id_number birth date"}), "1002"},
		{wrap(verify.ErrRequestIDReused), "1002"},
		{wrap(face.ErrImage), "1002"},
		{wrap(merchant.ErrFrozen), "1003"},
		{wrap(merchant.ErrDisabled), "1004"},
		{wrap(merchant.ErrExpired), "1005"},
		{wrap(merchant.ErrRateLimited), "1006"},
		{wrap(upstream.ErrIDDailyLimit), "1006"},
		{wrap(merchant.ErrQuotaExhausted), "1007"},
		{wrap(merchant.ErrNotGranted), "1008"},
		{wrap(merchant.ErrUnknownAppKey), "1009"},
		{wrap(sign.ErrExpired), "1010"},
		{wrap(identity.ErrUnavailable), "2000"},
		{context.Canceled, "9999"},
		{errors.New("disk full"), "9999"},
		// A quality failure is an answer (result 2), never an error code; if
		// one leaks out as an error it is a domain bug, not a 1002.
		{&face.QualityError{Reason: face.ReasonBlur}, "9999"},
	}
	for _, tt := range tests {
		if got := CodeOf(tt.err); got != tt.want {
			t.Errorf("CodeOf(%v) = %s, want %s", tt.err, got, tt.want)
		}
		if !client.Code(tt.want).Known() || Message(tt.want) == "" {
			t.Errorf("code %s has no message", tt.want)
		}
	}
}

func TestMessageDetail(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("probe: %w", fmt.Errorf("%w: truncated JPEG", face.ErrImage)), "请求参数错误: selfie truncated JPEG"},
		{fmt.Errorf("probe: %w", face.ErrImage), "请求参数错误: selfie"},
		{fmt.Errorf("validate: %w", &idcard.RuleError{Rule: "name control character"}), "请求参数错误: name control character"},
		// Details that would help probe accounts or reveal internals stay out.
		{fmt.Errorf("merchant ak_1 secret mismatch: %w", sign.ErrSignature), "验签失败"},
		{fmt.Errorf("app_key ak_1: %w", merchant.ErrUnknownAppKey), "App_key 验证失败"},
		// The per-ID limit says which limit; the count stays out.
		{fmt.Errorf("lookup: %w", fmt.Errorf("%w (101 calls today, limit 100)", upstream.ErrIDDailyLimit)), "调用频率过高: id_number daily limit"},
		{fmt.Errorf("admit: %w", merchant.ErrRateLimited), "调用频率过高"},
		{errors.New("open /var/lib/portrait.db: permission denied"), "其他错误"},
	}
	for _, tt := range tests {
		code, detail := classify(tt.err)
		if got := msgFor(code, detail); got != tt.want {
			t.Errorf("msg for %v = %q, want %q", tt.err, got, tt.want)
		}
	}
}
