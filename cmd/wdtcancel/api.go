package main

import (
	"errors"
	"fmt"
	"net"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/enqueue"
	"github.com/wdtcancel/wdtcancel/internal/config"
	"github.com/wdtcancel/wdtcancel/internal/httpserver"
	"github.com/wdtcancel/wdtcancel/tasks"
)

func init() { extraCommands = append(extraCommands, newAPICmd) }

func newAPICmd() *cobra.Command {
	var (
		redis           config.Redis
		listen, queue   string
		opts            enqueue.APIOptions
		unauthenticated bool
		allowEvict      bool
		wait            config.RedisWait
		logs            logFlags
	)
	cmd := &cobra.Command{
		Use:   "api",
		Short: "HTTP producer: POST /v1/cancellations, GET /v1/cancellations/{no}",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Token == "" {
				if !unauthenticated {
					return usageErr(errors.New("no API token: set WDTCANCEL_API_TOKEN (or --token), or pass --allow-unauthenticated to serve without one on loopback"))
				}
				if !isLoopback(listen) {
					return usageErr(fmt.Errorf("--allow-unauthenticated only on a loopback address, not %s", listen))
				}
			}
			log, err := logs.logger()
			if err != nil {
				return err
			}
			defer log.Sync()
			replicas, err := wait.Count(&redis)
			if err != nil {
				return usageErr(err)
			}
			c, err := openProducer(cmd.Context(), &redis, enqueue.WithWaitReplicas(replicas, wait.Timeout), enqueue.WithQueue(queue))
			if err != nil {
				return err
			}
			defer c.Close()
			policy, err := checkEviction(cmd.Context(), c, allowEvict, func(policy string) {
				log.Warn("redis may silently drop queued tasks; serving anyway because of --allow-eviction", zap.String("maxmemory_policy", policy))
			})
			if err != nil {
				return err
			}
			if policy == "" {
				log.Debug("redis does not report maxmemory_policy: eviction not checked")
			}
			opts.Logger = log
			ln, err := httpserver.Listen(listen, httpOptions)
			if err != nil {
				return usageErr(fmt.Errorf("api listen on %s: %w", listen, err))
			}
			log.Info("api listening", zap.String("addr", ln.Addr().String()), zap.Bool("authenticated", opts.Token != ""), zap.String("redis", redis.String()))
			return serveUntilDone(cmd.Context(), log, ln, enqueue.NewAPI(c, opts), httpOptions)
		},
	}
	f := cmd.Flags()
	redis.AddFlags(f)
	f.StringVar(&listen, "listen", "127.0.0.1:8090", "address to serve the API on")
	f.StringVar(&queue, "queue", tasks.DefaultQueue, "queue to enqueue into")
	f.StringVar(&opts.Token, "token", "", "bearer token callers must send (env WDTCANCEL_API_TOKEN; prefer the env var)")
	f.BoolVar(&unauthenticated, "allow-unauthenticated", false, "serve without a token (loopback addresses only)")
	f.Int64Var(&opts.MaxBodyBytes, "max-body-bytes", enqueue.DefaultMaxBodyBytes, "largest request body accepted (413 above)")
	f.IntVar(&opts.MaxNumbers, "max-numbers", enqueue.DefaultMaxNumbers, "most numbers in one request (413 above)")
	config.AddAllowEvictionFlag(f, &allowEvict)
	wait.AddFlags(f, "each enqueue")
	logs.add(cmd)
	return cmd
}

// httpOptions bound the servers serveUntilDone runs (api, sandbox): zero
// values take httpserver's defaults; api's listener also takes its
// connection cap. Tests shorten them.
var httpOptions httpserver.Options

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
