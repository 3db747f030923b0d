// Command peer-go-core runs gomap-bench's core workload (bench/README.md) on
// Go's built-in map and prints the same JSON lines as `gomap-bench core
// --peer`.  The u64 and string versions are written out separately on
// purpose: a generic map[K]uint64 would go through the runtime's generic
// mapaccess instead of the mapaccess*_fast64/_faststr paths that ordinary Go
// code gets, and would understate Go.
//
//	peer-go-core core --peer --key u64,str,u64v64 --keys N[,N] --reps R --seed S
//	peer-go-core keys --seed S --count C
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"gomap.bench/peers/keys"
)

const (
	opInsert = iota
	opGetHit
	opGetMiss
	opDelete
	opIterate
	nOps
)

var opNames = [nOps]string{"insert", "get_hit", "get_miss", "delete", "iterate"}

// rounds is the same formula as core.c's rounds_for: each op runs enough
// times per repetition to cover >= 2^18 operations.
func rounds(n uint64) uint64 {
	r := (uint64(1) << 18) / n
	if r == 0 {
		r = 1
	}
	return r
}

// sink keeps checksums alive past the optimizer.
var sink uint64

type rep struct {
	ns  [nOps]float64
	sum [nOps]uint64
}

func runU64(ks []uint64, n, rounds uint64) rep {
	var r rep
	ops := float64(n * rounds)
	var m map[uint64]uint64
	var elapsed time.Duration
	var s uint64
	for i := uint64(0); i < rounds; i++ {
		t := time.Now()
		m = make(map[uint64]uint64)
		for j := uint64(0); j < n; j++ {
			m[ks[j]] = ks[j]
		}
		elapsed += time.Since(t)
		s += uint64(len(m))
	}
	r.ns[opInsert], r.sum[opInsert] = float64(elapsed.Nanoseconds())/ops, s

	s = 0
	t := time.Now()
	for i := uint64(0); i < rounds; i++ {
		for j := uint64(0); j < n; j++ {
			if v, ok := m[ks[j]]; ok {
				s += v
			}
		}
	}
	r.ns[opGetHit], r.sum[opGetHit] = float64(time.Since(t).Nanoseconds())/ops, s

	s = 0
	t = time.Now()
	for i := uint64(0); i < rounds; i++ {
		for j := n; j < 2*n; j++ {
			if v, ok := m[ks[j]]; ok {
				s += v + 1
			}
		}
	}
	r.ns[opGetMiss], r.sum[opGetMiss] = float64(time.Since(t).Nanoseconds())/ops, s

	s = 0
	t = time.Now()
	for i := uint64(0); i < rounds; i++ {
		for _, v := range m {
			s += v
		}
	}
	r.ns[opIterate], r.sum[opIterate] = float64(time.Since(t).Nanoseconds())/ops, s

	s = 0
	elapsed = 0
	for i := uint64(0); i < rounds; i++ {
		if i > 0 {
			for j := uint64(0); j < n; j++ {
				m[ks[j]] = ks[j]
			}
		}
		t := time.Now()
		for j := uint64(0); j < n; j++ {
			// Go's delete does not say whether the key was there; the
			// length before and after does, at no cost inside the loop.
			delete(m, ks[j])
		}
		elapsed += time.Since(t)
		s += n - uint64(len(m))
	}
	r.ns[opDelete], r.sum[opDelete] = float64(elapsed.Nanoseconds())/ops, s
	sink += r.sum[opGetHit]
	return r
}

// runStr inserts the strings of ks and looks up and deletes with ls: the
// same bytes in separately allocated strings.  Were they the same string
// values, Go's string comparison would match on the data pointer without
// reading the key bytes stored in the map, a shortcut that gomap and abseil
// (whose maps hold copies) never get and that a program looking up keys it
// has just read or built does not get either.
func runStr(ks, ls []string, vs []uint64, n, rounds uint64) rep {
	var r rep
	ops := float64(n * rounds)
	var m map[string]uint64
	var elapsed time.Duration
	var s uint64
	for i := uint64(0); i < rounds; i++ {
		t := time.Now()
		m = make(map[string]uint64)
		for j := uint64(0); j < n; j++ {
			m[ks[j]] = vs[j]
		}
		elapsed += time.Since(t)
		s += uint64(len(m))
	}
	r.ns[opInsert], r.sum[opInsert] = float64(elapsed.Nanoseconds())/ops, s

	s = 0
	t := time.Now()
	for i := uint64(0); i < rounds; i++ {
		for j := uint64(0); j < n; j++ {
			if v, ok := m[ls[j]]; ok {
				s += v
			}
		}
	}
	r.ns[opGetHit], r.sum[opGetHit] = float64(time.Since(t).Nanoseconds())/ops, s

	s = 0
	t = time.Now()
	for i := uint64(0); i < rounds; i++ {
		for j := n; j < 2*n; j++ {
			if v, ok := m[ls[j]]; ok {
				s += v + 1
			}
		}
	}
	r.ns[opGetMiss], r.sum[opGetMiss] = float64(time.Since(t).Nanoseconds())/ops, s

	s = 0
	t = time.Now()
	for i := uint64(0); i < rounds; i++ {
		for _, v := range m {
			s += v
		}
	}
	r.ns[opIterate], r.sum[opIterate] = float64(time.Since(t).Nanoseconds())/ops, s

	s = 0
	elapsed = 0
	for i := uint64(0); i < rounds; i++ {
		if i > 0 {
			for j := uint64(0); j < n; j++ {
				m[ks[j]] = vs[j]
			}
		}
		t := time.Now()
		for j := uint64(0); j < n; j++ {
			delete(m, ls[j])
		}
		elapsed += time.Since(t)
		s += n - uint64(len(m))
	}
	r.ns[opDelete], r.sum[opDelete] = float64(elapsed.Nanoseconds())/ops, s
	sink += r.sum[opGetHit]
	return r
}

// memory inserts n keys into an empty map and returns the heap bytes per
// entry still live afterwards (runtime.MemStats.HeapAlloc after a GC, so
// only what the map keeps) and the allocations per insert.  The string keys
// are built from bytes during the inserts, so the map's keys own their bytes
// as gomap's copies do and those bytes are counted.
func memory(kind string, seed, n uint64) (bytesPerEntry, allocsPerInsert float64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var keep interface{}
	switch kind {
	case "str":
		m := make(map[string]uint64)
		var buf []byte
		for i := uint64(0); i < n; i++ {
			buf = keys.AppendStr(buf[:0], seed, i)
			m[string(buf)] = keys.U64(seed, i)
		}
		keep = m
	case "u64v64":
		m := make(map[uint64]v64)
		for i := uint64(0); i < n; i++ {
			k := keys.U64(seed, i)
			m[k] = bigValue(k)
		}
		keep = m
	default:
		m := make(map[uint64]uint64)
		for i := uint64(0); i < n; i++ {
			k := keys.U64(seed, i)
			m[k] = k
		}
		keep = m
	}
	runtime.ReadMemStats(&after)
	mallocs := after.Mallocs - before.Mallocs
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	// The key computation allocates nothing of its own but the string
	// conversion, which is the key's storage: counted, as it should be.
	bytesPerEntry = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
	allocsPerInsert = float64(mallocs) / float64(n)
	return
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

func runCell(kind string, n, seed uint64, reps int, withMemory bool) {
	str := kind == "str"
	r := rounds(n)
	ks := make([]uint64, 2*n)
	for i := range ks {
		ks[i] = keys.U64(seed, uint64(i))
	}
	var ss, ls []string
	if str {
		ss = make([]string, 2*n)
		ls = make([]string, 2*n)
		for i := range ss {
			ss[i] = keys.Str(seed, uint64(i))
			ls[i] = keys.Str(seed, uint64(i))
		}
	}
	bpe, apo := -1.0, -1.0
	if withMemory {
		bpe, apo = memory(kind, seed, n)
	}
	samples := make([][]float64, nOps)
	var first [nOps]uint64
	for i := 0; i < reps; i++ {
		runtime.GC()
		var res rep
		switch kind {
		case "str":
			res = runStr(ss, ls, ks, n, r)
		case "u64v64":
			res = runU64V64(ks, n, r)
		default:
			res = runU64(ks, n, r)
		}
		for op := 0; op < nOps; op++ {
			samples[op] = append(samples[op], res.ns[op])
			if i == 0 {
				first[op] = res.sum[op]
			} else if res.sum[op] != first[op] {
				fmt.Fprintln(os.Stderr, "peer-go-core: checksums differ between repetitions")
			}
		}
	}
	for op := 0; op < nOps; op++ {
		med, lo, hi := median(samples[op])
		line := fmt.Sprintf(`{"map":"go","op":"%s","key":"%s","keys":%d,"ns_per_op":%.4f,"ns_min":%.4f,"ns_max":%.4f`,
			opNames[op], kind, n, med, lo, hi)
		if bpe >= 0 {
			line += fmt.Sprintf(`,"bytes_per_entry":%.4f`, bpe)
		} else {
			line += `,"bytes_per_entry":null`
		}
		if op == opInsert && apo >= 0 {
			line += fmt.Sprintf(`,"allocs_per_op":%.4f`, apo)
		}
		line += fmt.Sprintf(`,"checksum":%d,"reps":%d,"rounds":%d,"seed":%d}`, first[op], reps, r, seed)
		fmt.Println(line)
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: peer-go-core core|keys [options]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	keyList := fs.String("keys", "1024,1048576", "map sizes")
	kinds := fs.String("key", "u64,str", "key kinds")
	reps := fs.Int("reps", 5, "repetitions")
	seed := fs.Uint64("seed", 1, "key stream seed")
	count := fs.Uint64("count", 8, "keys to print (keys command)")
	noMemory := fs.Bool("no-memory", false, "skip the memory pass (bytes_per_entry null)")
	fs.Bool("peer", true, "accepted for symmetry with gomap-bench")
	fs.Bool("json", true, "accepted for symmetry with gomap-bench")
	fs.Parse(os.Args[2:])

	switch os.Args[1] {
	case "keys":
		for i := uint64(0); i < *count; i++ {
			fmt.Printf("%d %d %s\n", i, keys.U64(*seed, i), keys.Str(*seed, i))
		}
	case "core":
		sizes, err := keys.ParseList(*keyList)
		if err != nil || *reps < 1 {
			fmt.Fprintln(os.Stderr, "peer-go-core: bad --keys or --reps")
			os.Exit(2)
		}
		for _, kind := range []string{"u64", "str", "u64v64"} {
			if !strings.Contains(","+*kinds+",", ","+kind+",") {
				continue
			}
			for _, n := range sizes {
				runCell(kind, n, *seed, *reps, !*noMemory)
			}
		}
	default:
		fmt.Fprintln(os.Stderr, "peer-go-core: unknown command", os.Args[1])
		os.Exit(2)
	}
	if sink == 42 {
		fmt.Fprintln(os.Stderr, "")
	}
}
