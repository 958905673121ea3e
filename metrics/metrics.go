// Package metrics is what an operator watches: the service's Prometheus
// metrics (calls by code and charge, latency per stage, model inference time,
// rate-limit and quota rejections, storage errors, Redis fallbacks) and the
// liveness and readiness probes. It observes the other packages through
// decorators of their interfaces and, for answers, as the HTTP handler's
// observer of typed outcomes, so that none of them depends on Prometheus.
package metrics

import (
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/protocol"
	"github.com/portrait-id/portrait/verify"
)

// Stages of one call, the label values of the stage histogram.
const (
	StageAuth      = "auth"      // merchant lookup, timestamp, signature, status
	StageDecode    = "decode"    // selfie bytes to pixels
	StageDetect    = "detect"    // face detection
	StageLandmarks = "landmarks" // face mesh and pose
	StageQuality   = "quality"   // the selfie's quality gate
	StageEmbed     = "embed"     // alignment and the embedding network
	StageLookup    = "lookup"    // identity source
	StageLedger    = "ledger"    // the ledger row made durable
)

var stages = []string{StageAuth, StageDecode, StageDetect, StageLandmarks, StageQuality, StageEmbed, StageLookup, StageLedger}

// stageOther stands for a stage name this package does not know, so that a
// caller's typo cannot grow the label set.
const stageOther = "other"

// Metrics holds the service's collectors in a registry of its own.
type Metrics struct {
	reg *prometheus.Registry

	calls         *prometheus.CounterVec
	callDuration  *prometheus.HistogramVec
	rejections    *prometheus.CounterVec
	stage         *prometheus.HistogramVec
	inference     *prometheus.HistogramVec
	storageOps    *prometheus.HistogramVec
	storageErrors *prometheus.CounterVec
	fallbacks     *prometheus.CounterVec

	merchantCalls   *prometheus.CounterVec
	merchantCharged *prometheus.CounterVec
	scores          prometheus.Histogram
	reasons         *prometheus.CounterVec

	gateWaits    *prometheus.HistogramVec
	gateRefusals *prometheus.CounterVec
	degraded     prometheus.Gauge
}

// New returns Metrics registered with a new registry, which also carries the
// Go runtime and process collectors (memory, goroutines, file descriptors).
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portrait_calls_total",
			Help: "Verification calls answered, by the document's code and charge (1 charged, 2 not).",
		}, []string{"code", "charge"}),
		callDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portrait_call_duration_seconds",
			Help:    "Time from a call's arrival to its answer, by code.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15), // 1 ms to 16 s
		}, []string{"code"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portrait_rejections_total",
			Help: "Calls refused by a merchant's rate limit (reason rate_limit) or free quota (reason quota).",
		}, []string{"reason"}),
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portrait_stage_duration_seconds",
			Help:    "Time one stage of a call took.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 17), // 0.1 ms to 6.5 s
		}, []string{"stage"}),
		inference: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portrait_model_inference_seconds",
			Help:    "Time one face model took on one image, its pre- and post-processing included, by model role (detector, landmarks, embedder).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 17),
		}, []string{"model"}),
		storageOps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portrait_storage_duration_seconds",
			Help:    "Time one storage operation took, by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 17),
		}, []string{"op"}),
		storageErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portrait_storage_errors_total",
			Help: "Storage operations that failed (not counting not-found, already-exists and quota refusals), by operation.",
		}, []string{"op"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portrait_redis_fallbacks_total",
			Help: "Redis failures answered by the in-process limiter or claims instead, by operation.",
		}, []string{"op"}),
		merchantCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portrait_merchant_calls_total",
			Help: "Verification calls of merchants that exist (app_key known), by app_key.",
		}, []string{"app_key"}),
		merchantCharged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portrait_merchant_charged_calls_total",
			Help: "Charged verification calls (charge 1), by app_key.",
		}, []string{"app_key"}),
		scores: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "portrait_score",
			Help: "Scores answered (photo 1); 40, 50 and 60 are the scores at false-accept rates 1e-3, 1e-4 and 1e-5.",
			// Fine where the document's bands meet, coarse elsewhere.
			Buckets: []float64{10, 20, 30, 35, 40, 45, 50, 55, 60, 65, 70, 80, 90, 100},
		}),
		reasons: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portrait_quality_failures_total",
			Help: "Selfies refused by the quality gate (result 2), by data.reason.",
		}, []string{"reason"}),
		gateWaits: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portrait_gate_wait_seconds",
			Help:    "Time a call queued at a capacity gate (pipeline slots, body memory budget) before it was admitted or refused.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 13), // 1 ms to 4 s
		}, []string{"gate"}),
		gateRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portrait_gate_refusals_total",
			Help: "Calls answered busy (1006, uncharged) because a capacity gate had no room in time.",
		}, []string{"gate"}),
		degraded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portrait_degraded",
			Help: "1 while the service runs on its in-process fallbacks because Redis does not answer, else 0.",
		}),
	}
	m.reg.MustRegister(m.calls, m.callDuration, m.rejections, m.stage, m.inference, m.storageOps, m.storageErrors, m.fallbacks,
		m.merchantCalls, m.merchantCharged, m.scores, m.reasons, m.gateWaits, m.gateRefusals, m.degraded,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Every series a dashboard plots exists from the start, at zero, so that
	// rates and alerts work before the first event of each kind.
	for _, s := range stages {
		m.stage.WithLabelValues(s)
	}
	for _, r := range []string{"rate_limit", "quota"} {
		m.rejections.WithLabelValues(r)
	}
	for _, r := range reasons {
		m.reasons.WithLabelValues(string(r))
	}
	return m
}

// Handler serves the metrics in Prometheus' text format (GET /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry is where further collectors can be registered.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// reasons are the label values of the quality-failure counter; any other
// reason (a newer pipeline's, or an upstream's) counts as reasonOther.
var reasons = []face.Reason{face.ReasonNoFace, face.ReasonMultipleFaces, face.ReasonFaceTooSmall, face.ReasonPose,
	face.ReasonBlur, face.ReasonDark, face.ReasonBacklit, face.ReasonOccluded, reasonOther}

const reasonOther face.Reason = "other"

// ObserveCall counts one answered call (api.Observer): code is the document's
// code, charged the envelope's charge, data the answer's data (code 0000).
// merchant is the app_key of a merchant that exists, "" for calls of none,
// so that strangers' app_keys cannot grow the label set.
func (m *Metrics) ObserveCall(merchant string, code protocol.Code, charged bool, data *verify.Data, d time.Duration) {
	if !code.Known() {
		code = protocol.CodeOther
	}
	charge := "2"
	if charged {
		charge = "1"
	}
	m.calls.WithLabelValues(string(code), charge).Inc()
	m.callDuration.WithLabelValues(string(code)).Observe(d.Seconds())
	switch code {
	case protocol.CodeRateLimited:
		m.rejections.WithLabelValues("rate_limit").Inc()
	case protocol.CodeQuotaExhausted:
		m.rejections.WithLabelValues("quota").Inc()
	}
	if merchant != "" {
		m.merchantCalls.WithLabelValues(merchant).Inc()
		if charged {
			m.merchantCharged.WithLabelValues(merchant).Inc()
		}
	}
	switch {
	case data == nil:
	case data.Result == protocol.ResultBadQuality:
		r := face.Reason(data.Reason)
		if !slices.Contains(reasons, r) {
			r = reasonOther
		}
		m.reasons.WithLabelValues(string(r)).Inc()
	case data.Result == protocol.ResultFound && data.IDName == protocol.IDNameMatch && data.Photo == protocol.PhotoCompared:
		m.scores.Observe(data.Score)
	}
}

// ObserveStage records the time one stage of a call took (Stage*).
func (m *Metrics) ObserveStage(stage string, d time.Duration) {
	known := false
	for _, s := range stages {
		known = known || s == stage
	}
	if !known {
		stage = stageOther
	}
	m.stage.WithLabelValues(stage).Observe(d.Seconds())
}

// GateWait records one wait at a capacity gate (gate.Observer).
func (m *Metrics) GateWait(gate string, d time.Duration, admitted bool) {
	m.gateWaits.WithLabelValues(gate).Observe(d.Seconds())
	if !admitted {
		m.gateRefusals.WithLabelValues(gate).Inc()
	}
}

// WatchGate exposes a gate's occupancy: what holds it (calls, or bytes for
// a budget) and how many calls queue for it.
func (m *Metrics) WatchGate(gate string, held, waiting func() int64) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "portrait_gate_held", Help: "What holds a capacity gate now: calls in the pipeline, bytes of bodies in the budget.",
			ConstLabels: prometheus.Labels{"gate": gate},
		}, func() float64 { return float64(held()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "portrait_gate_queue", Help: "Calls queued at a capacity gate now.",
			ConstLabels: prometheus.Labels{"gate": gate},
		}, func() float64 { return float64(waiting()) }),
	)
	m.gateWaits.WithLabelValues(gate)
	m.gateRefusals.WithLabelValues(gate)
}

// Degraded sets whether the service runs on its in-process fallbacks.
func (m *Metrics) Degraded(on bool) {
	v := 0.0
	if on {
		v = 1
	}
	m.degraded.Set(v)
}

// RedisFallback counts a Redis failure answered locally; its signature is
// redisstate.Options.OnFallback's. The error is not a label: its text varies
// without bound.
func (m *Metrics) RedisFallback(op string, _ error) {
	m.fallbacks.WithLabelValues(op).Inc()
}
