// mutex_contended: 8 goroutines taking and releasing one sync.Mutex,
// 250,000 times each; inside, a counter bumped and runtime.Gosched(), so
// that the others run while the lock is held. Best of 3 rounds.
package main

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

func main() {
	const tasks, per, rounds = 8, 250000, 3
	var mu sync.Mutex
	best := 1e18
	for r := 0; r < rounds; r++ {
		counter := 0
		var wg sync.WaitGroup
		wg.Add(tasks)
		t := time.Now()
		for g := 0; g < tasks; g++ {
			go func() {
				for i := 0; i < per; i++ {
					mu.Lock()
					counter++
					runtime.Gosched()
					mu.Unlock()
				}
				wg.Done()
			}()
		}
		wg.Wait()
		ns := float64(time.Since(t).Nanoseconds()) / float64(tasks*per)
		if counter != tasks*per {
			panic("counter")
		}
		if ns < best {
			best = ns
		}
	}
	// Go has no leak detector: its figure with one "off" is the same.
	fmt.Printf("mutex_contended_ns %.1f leak_off_ns %.1f\n", best, best)
}
