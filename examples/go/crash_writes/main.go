// crash_writes: Go's own classic crash, for gomap's detection comparison
// (docs/detection.md, tools/detection.sh): ten goroutines write 1000 keys
// each into one map with no lock.  Go's runtime usually stops it with
// "fatal error: concurrent map writes".
//
//	go run main.go                    the classic program (one pass)
//	go run main.go -rounds 100 -together
//	                                  shaped like examples/crash_writes.c:
//	                                  100 passes, all goroutines released
//	                                  together from a spinning start line
//	go run main.go -mutex             the cure: a sync.Mutex around the map
//	                                  (must never report anything)
package main

import (
	"flag"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

const writers, keysPerWriter = 10, 1000

func main() {
	rounds := flag.Int("rounds", 1, "passes over each goroutine's keys")
	together := flag.Bool("together", false, "start all goroutines at once (spinning start line)")
	useMutex := flag.Bool("mutex", false, "guard the map with a mutex")
	flag.Parse()

	m := map[uint64]uint64{}
	var mu sync.Mutex
	var arrived int32
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(base uint64) {
			defer wg.Done()
			if *together {
				atomic.AddInt32(&arrived, 1)
				for atomic.LoadInt32(&arrived) < writers {
					runtime.Gosched()
				}
			}
			for r := 0; r < *rounds; r++ {
				for i := uint64(0); i < keysPerWriter; i++ {
					if *useMutex {
						mu.Lock()
					}
					m[base+i] = i
					if *useMutex {
						mu.Unlock()
					}
				}
			}
		}(uint64(w) * keysPerWriter)
	}
	wg.Wait()
	fmt.Printf("final count: %d (expected %d)\n", len(m), writers*keysPerWriter)
}
