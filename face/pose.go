package face

import "math"

// Pose is the head's orientation in degrees, measured from the mesh.
//
// Yaw is the turn about the vertical axis: positive when the face turns
// toward the image's right (its image-right side recedes from the camera). Pitch is the nod: positive when the
// chin is further from the camera than the forehead (head tilted back).
// Roll is the in-plane tilt of the eye line: positive clockwise in the image.
// Mirroring an image negates yaw and roll and keeps pitch.
type Pose struct{ Yaw, Pitch, Roll float64 }

// poseFromMesh builds the face's axes from four landmarks — forehead to chin
// (the face's down axis) and cheek to cheek (its right axis) — in source
// pixels with depth in the same unit, and reads the angles off them. Unlike
// Human's angles.ts, which scales depth by 1/1.5 relative to x and y (and so
// under-reports yaw and pitch), depth and image axes share one unit here,
// as MediaPipe specifies the mesh's z.
func poseFromMesh(m []Point3) Pose {
	if len(m) < MeshPoints {
		return Pose{}
	}
	down := unit(sub(m[meshChin], m[meshForehead]))
	right := unit(sub(m[meshCheekRight], m[meshCheekLeft]))
	// Make right perpendicular to down (the landmarks are not exactly so).
	right = unit(cross(down, unit(cross(right, down))))
	deg := 180 / math.Pi
	return Pose{
		Yaw:   math.Asin(clamp1(right.Z)) * deg,
		Pitch: math.Asin(clamp1(down.Z))*deg - pitchZero,
		Roll:  math.Atan2(right.Y, right.X) * deg,
	}
}

// pitchZero is the forehead-to-chin line's tilt out of the image plane for a
// level face: the forehead slopes back from the chin. Measured as the median
// over 812 faces-dev photos (news photos, taken at eye level on average).
const pitchZero = 5.4

func sub(a, b Point3) Point3 { return Point3{a.X - b.X, a.Y - b.Y, a.Z - b.Z} }

func cross(a, b Point3) Point3 {
	return Point3{a.Y*b.Z - a.Z*b.Y, a.Z*b.X - a.X*b.Z, a.X*b.Y - a.Y*b.X}
}

func unit(a Point3) Point3 {
	n := math.Sqrt(a.X*a.X + a.Y*a.Y + a.Z*a.Z)
	if n == 0 {
		return a
	}
	return Point3{a.X / n, a.Y / n, a.Z / n}
}

func clamp1(x float64) float64 { return min(max(x, -1), 1) }
