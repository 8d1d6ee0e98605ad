package pipeline

import (
	"fmt"
	"runtime"

	"github.com/lingerhq/linger/internal/buildinfo"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// RegisterProcessMetrics registers what every linger process exports
// besides its own metrics: linger_build_info and the Go and process
// collectors. A Runner registers them with its own metrics; a command
// without a Runner (the gateway) calls it on its own registry.
func RegisterProcessMetrics(reg prometheus.Registerer) error {
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "linger_build_info", Help: "Always 1; labels name the build."}, []string{"version", "goversion"})
	build.WithLabelValues(buildinfo.Version, runtime.Version()).Set(1)
	for _, c := range []prometheus.Collector{build, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register process metrics: %w", err)
		}
	}
	return nil
}
