package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wdtcancel/wdtcancel/worker"
)

// exitUnhealthy is what Docker's HEALTHCHECK reads as "unhealthy" (0 is
// healthy; Docker reserves 2, which stays this CLI's usage error).
const exitUnhealthy = 1

// newHealthcheckCmd asks a worker's ops port whether it is ready. The image
// is distroless (no shell, no curl): a container's HEALTHCHECK can only run
// the binary itself.
func newHealthcheckCmd() *cobra.Command {
	var (
		listen, rawURL, path string
		timeout              time.Duration
	)
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 if a worker's ops port answers /readyz with 200, else 1 (for Docker's HEALTHCHECK)",
		Long: `Asks the worker's ops HTTP (--listen, as the worker's own flag and WDTCANCEL_LISTEN)
for /readyz and exits 0 on 200, 1 on anything else or no answer within --timeout,
printing the answer. A listen address on all interfaces (0.0.0.0:8080, :8080) is
asked on loopback. --path /healthz asks only whether the process serves; /readyz
also whether it can work (Redis reachable and safe, WDT configured).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			target, err := healthURL(rawURL, listen, path)
			if err != nil {
				return usageErr(err)
			}
			summary, err := probeHealth(cmd.Context(), target, timeout)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "wdtcancel healthcheck:", err)
				return silentExit(exitUnhealthy)
			}
			fmt.Fprintln(cmd.OutOrStdout(), summary)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", worker.DefaultListen, "the worker's ops address (its --listen); all interfaces are asked on loopback")
	f.StringVar(&rawURL, "url", "", "full URL to ask instead of --listen and --path (http://host:port/readyz)")
	f.StringVar(&path, "path", "/readyz", "what to ask: /readyz (can work) or /healthz (process serves)")
	f.DurationVar(&timeout, "timeout", 3*time.Second, "longest wait for the answer")
	return cmd
}

// healthURL is the URL to ask: rawURL as given, or path on listen with an
// all-interfaces host replaced by loopback (a container's worker listens
// on 0.0.0.0, which is no address to connect to).
func healthURL(rawURL, listen, path string) (string, error) {
	if rawURL != "" {
		u, err := url.Parse(rawURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", fmt.Errorf("--url %q: want an http:// or https:// URL such as http://127.0.0.1:8080/readyz", rawURL)
		}
		return u.String(), nil
	}
	if listen == "" {
		return "", errors.New(`--listen is "": the worker's ops port is disabled, so there is nothing to ask; give the worker a --listen address (or WDTCANCEL_LISTEN) and the same here`)
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("--listen %q: want host:port as the worker's --listen, such as 127.0.0.1:8080: %w", listen, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	if !strings.HasPrefix(path, "/") {
		return "", fmt.Errorf("--path %q: want a path such as /readyz or /healthz", path)
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}

// probeHealth GETs target and reports the answer; an error says what was
// wrong, with the start of the body (the readiness report says why).
func probeHealth(ctx context.Context, target string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", target, err)
	}
	// No proxy from the environment, no pooled connection to keep, and no
	// redirect followed: a worker's ops port never redirects, so a 3xx
	// means the address is something else's, and following it made any
	// page that answered 200 count as healthy.
	client := &http.Client{
		Transport:     &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	res, err := client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "", fmt.Errorf("GET %s: no answer within %s: is the worker running and is this its --listen address?", target, timeout)
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // it repeats the method and URL
		}
		return "", fmt.Errorf("GET %s: %w: is the worker running and is this its --listen address?", target, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
	text := strings.TrimSpace(string(body))
	if res.StatusCode >= 300 && res.StatusCode < 400 {
		return "", fmt.Errorf("GET %s: %s, a redirect to %s (not followed): a worker's ops port never redirects: is this its --listen address, and the path /readyz or /healthz?", target, res.Status, res.Header.Get("Location"))
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", target, res.Status, text)
	}
	return fmt.Sprintf("GET %s: %s", target, res.Status), nil
}
