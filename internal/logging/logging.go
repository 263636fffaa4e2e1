// Package logging builds the zap logger every command uses: JSON by default
// for log shippers, console for people.
package logging

import (
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Options select format and level.
type Options struct {
	Format string // json or console
	Level  string // debug, info, warn, error
	Output io.Writer
}

// New builds the logger.
func New(o Options) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(o.Level)
	if o.Level == "" {
		lvl, err = zapcore.InfoLevel, nil
	}
	if err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", o.Level)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "ts"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	var encoder zapcore.Encoder
	switch o.Format {
	case "", "json":
		encoder = zapcore.NewJSONEncoder(enc)
	case "console":
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		encoder = zapcore.NewConsoleEncoder(enc)
	default:
		return nil, fmt.Errorf("log format %q: use json or console", o.Format)
	}
	out := o.Output
	if out == nil {
		out = os.Stderr
	}
	return zap.New(zapcore.NewCore(encoder, zapcore.Lock(zapcore.AddSync(out)), lvl)), nil
}
