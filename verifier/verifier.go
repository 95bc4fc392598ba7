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
// first).
//
// Entries come from the bundle itself, so the page reads a dynamic mirror
// and a static export (mirror/static) alike: after the signature over the
// manifest and the stored entries' SHA-256, a zstd entry's frame headers
// are checked (no dictionary, a window of at most an entry's limit, and
// at most the decoder's work that Go's encoder's output of the signed
// size takes, since fzstd copies its whole window once per block), it is
// decompressed by fzstd 0.1.1 (MIT, vendored unchanged in fzstd/fzstd.js
// under its licence, its SHA-256 checked by the tests) into a buffer of
// exactly the size the manifest signs, refusing a byte more, and its
// SHA-256 is checked. Bundles whose manifest names a zstd dictionary are
// refused: the page has none.
//
// The page refuses to run inside a frame: a static host sends no
// frame-ancestors header, and a page that frames it could hide or
// overlay what it says.
//
// The page's Content-Security-Policy, in a meta element, allows exactly
// its own script and style (by SHA-256), connections to any origin (for
// mirrors) and data: images (the verified article's), and nothing else.
//
// The script is the core (verifier.js), fzstd, then the reading interface
// (ui.js) on top of the samizdat object the core defines; the build
// minifies the core and the interface (minify) and fails if that could
// change them. The page is the same bytes for every build of the same
// source.
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

//go:embed fzstd/fzstd.js
var fzstd string

// fzstdSHA256 is the SHA-256 of fzstd 0.1.1's umd/index.js as npm ships
// it (MIT licence; package-lock.json in fzstd/ pins the package), which
// the page carries unchanged after its licence header (fzstd/fzstd.js).
const fzstdSHA256 = "fbea1c25c4413b620ca3f59e6037d9f6c675c5c7f690e4d660143188f686461d"

// script is the page's one inline script: the core, the vendored zstd
// decoder (after the core, whose 'use strict' must stay the script's first
// statement) and the page, the core and the page minified (minify).
var script, scriptErr = buildScript()

func buildScript() (string, error) {
	c, err := minify("verifier.js", core)
	if err != nil {
		return "", err
	}
	u, err := minify("ui.js", strings.Replace(ui, "'{{FRAME_CSS}}'", jsString(frameStyle), 1))
	if err != nil {
		return "", err
	}
	return c + fzstd + ";\n" + u, nil // fzstd ends without a semicolon
}

// minify drops from JavaScript source its // comments, blank lines,
// each line's leading indentation, the spaces between tokens that do not
// need one (dropSpaces), and the line breaks after a ; { or , (after
// which automatic semicolon insertion never inserts one), and keeps every
// other line break (where it might). It reads the source
// with a small lexer (strings, template literals with their ${}
// substitutions, regular expressions, comments) and fails if a string,
// template literal or regular expression spans lines: stripping a line
// inside one would change its value. A / after a ) starts a regular
// expression where the ) ends the head of an if, while, for or with, and
// divides elsewhere; a / after a } fails the build, since a block's } and
// an object literal's look alike (taking a regular expression for a
// division would drop its spaces, and a // inside it would cut the line).
// Block comments are kept as they are.
func minify(name, js string) (string, error) {
	const (
		code = iota
		quoted
		template
		regex
		class // a regular expression's [character class]
		comment
	)
	var (
		b       strings.Builder
		st      = code
		quote   byte
		subst   []int // brace depth at each open ${ of template literals
		depth   int
		operand bool // the last token ends an operand: a / after it divides
		word    string
		parens  []bool // at each open (, whether it heads an if, while, for or with
		brace   bool   // the last token is a } that closes a block or a literal
	)
	n := 0
	for line := range strings.Lines(js) {
		n++
		if st != code && st != comment {
			return "", fmt.Errorf("verifier: %s:%d: a string, template literal or regular expression spans lines, which the build would change", name, n)
		}
		if st == code {
			line = strings.TrimLeft(line, " \t")
		}
		end := len(line) // where a // comment starts
		var spaces []int // the spaces and tabs between tokens of code
	scan:
		for i := 0; i < len(line); i++ {
			c := line[i]
			switch st {
			case comment:
				if c == '*' && i+1 < len(line) && line[i+1] == '/' {
					st, i = code, i+1
				}
			case quoted, template, regex, class:
				switch {
				case c == '\\':
					i++
				case st == quoted && c == quote, st == template && c == '`', st == regex && c == '/':
					st, operand = code, true
				case st == template && c == '$' && i+1 < len(line) && line[i+1] == '{':
					subst, st, i, operand = append(subst, depth), code, i+1, false
				case st == regex && c == '[':
					st = class
				case st == class && c == ']':
					st = regex
				}
			default:
				w, br := word, brace
				if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
					word, brace = "", false
				}
				switch {
				case c == '/' && i+1 < len(line) && line[i+1] == '/':
					end = i
					break scan
				case c == '/' && i+1 < len(line) && line[i+1] == '*':
					st, i = comment, i+1
				case c == '/' && br:
					return "", fmt.Errorf("verifier: %s:%d: a / after a }, which may divide or start a regular expression: the build cannot tell", name, n)
				case c == '/' && !operand:
					st = regex
				case c == '\'' || c == '"':
					st, quote = quoted, c
				case c == '`':
					st = template
				case c == '{':
					depth++
					operand = false
				case c == '}' && len(subst) > 0 && subst[len(subst)-1] == depth:
					subst, st = subst[:len(subst)-1], template
				case c == '}':
					depth--
					operand, brace = true, true
				case c == '(':
					parens = append(parens, w == "if" || w == "while" || w == "for" || w == "with")
					operand = false
				case c == ')' && len(parens) > 0:
					// After the head of an if, while, for or with, a / starts
					// a regular expression.
					operand = !parens[len(parens)-1]
					parens = parens[:len(parens)-1]
				case c == ')' || c == ']':
					operand = true
				case isWord(c):
					j := i
					for j < len(line) && isWord(line[j]) {
						j++
					}
					word = line[i:j]
					operand = !exprKeywords[word] || i > 0 && line[i-1] == '.' // a property named in
					i = j - 1
				case c == ' ' || c == '\t':
					spaces = append(spaces, i)
				case c != '\n' && c != '\r':
					operand = false
				}
			}
		}
		if end < len(line) {
			line = strings.TrimRight(line[:end], " \t") + "\n"
			for len(spaces) > 0 && spaces[len(spaces)-1] >= len(line)-1 {
				spaces = spaces[:len(spaces)-1]
			}
		}
		line = dropSpaces(line, spaces, lastByte(&b))
		if st == code && len(line) > 1 && strings.ContainsRune(";{,", rune(line[len(line)-2])) && line[len(line)-1] == '\n' {
			line = line[:len(line)-1] // no semicolon is inserted after these
		}
		if strings.TrimSpace(line) != "" || st == comment {
			b.WriteString(line)
		}
	}
	if st != code {
		return "", fmt.Errorf("verifier: %s: ends inside a string, template literal, regular expression or comment", name)
	}
	return b.String(), nil
}

// dropSpaces returns line without the runs of spaces (at the indexes
// spaces, in order) that separate nothing: it keeps one where the tokens
// either side would join into another (two words or numbers, + +, - -,
// < ! and - > which make HTML-like comments, anything beside a / which
// may end a regular expression or start a comment, a number before a .).
// prev is the byte before the line.
func dropSpaces(line string, spaces []int, prev byte) string {
	if len(spaces) == 0 {
		return line
	}
	out := make([]byte, 0, len(line))
	last := 0 // line[last:] is not yet in out
	for k := 0; k < len(spaces); {
		start := spaces[k]
		stop := start + 1
		for k++; k < len(spaces) && spaces[k] == stop; k++ {
			stop++
		}
		out = append(out, line[last:start]...)
		last = stop
		before := prev
		if len(out) > 0 {
			before = out[len(out)-1]
		}
		after := byte('\n')
		if stop < len(line) {
			after = line[stop]
		}
		if joins(before, after) {
			out = append(out, ' ')
		}
	}
	return string(append(out, line[last:]...))
}

// joins reports whether two tokens, one ending in a and the next starting
// with b, would read as other tokens without a space between them.
func joins(a, b byte) bool {
	switch {
	case isWord(a) && (isWord(b) || b == '.'):
		return true
	case a == '/' || b == '/':
		return true
	case a == b && (a == '+' || a == '-'):
		return true
	case a == '<' && b == '!', a == '-' && b == '>':
		return true
	}
	return false
}

// lastByte returns the last byte written to b, or a newline.
func lastByte(b *strings.Builder) byte {
	if s := b.String(); s != "" {
		return s[len(s)-1]
	}
	return '\n'
}

func isWord(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// exprKeywords are the keywords after which a / starts a regular
// expression, not a division.
var exprKeywords = map[string]bool{"return": true, "typeof": true, "instanceof": true, "in": true, "of": true, "new": true,
	"delete": true, "void": true, "throw": true, "case": true, "do": true, "else": true, "yield": true, "await": true}

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
	if scriptErr != nil {
		return nil, "", scriptErr
	}
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
