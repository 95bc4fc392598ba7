package verifier

import (
	"strings"
	"testing"
)

// TestMinify checks the build's minifier: comments, blank lines and
// indentation go, line breaks after ; { and , go, other line breaks stay;
// a string, template literal or regular expression that spans lines
// fails the build, and what only looks like a comment or a literal inside
// one is kept.
func TestMinify(t *testing.T) {
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{"indentation and comments", "// head\nconst a = 1; // one\n  if (a) {\n    f(a)\n  }\n\n", "const a=1;if(a){f(a)\n}\n", ""},
		{"a break after ; { , only", "f(a,\n b)\nx = y\n+z\n", "f(a,b)\nx=y\n+z\n", ""},
		{"// in a string", "s = 'http://x/'; // c\n", "s='http://x/';", ""},
		{"// in a regular expression", "u.replace(/^\\.\\//, '')\n", "u.replace(/^\\.\\//,'')\n", ""},
		{"a quote in a regular expression class", "s.replace(/[&<>\"']/g, e)\n  g()\n", "s.replace(/[&<>\"']/g,e)\ng()\n", ""},
		{"division", "x = a / b / c\n  // c\n", "x=a / b / c\n", ""},
		{"a regular expression after return", "return /a'b/.test(s)\n", "return /a'b/.test(s)\n", ""},
		{"template with a substitution", "t = `a${ {b: 'c'}.b }d // e`\n  f()\n", "t=`a${{b:'c'}.b}d // e`\nf()\n", ""},
		{"nested templates", "t = `a${`b${c}`}`\n", "t=`a${`b${c}`}`\n", ""},
		{"a block comment", "/* a\n   // b */ f()\n", "/* a\n   // b */ f()\n", ""},
		{"spaces kept where tokens would join", "x = a + +b - -c; y = a++ + b\nif (a < !b || c-- > d) return 1 .toString()\n", "x=a+ +b- -c;y=a++ +b\nif(a< !b||c-- >d)return 1 .toString()\n", ""},
		{"spaces kept beside a slash", "x = /a/ in o ? a / /b/.exec(s) : 0\n", "x= /a/ in o?a / /b/.exec(s):0\n", ""},
		{"spaces in strings and templates kept", "s = 'a  b' + `c  ${ d + 1 }  e`\n", "s='a  b'+`c  ${d+1}  e`\n", ""},
		{"a regular expression after an if's head", "if (f(a)) /a  ,b/.test(s) && g()\n", "if(f(a)) /a  ,b/.test(s)&&g()\n", ""},
		{"a regular expression with // after a while's head", "while (x) /[//]/.exec(s)\n", "while(x) /[//]/.exec(s)\n", ""},
		{"division after a call and a property named in", "y = f(a) / 2 + o.in / 3\n", "y=f(a) / 2+o.in / 3\n", ""},
		{"a / after a }", "}\n/a ,b/.test(s)\n", "", "after a }"},
		{"a template literal across lines", "t = `a\n  b`\n", "", "spans lines"},
		{"a template's text across lines after a substitution", "t = `a${b}\n  c`\n", "", "spans lines"},
		{"a string continued on the next line", "s = 'a\\\n  b'\n", "", "spans lines"},
		{"an unclosed string", "s = 'a\n", "", "ends inside"},
		{"a regular expression across lines", "x = (/a\n/)\n", "", "spans lines"},
		{"an unterminated comment", "/* a\n", "", "ends inside"},
	} {
		got, err := minify("test.js", tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: %q, %v; want an error with %q", tc.name, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := minify("verifier.js", core); err != nil {
		t.Error(err)
	}
}

// FuzzMinify: the minifier never panics and never makes its input
// longer.
func FuzzMinify(f *testing.F) {
	f.Add(core[:2000])
	f.Add(ui[:2000])
	f.Add("t = `a${`b${c}`}`\n  /re'/.x\n")
	f.Fuzz(func(t *testing.T, js string) {
		out, err := minify("fuzz.js", js)
		if err != nil {
			return
		}
		if len(out) > len(js) {
			t.Errorf("minified to %d bytes from %d", len(out), len(js))
		}
	})
}
