// group_fanout: spawn 1,000 goroutines into an errgroup and wait, round
// after round (bench/group_fanout.c is the roost side); the best of 5
// batches of 200 rounds.
//
// golang.org/x/sync is not available here (the benchmarks build offline),
// so the group below is what errgroup.Group does, minus TryGo and SetLimit,
// which this workload does not use: a sync.WaitGroup, a sync.Once for the
// first error, and the context.WithCancel of errgroup.WithContext (Go 1.19
// has no WithCancelCause; errgroup uses it from Go 1.20 on).
package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

type group struct {
	cancel  func()
	wg      sync.WaitGroup
	errOnce sync.Once
	err     error
}

func withContext(ctx context.Context) (*group, context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	return &group{cancel: cancel}, ctx
}

func (g *group) Wait() error {
	g.wg.Wait()
	if g.cancel != nil {
		g.cancel()
	}
	return g.err
}

func (g *group) Go(f func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(); err != nil {
			g.errOnce.Do(func() {
				g.err = err
				if g.cancel != nil {
					g.cancel()
				}
			})
		}
	}()
}

const (
	tasks  = 1000
	warmup = 50
	batches = 5
	rounds  = 200
)

var ran int64

func round() {
	g, _ := withContext(context.Background())
	for i := 0; i < tasks; i++ {
		g.Go(func() error { atomic.AddInt64(&ran, 1); return nil })
	}
	if err := g.Wait(); err != nil {
		panic(err)
	}
}

func main() {
	for r := 0; r < warmup; r++ {
		round()
	}
	best := time.Duration(1<<63 - 1)
	for b := 0; b < batches; b++ {
		t := time.Now()
		for r := 0; r < rounds; r++ {
			round()
		}
		if d := time.Since(t); d < best {
			best = d
		}
	}
	if ran != tasks*(warmup+batches*rounds) {
		panic("lost tasks")
	}
	fmt.Printf("group_fanout_us %.1f\n", float64(best.Nanoseconds())/rounds/1e3)
}
