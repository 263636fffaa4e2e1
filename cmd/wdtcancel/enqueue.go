package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"iter"
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

// enqueueCmd is `wdtcancel enqueue`: its flags, and the steps of a run.
type enqueueCmd struct {
	redis       config.Redis
	file        string
	source      string
	queue       string
	seller      string
	asJSON      bool
	quiet       bool
	parallelism int
	allowEvict  bool
	allowVolat  bool
	// allowUnknown is --allow-unknown-seller.
	allowUnknown bool
	wait         config.RedisWait
}

func newEnqueueCmd() *cobra.Command {
	e := &enqueueCmd{}
	cmd := &cobra.Command{
		Use:   "enqueue [NO ... | -]",
		Short: "Enqueue cancellations of return pre-stockin orders",
		Long: `Enqueue one cancel task per pre_stockin_no, from arguments or --file PATH,
one number a line (blank lines and # comments are skipped). "-" as an argument
or as PATH reads stdin. The numbers are the orders of one seller (--seller,
default "default"): the same number for two sellers is two tasks.

Exit status: 0 when every number is enqueued or already known, 1 when any is
invalid or failed, 2 for usage or configuration errors (Redis unreachable, or
its maxmemory-policy evicts and --allow-eviction is not given, or it does not
keep writes across a crash and --allow-volatile-redis is not given).`,
		RunE: e.run,
	}
	f := cmd.Flags()
	e.redis.AddFlags(f)
	f.StringVar(&e.file, "file", "", "read numbers from PATH, one a line (- = stdin)")
	f.StringVar(&e.source, "source", "", "label stored with each task, e.g. the ERP job's name")
	f.StringVar(&e.queue, "queue", tasks.DefaultQueue, "queue to enqueue into")
	addSellerFlag(f, &e.seller, "seller the numbers belong to: its own queue under --queue")
	f.BoolVar(&e.asJSON, "json", false, "print the result as one JSON object")
	f.BoolVarP(&e.quiet, "quiet", "q", false, "list no duplicate numbers, only the counts and what is invalid, failed or unknown")
	f.IntVar(&e.parallelism, "parallelism", enqueue.DefaultParallelism, "enqueues in flight at once")
	config.AddAllowEvictionFlag(f, &e.allowEvict)
	config.AddAllowVolatileFlag(f, &e.allowVolat)
	config.AddAllowUnknownSellerFlag(f, &e.allowUnknown)
	e.wait.AddFlags(f, "each enqueue")
	return cmd
}

func (e *enqueueCmd) run(cmd *cobra.Command, args []string) error {
	if err := checkSellerFlag(e.seller); err != nil {
		return err
	}
	nos, inputs, err := e.inputs(cmd, args)
	defer func() {
		for _, f := range inputs {
			f.close()
		}
	}()
	if err != nil {
		return err
	}
	replicas, err := e.wait.Count()
	if err != nil {
		return usageErr(err)
	}
	opts := append(allowOptions(e.allowVolat, e.allowUnknown), enqueue.WithWaitReplicas(replicas, e.wait.Timeout), enqueue.WithQueue(e.queue), enqueue.WithSeller(e.seller), enqueue.WithSource(e.source))
	c, err := openProducer(cmd.Context(), &e.redis, opts...)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := (redisChecks{allowEvict: e.allowEvict, allowVolatile: e.allowVolat,
		warnEvict: func(policy string) {
			fmt.Fprintf(cmd.ErrOrStderr(), "wdtcancel: warning: redis has maxmemory-policy %s and may silently drop queued tasks; going on because of --allow-eviction\n", policy)
		},
		warnVolatile: func(problem error) {
			fmt.Fprintf(cmd.ErrOrStderr(), "wdtcancel: warning: %v; going on because of --allow-volatile-redis\n", problem)
		},
		warnPending: func(problem error) {
			fmt.Fprintf(cmd.ErrOrStderr(), "wdtcancel: warning: %v; numbers not known to be replicated are reported unknown\n", problem)
		},
	}).check(cmd.Context(), c); err != nil {
		return err
	}
	return e.stream(cmd, c, nos, inputs)
}

// inputs splits the arguments into numbers and inputs to read: "-" reads
// stdin, as an argument as well as with --file; stdin is read once however
// often it is named. The caller closes the inputs, also on an error.
func (e *enqueueCmd) inputs(cmd *cobra.Command, args []string) ([]string, []*numbersFile, error) {
	var nos, paths []string
	for _, a := range args {
		if a == "-" {
			paths = append(paths, "-")
		} else {
			nos = append(nos, a)
		}
	}
	if e.file != "" {
		paths = append(paths, e.file)
	}
	var inputs []*numbersFile
	stdinRead := false
	for _, path := range paths {
		if path == "-" {
			if stdinRead {
				continue
			}
			stdinRead = true
		}
		in, closeIn, err := openInput(cmd, path)
		if err != nil {
			return nil, inputs, usageErr(err)
		}
		name := path
		if path == "-" {
			name = "stdin"
		}
		inputs = append(inputs, &numbersFile{name: name, r: in, close: closeIn})
	}
	if len(nos) == 0 && len(inputs) == 0 {
		return nil, inputs, usageErr(fmt.Errorf("no numbers: give them as arguments or with --file PATH (- for stdin)"))
	}
	return nos, inputs, nil
}

// stream enqueues every number, printing each result as it comes, and says
// how the run ended: exit 1 when an input broke off or a number did not go
// through.
func (e *enqueueCmd) stream(cmd *cobra.Command, c *enqueue.Client, nos []string, inputs []*numbersFile) error {
	total := -1 // unknown while the input streams
	if len(inputs) == 0 {
		total = len(nos)
	}
	bar := newProgress(cmd.ErrOrStderr(), total)
	out := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
	var w resultWriter
	if e.asJSON {
		w = newJSONResults(out, e.quiet, e.seller)
	} else {
		w = newHumanResults(out, e.quiet, e.seller)
	}
	var last enqueue.Input // the last number read
	seq := func(yield func(enqueue.Input) bool) {
		for in := range inputSeq(nos, inputs) {
			last = in
			if !yield(in) {
				return
			}
		}
	}
	runErr := c.Stream(cmd.Context(), seq, enqueue.ManyOptions{Parallelism: e.parallelism, Progress: bar.add, StopReading: true}, w.add)
	bar.finish()
	sum := w.finish()
	if err := out.Flush(); err != nil {
		return err
	}
	for _, f := range inputs {
		if f.err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "wdtcancel: %v; the numbers after it were not read\n", f.err)
			return silentExit(exitPartial)
		}
	}
	if runErr != nil {
		where := "the last number read"
		if w := last.Where(); w != "" {
			where = w
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "wdtcancel: stopped: %v; numbers read but not sent are reported failed, and nothing after %s was read: enqueueing the input again is safe\n", runErr, where)
	}
	if sum.Invalid > 0 || sum.Failed > 0 || sum.Unknown > 0 {
		return silentExit(exitPartial)
	}
	return nil
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

// numbersFile is one input of numbers, read as the enqueue goes.
type numbersFile struct {
	name  string
	r     io.Reader
	close func()
	err   error // why reading stopped early
}

// utf8BOM starts files Excel and some ERPs export as "UTF-8".
const utf8BOM = "\ufeff"

// inputSeq yields the argument numbers, then each file's, one a line:
// blank lines and # comments skipped, CRLF line ends and a leading UTF-8
// byte-order mark tolerated, each number with its line for messages. It
// holds one line at a time.
func inputSeq(args []string, files []*numbersFile) iter.Seq[enqueue.Input] {
	return func(yield func(enqueue.Input) bool) {
		for _, a := range args {
			if !yield(enqueue.Input{No: a}) {
				return
			}
		}
		for _, f := range files {
			sc := bufio.NewScanner(f.r)
			sc.Buffer(make([]byte, 64*1024), 1<<20)
			n := 0
			for sc.Scan() {
				n++
				raw := sc.Text()
				if n == 1 {
					raw = strings.TrimPrefix(raw, utf8BOM)
				}
				line := strings.TrimSpace(raw)
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				if !yield(enqueue.Input{No: line, Src: f.name, Line: n}) {
					return
				}
			}
			if err := sc.Err(); err != nil {
				f.err = fmt.Errorf("reading %s stopped at line %d: %w", f.name, n+1, err)
				return
			}
		}
	}
}

// resultWriter prints results as they come, in input order.
type resultWriter interface {
	add(enqueue.Result)
	finish() enqueue.Summary // the counts; Items is not kept
}

// maxDuplicateLines is how many duplicate lines the human output lists
// before it says how many more there are: a re-run of a large file must not
// print one line per number.
const maxDuplicateLines = 100

type humanResults struct {
	w      *bufio.Writer
	quiet  bool
	seller string
	sum    enqueue.Summary
}

func newHumanResults(w *bufio.Writer, quiet bool, seller string) *humanResults {
	return &humanResults{w: w, quiet: quiet, seller: seller}
}

func (h *humanResults) add(r enqueue.Result) {
	h.sum.Add(r, false)
	h.sum.Items = nil
	switch {
	case r.Result == enqueue.Enqueued:
		return
	case r.Result == enqueue.Duplicate && (h.quiet || h.sum.Duplicate > maxDuplicateLines):
		return
	}
	line := fmt.Sprintf("%-10s %s", r.Result, r.PreStockinNo)
	if r.State != "" {
		line += "  state=" + r.State
	}
	if r.Error != "" {
		line += "  " + r.Error
	}
	fmt.Fprintln(h.w, line)
}

func (h *humanResults) finish() enqueue.Summary {
	if n := h.sum.Duplicate - maxDuplicateLines; n > 0 && !h.quiet {
		fmt.Fprintf(h.w, "(%d more duplicate lines not listed: --json lists every one, --quiet none)\n", n)
	}
	s := h.sum
	line := fmt.Sprintf("enqueued %d, duplicate %d, invalid %d, failed %d", s.Enqueued, s.Duplicate, s.Invalid, s.Failed)
	if s.Unknown > 0 {
		line += fmt.Sprintf(", unknown %d (may be queued: check with wdtcancel status NO%s)", s.Unknown, sellerArg(h.seller))
	}
	if h.seller != tasks.DefaultSeller {
		// A single-seller deployment's line stays as it was.
		line += " (seller " + h.seller + ")"
	}
	fmt.Fprintln(h.w, line)
	return s
}

// jsonResults streams the documented object: the items array as results
// come, the counts after it, so memory does not grow with the input.
type jsonResults struct {
	w      *bufio.Writer
	enc    *json.Encoder
	quiet  bool
	seller string
	sum    enqueue.Summary
	n      int
}

func newJSONResults(w *bufio.Writer, quiet bool, seller string) *jsonResults {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	w.WriteString(`{"items":[`)
	return &jsonResults{w: w, enc: enc, quiet: quiet, seller: seller}
}

func (j *jsonResults) add(r enqueue.Result) {
	j.sum.Add(r, false)
	j.sum.Items = nil
	if r.Result == enqueue.Enqueued || r.Result == enqueue.Duplicate && j.quiet {
		return
	}
	if j.n > 0 {
		j.w.WriteByte(',')
	}
	j.n++
	j.enc.Encode(r) // its newline is JSON white space
}

func (j *jsonResults) finish() enqueue.Summary {
	s := j.sum
	fmt.Fprintf(j.w, `],"enqueued":%d,"duplicate":%d,"invalid":%d,"failed":%d`, s.Enqueued, s.Duplicate, s.Invalid, s.Failed)
	if s.Unknown > 0 {
		fmt.Fprintf(j.w, `,"unknown":%d`, s.Unknown)
	}
	// A valid seller name needs no JSON escaping (checkSellerFlag).
	fmt.Fprintf(j.w, `,"seller":%q}`+"\n", j.seller)
	return s
}

// progress is a bar on a terminal and nothing otherwise, so piped output
// and logs stay clean.
type progress struct {
	mu  sync.Mutex
	bar *progressbar.ProgressBar
}

func newProgress(w io.Writer, total int) *progress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || total >= 0 && total < 2 {
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

// sellerArg is the --seller a follow-up command needs, "" for the default
// seller.
func sellerArg(seller string) string {
	if seller == tasks.DefaultSeller {
		return ""
	}
	return " --seller " + seller
}
