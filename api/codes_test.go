package api

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/protocol"
	"github.com/portrait-id/portrait/verify"
)

// TestErrorsCarryTheirCodes checks the document's code and msg of every
// error the layers below answer with, as the envelope shows them.
func TestErrorsCarryTheirCodes(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("layer: %w", fmt.Errorf("inner: %w", err)) }
	tests := []struct {
		err  error
		code protocol.Code
		msg  string
	}{
		{nil, "0000", "调用成功"},
		{notUTF8("name"), "1001", "参数非 UTF-8 编码: name"},
		{missingParam("name"), "1002", "请求参数错误: missing name"},
		{wrap(verify.ErrRequestIDReused), "1002", "请求参数错误: request_id already used with a different id_number, name or selfie"},
		{wrap(merchant.ErrFrozen), "1003", "商户冻结"},
		{wrap(merchant.ErrDisabled), "1004", "商户停用"},
		{wrap(merchant.ErrExpired), "1005", "商户账号过期"},
		{wrap(merchant.ErrRateLimited), "1006", "调用频率过高"},
		// The per-ID limit says which limit; the count stays out.
		{fmt.Errorf("%w (101 calls today, limit 100)", merchant.ErrIDDailyLimit), "1006", "调用频率过高: id_number daily limit"},
		{wrap(merchant.ErrQuotaExhausted), "1007", "免费次数用尽"},
		{wrap(merchant.ErrNotGranted), "1008", "服务无权限"},
		// Details that would help probe accounts stay out.
		{fmt.Errorf("app_key ak_1: %w", merchant.ErrUnknownAppKey), "1009", "App_key 验证失败"},
		{wrap(identity.ErrUnavailable), "2000", "供应商服务异常"},
		{context.Canceled, "9999", "其他错误"},
		{errors.New("open /var/lib/portrait.db: permission denied"), "9999", "其他错误"},
		// A quality failure is an answer (result 2), never an error code; if
		// one leaks out as an error it is a domain bug, not a 1002.
		{&face.QualityError{Reason: face.ReasonBlur}, "9999", "其他错误"},
	}
	for _, tt := range tests {
		code, detail := protocol.Classify(tt.err)
		if code != tt.code || protocol.Msg(code, detail) != tt.msg {
			t.Errorf("%v answers %s %q, want %s %q", tt.err, code, protocol.Msg(code, detail), tt.code, tt.msg)
		}
	}
}
