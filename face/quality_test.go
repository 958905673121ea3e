package face

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/portrait-id/portrait/models"
)

// goodFace is an analysis that passes every default check.
func goodFace() *Analysis {
	return &Analysis{Width: 640, Height: 480, Face: &Face{
		Detection: Detection{Min: Point{200, 100}, Max: Point{400, 300}, Score: 0.95},
		MeshScore: 0.99,
		Pose:      Pose{Yaw: 3, Pitch: -2, Roll: 25},
		Measures:  Measures{Sharpness: 20, Brightness: 120, Surround: 110},
	}}
}

func TestGateCheck(t *testing.T) {
	g := Gate{}.withDefaults()
	tests := []struct {
		name   string
		change func(a *Analysis)
		want   Reason // "" passes
	}{
		{"good", func(*Analysis) {}, ""},
		{"no face", func(a *Analysis) { a.Face = nil }, ReasonNoFace},
		{"mesh sees no face", func(a *Analysis) { a.Face.MeshScore = 0.2 }, ReasonNoFace},
		{"second face beside", func(a *Analysis) {
			a.Others = []Detection{{Min: Point{420, 100}, Max: Point{580, 260}, Score: 0.9}}
		}, ReasonMultipleFaces},
		{"tiny face in the background", func(a *Analysis) {
			a.Others = []Detection{{Min: Point{20, 20}, Max: Point{80, 80}, Score: 0.95}}
		}, ""},
		{"unsure second box", func(a *Analysis) {
			a.Others = []Detection{{Min: Point{420, 100}, Max: Point{600, 280}, Score: 0.55}}
		}, ""},
		{"small face", func(a *Analysis) { a.Face.Max = Point{270, 170} }, ReasonFaceTooSmall},
		{"turned", func(a *Analysis) { a.Face.Pose.Yaw = -16 }, ReasonPose},
		{"nodding", func(a *Analysis) { a.Face.Pose.Pitch = 15.5 }, ReasonPose},
		{"tilted only", func(a *Analysis) { a.Face.Pose.Roll = -40 }, ""},
		{"dark", func(a *Analysis) { a.Face.Measures = Measures{Sharpness: 20, Brightness: 30, Surround: 30} }, ReasonDark},
		{"backlit", func(a *Analysis) { a.Face.Measures = Measures{Sharpness: 20, Brightness: 80, Surround: 200} }, ReasonBacklit},
		{"bright behind a lit face", func(a *Analysis) { a.Face.Measures = Measures{Sharpness: 20, Brightness: 140, Surround: 200} }, ""},
		{"blurred", func(a *Analysis) { a.Face.Measures.Sharpness = 2 }, ReasonBlur},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := goodFace()
			tc.change(a)
			qe := checkRefusal(t, g.check(a), tc.want)
			if qe != nil && qe.Detail == "" {
				t.Error("no detail")
			}
		})
	}
}

// checkRefusal fails the test unless err is what the gate answers for want:
// nil for "", else a *QualityError with that reason, which it returns.
func checkRefusal(t *testing.T, err error, want Reason) *QualityError {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return nil
	}
	var qe *QualityError
	if !errors.As(err, &qe) || qe.Reason != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	return qe
}

func TestGateThresholdsAreConfigurable(t *testing.T) {
	a := goodFace()
	a.Face.Pose.Yaw = 20
	if err := (Gate{MaxYaw: 25}).withDefaults().check(a); err != nil {
		t.Fatalf("yaw 20 under a 25° limit: %v", err)
	}
	if err := (Gate{}).withDefaults().check(a); err == nil {
		t.Fatal("yaw 20 passed the default 15° limit")
	}
}

// Photos of faces-dev used by the tests that need real faces; each is a
// frontal, single-face photo that passes the gate, except where named.
const (
	devDir      = "/work/shared/faces-dev/"
	frontalA    = devDir + "lfw_Aaron_Peirsol/0001.jpg"
	frontalB    = devDir + "lfw_Adam_Sandler/0001.jpg"
	turnedLeft  = devDir + "lfw_Paul_Bremer/0001.jpg"     // faces the image's left, ~35°
	turnedRight = devDir + "lfw_Terry_McAuliffe/0001.jpg" // faces the image's right, ~40°
)

var (
	sharedOnce     sync.Once
	sharedPipeline *Pipeline
	sharedErr      error
)

// testPipeline opens one pipeline for the package's tests (loading the
// models takes a while), or skips when the models are not fetched.
func testPipeline(t testing.TB) *Pipeline {
	t.Helper()
	if models.Check(models.DefaultDir()) != nil {
		t.Skip("models not fetched (portrait models fetch)")
	}
	sharedOnce.Do(func() { sharedPipeline, sharedErr = Open(Config{}) })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedPipeline
}

func analyze(t *testing.T, p *Pipeline, m *rgbImage) *Analysis {
	t.Helper()
	a, err := p.Analyze(context.Background(), jpegBytes(t, m))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestGateOnDerivedPhotos runs the whole pipeline on real photos and on
// copies degraded the way selfies go wrong, each expected to fail its check.
func TestGateOnDerivedPhotos(t *testing.T) {
	p := testPipeline(t)
	a := loadRGB(t, frontalA)
	b := loadRGB(t, frontalB)
	base := analyze(t, p, a)
	if base.Face == nil {
		t.Fatal("no face in the base photo")
	}
	tests := []struct {
		name string
		img  *rgbImage
		want Reason
	}{
		{"original", a, ""},
		{"another original", b, ""},
		{"tilted 25°, roll is not gated", rotate(a, 25), ""},
		{"no face", quadrantsRGB(320, 240), ReasonNoFace},
		{"two people", sideBySide(a, b), ReasonMultipleFaces},
		{"far away", halve(a), ReasonFaceTooSmall},
		{"turned left", loadRGB(t, turnedLeft), ReasonPose},
		{"turned right", loadRGB(t, turnedRight), ReasonPose},
		{"under-exposed", darken(a, 0.3), ReasonDark},
		{"window behind", backlight(a, base.Face.Detection), ReasonBacklit},
		{"out of focus", gaussianBlur(a, 2.5), ReasonBlur},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := analyze(t, p, tc.img)
			checkRefusal(t, p.Check(got), tc.want)
		})
	}
}

func quadrantsRGB(w, h int) *rgbImage { return toRGB(quadrants(w, h), 1) }

// TestPoseConventions checks the pose's signs and scale on real photos:
// mirroring negates yaw and roll and keeps pitch; turning the image turns
// roll by as much; faces turned either way read the sign documented.
func TestPoseConventions(t *testing.T) {
	p := testPipeline(t)
	pose := func(m *rgbImage) Pose {
		a := analyze(t, p, m)
		if a.Face == nil {
			t.Fatal("no face")
		}
		return a.Face.Pose
	}
	near := func(what string, got, want, tol float64) {
		if math.Abs(got-want) > tol {
			t.Errorf("%s = %.1f, want %.1f ± %.0f", what, got, want, tol)
		}
	}
	for _, path := range []string{frontalA, turnedLeft, turnedRight} {
		m := loadRGB(t, path)
		o, mir := pose(m), pose(mirror(m))
		t.Logf("%s: %+v mirrored %+v", path, o, mir)
		near(path+" mirrored yaw", mir.Yaw, -o.Yaw, 4)
		near(path+" mirrored roll", mir.Roll, -o.Roll, 3)
		near(path+" mirrored pitch", mir.Pitch, o.Pitch, 4)
		for _, deg := range []float64{-30, 20} {
			r := pose(rotate(m, deg))
			t.Logf("  rotated %v: %+v", deg, r)
			near(path+" rotated roll", r.Roll, o.Roll+deg, 5)
			near(path+" rotated yaw", r.Yaw, o.Yaw, 5)
		}
	}
	if y := pose(loadRGB(t, turnedLeft)).Yaw; y > -20 {
		t.Errorf("face turned to the image's left: yaw %.1f, want < −20", y)
	}
	if y := pose(loadRGB(t, turnedRight)).Yaw; y < 20 {
		t.Errorf("face turned to the image's right: yaw %.1f, want > 20", y)
	}
	if f := pose(loadRGB(t, frontalA)); math.Abs(f.Yaw) > 10 || math.Abs(f.Pitch) > 10 {
		t.Errorf("frontal face: %+v", f)
	}
}
