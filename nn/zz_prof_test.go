package nn

import (
	"fmt"
	"os"
	"sort"
	"testing"
	"time"
)

func TestZZStepProfile(t *testing.T) {
	name := os.Getenv("NN_PROF")
	if name == "" {
		t.Skip()
	}
	m := loadTestModel(t, name)
	s := m.NewSession()
	s.Run()
	per := make([]time.Duration, len(m.steps))
	for range 50 {
		for i, st := range m.steps {
			t0 := time.Now()
			st.run(s.bufs)
			d := time.Since(t0)
			if per[i] == 0 || d < per[i] {
				per[i] = d
			}
		}
	}
	agg := map[string]time.Duration{}
	var total time.Duration
	for i, st := range m.steps {
		k := fmt.Sprintf("%T", st)
		switch v := st.(type) {
		case *convStep:
			k = fmt.Sprintf("conv k%dx%d s%d c%d->%d %dx%d direct=%v res=%v", v.op.g.KH, v.op.g.KW, v.op.g.SH, v.op.g.C, v.op.cout, v.op.g.OH, v.op.g.OW, v.op.direct, v.op.res)
		case *dwConvStep:
			k = fmt.Sprintf("dw+pw k%d s%d c%d->%d %dx%d band %d res=%v", v.dw.p.KH, v.dw.p.StrideH, v.op.g.C, v.op.cout, v.op.g.OH, v.op.g.OW, v.op.band, v.op.res)
		case *depthwiseStep:
			k = fmt.Sprintf("dw k%d s%d c%d %dx%d", v.op.p.KH, v.op.p.StrideH, v.op.p.C, v.op.p.OH, v.op.p.OW)
		case *binaryStep:
			k = fmt.Sprintf("binary %d %v", v.op.kind, v.op.outShape)
		case *unaryStep:
			k = fmt.Sprintf("unary %d %d", v.k, m.size[v.out])
		}
		agg[k] += per[i]
		total += per[i]
	}
	keys := make([]string, 0, len(agg))
	for k := range agg {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool { return agg[keys[a]] > agg[keys[b]] })
	for _, k := range keys[:min(25, len(keys))] {
		t.Logf("%8.3f ms %s", float64(agg[k])/1e6, k)
	}
	t.Logf("total %.3f ms", float64(total)/1e6)
}
