// timer_lateness: how late a 10 ms sleep wakes while 50,000 ping-pong pairs
// keep every P busy, as bench/timer_lateness.c (which says why the pairs
// start on a flag, which sleeps count, and why the load stops after loadS
// seconds).
//
// The pairs are not waited for at the end: they are stopped, and the
// figures do not depend on how long they take to notice.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

const (
	pairs    = 50000
	sleepers = 10
	rounds   = 20
	sleep    = 10 * time.Millisecond
	loadS    = 10
)

func main() {
	var start, stop, ncapped int32
	var tStart time.Time
	for i := 0; i < pairs; i++ {
		a, b := make(chan int), make(chan int)
		go func() {
			for v := range a {
				b <- v
			}
		}()
		go func() {
			for atomic.LoadInt32(&start) == 0 {
				time.Sleep(5 * time.Millisecond)
			}
			for i := 0; atomic.LoadInt32(&stop) == 0; i++ {
				a <- i
				<-b
				if i%1024 == 0 && time.Since(tStart) > loadS*time.Second {
					atomic.StoreInt32(&stop, 1)
				}
			}
			close(a)
		}()
	}
	var mu sync.Mutex
	var late []time.Duration
	var ready, wg sync.WaitGroup
	for s := 0; s < sleepers; s++ {
		ready.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready.Done()
			for r := 0; r <= rounds && atomic.LoadInt32(&stop) == 0; r++ {
				want := sleep
				if r == 0 {
					want = 100 * time.Millisecond // the pairs get going
				}
				t := time.Now()
				time.Sleep(want)
				d := time.Since(t) - want
				capped := atomic.LoadInt32(&stop) != 0
				if r > 0 || capped {
					mu.Lock()
					late = append(late, d)
					mu.Unlock()
				}
				if capped {
					atomic.AddInt32(&ncapped, 1)
				}
			}
		}()
	}
	ready.Wait() // every sleeper is in its first sleep
	tStart = time.Now()
	atomic.StoreInt32(&start, 1)
	wg.Wait()
	atomic.StoreInt32(&stop, 1)
	sort.Slice(late, func(i, j int) bool { return late[i] < late[j] })
	n := len(late)
	fmt.Printf("timer_lateness_p50_us %.1f timer_lateness_p99_us %.1f samples %d capped %d pairs %d workers %d\n",
		float64(late[n/2].Nanoseconds())/1e3, float64(late[n*99/100].Nanoseconds())/1e3,
		n, atomic.LoadInt32(&ncapped), pairs, runtime.GOMAXPROCS(0))
	os.Exit(0)
}
