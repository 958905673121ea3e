package face

import (
	"fmt"
	"math"

	"github.com/portrait-id/portrait/nn"
)

// MeshPoints is the number of FaceMesh landmarks.
const MeshPoints = 468

// Mesh landmark indices the pipeline reads (MediaPipe's canonical numbering;
// "left"/"right" here mean the image's left and right for an upright,
// unmirrored frontal face).
const (
	meshForehead   = 10  // top of the face oval, mid-forehead
	meshChin       = 152 // bottom of the face oval
	meshCheekLeft  = 234 // face oval at the level of the eyes, image left
	meshCheekRight = 454 // same, image right
)

// Point3 is a landmark in source-image pixels; Z is depth in the same unit,
// relative to the face's centre, smaller is nearer the camera.
type Point3 struct{ X, Y, Z float64 }

// mesher runs FaceMesh: a 192×192 RGB crop in [0, 1] around the face, out
// come 468 points (x, y, z in crop pixels) and a face-presence score.
type mesher struct {
	model       *nn.Model
	size        int
	points      int // output index of the 1404 coordinates
	faceFlag    int // output index of the presence logit
	enlargement float64
}

// meshEnlargement is how much larger than the detector's box the mesh crop
// is, as Human's detector.scale: the mesh model was trained on crops with the
// whole head and some margin.
const meshEnlargement = 1.4

func newMesher(path string) (*mesher, error) {
	m, err := loadModel(path)
	if err != nil {
		return nil, err
	}
	in := m.Inputs()
	if len(in) != 1 || len(in[0].Shape) != 4 || in[0].Shape[1] != in[0].Shape[2] || in[0].Shape[3] != 3 {
		return nil, fmt.Errorf("face mesh %s: unexpected input %v", path, in)
	}
	ms := &mesher{model: m, size: in[0].Shape[1], points: -1, faceFlag: -1, enlargement: meshEnlargement}
	for i, o := range m.Outputs() {
		switch o.Shape[len(o.Shape)-1] {
		case 3 * MeshPoints:
			ms.points = i
		case 1:
			ms.faceFlag = i
		}
	}
	if ms.points < 0 || ms.faceFlag < 0 {
		return nil, fmt.Errorf("face mesh %s: unexpected outputs %v", path, m.Outputs())
	}
	return ms, nil
}

// eyeAngle is the angle of the line from the image-left eye to the
// image-right eye, in radians, positive when it descends to the right.
func eyeAngle(d Detection) float64 {
	l, r := d.Keypoints[0], d.Keypoints[1]
	return math.Atan2(r.Y-l.Y, r.X-l.X)
}

// meshCrop is the square the mesh model sees: centre and side in source
// pixels, and the turn that levels the eyes.
type meshCrop struct {
	centre Point
	side   float64
	angle  float64
}

// cropFromDetection centres the crop on the detector's box, enlarged, and
// turned so the eyes are level — the mesh model expects an upright face, so
// a tilted selfie gets the same landmarks as a level one.
func (ms *mesher) cropFromDetection(d Detection) meshCrop {
	return meshCrop{d.centre(), ms.enlargement * d.Size(), eyeAngle(d)}
}

// meshSpan is the mesh's extent as a fraction of a detection crop's side,
// measured on faces-dev (median 0.72): a crop made from a mesh keeps the
// framing the model gave those landmarks in.
const meshSpan = 0.72

// cropFromMesh re-frames the face from a first mesh: its eye corners give
// the turn, its extent (in the levelled frame) the centre and the side.
// BlazeFace's six keypoints are coarse; on a tilted or turned face the
// first crop is off-centre and the landmarks suffer for it.
func cropFromMesh(m []Point3) meshCrop {
	l, r := m[33], m[263]
	angle := math.Atan2(r.Y-l.Y, r.X-l.X)
	cos, sin := math.Cos(angle), math.Sin(angle)
	lo, hi := Point{math.Inf(1), math.Inf(1)}, Point{math.Inf(-1), math.Inf(-1)}
	for _, q := range m {
		// Coordinates in the frame turned by −angle (eyes level).
		u, v := q.X*cos+q.Y*sin, -q.X*sin+q.Y*cos
		lo.X, lo.Y = min(lo.X, u), min(lo.Y, v)
		hi.X, hi.Y = max(hi.X, u), max(hi.Y, v)
	}
	cu, cv := (lo.X+hi.X)/2, (lo.Y+hi.Y)/2
	return meshCrop{
		centre: Point{cu*cos - cv*sin, cu*sin + cv*cos},
		side:   max(hi.X-lo.X, hi.Y-lo.Y) / meshSpan,
		angle:  angle,
	}
}

// landmarks runs the mesh on a crop and returns the points in source pixels
// and the model's face-presence probability.
func (ms *mesher) landmarks(p *pyramid, c meshCrop) ([]Point3, float64) {
	t := cropTransform(c.centre, c.side, c.angle, ms.size)

	s := ms.model.Acquire()
	defer release(s)
	p.sample(s.Input(0), ms.size, ms.size, t, 1.0/255, 0, true)
	s.Run()

	raw := s.Output(ms.points)
	zScale := c.side / float64(ms.size)
	pts := make([]Point3, MeshPoints)
	for i := range pts {
		q := t.apply(float64(raw[3*i]), float64(raw[3*i+1]))
		pts[i] = Point3{q.X, q.Y, float64(raw[3*i+2]) * zScale}
	}
	// The graph ends in its own sigmoid: the flag is already a probability.
	return pts, float64(s.Output(ms.faceFlag)[0])
}
