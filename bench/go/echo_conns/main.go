// echo_conns: 1,000 TCP connections on loopback, each a client goroutine
// doing 64-byte ping-pong with its own server goroutine, 200 round trips
// each, as bench/echo_conns.c. Server and clients are goroutines of one
// process.
//
// Prints: echo_conns_msgs_per_s <round trips per second> workers <n>
// cpu_us_per_msg <process CPU time (user + system) a round trip, us>
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
)

const (
	conns  = 1000
	rounds = 200
	msg    = 64
)

func die(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

// cpuSeconds: the process's CPU time so far, user and system.
func cpuSeconds() float64 {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		die(err)
	}
	return float64(u.Utime.Sec+u.Stime.Sec) + float64(u.Utime.Usec+u.Stime.Usec)/1e6
}

func main() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		die(err)
	}
	go func() {
		for i := 0; i < conns; i++ {
			c, err := l.Accept()
			if err != nil {
				die(err)
			}
			go func() {
				defer c.Close()
				buf := make([]byte, msg)
				for {
					if _, err := io.ReadFull(c, buf); err != nil {
						return
					}
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
		l.Close()
	}()
	addr := l.Addr().String()
	var wg sync.WaitGroup
	t := time.Now()
	c := cpuSeconds()
	wg.Add(conns)
	for i := 0; i < conns; i++ {
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				die(err)
			}
			defer c.Close()
			out := make([]byte, msg)
			in := make([]byte, msg)
			for j := 0; j < rounds; j++ {
				if _, err := c.Write(out); err != nil {
					die(err)
				}
				if _, err := io.ReadFull(c, in); err != nil {
					die(err)
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(t)
	cpu := (cpuSeconds() - c) * 1e6 / float64(conns*rounds)
	fmt.Printf("echo_conns_msgs_per_s %.0f workers %d cpu_us_per_msg %.2f\n", float64(conns*rounds)/d.Seconds(), runtime.GOMAXPROCS(0), cpu)
}
