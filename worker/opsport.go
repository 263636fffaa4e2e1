package worker

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/internal/httpserver"
)

// listenOps binds the ops port. The README says to run one or more workers
// per host, so a busy Listen falls back to ListenFallback when the caller
// allows it (the address was not chosen explicitly) and says so loudly;
// otherwise the error tells the operator what to do.
func (w *Worker) listenOps() (net.Listener, error) {
	ln, err := httpserver.Listen(w.cfg.Listen, w.cfg.OpsHTTP)
	if err == nil {
		return ln, nil
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("ops listen on %s: %w", w.cfg.Listen, err)
	}
	if w.cfg.ListenFallback == "" {
		return nil, fmt.Errorf("ops listen on %s: %w: another process (another worker on this host?) holds it; "+
			"give each worker its own --listen (or WDTCANCEL_LISTEN), e.g. 127.0.0.1:8082, "+
			"127.0.0.1:0 for any free port, or --listen \"\" to run without the ops port", w.cfg.Listen, err)
	}
	ln, ferr := httpserver.Listen(w.cfg.ListenFallback, w.cfg.OpsHTTP)
	if ferr != nil {
		return nil, fmt.Errorf("ops listen on %s: %w; and on the fallback %s: %w", w.cfg.Listen, err, w.cfg.ListenFallback, ferr)
	}
	addr := ln.Addr().String()
	w.cfg.Logger.Warn("ops port "+w.cfg.Listen+" is in use (another worker on this host?): /healthz, /readyz, /metrics and "+MonitoringPath+"/ are on "+addr+" instead; set --listen to choose",
		zap.String("wanted", w.cfg.Listen), zap.String("ops", addr))
	return ln, nil
}
