package face

import (
	"math"
	"testing"
)

func TestSettledSkipsOnlyAQuietFrontalFace(t *testing.T) {
	read := meshCrop{centre: Point{100, 100}, side: 200, angle: 0.1}
	deg := math.Pi / 180
	frontal := Pose{Yaw: 3, Pitch: -2}
	tests := []struct {
		name string
		next meshCrop
		pose Pose
		want bool
	}{
		{"same crop, frontal", read, frontal, true},
		{"small moves", meshCrop{Point{106, 104}, 214, 0.1 + 2*deg}, frontal, true},
		{"centre 6 % off", meshCrop{Point{112, 100}, 200, 0.1}, frontal, false},
		{"side 10 % larger", meshCrop{Point{100, 100}, 220, 0.1}, frontal, false},
		{"turned 4°", meshCrop{Point{100, 100}, 200, 0.1 + 4*deg}, frontal, false},
		{"turn across ±π", meshCrop{Point{100, 100}, 200, 0.1 - 2*math.Pi + deg}, frontal, true},
		{"yaw near the limit", read, Pose{Yaw: -10}, false},
		{"pitch near the limit", read, Pose{Pitch: 9.5}, false},
	}
	for _, tc := range tests {
		if got := settled(read, tc.next, tc.pose, DefaultGate); got != tc.want {
			t.Errorf("%s: settled = %v, want %v", tc.name, got, tc.want)
		}
	}
	// A gate with wider limits lets a turned face settle.
	wide := DefaultGate
	wide.MaxYaw = 40
	if !settled(read, read, Pose{Yaw: -10}, wide) {
		t.Error("yaw 10 with a 40° limit did not settle")
	}
}
