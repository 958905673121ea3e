package client

import "github.com/portrait-id/portrait/protocol"

// Code is the document's business response code (the envelope's "code").
// Every call that reaches the service answers one of these; only CodeOK
// carries data. Code.Message is the document's text for it.
type Code = protocol.Code

// The document's codes, as package protocol declares them for server and SDK.
const (
	CodeOK             = protocol.CodeOK
	CodeSignature      = protocol.CodeSignature
	CodeEncoding       = protocol.CodeEncoding
	CodeParameter      = protocol.CodeParameter
	CodeFrozen         = protocol.CodeFrozen
	CodeDisabled       = protocol.CodeDisabled
	CodeAccountExpired = protocol.CodeAccountExpired
	CodeRateLimited    = protocol.CodeRateLimited
	CodeQuotaExhausted = protocol.CodeQuotaExhausted
	CodeNotGranted     = protocol.CodeNotGranted
	CodeAppKey         = protocol.CodeAppKey
	CodeRequestExpired = protocol.CodeRequestExpired
	CodeSupplier       = protocol.CodeSupplier
	CodeOther          = protocol.CodeOther
)

// Values of the envelope's charge and of Data's fields.
const (
	ChargeYes = protocol.ChargeYes
	ChargeNo  = protocol.ChargeNo

	ResultFound      = protocol.ResultFound      // the lookup ran; see IDName
	ResultBadQuality = protocol.ResultBadQuality // the selfie failed the quality gate; not charged

	IDNameMatch    = protocol.IDNameMatch
	IDNameMismatch = protocol.IDNameMismatch // name and ID number do not match, or the ID number is unknown

	PhotoCompared      = protocol.PhotoCompared      // see Score
	PhotoMissing       = protocol.PhotoMissing       // no reference photo on record
	PhotoFeatureFailed = protocol.PhotoFeatureFailed // no usable face in the reference photo
)

// Path is the API's path under the service's base URL.
const Path = protocol.Path
