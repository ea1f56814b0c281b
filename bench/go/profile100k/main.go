// profile100k: the time to write the goroutine profile (debug=1, the grouped
// form) of 100,000 parked goroutines, best of 7, and the longest pause it
// caused, as bench/profile100k.c.
//
// The goroutines park receiving on one channel from three sites at three
// stack depths. Two goroutines per P loop on runtime.Gosched, each recording
// the largest gap between its consecutive iterations; runtime.Gosched puts a
// goroutine on the global run queue, so any P can run it and a gap is time
// no P ran it. For each profile: the largest gap while it was written minus
// the largest gap over an equal period without profiling right after, or 0;
// pause_ms is the median of those, pause_max_ms the largest.
//
// Prints: profile100k_ms <best ms> pause_ms <ms> pause_max_ms <ms> prof_gap_ms <ms> base_gap_ms <ms> goroutines <n> bytes <n>
package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

const n = 100000
const reps = 7

//go:noinline
func waitClosed(ch chan int) { <-ch }

//go:noinline
func depth3(ch chan int) { waitClosed(ch); runtime.KeepAlive(ch) }

//go:noinline
func depth2(ch chan int) { depth3(ch); runtime.KeepAlive(ch) }

func parkedA(ch chan int, wg *sync.WaitGroup) { wg.Done(); <-ch }
func parkedB(ch chan int, wg *sync.WaitGroup) { wg.Done(); waitClosed(ch) }
func parkedC(ch chan int, wg *sync.WaitGroup) { wg.Done(); depth2(ch) }

var measuring, stop int32

type probe struct {
	maxgap int64
	_      [56]byte
}

func main() {
	ch := make(chan int)
	procs := runtime.GOMAXPROCS(0)
	probes := make([]probe, 2*procs)
	var ydone sync.WaitGroup
	ydone.Add(len(probes))
	for i := range probes {
		go func(p *probe) {
			defer ydone.Done()
			last := time.Now()
			for atomic.LoadInt32(&stop) == 0 {
				now := time.Now()
				if atomic.LoadInt32(&measuring) != 0 {
					if g := int64(now.Sub(last)); g > atomic.LoadInt64(&p.maxgap) {
						atomic.StoreInt64(&p.maxgap, g)
					}
				}
				last = now
				runtime.Gosched()
			}
		}(&probes[i])
	}
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		switch i % 3 {
		case 0:
			go parkedA(ch, &wg)
		case 1:
			go parkedB(ch, &wg)
		default:
			go parkedC(ch, &wg)
		}
	}
	wg.Wait()
	time.Sleep(50 * time.Millisecond)
	goroutines := runtime.NumGoroutine()

	begin := func() {
		for i := range probes {
			atomic.StoreInt64(&probes[i].maxgap, 0)
		}
		atomic.StoreInt32(&measuring, 1)
	}
	end := func() int64 {
		atomic.StoreInt32(&measuring, 0)
		var m int64
		for i := range probes {
			if g := atomic.LoadInt64(&probes[i].maxgap); g > m {
				m = g
			}
		}
		return m
	}

	var buf bytes.Buffer
	prof := pprof.Lookup("goroutine")
	if err := prof.WriteTo(&buf, 1); err != nil { // warm-up
		fmt.Fprintln(os.Stderr, "profile100k:", err)
		os.Exit(1)
	}
	best := time.Duration(1 << 62)
	var profGap, baseGap int64
	pauses := make([]int64, reps)
	size := 0
	for r := 0; r < reps; r++ {
		buf.Reset()
		begin()
		t := time.Now()
		if err := prof.WriteTo(&buf, 1); err != nil {
			fmt.Fprintln(os.Stderr, "profile100k:", err)
			os.Exit(1)
		}
		d := time.Since(t)
		pg := end()
		if pg > profGap {
			profGap = pg
		}
		if d < best {
			best = d
		}
		size = buf.Len()
		begin()
		time.Sleep(d)
		bg := end()
		if bg > baseGap {
			baseGap = bg
		}
		if pg > bg {
			pauses[r] = pg - bg
		}
	}
	sort.Slice(pauses, func(i, j int) bool { return pauses[i] < pauses[j] })
	atomic.StoreInt32(&stop, 1)
	ydone.Wait()
	close(ch)
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	fmt.Printf("profile100k_ms %.2f pause_ms %.3f pause_max_ms %.3f prof_gap_ms %.3f base_gap_ms %.3f goroutines %d bytes %d\n",
		ms(int64(best)), ms(pauses[reps/2]), ms(pauses[reps-1]), ms(profGap), ms(baseGap), goroutines, size)
}
