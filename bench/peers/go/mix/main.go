// Command mix is gomap-bench's Go peer for the concurrent mixes: Go 1.19's
// map + sync.RWMutex, sync.Map, a 32-shard map like the popular
// concurrent-map package, and a copy-on-write map behind atomic.Value.  It
// reads gomap-bench mix's arguments and prints the same JSON lines (see
// bench/mix.c and docs/workloads.md).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"gomap.bench/peers/keys"
)

// cmap is what every contestant implements.
type cmap interface {
	Load(k uint64) (uint64, bool)
	Store(k, v uint64)
	Delete(k uint64)
	Len() int
	Range(f func(k, v uint64) bool)
}

// ---- map + RWMutex --------------------------------------------------------

type rwMap struct {
	mu sync.RWMutex
	m  map[uint64]uint64
}

func (r *rwMap) Load(k uint64) (uint64, bool) {
	r.mu.RLock()
	v, ok := r.m[k]
	r.mu.RUnlock()
	return v, ok
}
func (r *rwMap) Store(k, v uint64) { r.mu.Lock(); r.m[k] = v; r.mu.Unlock() }
func (r *rwMap) Delete(k uint64)   { r.mu.Lock(); delete(r.m, k); r.mu.Unlock() }
func (r *rwMap) Len() int          { r.mu.RLock(); defer r.mu.RUnlock(); return len(r.m) }
func (r *rwMap) Range(f func(k, v uint64) bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for k, v := range r.m {
		if !f(k, v) {
			return
		}
	}
}

// ---- sync.Map ---------------------------------------------------------------

type syncMap struct{ m sync.Map }

func (s *syncMap) Load(k uint64) (uint64, bool) {
	v, ok := s.m.Load(k)
	if !ok {
		return 0, false
	}
	return v.(uint64), true
}
func (s *syncMap) Store(k, v uint64) { s.m.Store(k, v) }
func (s *syncMap) Delete(k uint64)   { s.m.Delete(k) }
func (s *syncMap) Len() int {
	n := 0
	s.m.Range(func(_, _ any) bool { n++; return true })
	return n
}
func (s *syncMap) Range(f func(k, v uint64) bool) {
	s.m.Range(func(k, v any) bool { return f(k.(uint64), v.(uint64)) })
}

// ---- 32 shards, as github.com/orcaman/concurrent-map does --------------------
// (its shards are separately allocated structs of an RWMutex and a map,
// chosen by a hash of the key; the key's hash here is a multiplicative one.)

const shardCount = 32

type shard struct {
	sync.RWMutex
	m map[uint64]uint64
}

type shardMap struct{ s [shardCount]*shard }

func newShardMap(hint int) *shardMap {
	sm := &shardMap{}
	for i := range sm.s {
		sm.s[i] = &shard{m: make(map[uint64]uint64, hint)}
	}
	return sm
}
func (sm *shardMap) get(k uint64) *shard { return sm.s[(k*0x9e3779b97f4a7c15)>>59] }
func (sm *shardMap) Load(k uint64) (uint64, bool) {
	s := sm.get(k)
	s.RLock()
	v, ok := s.m[k]
	s.RUnlock()
	return v, ok
}
func (sm *shardMap) Store(k, v uint64) { s := sm.get(k); s.Lock(); s.m[k] = v; s.Unlock() }
func (sm *shardMap) Delete(k uint64)   { s := sm.get(k); s.Lock(); delete(s.m, k); s.Unlock() }
func (sm *shardMap) Len() int {
	n := 0
	for _, s := range sm.s {
		s.RLock()
		n += len(s.m)
		s.RUnlock()
	}
	return n
}
func (sm *shardMap) Range(f func(k, v uint64) bool) {
	for _, s := range sm.s {
		s.RLock()
		for k, v := range s.m {
			if !f(k, v) {
				s.RUnlock()
				return
			}
		}
		s.RUnlock()
	}
}

// ---- copy on write: atomic.Value holding a map ---------------------------------

type cowMap struct {
	mu sync.Mutex
	v  atomic.Value // map[uint64]uint64, never modified once stored
}

func newCowMap(init map[uint64]uint64) *cowMap {
	c := &cowMap{}
	c.v.Store(init)
	return c
}
func (c *cowMap) cur() map[uint64]uint64 { return c.v.Load().(map[uint64]uint64) }
func (c *cowMap) Load(k uint64) (uint64, bool) {
	v, ok := c.cur()[k]
	return v, ok
}
func (c *cowMap) write(f func(m map[uint64]uint64)) {
	c.mu.Lock()
	old := c.cur()
	n := make(map[uint64]uint64, len(old)+1)
	for k, v := range old {
		n[k] = v
	}
	f(n)
	c.v.Store(n)
	c.mu.Unlock()
}
func (c *cowMap) Store(k, v uint64) { c.write(func(m map[uint64]uint64) { m[k] = v }) }
func (c *cowMap) Delete(k uint64)   { c.write(func(m map[uint64]uint64) { delete(m, k) }) }
func (c *cowMap) Len() int          { return len(c.cur()) }
func (c *cowMap) Range(f func(k, v uint64) bool) {
	for k, v := range c.cur() {
		if !f(k, v) {
			return
		}
	}
}

// cowMaxKeys: as in bench/mix.c, a key-by-key prefill of a copy-on-write map
// is O(N^2), so it is left out above this size.
const cowMaxKeys = 1 << 13

var contestants = []string{"go-rwmutex-map", "go-shard-map", "go-sync-map", "go-cow-map"}

// newPrefilled builds a contestant holding keys [0, n) of seed, pre-sized
// for n keys where the map allows it (as every contestant is).
func newPrefilled(name string, seed, n uint64) cmap {
	switch name {
	case "go-rwmutex-map":
		r := &rwMap{m: make(map[uint64]uint64, n)}
		for i := uint64(0); i < n; i++ {
			k := wlKey(seed, i)
			r.Store(k, value0(k))
		}
		return r
	case "go-shard-map":
		s := newShardMap(int(n / shardCount))
		for i := uint64(0); i < n; i++ {
			k := wlKey(seed, i)
			s.Store(k, value0(k))
		}
		return s
	case "go-sync-map":
		s := &syncMap{}
		for i := uint64(0); i < n; i++ {
			k := wlKey(seed, i)
			s.Store(k, value0(k))
		}
		return s
	case "go-cow-map":
		m := make(map[uint64]uint64, n)
		for i := uint64(0); i < n; i++ {
			k := wlKey(seed, i)
			m[k] = value0(k)
		}
		return newCowMap(m)
	}
	return nil
}

// warm is the warm-up every contestant gets after its prefill (bench/runner.h's
// run_warm): one Load of each key [0, n) in index order.  A fresh sync.Map
// holds its prefill in the dirty map; these n misses promote it, so the
// timed mixes measure its steady state, not the promotion.
func warm(m cmap, seed, n uint64) uint64 {
	sum := uint64(0)
	for i := uint64(0); i < n; i++ {
		if v, ok := m.Load(wlKey(seed, i)); ok {
			sum += v
		}
	}
	return sum
}

var warmSink uint64

// doOp performs trace entry e as operation i; returns the checksum part.
func doOp(m cmap, seed uint64, e uint32, i uint64) uint64 {
	key := wlKey(seed, uint64(e&idxMask))
	switch e >> idxBits {
	case opRead:
		if v, ok := m.Load(key); ok {
			return v
		}
		return missMark
	case opUpdate, opInsert:
		m.Store(key, key+i)
		return 0
	default:
		m.Delete(key)
		return 0
	}
}

// ---- the log-linear histogram of bench/hist.h ------------------------------------

const histSubBits = 7
const histSub = 1 << histSubBits
const histBuckets = (64 - histSubBits + 1) * histSub

type hist struct {
	count, min, max uint64
	n               [histBuckets]uint64
}

func newHist() *hist { return &hist{min: ^uint64(0)} }

func histIndex(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := 63 - clz(v) - histSubBits
	return shift*histSub + int(v>>uint(shift))
}

func clz(v uint64) int {
	n := 0
	for v&(1<<63) == 0 {
		v <<= 1
		n++
	}
	return n
}

func (h *hist) record(v uint64) {
	h.n[histIndex(v)]++
	h.count++
	if v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
}

func (h *hist) merge(o *hist) {
	for i := range h.n {
		h.n[i] += o.n[i]
	}
	h.count += o.count
	if o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
}

func (h *hist) quantile(q float64) uint64 {
	if h.count == 0 {
		return 0
	}
	rank := uint64(q * float64(h.count))
	if float64(rank) < q*float64(h.count) {
		rank++
	}
	if rank <= 1 {
		return h.min
	}
	if rank >= h.count {
		return h.max
	}
	seen := uint64(0)
	for i := 0; i < histBuckets; i++ {
		seen += h.n[i]
		if seen >= rank {
			var lo, width uint64
			if i < 2*histSub {
				lo, width = uint64(i), 1
			} else {
				shift := i/histSub - 1
				lo = uint64(i-shift*histSub) << uint(shift)
				width = 1 << uint(shift)
			}
			v := lo + width/2
			if v < h.min {
				v = h.min
			}
			if v > h.max {
				v = h.max
			}
			return v
		}
	}
	return h.max
}

// ---- runs --------------------------------------------------------------------------

// lastCPU is the CPU worker 0 of the last runOnce finished on (getcpu), or
// -1: gomap-bench pins a paired repetition's whole program to one CPU and
// records this beside it (bench/runner.h's run_last_cpu).  Written by worker
// 0 before wg.Done, read after wg.Wait.
var lastCPU = -1

// getCPU returns the CPU the calling thread is on, or -1 where the getcpu
// system call's number is not known (sysGetcpu < 0).
func getCPU() int {
	if sysGetcpu < 0 {
		return -1
	}
	var cpu uint32
	if _, _, e := syscall.RawSyscall(uintptr(sysGetcpu), uintptr(unsafe.Pointer(&cpu)), 0, 0); e != 0 {
		return -1
	}
	return int(cpu)
}

var epoch = time.Now()

func nowNs() uint64 { return uint64(time.Since(epoch)) }

// runOnce runs threads goroutines over their traces; throughput mode returns
// Mops/s, latency mode fills h.
func runOnce(m cmap, seed uint64, trs [][]uint32, threads int, latency bool, durMs uint64,
	rate uint64, h *hist) (mops float64, ops, sum uint64) {
	var stop int32
	var wg sync.WaitGroup
	var start sync.WaitGroup
	start.Add(1)
	opsA := make([]uint64, threads)
	sumA := make([]uint64, threads)
	hs := make([]*hist, threads)
	t0 := nowNs() + 2000000
	for t := 0; t < threads; t++ {
		wg.Add(1)
		if latency {
			hs[t] = newHist()
		}
		go func(t int) {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tr := trs[t]
			pos := 0
			i := uint64(0)
			s := uint64(0)
			start.Wait()
			if latency {
				interval := uint64(1000000000) / rate
				end := t0 + durMs*1000000
				giveUp := t0 + 2*durMs*1000000
				for ; ; i++ {
					due := t0 + i*interval
					if due >= end {
						break
					}
					now := nowNs()
					for now < due {
						now = nowNs()
					}
					if now >= giveUp {
						break
					}
					s += doOp(m, seed, tr[pos], i)
					hs[t].record(nowNs() - due)
					if pos++; pos == len(tr) {
						pos = 0
					}
				}
			} else {
				for atomic.LoadInt32(&stop) == 0 {
					for k := 0; k < 64; k++ {
						s += doOp(m, seed, tr[pos], i)
						i++
						if pos++; pos == len(tr) {
							pos = 0
						}
					}
				}
			}
			opsA[t] = i
			sumA[t] = s
			if t == 0 {
				lastCPU = getCPU()
			}
		}(t)
	}
	begin := time.Now()
	start.Done()
	if !latency {
		time.Sleep(time.Duration(durMs) * time.Millisecond)
		atomic.StoreInt32(&stop, 1)
	}
	wg.Wait()
	el := time.Since(begin)
	for t := 0; t < threads; t++ {
		ops += opsA[t]
		sum += sumA[t]
		if latency {
			h.merge(hs[t])
		}
	}
	return float64(ops) / float64(el.Nanoseconds()) * 1e3, ops, sum
}

func heapBytes() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

type opts struct {
	maps, mixes, dists      []string
	threads                 []uint64
	keys, seed, durMs, reps uint64
	traceLen, rate, latMs   uint64
	latRuns                 uint64
	throughput, latency     bool
	verifyOps               uint64
	latencyMixes            []string // nil: all
}

func jsonHead(kind, name, mix, dist string, threads int, keysN uint64) string {
	over := threads > runtime.NumCPU()
	return fmt.Sprintf(`{"kind":"%s","map":"%s","mix":"%s","dist":"%s","threads":%d,"keys":%d,"oversubscribed":%t`,
		kind, name, mix, dist, threads, keysN, over)
}

func orderedMixes(names []string) []*mix {
	var out, churn []*mix
	for _, n := range names {
		m := findMix(n)
		if m == nil {
			fmt.Fprintf(os.Stderr, "peer-go-mix: unknown mix %s\n", n)
			os.Exit(2)
		}
		if m.churn {
			churn = append(churn, m)
		} else {
			out = append(out, m)
		}
	}
	return append(out, churn...)
}

func traceLen(o *opts) int {
	if o.verifyOps > 0 && o.verifyOps < o.traceLen {
		return int(o.verifyOps)
	}
	return int(o.traceLen)
}

func verify(o *opts, name string, ms []*mix) {
	for _, mx := range ms {
		for _, d := range o.dists {
			before := heapBytes()
			m := newPrefilled(name, o.seed, o.keys)
			warmSink += warm(m, o.seed, o.keys)
			bpe := float64(int64(heapBytes())-int64(before)) / float64(o.keys)
			tr := buildTrace(mx, d, o.keys, o.seed, 0, traceLen(o))
			sum := uint64(0)
			a0 := mallocs()
			for i := uint64(0); i < o.verifyOps; i++ {
				sum += doOp(m, o.seed, tr[i%uint64(len(tr))], i)
			}
			apo := float64(mallocs()-a0) / float64(o.verifyOps)
			flen, fsum := uint64(0), uint64(0)
			m.Range(func(_, v uint64) bool { flen++; fsum += v; return true })
			fmt.Printf("%s,\"final_len\":%d,\"final_sum\":%d,\"ops\":%d,\"allocs_per_op\":%.4f,\"bytes_per_entry\":%.4f,\"checksum\":%d,\"seed\":%d}\n",
				jsonHead("verify", name, mx.name, d, 1, o.keys), flen, fsum, o.verifyOps, apo, bpe, sum, o.seed)
		}
	}
}

func median(v []float64) (med, lo, hi float64) {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		med = s[n/2]
	} else {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[0], s[n-1]
}

func run(o *opts, name string, ms []*mix) {
	if name == "go-cow-map" && o.keys > cowMaxKeys {
		fmt.Fprintf(os.Stderr, "peer-go-mix: go-cow-map: skipped above %d keys (prefill copies the map per key)\n", cowMaxKeys)
		return
	}
	before := heapBytes()
	m := newPrefilled(name, o.seed, o.keys)
	warmSink += warm(m, o.seed, o.keys)
	bpe := float64(int64(heapBytes())-int64(before)) / float64(o.keys)
	maxT := 1
	for _, t := range o.threads {
		if int(t) > maxT {
			maxT = int(t)
		}
	}
	for _, mx := range ms {
		for _, d := range o.dists {
			trs := make([][]uint32, maxT)
			for t := range trs {
				trs[t] = buildTrace(mx, d, o.keys, o.seed, uint64(t), traceLen(o))
			}
			// untimed, single-threaded, at most 20000 ops or 1 s: allocations per op
			a0 := mallocs()
			s := uint64(0)
			i := uint64(0)
			limit := nowNs() + 1000000000
			for ; i < 20000; i++ {
				if i%64 == 0 && i > 0 && nowNs() >= limit {
					break
				}
				s += doOp(m, o.seed, trs[0][i%uint64(len(trs[0]))], i)
			}
			apo := float64(mallocs()-a0) / float64(i)
			for _, th := range o.threads {
				threads := int(th)
				if o.throughput {
					runOnce(m, o.seed, trs, threads, false, o.durMs/5+1, 0, nil)
					v := make([]float64, o.reps)
					var ops, sum uint64
					for k := range v {
						var op, su uint64
						v[k], op, su = runOnce(m, o.seed, trs, threads, false, o.durMs, 0, nil)
						ops += op
						sum += su
					}
					med, lo, hi := median(v)
					fmt.Printf("%s,\"mops\":%.4f,\"mops_min\":%.4f,\"mops_max\":%.4f,\"reps\":%d,\"duration_ms\":%d,\"ops\":%d,\"allocs_per_op\":%.4f,\"bytes_per_entry\":%.4f,\"checksum\":%d,\"seed\":%d,\"cpu\":%d}\n",
						jsonHead("mix", name, mx.name, d, threads, o.keys), med, lo, hi, o.reps, o.durMs, ops, apo, bpe, sum, o.seed, lastCPU)
				}
				if o.latency && o.latencyFor(mx.name) {
					h, ops, sum := latencyRuns(m, o, trs, threads)
					fmt.Printf("%s,\"rate\":%d,\"scheduled\":%d,\"p50_ns\":%d,\"p90_ns\":%d,\"p99_ns\":%d,\"p999_ns\":%d,\"max_ns\":%d,\"ops\":%d,\"allocs_per_op\":%.4f,\"bytes_per_entry\":%.4f,\"checksum\":%d,\"seed\":%d}\n",
						jsonHead("latency", name, mx.name, d, threads, o.keys), o.rate, uint64(threads)*(o.latMs*o.rate/1000), h.quantile(0.5), h.quantile(0.9), h.quantile(0.99), h.quantile(0.999), h.max, ops, apo, bpe, sum, o.seed)
				}
			}
		}
	}
	runtime.KeepAlive(m)
}

// latencyRuns makes o.latRuns open-loop runs and returns the one whose p99
// is the median (the lower of an even count), as gomap-bench's run_latency
// does: one run's p99 is a few dozen operations, which one stall of the
// machine decides.
func latencyRuns(m cmap, o *opts, trs [][]uint32, threads int) (*hist, uint64, uint64) {
	type run struct {
		h        *hist
		ops, sum uint64
	}
	runs := make([]run, o.latRuns)
	for k := range runs {
		h := newHist()
		_, ops, sum := runOnce(m, o.seed, trs, threads, true, o.latMs, o.rate, h)
		runs[k] = run{h, ops, sum}
	}
	sort.SliceStable(runs, func(a, b int) bool {
		return runs[a].h.quantile(0.99) < runs[b].h.quantile(0.99)
	})
	mid := runs[(len(runs)-1)/2]
	return mid.h, mid.ops, mid.sum
}

func (o *opts) latencyFor(mix string) bool {
	if o.latencyMixes == nil {
		return true
	}
	for _, m := range o.latencyMixes {
		if m == mix {
			return true
		}
	}
	return false
}

func list(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func main() {
	var o opts
	maps := flag.String("maps", strings.Join(contestants, ","), "contestants")
	mixesF := flag.String("mixes", "read100,read90,read50", "mixes")
	dist := flag.String("dist", "uniform", "uniform, zipf or both")
	threads := flag.String("threads", "1,2", "thread counts")
	flag.Uint64Var(&o.keys, "keys", 1<<20, "prefilled keys")
	flag.Uint64Var(&o.seed, "seed", 42, "seed")
	flag.Uint64Var(&o.durMs, "duration-ms", 1000, "per repetition")
	flag.Uint64Var(&o.reps, "reps", 5, "repetitions")
	flag.Uint64Var(&o.traceLen, "trace-len", 1<<20, "trace entries per thread")
	flag.Uint64Var(&o.rate, "rate", 10000, "latency runs: ops/s per thread")
	flag.Uint64Var(&o.latMs, "lat-ms", 1000, "latency run length")
	flag.Uint64Var(&o.latRuns, "lat-runs", 1, "latency runs per cell; the median-p99 one is kept")
	tp := flag.Int("throughput", 1, "run throughput cells")
	lat := flag.Int("latency", 0, "run latency cells")
	flag.Uint64Var(&o.verifyOps, "verify-ops", 0, "verification runs of this many ops")
	digest := flag.Bool("trace-digest", false, "print the trace digests and exit")
	latMixes := flag.String("latency-mixes", "", "latency runs only for these mixes")
	flag.Parse()
	o.maps, o.mixes, o.dists = list(*maps), list(*mixesF), list(*dist)
	o.throughput, o.latency = *tp != 0, *lat != 0
	o.latencyMixes = list(*latMixes)
	if o.latRuns < 1 || o.latRuns > 100 {
		fmt.Fprintln(os.Stderr, "peer-go-mix: bad --lat-runs")
		os.Exit(2)
	}
	tl, err := keys.ParseList(*threads)
	if err != nil || len(tl) == 0 {
		fmt.Fprintln(os.Stderr, "peer-go-mix: bad --threads")
		os.Exit(2)
	}
	o.threads = tl
	ms := orderedMixes(o.mixes)
	if *digest {
		for _, mx := range ms {
			for _, d := range o.dists {
				fmt.Printf("{\"kind\":\"trace\",\"mix\":\"%s\",\"dist\":\"%s\",\"digest\":%d}\n",
					mx.name, d, traceDigest(buildTrace(mx, d, o.keys, o.seed, 0, int(o.traceLen))))
			}
		}
		return
	}
	for _, name := range o.maps {
		known := false
		for _, c := range contestants {
			known = known || c == name
		}
		if !known {
			fmt.Fprintf(os.Stderr, "peer-go-mix: unknown map %s\n", name)
			os.Exit(2)
		}
		if o.verifyOps > 0 {
			verify(&o, name, ms)
		} else {
			run(&o, name, ms)
		}
	}
}
