// http_hello: the Go side of make bench's http_hello row, the twin of
// examples/http_hello.c: net/http answering "Hello, world\n" on every path,
// keep-alive, until SIGINT/SIGTERM, then a graceful Shutdown.
//
//	http_hello [ADDR]   (default 127.0.0.1:8080)
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := "127.0.0.1:8080"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "http_hello:", err)
		os.Exit(1)
	}
	fmt.Printf("http_hello: listening on %s\n", l.Addr())
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write([]byte("Hello, world\n"))
		}),
		IdleTimeout: 30 * time.Second,
	}
	go srv.Serve(l)
	<-ctx.Done()
	fmt.Println("http_hello: shutting down")
	drain, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(drain)
	fmt.Println("http_hello: done")
}
