// crash_readwrite: Go's other classic crash, for gomap's detection comparison
// (docs/detection.md, tools/detection.sh): one goroutine writes 1000 keys
// while another reads them, with no lock.  Go's runtime sometimes stops it
// with "fatal error: concurrent map read and map write".
//
//	go run main.go                    the classic program: one pass each
//	go run main.go -rounds 1000 -together
//	                                  shaped like examples/crash_readwrite.c:
//	                                  the writer makes 1000 passes, the reader
//	                                  reads until the writer is done, both
//	                                  released from a spinning start line
//	go run main.go -mutex             the cure: a sync.RWMutex around the map
//	                                  (must never report anything)
package main

import (
	"flag"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

const keys = 1000

func main() {
	rounds := flag.Int("rounds", 1, "writer passes over the keys")
	together := flag.Bool("together", false, "start both goroutines at once; read until the writer is done")
	useMutex := flag.Bool("mutex", false, "guard the map with a reader-writer lock")
	flag.Parse()

	m := map[uint64]uint64{}
	var mu sync.RWMutex
	var arrived, writerDone int32
	start := func() {
		if *together {
			atomic.AddInt32(&arrived, 1)
			for atomic.LoadInt32(&arrived) < 2 {
				runtime.Gosched()
			}
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		start()
		for r := 0; r < *rounds; r++ {
			for k := uint64(0); k < keys; k++ {
				if *useMutex {
					mu.Lock()
				}
				m[k] = k * k
				if *useMutex {
					mu.Unlock()
				}
			}
		}
		atomic.StoreInt32(&writerDone, 1)
	}()
	found := 0
	go func() {
		defer wg.Done()
		start()
		for pass := 0; ; pass++ {
			if *together && atomic.LoadInt32(&writerDone) == 1 {
				break
			}
			if !*together && pass == 1 {
				break
			}
			for k := uint64(0); k < keys; k++ {
				if *useMutex {
					mu.RLock()
				}
				if _, ok := m[k]; ok {
					found++
				}
				if *useMutex {
					mu.RUnlock()
				}
			}
		}
	}()
	wg.Wait()
	fmt.Printf("final count: %d (expected %d), reads found %d\n", len(m), keys, found)
}
