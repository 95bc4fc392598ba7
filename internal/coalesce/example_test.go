package coalesce_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/samizdat-news/samizdat/internal/coalesce"
)

// A server whose 12 KB page leaves in one writev instead of two writes.
func ExampleNewListener() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	page := strings.Repeat("x", 12<<10)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, page)
	})}
	go srv.Serve(coalesce.NewListener(ln, nil)) // wrap the TCP listener first
	defer srv.Close()

	resp, err := http.Get("http://" + ln.Addr().String())
	if err != nil {
		panic(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(len(b))
	// Output: 12288
}
