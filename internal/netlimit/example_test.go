package netlimit_test

import (
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/samizdat-news/samizdat/internal/netlimit"
)

// A server whose clients may each hold at most 2 connections, and 1,000
// in all; net/http's ConnState hook tells the Limiter which connections
// are idle, so that a new client can take an idle one's slot.
func ExampleLimiter_Listener() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	lim := netlimit.New(&netlimit.Config{MaxConns: 1000, MaxConnsPerAddr: 2})
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }),
		ConnState: func(c net.Conn, s http.ConnState) {
			netlimit.SetIdle(c, s == http.StateIdle)
		},
	}
	go srv.Serve(lim.Listener(ln))
	defer srv.Close()

	resp, err := http.Get("http://" + ln.Addr().String())
	if err != nil {
		panic(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(b), lim.Stats().Accepted)
	// Output: hello 1
}
