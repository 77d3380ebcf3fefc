package ratelimit_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"

	"github.com/helix-agents/helix-go/server/ratelimit"
)

func Example() {
	perIP := ratelimit.New(ratelimit.Options{Rate: 1, Burst: 2})
	defer perIP.Close()
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}

	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, retry := perIP.Allow(r.Context(), ratelimit.ClientIP(r, proxies)); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds())))
			http.Error(w, `{"error":"Too many requests"}`, http.StatusTooManyRequests)
			return
		}
		fmt.Fprintln(w, "ok")
	})

	for range 3 {
		r := httptest.NewRequest("GET", "/status", nil)
		r.RemoteAddr = "10.0.0.2:443"                           // the load balancer
		r.Header.Set("X-Forwarded-For", "1.2.3.4, 203.0.113.7") // 1.2.3.4 is forged
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Printf("%d Retry-After=%q\n", w.Code, w.Header().Get("Retry-After"))
	}
	// Output:
	// 200 Retry-After=""
	// 200 Retry-After=""
	// 429 Retry-After="1"
}
