package face

import (
	"bytes"
	"encoding/binary"
)

// exifOrientation returns the orientation tag (1..8) of a JPEG's Exif IFD0,
// or 1 when there is none or it cannot be read. Phone cameras store selfies
// sideways and set this tag instead of rotating pixels; a face detector fed
// the stored pixels would see a face lying on its side.
//
// Only the markers before the first scan are walked, and every offset is
// bounds-checked: the bytes are a stranger's upload.
func exifOrientation(b []byte) int {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return 1
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			return 1
		}
		marker := b[i+1]
		if marker == 0xFF { // fill byte before a marker
			i++
			continue
		}
		if marker == 0xDA || marker == 0xD9 { // start of scan, end of image
			return 1
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return 1
		}
		seg := b[i+4 : i+2+n]
		if marker == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			if o, ok := tiffOrientation(seg[6:]); ok {
				return o
			}
		}
		i += 2 + n
	}
	return 1
}

// tiffOrientation reads tag 0x0112 from IFD0 of a TIFF structure (the body of
// an Exif segment).
func tiffOrientation(t []byte) (int, bool) {
	const tagOrientation, typeShort = 0x0112, 3
	e, bo, ok := ifd0Entry(t, tagOrientation)
	if !ok || bo.Uint16(e[2:]) != typeShort || bo.Uint32(e[4:]) != 1 {
		return 0, false
	}
	o := int(bo.Uint16(e[8:])) // a SHORT value sits left-justified in the value field
	if o < 1 || o > 8 {
		return 0, false
	}
	return o, true
}

// ifd0Entry finds tag in IFD0 of a TIFF structure and returns its 12-byte
// entry (tag, type, count, value or offset) and the structure's byte order.
// Every offset is bounds-checked: the bytes are a stranger's upload.
func ifd0Entry(t []byte, tag uint16) ([]byte, binary.ByteOrder, bool) {
	if len(t) < 8 {
		return nil, nil, false
	}
	var bo binary.ByteOrder
	switch string(t[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return nil, nil, false
	}
	ifd := int(bo.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > len(t) {
		return nil, nil, false
	}
	count := int(bo.Uint16(t[ifd:]))
	for k := 0; k < count; k++ {
		e := ifd + 2 + 12*k
		if e+12 > len(t) {
			return nil, nil, false
		}
		if bo.Uint16(t[e:]) == tag {
			return t[e : e+12], bo, true
		}
	}
	return nil, nil, false
}
