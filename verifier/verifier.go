// Package verifier is the self-contained browser verifier page.
//
// Page returns one HTML file, with its JavaScript inline and no external
// resources, that a reader can open from disk or get from a mirror. Its
// script (verifier.js) checks in the browser what the samizdat CLI checks,
// following FORMAT.md: public keys, signed notes, the key statement
// against a pinned root key, checkpoints (with or without the article
// index line), RFC 6962 leaf hashes and inclusion and consistency proofs,
// entry tiles and leaves, article index proofs, and bundles (the
// signature over the manifest, then every entry's SHA-256). It uses the
// browser's WebCrypto for Ed25519 and SHA-256 and, where crypto.subtle is
// missing (a page that is not a secure context, or an old browser), its
// own pure-JavaScript Ed25519 (cofactorless, with the verdicts of Go's
// crypto/ed25519), SHA-256 and SHA-512, and says which it used. Every
// public key passes the page's keys.CheckPoint first, so samizdat's
// verdict is Go's on either path (Firefox's WebCrypto refuses
// non-canonically encoded keys that Go takes; the key check refuses them
// first). It needs
// no zstd decoder: the manifest is not compressed, stored entries are
// checked against their stored SHA-256, and decompressed entries come from
// a mirror's entry route, which the browser decompresses itself.
//
// The page's Content-Security-Policy, in a meta element, allows exactly
// its own script and style (by SHA-256), connections to any origin (for
// mirrors) and data: images (the verified article's), and nothing else.
//
// This is the core of the verifier: the fetching and reading interface
// (issue 11) comes on top of the samizdat object the script defines.
package verifier

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// MaxSize bounds the page, vendored and inline code included: a phone on
// a slow network must be able to fetch it and a messenger to carry it.
const MaxSize = 64 << 10

//go:embed page.html
var pageTemplate string

//go:embed verifier.js
var core string

//go:embed ui.js
var ui string

//go:embed style.css
var style string

//go:embed frame.css
var frameStyle string

// script is the page's one inline script: the core, then the page, without
// their whole-line comments (the source files keep them; no line of the
// scripts' strings or template literals starts with //).
var script = stripComments(core + "\n" + strings.Replace(ui, "'{{FRAME_CSS}}'", jsString(frameStyle), 1))

// stripComments drops the lines that hold only a // comment.
func stripComments(js string) string {
	var b strings.Builder
	for line := range strings.Lines(js) {
		if !strings.HasPrefix(strings.TrimSpace(line), "//") {
			b.WriteString(line)
		}
	}
	return b.String()
}

var page, csp = mustBuild()

// Page returns the verifier page. It is the same bytes on every call and
// for every build of the same source, so that its SHA-256 (SHA256) can be
// published and checked.
func Page() []byte { return bytes.Clone(page) }

// SHA256 returns the lowercase hex SHA-256 of the page.
func SHA256() string {
	sum := sha256.Sum256(page)
	return hex.EncodeToString(sum[:])
}

// CSP returns the page's Content-Security-Policy, as its meta element
// states it. A server that sends the page should send this policy, or
// none: any other is added to it and may stop the page's script.
func CSP() string { return csp }

// Script returns the page's JavaScript, as inlined in it.
func Script() string { return script }

// build puts the script and style into the page template, with a CSP that
// allows exactly them.
func build() ([]byte, string, error) {
	if strings.Contains(strings.ToLower(script), "</script") || strings.Contains(strings.ToLower(style+frameStyle), "</style") {
		return nil, "", fmt.Errorf("verifier: the script or a style holds its own end tag")
	}
	if strings.Contains(script, "{{FRAME_CSS}}") {
		return nil, "", fmt.Errorf("verifier: the article style was not put into the script")
	}
	hash := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	// The article's iframe (srcdoc) inherits this policy, so its style is
	// allowed here too.
	csp := "default-src 'none'; script-src " + hash(script) + "; style-src " + hash(style) + " " + hash(frameStyle) +
		"; connect-src *; img-src data:; base-uri 'none'; form-action 'none'"
	p := strings.NewReplacer("{{CSP}}", csp, "{{STYLE}}", style, "{{SCRIPT}}", script).Replace(pageTemplate)
	if len(p) > MaxSize {
		return nil, "", fmt.Errorf("verifier: page is %d bytes, more than %d", len(p), MaxSize)
	}
	return []byte(p), csp, nil
}

// jsString returns s as a JavaScript string literal.
func jsString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func mustBuild() ([]byte, string) {
	p, csp, err := build()
	if err != nil {
		panic(err) // the embedded source is broken: TestPage fails first
	}
	return p, csp
}
