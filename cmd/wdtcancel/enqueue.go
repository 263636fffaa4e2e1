package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/wdtcancel/wdtcancel/enqueue"
	"github.com/wdtcancel/wdtcancel/internal/config"
	"github.com/wdtcancel/wdtcancel/tasks"
)

func init() { extraCommands = append(extraCommands, newEnqueueCmd) }

func newEnqueueCmd() *cobra.Command {
	var (
		redis       config.Redis
		file        string
		source      string
		queue       string
		asJSON      bool
		parallelism int
		allowEvict  bool
	)
	cmd := &cobra.Command{
		Use:   "enqueue [NO ... | -]",
		Short: "Enqueue cancellations of return pre-stockin orders",
		Long: `Enqueue one cancel task per pre_stockin_no, from arguments or --file PATH,
one number a line (blank lines and # comments are skipped). "-" as an argument
or as PATH reads stdin.

Exit status: 0 when every number is enqueued or already known, 1 when any is
invalid or failed, 2 for usage or configuration errors (Redis unreachable, or
its maxmemory-policy evicts and --allow-eviction is not given).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			// "-" reads stdin, as an argument as well as with --file;
			// stdin is read once however often it is named.
			var nos, files []string
			for _, a := range args {
				if a == "-" {
					files = append(files, "-")
				} else {
					nos = append(nos, a)
				}
			}
			if file != "" {
				files = append(files, file)
			}
			stdinRead := false
			for _, path := range files {
				if path == "-" {
					if stdinRead {
						continue
					}
					stdinRead = true
				}
				in, closeIn, err := openInput(cmd, path)
				if err != nil {
					return usageErr(err)
				}
				read, err := readNumbers(in)
				closeIn()
				if err != nil {
					return usageErr(err)
				}
				nos = append(nos, read...)
			}
			if len(nos) == 0 {
				return usageErr(fmt.Errorf("no numbers: give them as arguments or with --file PATH (- for stdin)"))
			}
			c, err := openProducer(cmd.Context(), &redis, enqueue.WithQueue(queue), enqueue.WithSource(source))
			if err != nil {
				return err
			}
			defer c.Close()
			if _, err := checkEviction(cmd.Context(), c, allowEvict, func(policy string) {
				fmt.Fprintf(cmd.ErrOrStderr(), "wdtcancel: warning: redis has maxmemory-policy %s and may silently drop queued tasks; going on because of --allow-eviction\n", policy)
			}); err != nil {
				return err
			}

			bar := newProgress(cmd.ErrOrStderr(), len(nos))
			results, runErr := c.CancelSlice(cmd.Context(), nos, enqueue.ManyOptions{Parallelism: parallelism, Progress: bar.add})
			bar.finish()
			sum := enqueue.Summarize(results, false)
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetEscapeHTML(false)
				if err := enc.Encode(sum); err != nil {
					return err
				}
			} else {
				printSummary(out, sum)
			}
			if runErr != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "wdtcancel: interrupted: %v; items not attempted are reported as failed\n", runErr)
			}
			if sum.Invalid > 0 || sum.Failed > 0 {
				return silentExit(exitPartial)
			}
			return nil
		},
	}
	f := cmd.Flags()
	redis.AddFlags(f)
	f.StringVar(&file, "file", "", "read numbers from PATH, one a line (- = stdin)")
	f.StringVar(&source, "source", "", "label stored with each task, e.g. the ERP job's name")
	f.StringVar(&queue, "queue", tasks.DefaultQueue, "queue to enqueue into")
	f.BoolVar(&asJSON, "json", false, "print the result as one JSON object")
	f.IntVar(&parallelism, "parallelism", enqueue.DefaultParallelism, "enqueues in flight at once")
	config.AddAllowEvictionFlag(f, &allowEvict)
	return cmd
}

func openInput(cmd *cobra.Command, path string) (io.Reader, func(), error) {
	if path == "-" {
		return cmd.InOrStdin(), func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("numbers file: %w", err)
	}
	return f, func() { f.Close() }, nil
}

// readNumbers reads one number a line. Blank lines and # comments are
// skipped and CRLF line ends tolerated; validation is left to the enqueue so
// each bad line is reported with its reason rather than failing the file.
func readNumbers(r io.Reader) ([]string, error) {
	var nos []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		nos = append(nos, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading numbers (line %d): %w", len(nos)+1, err)
	}
	return nos, nil
}

func printSummary(w io.Writer, s enqueue.Summary) {
	for _, it := range s.Items {
		line := fmt.Sprintf("%-10s %s", it.Result, it.PreStockinNo)
		if it.State != "" {
			line += "  state=" + it.State
		}
		if it.Error != "" {
			line += "  " + it.Error
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "enqueued %d, duplicate %d, invalid %d, failed %d\n", s.Enqueued, s.Duplicate, s.Invalid, s.Failed)
}

// progress is a bar on a terminal and nothing otherwise, so piped output
// and logs stay clean.
type progress struct {
	mu  sync.Mutex
	bar *progressbar.ProgressBar
}

func newProgress(w io.Writer, total int) *progress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || total < 2 {
		return &progress{}
	}
	return &progress{bar: progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("enqueue"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("numbers"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}

func (p *progress) add(enqueue.Result) {
	if p.bar == nil {
		return
	}
	p.mu.Lock()
	p.bar.Add(1)
	p.mu.Unlock()
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}
