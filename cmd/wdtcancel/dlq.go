package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/wdtcancel/wdtcancel/internal/config"
	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
)

// dlqFlags are the flags every dlq subcommand shares: where the dead
// letters are.
type dlqFlags struct {
	rf     config.Redis
	queue  string
	seller string
}

// connect checks --seller and reaches Redis.
func (f *dlqFlags) connect(cmd *cobra.Command) (redis.UniversalClient, error) {
	if err := checkSellerFlag(f.seller); err != nil {
		return nil, err
	}
	conn, err := f.rf.ConnOpt()
	if err != nil {
		return nil, usageErr(err)
	}
	rdb := conn.MakeRedisClient().(redis.UniversalClient)
	if err := rdb.Ping(cmd.Context()).Err(); err != nil {
		rdb.Close()
		return nil, redisUnreachable(&f.rf, err)
	}
	return rdb, nil
}

// open is the dead-letter store of --seller under --queue, and what closes
// its connection.
func (f *dlqFlags) open(cmd *cobra.Command) (*worker.DLQ, func(), error) {
	rdb, err := f.connect(cmd)
	if err != nil {
		return nil, nil, err
	}
	// The subcommands that write (requeue, purge) have
	// --allow-volatile-redis: they refuse a Redis that would lose what
	// they write in a crash.
	if fl := cmd.Flags().Lookup("allow-volatile-redis"); fl != nil {
		if err := checkVolatile(cmd.Context(), rdb, fl.Value.String() == "true", cmd.ErrOrStderr()); err != nil {
			rdb.Close()
			return nil, nil, err
		}
	}
	d, err := store.NewSellerDLQ(rdb, f.queue, f.seller) // checked by connect
	if err != nil {
		rdb.Close()
		return nil, nil, usageErr(err)
	}
	return d, func() { rdb.Close() }, nil
}

func newDLQCmd() *cobra.Command {
	f := &dlqFlags{}
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Read and re-drive the dead-letter queue: ls, show, requeue, purge",
		// Without this cobra prints the help and exits 0 for any word it
		// does not know, so a script's typo would look like success.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr(fmt.Errorf("dlq needs a subcommand: ls, show, requeue or purge (see wdtcancel dlq --help)"))
			}
			return usageErr(fmt.Errorf("unknown dlq subcommand %q: use ls, show, requeue or purge (see wdtcancel dlq --help)", args[0]))
		},
	}
	f.rf.AddFlags(cmd.PersistentFlags())
	cmd.PersistentFlags().StringVar(&f.queue, "queue", tasks.DefaultQueue, "base queue whose dead letters to handle")
	addSellerFlag(cmd.PersistentFlags(), &f.seller, "seller whose dead letters to handle: its queue under --queue")
	cmd.AddCommand(newDLQLsCmd(f), newDLQShowCmd(f),
		bulkCmd("requeue", "Re-drive dead numbers as fresh tasks (retry budget reset)", f.open, func(d *worker.DLQ) func(context.Context, string, string) error {
			return func(ctx context.Context, no, raw string) error {
				if raw != "" {
					return d.RequeueRaw(ctx, no, raw)
				}
				return d.Requeue(ctx, no)
			}
		}, func(d *worker.DLQ) func(context.Context, func(string, error)) error { return d.RequeueAll }),
		bulkCmd("purge", "Forget dead numbers: record, archived task, unknown-outcome memory", f.open, func(d *worker.DLQ) func(context.Context, string, string) error {
			return func(ctx context.Context, no, _ string) error { return d.Purge(ctx, no) }
		}, nil))
	return cmd
}

// dlqLs is `dlq ls`: its own flags beside the shared ones.
type dlqLs struct {
	*dlqFlags
	json, sort, allSellers bool
	limit                  int
}

func newDLQLsCmd(f *dlqFlags) *cobra.Command {
	l := &dlqLs{dlqFlags: f}
	ls := &cobra.Command{
		Use: "ls", Short: "List dead-lettered numbers (in scan order, as they are read; --sort for oldest first)", Args: cobra.NoArgs,
		RunE: l.run,
	}
	ls.Flags().BoolVar(&l.json, "json", false, "print a JSON array of records, streamed")
	ls.Flags().BoolVar(&l.sort, "sort", false, "oldest dead letter first; reads every record before printing")
	ls.Flags().IntVar(&l.limit, "limit", 0, "print at most N records (0: all)")
	ls.Flags().BoolVar(&l.allSellers, "all-sellers", false, "list the dead letters of every seller queue of --queue in Redis (ignores --seller)")
	return ls
}

func (l *dlqLs) run(cmd *cobra.Command, _ []string) error {
	if l.limit < 0 {
		return usageErr(fmt.Errorf("--limit must be 0 (no limit) or more"))
	}
	rdb, err := l.connect(cmd)
	if err != nil {
		return err
	}
	defer rdb.Close()
	dlqs, err := l.stores(rdb)
	if err != nil {
		return err
	}
	var out recordWriter
	if l.json {
		out = newJSONRecords(cmd.OutOrStdout())
	} else {
		out = newTableRecords(cmd.OutOrStdout())
	}
	var n int
	if l.sort {
		n, err = l.printSorted(cmd.Context(), dlqs, out)
		if err != nil {
			return err
		}
	} else {
		n, err = l.printScanned(cmd.Context(), dlqs, out)
	}
	total := int64(n)
	if err == nil && l.full(n) {
		if total, err = countAll(cmd.Context(), dlqs); err != nil {
			return err
		}
	}
	if ferr := out.finish(n, total); err == nil {
		err = ferr
	}
	return err
}

// stores are the dead-letter stores ls reads: every seller's with
// --all-sellers, else --seller's.
func (l *dlqLs) stores(rdb redis.UniversalClient) ([]*worker.DLQ, error) {
	if l.allSellers {
		return sellerDLQs(rdb, l.queue)
	}
	d, err := store.NewSellerDLQ(rdb, l.queue, l.seller)
	if err != nil {
		return nil, usageErr(err)
	}
	return []*worker.DLQ{d}, nil
}

// full reports whether n records reached --limit.
func (l *dlqLs) full(n int) bool { return l.limit > 0 && n == l.limit }

// printSorted reads every record, oldest first across sellers, and prints
// up to --limit of them.
func (l *dlqLs) printSorted(ctx context.Context, dlqs []*worker.DLQ, out recordWriter) (int, error) {
	var recs []worker.Record
	for _, d := range dlqs {
		some, err := d.List(ctx)
		if err != nil {
			return 0, err
		}
		for _, r := range some {
			recs = append(recs, withSeller(d, r))
		}
	}
	if len(dlqs) > 1 { // each List is sorted already
		sort.SliceStable(recs, func(i, j int) bool { return recordBefore(recs[i], recs[j]) })
	}
	n := 0
	for _, r := range recs {
		if l.full(n) {
			break
		}
		out.add(r)
		n++
	}
	return n, nil
}

// recordBefore orders records oldest first, then by seller and number.
func recordBefore(a, b worker.Record) bool {
	if !a.DeadLetteredAt.Equal(b.DeadLetteredAt) {
		return a.DeadLetteredAt.Before(b.DeadLetteredAt)
	}
	if a.Seller != b.Seller {
		return a.Seller < b.Seller
	}
	return a.PreStockinNo < b.PreStockinNo
}

// printScanned prints seller after seller, each as its scan returns it:
// the first line shows at once, memory stays flat.
func (l *dlqLs) printScanned(ctx context.Context, dlqs []*worker.DLQ, out recordWriter) (int, error) {
	n := 0
	for _, d := range dlqs {
		if l.full(n) {
			break
		}
		err := d.Scan(ctx, func(no, raw string) error {
			if l.full(n) {
				return store.ErrStop
			}
			out.add(withSeller(d, store.DecodeRaw(no, raw)))
			n++
			return nil
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// countAll is the number of records in every store.
func countAll(ctx context.Context, dlqs []*worker.DLQ) (int64, error) {
	var total int64
	for _, d := range dlqs {
		c, err := d.Count(ctx)
		if err != nil {
			return 0, err
		}
		total += c
	}
	return total, nil
}

func newDLQShowCmd(f *dlqFlags) *cobra.Command {
	var showJSON bool
	show := &cobra.Command{
		Use: "show NO", Short: "Show one dead-letter record", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, done, err := f.open(cmd)
			if err != nil {
				return err
			}
			defer done()
			rec, err := d.Get(cmd.Context(), args[0])
			if err != nil {
				return showFailed(cmd, d, args[0], showJSON, err)
			}
			rec = withSeller(d, rec)
			if showJSON {
				return writeJSONOut(cmd.OutOrStdout(), rec)
			}
			printRecord(cmd.OutOrStdout(), rec)
			return nil
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")
	return show
}

// showFailed reports a record `dlq show` could not read: exit 1 for a
// number that is not dead or whose record is corrupt, err otherwise.
func showFailed(cmd *cobra.Command, d *worker.DLQ, no string, asJSON bool, err error) error {
	// A script reading --json gets JSON on every path.
	if asJSON {
		writeJSONError(cmd.OutOrStdout(), no, err)
	}
	switch {
	case errors.Is(err, worker.ErrNotDead):
		fmt.Fprintf(cmd.ErrOrStderr(), "%s is not in the dead-letter queue of seller %s\n", no, d.Seller())
		return silentExit(exitPartial)
	case errors.Is(err, store.ErrCorrupt):
		raw, _ := d.Raw(cmd.Context(), no)
		fmt.Fprintf(cmd.ErrOrStderr(), "wdtcancel: %v\nstored value: %s\n", err, raw)
		return silentExit(exitPartial)
	}
	return err
}

// bulkCmd builds requeue and purge: NO... or --all, one line per number,
// exit 1 if any failed.
// act gets the record's stored value when --all read it, "" otherwise.
// bindAll, when not nil, is the store's own way of doing --all (requeue
// batches its round trips); without it --all runs act on every number the
// scan finds, many at once.
func bulkCmd(name, short string, open func(*cobra.Command) (*worker.DLQ, func(), error), bind func(*worker.DLQ) func(ctx context.Context, no, raw string) error,
	bindAll func(*worker.DLQ) func(context.Context, func(string, error)) error) *cobra.Command {
	var all, yes bool
	c := &cobra.Command{
		Use: name + " NO... | --all", Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return usageErr(fmt.Errorf("give numbers or --all, not both or neither"))
			}
			d, done, err := open(cmd)
			if err != nil {
				return err
			}
			defer done()
			act := bind(d)
			ok, failed := 0, 0
			report := func(no string, err error) {
				if err != nil {
					failed++
					fmt.Fprintln(cmd.ErrOrStderr(), failureLine(no, err))
					return
				}
				ok++
				if !all {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %sd\n", no, name)
				}
			}
			if !all {
				for _, no := range args {
					report(no, act(cmd.Context(), no, ""))
				}
			} else {
				if name == "purge" && !yes {
					n, err := d.Count(cmd.Context())
					if err != nil {
						return err
					}
					if err := confirm(cmd, fmt.Sprintf("purge forgets all %d dead-lettered numbers for good", n)); err != nil {
						return err
					}
				}
				// Numbers as the scan finds them, many at once: one at a
				// time, 100,000 took 46 s.
				each := func(ctx context.Context, done func(string, error)) error { return d.ForEach(ctx, 0, act, done) }
				if bindAll != nil {
					each = bindAll(d)
				}
				if err := each(cmd.Context(), report); err != nil {
					fmt.Fprintf(cmd.OutOrStdout(), "%sd %d, failed %d%s\n", name, ok, failed, ofSeller(d))
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%sd %d, failed %d%s\n", name, ok, failed, ofSeller(d))
			if failed > 0 {
				return silentExit(exitPartial)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&all, "all", false, "every dead number")
	var allowVolatile bool // read by open through the flag set
	config.AddAllowVolatileFlag(c.Flags(), &allowVolatile)
	if name == "purge" {
		c.Flags().BoolVar(&yes, "yes", false, "purge --all without asking (required when stdin is not a terminal)")
	}
	return c
}

// failureLine names the number once: the store's errors already carry it.
func failureLine(no string, err error) string {
	if strings.Contains(err.Error(), no) {
		return err.Error()
	}
	return no + ": " + err.Error()
}

// confirm asks on a terminal before an irreversible bulk action; without a
// terminal (a script, a pipe) it refuses and names --yes.
func confirm(cmd *cobra.Command, what string) error {
	in, ok := cmd.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return usageErr(fmt.Errorf("%s: add --yes to confirm", what))
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "%s. Type yes to go on: ", what)
	answer, _ := bufio.NewReader(in).ReadString('\n')
	if strings.TrimSpace(answer) != "yes" {
		return usageErr(errors.New("not confirmed; nothing purged"))
	}
	return nil
}

// writeJSONError is what a --json command prints instead of its object when
// it has none to print.
func writeJSONError(w io.Writer, no string, err error) {
	writeJSONOut(w, struct {
		PreStockinNo string `json:"pre_stockin_no"`
		Error        string `json:"error"`
	}{no, err.Error()})
}

// recordWriter prints records as they come.
type recordWriter interface {
	add(worker.Record)
	finish(shown int, total int64) error
}

// tableRecords is the human listing. It streams, so its columns have fixed
// widths (a tabwriter would align each flushed page on its own): a number
// longer than its column pushes only its own row.
type tableRecords struct {
	w *bufio.Writer
	n int
}

const tableRow = "%-20s  %-12s  %-15s  %-6s  %-9s  %-8s  %-20s  %s\n"

func newTableRecords(w io.Writer) *tableRecords {
	t := &tableRecords{w: bufio.NewWriter(w)}
	fmt.Fprintf(t.w, tableRow, "NO", "SELLER", "CATEGORY", "STATUS", "AMBIGUOUS", "ATTEMPTS", "DEAD SINCE", "MESSAGE")
	return t
}

func (t *tableRecords) add(r worker.Record) {
	status := "-"
	if r.WDTStatus != nil {
		status = fmt.Sprint(*r.WDTStatus)
	}
	msg := r.Message
	if msg == "" {
		msg = r.Error
	}
	if r.LookedUp != nil {
		// WDT's word on the order first: what an operator acts on.
		msg = "[looked up: " + r.LookedUp.String() + "] " + msg
	}
	fmt.Fprintf(t.w, tableRow, r.PreStockinNo, r.Seller, r.Category, status, fmt.Sprint(r.Ambiguous), fmt.Sprint(r.Attempts),
		r.DeadLetteredAt.UTC().Format(time.RFC3339), msg)
	// The first rows show at once; after that, a page at a time.
	if t.n++; t.n%100 == 1 {
		t.w.Flush()
	}
}

func (t *tableRecords) finish(shown int, total int64) error {
	if int64(shown) < total {
		fmt.Fprintf(t.w, "%d of %d dead-lettered shown\n", shown, total)
	} else {
		fmt.Fprintf(t.w, "%d dead-lettered\n", shown)
	}
	return t.w.Flush()
}

// jsonRecords streams one JSON array of records.
type jsonRecords struct {
	w   *bufio.Writer
	enc *json.Encoder
	n   int
}

func newJSONRecords(w io.Writer) *jsonRecords {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	bw.WriteByte('[')
	return &jsonRecords{w: bw, enc: enc}
}

func (j *jsonRecords) add(r worker.Record) {
	if j.n > 0 {
		j.w.WriteByte(',')
	}
	j.n++
	j.enc.Encode(r)
	if j.n%100 == 1 {
		j.w.Flush()
	}
}

func (j *jsonRecords) finish(int, int64) error {
	j.w.WriteString("]\n")
	return j.w.Flush()
}

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// withSeller fills in the seller of a record read from d that does not name
// one (written before sellers existed, or corrupt), so every line and JSON
// record printed says whose it is.
func withSeller(d *worker.DLQ, r worker.Record) worker.Record {
	r.Seller = d.SellerOf(r)
	return r
}

// ofSeller ends a bulk summary line with the seller, except the default's.
func ofSeller(d *worker.DLQ) string {
	if d.Seller() == tasks.DefaultSeller {
		return ""
	}
	return " (seller " + d.Seller() + ")"
}

// sellerDLQs opens the dead letters of every seller of base: the default
// seller's (base itself) and one per "<base>:<seller>" queue in asynq's
// queue set, which holds every queue a task was ever enqueued into. Sorted
// by seller. Queues of other applications or bases are left out.
func sellerDLQs(rdb redis.UniversalClient, base string) ([]*worker.DLQ, error) {
	queues, err := asynq.NewInspectorFromRedisClient(rdb).Queues()
	if err != nil {
		return nil, fmt.Errorf("list the queues in Redis: %w", err)
	}
	sellers := map[string]bool{tasks.DefaultSeller: true}
	for _, q := range queues {
		if s, ok := tasks.SellerOfQueue(base, q); ok {
			sellers[s] = true
		}
	}
	names := make([]string, 0, len(sellers))
	for s := range sellers {
		names = append(names, s)
	}
	sort.Strings(names)
	out := make([]*worker.DLQ, 0, len(names))
	for _, s := range names {
		d, err := store.NewSellerDLQ(rdb, base, s)
		if err != nil { // SellerOfQueue validated it
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// printRecord is `dlq show` without --json: the record, then what the
// order lookup saw, in words.
func printRecord(w io.Writer, rec worker.Record) {
	b, _ := json.MarshalIndent(rec, "", "  ")
	fmt.Fprintln(w, string(b))
	if rec.LookedUp != nil {
		fmt.Fprintf(w, "looked up: %s\n", rec.LookedUp)
	}
}
