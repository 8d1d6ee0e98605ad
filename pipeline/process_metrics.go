package pipeline

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// RegisterProcessMetrics registers what every linger process exports
// besides its own metrics: linger_build_info and the Go and process
// collectors. NewMetrics calls it; a command without a Runner (the
// gateway) calls it on its own registry.
func RegisterProcessMetrics(reg prometheus.Registerer) {
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "linger_build_info", Help: "Always 1; labels name the build."}, []string{"version", "goversion"})
	build.WithLabelValues(Version, runtime.Version()).Set(1)
	reg.MustRegister(build, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}
