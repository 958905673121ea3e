// Package protocol is the vocabulary of the portrait-verification API that
// server and SDK share: the path, the codes and their messages, the values
// of charge, result, id_name and photo, the score's rounding, and the error
// kind that carries a code and what detail a caller may see. It depends on
// nothing but the standard library, so that every layer may use it.
package protocol

import "math"

// Path is where the API lives under a service's base URL.
const Path = "/api/identity/portrait_verification"

// Code is the document's business response code (the envelope's "code").
// Every call that reaches the service answers one of these; only CodeOK
// carries data.
type Code string

// The document's codes, with the situations the service answers them in.
const (
	CodeOK             Code = "0000" // the call succeeded; see data
	CodeSignature      Code = "1000" // sign does not match the request and app_secret
	CodeEncoding       Code = "1001" // a parameter's bytes are not UTF-8 (e.g. a GBK name)
	CodeParameter      Code = "1002" // missing or malformed parameter, invalid ID number, bad image, request_id reused
	CodeFrozen         Code = "1003" // the merchant account is frozen
	CodeDisabled       Code = "1004" // the merchant account is disabled
	CodeAccountExpired Code = "1005" // the merchant account is past its expiry
	CodeRateLimited    Code = "1006" // over the merchant's calls-per-second limit, or an ID number's daily limit; retry later
	CodeQuotaExhausted Code = "1007" // the merchant's free quota is used up
	CodeNotGranted     Code = "1008" // the merchant is not granted this service
	CodeAppKey         Code = "1009" // unknown app_key
	CodeRequestExpired Code = "1010" // timestamp outside the server's window (±5 minutes by default)
	CodeSupplier       Code = "2000" // the identity source failed or timed out; not charged, retry later
	CodeOther          Code = "9999" // any other failure, the service busy included; not charged
)

// Codes lists the document's codes in its table's order.
var Codes = []Code{
	CodeOK, CodeSignature, CodeEncoding, CodeParameter, CodeFrozen, CodeDisabled, CodeAccountExpired,
	CodeRateLimited, CodeQuotaExhausted, CodeNotGranted, CodeAppKey, CodeRequestExpired, CodeSupplier, CodeOther,
}

var messages = map[Code]string{
	CodeOK:             "调用成功",
	CodeSignature:      "验签失败",
	CodeEncoding:       "参数非 UTF-8 编码",
	CodeParameter:      "请求参数错误",
	CodeFrozen:         "商户冻结",
	CodeDisabled:       "商户停用",
	CodeAccountExpired: "商户账号过期",
	CodeRateLimited:    "调用频率过高",
	CodeQuotaExhausted: "免费次数用尽",
	CodeNotGranted:     "服务无权限",
	CodeAppKey:         "App_key 验证失败",
	CodeRequestExpired: "请求过期",
	CodeSupplier:       "供应商服务异常",
	CodeOther:          "其他错误",
}

// Message is the document's text for the code; the server's msg starts with
// it. An unknown code gets the text of CodeOther.
func (c Code) Message() string {
	if m, ok := messages[c]; ok {
		return m
	}
	return messages[CodeOther]
}

// Known reports whether c is one of the document's codes.
func (c Code) Known() bool {
	_, ok := messages[c]
	return ok
}

// Msg is an envelope's msg: the document's text for code, then the detail.
func Msg(code Code, detail string) string {
	if detail == "" {
		return code.Message()
	}
	return code.Message() + ": " + detail
}

// The document's charge values.
const (
	ChargeYes = 1
	ChargeNo  = 2
)

// Values of data's fields, as in the document.
const (
	ResultFound      = 1 // the lookup ran; see id_name
	ResultBadQuality = 2 // the selfie failed the quality gate; not charged

	IDNameMatch    = 1
	IDNameMismatch = 2 // name and ID number do not match, or the ID number is unknown

	PhotoCompared      = 1 // see score
	PhotoMissing       = 2 // no reference photo on record
	PhotoFeatureFailed = 3 // no usable face in the reference photo
)

// RoundScore keeps the document's at most two decimals, within [0, 100]; a
// NaN, which no comparison should give, is 0.
func RoundScore(s float64) float64 {
	if math.IsNaN(s) {
		return 0
	}
	return math.Round(min(max(s, 0), 100)*100) / 100
}
