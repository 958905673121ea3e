package nn

import (
	"sync"
	"testing"

	"github.com/portrait-id/portrait/models"
)

// testModels are the graph models the runtime must run, by golden name.
var testModels = []struct{ name, pkg, rel string }{
	{"blazeface", "human", "models/blazeface.json"},
	{"facemesh", "human", "models/facemesh.json"},
	{"faceres", "human", "models/faceres.json"},
	{"antispoof", "human", "models/antispoof.json"},
	{"liveness", "human", "models/liveness.json"},
	{"mobilefacenet", "human-models", "models/mobilefacenet.json"},
	{"faceres-deep", "human-models", "models/faceres-deep.json"},
	{"mobileface", "human-models", "models/mobileface.json"},
	{"blazeface-front", "human-models", "models/blazeface-front.json"},
	{"iris", "human", "models/iris.json"},
	{"blazeface-back", "human-models", "models/blazeface-back.json"},
}

// checkModels verifies the cache once per test binary: hashing every model
// file again for each test that loads one cost seconds.
var checkModels = sync.OnceValue(func() error { return models.Check(models.DefaultDir()) })

// modelsDir returns the verified model cache, or skips the test.
func modelsDir(t testing.TB) string {
	t.Helper()
	if err := checkModels(); err != nil {
		t.Skipf("models missing (run `portrait models fetch`): %v", err)
	}
	return models.DefaultDir()
}

func TestLoadModels(t *testing.T) {
	dir := modelsDir(t)
	for _, tm := range testModels {
		t.Run(tm.name, func(t *testing.T) {
			m, err := LoadGraphModel(models.Path(dir, tm.pkg, tm.rel))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("inputs %v outputs %v steps %d arena %d KiB, %.3f GFLOP", m.Inputs(), m.Outputs(), len(m.steps), m.ArenaBytes()>>10, float64(m.FLOPs())/1e9)
		})
	}
}

func TestIndexByName(t *testing.T) {
	m := loadTestModel(t, "faceres")
	if i := m.OutputIndex("age_pred/Softmax"); i < 0 || m.Outputs()[i].Shape[1] != 100 {
		t.Errorf("OutputIndex(age_pred/Softmax) = %d", i)
	}
	if m.InputIndex("input_1") != 0 || m.OutputIndex("nope") != -1 {
		t.Error("InputIndex/OutputIndex")
	}
}
