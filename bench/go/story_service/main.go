// story_service: the Go twin of examples/story_service.c - the story as
// services on real sockets: a slow upstream, a front whose handler fetches
// from it with a per-request deadline (leaky or fixed), and a load generator.
//
//	story_service upstream ADDR [MAX_MS]
//	story_service front leaky|fixed ADDR UPSTREAM [TIMEOUT_MS [STATS_MS]]
//	story_service load ADDR RATE CONNS SECONDS
//
// The front prints the same stats lines as the C program (the goroutine
// count as "tasks"), so examples/story_demo.sh's chart reads either. Go has
// no leak detector: "leaks" is always 0, and nothing wakes a stranded
// goroutine.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type Result struct {
	status int
	body   string
}

// One connection per call, closed by the upstream, as in the C program.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func httpGet(ctx context.Context, addr string) (*Result, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &Result{resp.StatusCode, string(b)}, nil
}

type result struct {
	r   *Result
	err error
}

// Leaky: unbuffered channel, no context.
func doRequestLeaky(addr string, ch chan result) {
	r, err := httpGet(context.Background(), addr)
	ch <- result{r, err}
}

// Fixed: the caller's context bounds the call; the buffer takes the result.
func doRequest(ctx context.Context, addr string, ch chan result) {
	r, err := httpGet(ctx, addr)
	ch <- result{r, err}
}

func fetch(ctx context.Context, leaky bool, addr string) (*Result, error) {
	var ch chan result
	if leaky {
		ch = make(chan result)
		go doRequestLeaky(addr, ch)
	} else {
		ch = make(chan result, 1)
		go doRequest(ctx, addr, ch)
	}
	select {
	case res := <-ch:
		return res.r, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func rssKiB() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, res int64
	fmt.Sscanf(string(b), "%d %d", &size, &res)
	return res * int64(os.Getpagesize()) / 1024
}

func serve(ctx context.Context, role, addr string, h http.Handler) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "story_service: %s: %v\n", role, err)
		os.Exit(1)
	}
	fmt.Printf("%s: listening on %s\n", role, l.Addr())
	srv := &http.Server{Handler: h}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "story_service: %v\n", err)
	}
	fmt.Printf("%s: stopped\n", role)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	args := os.Args[1:]
	switch {
	case len(args) >= 2 && args[0] == "upstream":
		maxMs := 40
		if len(args) > 2 {
			maxMs, _ = strconv.Atoi(args[2])
		}
		serve(ctx, "upstream", args[1], http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(time.Duration(rand.Intn(maxMs)) * time.Millisecond):
				w.Header().Set("Connection", "close")
				io.WriteString(w, "item 42\n")
			case <-r.Context().Done():
			}
		}))
	case len(args) >= 4 && args[0] == "front" && (args[1] == "leaky" || args[1] == "fixed"):
		leaky, upstream := args[1] == "leaky", args[3]
		timeoutMs, statsMs := 20, 1000
		if len(args) > 4 {
			timeoutMs, _ = strconv.Atoi(args[4])
		}
		if len(args) > 5 {
			statsMs, _ = strconv.Atoi(args[5])
		}
		var requests, timeouts int64
		t0 := time.Now()
		stats := func() {
			fmt.Printf("stats ms %d tasks %d rss_kib %d requests %d timeouts %d leaks 0\n",
				time.Since(t0).Milliseconds(), runtime.NumGoroutine(), rssKiB(),
				atomic.LoadInt64(&requests), atomic.LoadInt64(&timeouts))
		}
		go func() {
			tick := time.NewTicker(time.Duration(statsMs) * time.Millisecond)
			defer tick.Stop()
			stats()
			for {
				select {
				case <-tick.C:
					stats()
				case <-ctx.Done():
					return
				}
			}
		}()
		serve(ctx, "front "+args[1], args[2], http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			atomic.AddInt64(&requests, 1)
			rctx, cancel := context.WithTimeout(r.Context(), time.Duration(timeoutMs)*time.Millisecond)
			defer cancel()
			res, err := fetch(rctx, leaky, upstream)
			switch {
			case err == nil:
				w.WriteHeader(res.status)
				io.WriteString(w, res.body)
			case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
				atomic.AddInt64(&timeouts, 1)
				w.WriteHeader(http.StatusGatewayTimeout)
				io.WriteString(w, "timeout\n")
			default:
				w.WriteHeader(http.StatusBadGateway)
				io.WriteString(w, "upstream failed\n")
			}
		}))
		stats()
	case len(args) == 5 && args[0] == "load":
		addr := args[1]
		rate, _ := strconv.ParseFloat(args[2], 64)
		conns, _ := strconv.Atoi(args[3])
		secs, _ := strconv.ParseFloat(args[4], 64)
		if rate <= 0 || conns <= 0 || secs <= 0 {
			usage()
		}
		period := time.Duration(float64(conns) / rate * float64(time.Second))
		lctx, cancel := context.WithTimeout(ctx, time.Duration(secs*float64(time.Second)))
		defer cancel()
		var sent, ok, tmo, errs int64
		var wg sync.WaitGroup
		for i := 0; i < conns; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var d net.Dialer
				c, err := d.DialContext(lctx, "tcp", addr)
				if err != nil {
					atomic.AddInt64(&errs, 1)
					return
				}
				defer c.Close()
				go func() { <-lctx.Done(); c.Close() }()
				br := bufio.NewReader(c)
				next := time.Now().Add(time.Duration(rand.Int63n(int64(period) + 1)))
				for {
					select {
					case <-time.After(time.Until(next)):
					case <-lctx.Done():
						return
					}
					next = next.Add(period)
					if now := time.Now(); now.After(next) {
						next = now
					}
					if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: front\r\n\r\n"); err != nil {
						break
					}
					atomic.AddInt64(&sent, 1)
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						if lctx.Err() == nil {
							atomic.AddInt64(&errs, 1)
						}
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch resp.StatusCode {
					case 200:
						atomic.AddInt64(&ok, 1)
					case 504:
						atomic.AddInt64(&tmo, 1)
					default:
						atomic.AddInt64(&errs, 1)
					}
				}
			}()
		}
		wg.Wait()
		fmt.Printf("load: %s sent %d ok %d timeouts %d errors %d\n", addr, sent, ok, tmo, errs)
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: story_service upstream ADDR [MAX_MS]\n"+
		"       story_service front leaky|fixed ADDR UPSTREAM [TIMEOUT_MS [STATS_MS]]\n"+
		"       story_service load ADDR RATE CONNS SECONDS")
	os.Exit(2)
}
