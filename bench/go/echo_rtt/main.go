// echo_rtt: one TCP connection on loopback, a 64-byte message echoed back
// and forth, 100,000 round trips (after 1,000 to warm up), as
// bench/echo_rtt.c. Server and client are goroutines of one process.
//
// Prints: echo_rtt_ns <ns per round trip> workers <n>
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"time"
)

const (
	n    = 100000
	warm = 1000
	msg  = 64
)

func main() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		l.Close()
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
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out := make([]byte, msg)
	in := make([]byte, msg)
	var t time.Time
	for i := 0; i < warm+n; i++ {
		if i == warm {
			t = time.Now()
		}
		if _, err := c.Write(out); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if _, err := io.ReadFull(c, in); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	d := time.Since(t)
	c.Close()
	fmt.Printf("echo_rtt_ns %.1f workers %d\n", float64(d.Nanoseconds())/n, runtime.GOMAXPROCS(0))
}
