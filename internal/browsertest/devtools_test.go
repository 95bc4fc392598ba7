//go:build linux

package browsertest

import (
	"bytes"
	"image/png"
	"net/http"
	"strings"
	"testing"
)

// TestDevTools drives one Chromium over the DevTools pipe: a page loads
// at the phone's size, script is evaluated, a screenshot is taken, and
// axe-core finds the violation planted in a page with script forbidden
// by its policy.
func TestDevTools(t *testing.T) {
	b := StartBrowser(t)
	srv, _ := NewLoggedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		w.Write([]byte(`<!doctype html><html><head><meta name="viewport" content="width=device-width, initial-scale=1"><title>t</title></head><body><main><h1>Hello</h1><img src="x.png"></main></body></html>`))
	}))
	p := b.Open(t, srv.URL+"/", Phone)
	var w int
	if err := p.Eval("window.innerWidth", &w); err != nil || w != Phone.Width {
		t.Errorf("innerWidth = %d, %v; want %d", w, err, Phone.Width)
	}
	shot := p.Screenshot(t, false)
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	if bd := img.Bounds(); bd.Dx() != Phone.Width || bd.Dy() != Phone.Height {
		t.Errorf("screenshot %v, want %dx%d", bd, Phone.Width, Phone.Height)
	}
	AxeAvailable(t)
	vs := p.Axe(t)
	var ids []string
	for _, v := range Serious(vs) {
		ids = append(ids, v.ID)
	}
	if !strings.Contains(strings.Join(ids, " "), "image-alt") {
		t.Errorf("axe did not find the image without alt text; serious violations: %q", ids)
	}
}
