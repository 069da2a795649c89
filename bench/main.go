// Command bench measures mastership against the alternatives a user would
// pick instead, on one embedded etcd in one run: graceful handover, crash
// failover, partition overlap, fan-out of a join, and the cost at rest.
// It prints Markdown tables; BENCHMARKS.md at the repository root holds a
// run and explains it.
//
//	go run -C bench . -measures handover,crash,partition,fanout,scale -trials 50 -out /tmp/bench.md
//
// The fleet at scale, mastership only; the second needs 1,000+
// open files on each side (the program raises its soft limit to the hard
// one).
//
//	go run -C bench . -measures scale -scale-contenders mastership -scale 1x10000,100x100 -scale-ttl 30s -scale-joins 200 -out /tmp/scale.md
//	go run -C bench . -measures scale -scale-contenders mastership -scale 1x1000 -scale-clients 0 -scale-ttl 30s -scale-joins 200 -out /tmp/scale-clients.md
//	go run -C bench . -measures scale -scale-contenders mastership -scale 1x10000,100x100 -scale-ttl 30s -scale-joins 0 -scale-recovery -out /tmp/scale-recovery.md
//
// The first shares one client per 100 members (at most 10) in the child
// process; the second gives each member a client of its own, as members
// are deployed; the third kills etcd for 35 s after the rest and times the
// members' return.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"k8s.io/klog/v2"

	"github.com/seed764c596d/mastership/internal/etcdtest"
)

// usageText heads -h: the commands of BENCHMARKS.md's runs and of the
// runs at scale.
const usageText = `Measures mastership against concurrency.Election and client-go's leader
election on one embedded etcd, and prints Markdown tables.

  go run -C bench . -trials 50 -slow-trials 10 -out /tmp/bench.md   # everything
  go run -C bench . -measures handover -trials 200                   # one measure

The fleet at scale (mastership only):

  # one group of 10,000 and 100 groups of 100, one client per 100 members (at most 10)
  go run -C bench . -measures scale -scale-contenders mastership -scale 1x10000,100x100 -scale-ttl 30s -scale-joins 200 -out /tmp/scale.md
  # one client per member, as members are deployed: 1,000+ open files each side
  go run -C bench . -measures scale -scale-contenders mastership -scale 1x1000 -scale-clients 0 -scale-ttl 30s -scale-joins 200 -out /tmp/scale-clients.md
  # etcd killed for the TTL + 5s after the rest, then restarted: time until every member is back
  go run -C bench . -measures scale -scale-contenders mastership -scale 1x10000,100x100 -scale-ttl 30s -scale-joins 0 -scale-recovery -out /tmp/scale-recovery.md
`

// config is what the flags choose.
type config struct {
	measures   map[string]bool
	trials     int             // trials of each measure for each contender
	slowTrials int             // trials of client-go with its defaults, whose trials take 2-30s
	parallel   int             // cut-off trials run at once
	fanout     []int           // group sizes
	scale      [][2]int        // groups × members per group
	scaleKinds map[string]bool // kinds of the contenders of the scale measure
	rest       time.Duration   // how long members rest in a scale run
	settle     time.Duration   // how long members settle before the rest
	ttls       []time.Duration // TTLs of the crash measure; partition takes the first

	scaleClients  int           // clients of a scale child; 0: one per member; -1: one per 100 members, 1 to 10
	scaleTTL      time.Duration // TTL of the scale contenders; 0: their own (5s; client-go's defaults 15s)
	scaleJoins    int           // join trials in group 0 of each mastership scale run
	scaleRecovery bool          // stop etcd for longer than the TTL in each mastership scale run
}

var allMeasures = []string{"handover", "crash", "partition", "fanout", "scale"}

// scaleKinds are the kinds of contender the scale measure can run.
var scaleKinds = []string{"mastership", "election", "concurrency", "client-go"}

func main() {
	if js := os.Getenv(childEnv); js != "" {
		quiet()
		runChild(js)
		return
	}
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, string, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	measures := fs.String("measures", strings.Join(allMeasures, ","), "comma-separated measures: "+strings.Join(allMeasures, ", "))
	trials := fs.Int("trials", 50, "trials of each measure for each contender")
	slow := fs.Int("slow-trials", 10, "trials for client-go with its defaults (15s lease), whose trials take seconds")
	par := fs.Int("parallel", 10, "trials of a cut-off leader run at once (they mostly wait for a TTL)")
	fanout := fs.String("fanout", "10,100,1000", "group sizes of the fan-out measure")
	scale := fs.String("scale", "1x10,1x100,1x1000,100x10", "groups x members per group of the scale measure")
	kinds := fs.String("scale-contenders", strings.Join(scaleKinds, ","), "comma-separated contenders of the scale measure: "+strings.Join(scaleKinds, ", ")+" (election is this module's package, concurrency is concurrency.Election)")
	rest := fs.Duration("rest", 20*time.Second, "how long members rest in a scale run")
	settle := fs.Duration("settle", 3*time.Second, "how long members settle before their rest in a scale run")
	scaleClients := fs.Int("scale-clients", -1, "clients of the scale measure's child process: N clients shared by its members, 0 for one client per member (as members are deployed), -1 for one per 100 members, at least 1 and at most 10")
	scaleTTL := fs.Duration("scale-ttl", 0, "TTL of the scale measure's contenders (client-go: its lease, with renew deadline and retry scaled as 15:10:2); 0 for 5s, and client-go's defaults")
	scaleJoins := fs.Int("scale-joins", 200, "in each mastership scale run, once at rest: trials of a member joining group 0, timed until every member of the group has its SLAVE_ADD; 0 for none")
	scaleRecovery := fs.Bool("scale-recovery", false, "in each mastership scale run, last: kill etcd (data kept) for the TTL + 5s, restart it, and time until every member is registered again with its whole group")
	out := fs.String("out", "", "also write the report to this file")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run -C bench . [flags]\n\n%s\nFlags:\n", usageText)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return config{}, "", err
	}
	if fs.NArg() > 0 {
		return config{}, "", fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg := config{measures: map[string]bool{}, scaleKinds: map[string]bool{}, trials: *trials, slowTrials: *slow, parallel: *par, rest: *rest,
		settle: *settle, ttls: []time.Duration{2 * time.Second, 5 * time.Second},
		scaleClients: *scaleClients, scaleTTL: *scaleTTL, scaleJoins: *scaleJoins, scaleRecovery: *scaleRecovery}
	for _, m := range strings.Split(*measures, ",") {
		m = strings.TrimSpace(m)
		ok := false
		for _, a := range allMeasures {
			ok = ok || a == m
		}
		if !ok {
			return config{}, "", fmt.Errorf("-measures: unknown measure %q (want some of %s)", m, strings.Join(allMeasures, ","))
		}
		cfg.measures[m] = true
	}
	for _, k := range strings.Split(*kinds, ",") {
		k = strings.TrimSpace(k)
		if !slices.Contains(scaleKinds, k) {
			return config{}, "", fmt.Errorf("-scale-contenders: unknown contender %q (want some of %s)", k, strings.Join(scaleKinds, ","))
		}
		cfg.scaleKinds[k] = true
	}
	switch {
	case cfg.trials < 1:
		return config{}, "", fmt.Errorf("-trials: %d, want at least 1", cfg.trials)
	case cfg.slowTrials < 0:
		return config{}, "", fmt.Errorf("-slow-trials: %d, want at least 0", cfg.slowTrials)
	case cfg.parallel < 1:
		return config{}, "", fmt.Errorf("-parallel: %d, want at least 1", cfg.parallel)
	case cfg.rest < time.Second:
		return config{}, "", fmt.Errorf("-rest: %v, want at least 1s", cfg.rest)
	case cfg.settle < 0:
		return config{}, "", fmt.Errorf("-settle: %v, want at least 0", cfg.settle)
	case cfg.scaleClients < -1:
		return config{}, "", fmt.Errorf("-scale-clients: %d, want -1, 0 or a number of clients", cfg.scaleClients)
	case cfg.scaleTTL != 0 && cfg.scaleTTL < 2*time.Second:
		return config{}, "", fmt.Errorf("-scale-ttl: %v, want 0 or at least 2s", cfg.scaleTTL)
	case cfg.scaleTTL%time.Second != 0:
		return config{}, "", fmt.Errorf("-scale-ttl: %v, want whole seconds (etcd's leases are)", cfg.scaleTTL)
	case cfg.scaleJoins < 0:
		return config{}, "", fmt.Errorf("-scale-joins: %d, want at least 0", cfg.scaleJoins)
	}
	for _, f := range strings.Split(*fanout, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return config{}, "", fmt.Errorf("-fanout: %q is not a group size", f)
		}
		cfg.fanout = append(cfg.fanout, n)
	}
	for _, f := range strings.Split(*scale, ",") {
		g, m, ok := strings.Cut(strings.TrimSpace(f), "x")
		gn, err1 := strconv.Atoi(g)
		mn, err2 := strconv.Atoi(m)
		if !ok || err1 != nil || err2 != nil || gn < 1 || mn < 1 {
			return config{}, "", fmt.Errorf("-scale: %q is not GROUPSxMEMBERS", f)
		}
		cfg.scale = append(cfg.scale, [2]int{gn, mn})
	}
	return cfg, *out, nil
}

// bench is one run: one etcd, two direct clients, and the results.
type bench struct {
	cfg        config
	cluster    *etcdtest.Cluster
	cliA, cliB *clientv3.Client
	seq        atomic.Int64
	log        io.Writer // progress, on standard error

	handover  map[string]*dist
	floorPW   *dist
	cuts      map[string][]cutResult
	expiry    map[time.Duration]*dist
	fanouts   []*fanoutResult
	scales    []*scaleResult
	start     time.Time
	loadStart string
}

func run(args []string, stdout io.Writer) error {
	cfg, out, err := parseFlags(args)
	if err != nil {
		return err
	}
	quiet()
	b, err := newBench(cfg, os.Stderr)
	if err != nil {
		return err
	}
	defer b.close()
	if err := b.runAll(); err != nil {
		return err
	}
	rep := b.report(args)
	fmt.Fprint(stdout, rep)
	if out != "" {
		return os.WriteFile(out, []byte(rep), 0o644)
	}
	return nil
}

func newBench(cfg config, log io.Writer) (*bench, error) {
	c, err := etcdtest.New("", 1)
	if err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, cluster: c, log: log, start: time.Now(), loadStart: loadavg(),
		handover: map[string]*dist{}, cuts: map[string][]cutResult{}, expiry: map[time.Duration]*dist{}}
	if b.cliA, err = newClient(c); err != nil {
		b.close()
		return nil, err
	}
	if b.cliB, err = newClient(c); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

func (b *bench) close() {
	if b.cliA != nil {
		b.cliA.Close()
	}
	if b.cliB != nil {
		b.cliB.Close()
	}
	b.cluster.Close()
}

func newClient(c *etcdtest.Cluster) (*clientv3.Client, error) {
	cli, err := etcdtest.NewClient(c.Members[0].ClientURL)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := etcdtest.WaitReady(ctx, cli); err != nil {
		cli.Close()
		return nil, err
	}
	return cli, nil
}

// prefix returns a fresh key prefix for one trial.
func (b *bench) prefix(what string) string {
	return fmt.Sprintf("/bench/%s/%d", what, b.seq.Add(1))
}

// wait bounds one trial of c: three leases and some.
func (b *bench) wait(c contender) time.Duration {
	return 3*c.ttl + c.renew + 10*time.Second
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.log, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (b *bench) trialsOf(c contender) int {
	if c.kind == "client-go" && c.ttl >= 15*time.Second {
		return b.cfg.slowTrials
	}
	return b.cfg.trials
}

func handoverContenders() []contender {
	return []contender{mastershipC(5 * time.Second), electionC(5 * time.Second), clientGoScaled(2 * time.Second), clientGoDefault()}
}

func cutContenders(ttl time.Duration) []contender {
	return []contender{mastershipC(ttl), electionC(ttl), clientGoScaled(ttl)}
}

// scaleContenders are the contenders of the scale measure, at TTL ttl, or
// at their own when ttl is 0.
func scaleContenders(ttl time.Duration) []contender {
	if ttl == 0 {
		return []contender{mastershipC(5 * time.Second), ourElectionC(5 * time.Second), electionC(5 * time.Second), clientGoDefault()}
	}
	return []contender{mastershipC(ttl), ourElectionC(ttl), electionC(ttl), clientGoScaled(ttl)}
}

func (b *bench) runAll() error {
	m := b.cfg.measures
	if m["handover"] {
		b.progress("handover: put → watch floor, %d trials", b.cfg.trials)
		d, err := b.putWatchFloor(b.cfg.trials)
		if err != nil {
			return fmt.Errorf("put → watch floor: %w", err)
		}
		b.floorPW = d
		for _, c := range handoverContenders() {
			n := b.trialsOf(c)
			b.progress("handover: %s, %d trials", c.name, n)
			var d dist
			for range n {
				v, err := b.handoverTrial(c)
				if err != nil {
					return fmt.Errorf("handover, %s: %w", c.name, err)
				}
				d.add(v)
			}
			b.handover[c.name] = &d
		}
	}
	var cuts []contender
	var ttls []time.Duration
	if m["crash"] {
		ttls = b.cfg.ttls
	} else if m["partition"] {
		ttls = b.cfg.ttls[:1]
	}
	for _, ttl := range ttls {
		cuts = append(cuts, cutContenders(ttl)...)
	}
	if len(ttls) > 0 && b.cfg.slowTrials > 0 {
		cuts = append(cuts, clientGoDefault())
	}
	for _, ttl := range ttls {
		b.progress("crash: lease expiry floor, TTL %v, %d trials", ttl, b.cfg.trials)
		vs, err := parallel(b.cfg.trials, b.cfg.parallel, func() (time.Duration, error) { return b.leaseExpiryTrial(ttl) })
		if err != nil {
			return fmt.Errorf("lease expiry floor: %w", err)
		}
		b.expiry[ttl] = &dist{vals: vs}
	}
	for _, c := range cuts {
		n := b.trialsOf(c)
		b.progress("cut off: %s, %d trials, %d at once", c.name, n, b.cfg.parallel)
		rs, err := parallel(n, b.cfg.parallel, func() (cutResult, error) { return b.cutTrial(c) })
		if err != nil {
			return fmt.Errorf("cut off, %s: %w", c.name, err)
		}
		b.cuts[c.name] = rs
	}
	if m["fanout"] {
		for _, n := range b.cfg.fanout {
			b.progress("fan-out: group of %d, %d trials", n, b.cfg.trials)
			r, err := b.fanout(n, b.cfg.trials)
			if err != nil {
				return fmt.Errorf("fan-out to %d: %w", n, err)
			}
			b.fanouts = append(b.fanouts, r)
		}
	}
	if m["scale"] {
		for _, c := range scaleContenders(b.cfg.scaleTTL) {
			if !b.cfg.scaleKinds[c.kind] {
				continue
			}
			for _, gm := range b.cfg.scale {
				b.progress("scale: %s, %d groups × %d, on %s, rest %v", c.name, gm[0], gm[1], clientsText(b.cfg.scaleClients), b.cfg.rest)
				r, err := b.scale(c, gm[0], gm[1])
				if err != nil {
					return fmt.Errorf("scale, %s, %dx%d: %w", c.name, gm[0], gm[1], err)
				}
				b.scales = append(b.scales, r)
			}
		}
	}
	return nil
}

// quiet silences the loggers of etcd's client, gRPC and client-go.
func quiet() {
	klog.SetLogger(logr.Discard())
	slog.SetDefault(slog.New(slog.DiscardHandler))
}

func nopLogger() *zap.Logger { return zap.NewNop() }

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if l, _, ok := strings.Cut(string(b), "\n"); ok {
			mem = strings.Join(strings.Fields(l)[1:], " ") + " RAM, "
		}
	}
	return fmt.Sprintf("%s, %d CPUs, %s%s/%s, %s", model, runtime.NumCPU(), mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}
