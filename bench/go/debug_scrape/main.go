// debug_scrape: what a Go program's debug endpoint costs with 100,000 live
// goroutines, as bench/debug_scrape.c: the time to answer a /metrics scrape
// and a /debug/pprof/goroutine?debug=1 request (net/http/pprof), and the
// longest any P went without running a goroutine while it was answered;
// and the CPU an idle endpoint uses.
//
// /metrics writes every runtime/metrics sample in Prometheus text format,
// which is what a Go program's Prometheus client reads from the runtime
// (client_golang's Go collector), without the library (the benchmarks use
// the standard library alone).
//
// The goroutines park receiving on one channel from three sites at three
// stack depths. Two goroutines per P loop on runtime.Gosched, each recording
// the largest gap between its consecutive iterations. The client is a
// goroutine with keep-alives off (a new connection per request, as the
// roost side). For each of 15 requests: the largest gap while it was
// answered minus the largest over an equal period right after without one,
// or 0; the stall figures are the median and the largest.
//
// Prints: metrics_ms <best> metrics_stall_ms <median> metrics_stall_max_ms <max>
//         goroutine1_ms <best> goroutine1_stall_ms <median> goroutine1_stall_max_ms <max>
//         metrics_bytes <n> goroutine1_bytes <n> idle_cpu_ms <with> idle_cpu_base_ms <without>
//         goroutines <n>
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"runtime/metrics"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const n = 100000
const reps = 15
const idle = 2 * time.Second

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

// The runtime's metrics in Prometheus text format.
func metricsHandler(w http.ResponseWriter, r *http.Request) {
	descs := metrics.All()
	samples := make([]metrics.Sample, len(descs))
	for i := range descs {
		samples[i].Name = descs[i].Name
	}
	metrics.Read(samples)
	var b strings.Builder
	fmt.Fprintf(&b, "# HELP go_goroutines Number of goroutines that currently exist.\n# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
	for i, s := range samples {
		name := "go_" + strings.NewReplacer("/", "_", ":", "_", "-", "_", "*", "x").Replace(strings.TrimPrefix(s.Name, "/"))
		kind := "gauge"
		if descs[i].Cumulative {
			kind = "counter"
		}
		switch s.Value.Kind() {
		case metrics.KindUint64:
			fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", name, descs[i].Description, name, kind, name, s.Value.Uint64())
		case metrics.KindFloat64:
			fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s %g\n", name, descs[i].Description, name, kind, name, s.Value.Float64())
		case metrics.KindFloat64Histogram:
			h := s.Value.Float64Histogram()
			var count uint64
			fmt.Fprintf(&b, "# TYPE %s histogram\n", name)
			for j, c := range h.Counts {
				count += c
				fmt.Fprintf(&b, "%s_bucket{le=\"%g\"} %d\n", name, h.Buckets[j+1], count)
			}
			fmt.Fprintf(&b, "%s_count %d\n", name, count)
		}
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	io.WriteString(w, b.String())
}

func cpuMs() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec)*1e3 + float64(ru.Utime.Usec+ru.Stime.Usec)/1e3
}

func main() {
	time.Sleep(100 * time.Millisecond)
	c0 := cpuMs()
	time.Sleep(idle)
	idleBase := cpuMs() - c0

	http.HandleFunc("/metrics", metricsHandler)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "debug_scrape:", err)
		os.Exit(1)
	}
	go http.Serve(ln, nil)
	base := "http://" + ln.Addr().String()
	time.Sleep(100 * time.Millisecond)
	c0 = cpuMs()
	time.Sleep(idle)
	idleCPU := cpuMs() - c0

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
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) (time.Duration, int) {
		t := time.Now()
		resp, err := client.Get(base + path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "debug_scrape:", err)
			os.Exit(1)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			fmt.Fprintln(os.Stderr, "debug_scrape: GET", path, "failed")
			os.Exit(1)
		}
		return time.Since(t), len(body)
	}
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	series := func(path string) (best, stall, stallMax float64, size int) {
		get(path) // warm-up
		bestD := time.Duration(1 << 62)
		stalls := make([]int64, reps)
		for r := 0; r < reps; r++ {
			begin()
			d, sz := get(path)
			g := end()
			size = sz
			if d < bestD {
				bestD = d
			}
			begin()
			time.Sleep(d)
			bg := end()
			if g > bg {
				stalls[r] = g - bg
			}
		}
		sort.Slice(stalls, func(i, j int) bool { return stalls[i] < stalls[j] })
		return ms(int64(bestD)), ms(stalls[reps/2]), ms(stalls[reps-1]), size
	}
	mBest, mStall, mMax, mSize := series("/metrics")
	gBest, gStall, gMax, gSize := series("/debug/pprof/goroutine?debug=1")
	atomic.StoreInt32(&stop, 1)
	ydone.Wait()
	close(ch)
	fmt.Printf("metrics_ms %.3f metrics_stall_ms %.3f metrics_stall_max_ms %.3f "+
		"goroutine1_ms %.2f goroutine1_stall_ms %.3f goroutine1_stall_max_ms %.3f "+
		"metrics_bytes %d goroutine1_bytes %d idle_cpu_ms %.1f idle_cpu_base_ms %.1f goroutines %d\n",
		mBest, mStall, mMax, gBest, gStall, gMax, mSize, gSize, idleCPU, idleBase, goroutines)
}
