package worker

import (
	"net/http"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynq/x/metrics"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wdtcancel/wdtcancel/internal/httpjson"
	"github.com/wdtcancel/wdtcancel/internal/uifonts"
)

// MonitoringPath is where asynqmon is served on the ops port.
const MonitoringPath = "/monitoring"

// MonitoringFontsPath serves the page's fonts from the binary
// (internal/uifonts): asynqmon links them on fonts.googleapis.com, which
// is filtered in mainland China and unreachable from air-gapped sites, and
// the browser waits for those stylesheets before it draws the page.
const MonitoringFontsPath = MonitoringPath + "/fonts"

// opsHandler serves /healthz, /readyz, /metrics and asynqmon. asynqmon is
// read-only unless MonitoringWritable: its API then refuses anything but GET.
func (w *Worker) opsHandler() (http.Handler, func() error) {
	insp := asynq.NewInspectorFromRedisClient(w.rdb)
	w.registry.MustRegister(metrics.NewQueueMetricsCollector(insp))
	mon := asynqmon.New(asynqmon.Options{
		RootPath:     MonitoringPath,
		RedisConnOpt: w.cfg.Redis,
		ReadOnly:     !w.cfg.MonitoringWritable,
		// asynqmon says "non-printable bytes" for an empty result: a task
		// completed by a worker that kept none (taskResult is the format).
		ResultFormatter: asynqmon.ResultFormatterFunc(func(typ string, result []byte) string {
			if len(result) == 0 {
				return "(no result kept)"
			}
			return asynqmon.DefaultResultFormatter.FormatResult(typ, result)
		}),
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		httpjson.Write(rw, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, r *http.Request) {
		rep := w.ready.Report(r.Context()) // readybound.go: at most ReadyBudget
		code := http.StatusOK
		if !rep.Ready {
			code = http.StatusServiceUnavailable
		}
		httpjson.Write(rw, code, rep)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(w.registry, promhttp.HandlerOpts{}))
	// The UI's pages are rewritten to link our fonts; its API (JSON, task
	// lists of any size) is passed through unbuffered.
	mux.Handle(MonitoringPath+"/", uifonts.RewriteLinks(mon, MonitoringFontsPath))
	mux.Handle(MonitoringPath+"/api/", mon)
	mux.Handle(MonitoringFontsPath+"/", uifonts.Handler(MonitoringFontsPath))
	mux.Handle(MonitoringPath, http.RedirectHandler(MonitoringPath+"/", http.StatusMovedPermanently))
	return mux, mon.Close
}
