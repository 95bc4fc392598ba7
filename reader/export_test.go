package reader

import "net/http"

// SetRoundTripper makes c send its http and https requests through
// wrap(its own transport): tests count and delay them.
func SetRoundTripper(c *Client, wrap func(http.RoundTripper) http.RoundTripper) {
	c.t.test = wrap(c.t.tcp)
}
