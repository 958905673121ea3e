package kernel

import (
	"testing"
	"unsafe"
)

// The depthwise kernels read dwArgs at offsets fixed in internal/asmgen;
// a reordered field must fail here, not in the assembly.
func TestDwArgsLayout(t *testing.T) {
	var a dwArgs
	for _, f := range []struct {
		name     string
		got, off uintptr
	}{
		{"out", unsafe.Offsetof(a.out), 0},
		{"in", unsafe.Offsetof(a.in), 8},
		{"filter", unsafe.Offsetof(a.filter), 16},
		{"bias", unsafe.Offsetof(a.bias), 24},
		{"alpha", unsafe.Offsetof(a.alpha), 32},
		{"taps", unsafe.Offsetof(a.taps), 40},
		{"ntaps", unsafe.Offsetof(a.ntaps), 48},
		{"c", unsafe.Offsetof(a.c), 56},
		{"npix", unsafe.Offsetof(a.npix), 64},
		{"inStep", unsafe.Offsetof(a.inStep), 72},
		{"outStep", unsafe.Offsetof(a.outStep), 80},
		{"mode", unsafe.Offsetof(a.mode), 88},
		{"leak", unsafe.Offsetof(a.leak), 96},
		{"cvec", unsafe.Offsetof(a.cvec), 104},
	} {
		if f.got != f.off {
			t.Errorf("dwArgs.%s at %d, the assembly reads it at %d", f.name, f.got, f.off)
		}
	}
}
