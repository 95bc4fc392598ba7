package source

import (
	"crypto/sha256"
	"encoding/base32"
	"net/url"
	"path"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/samizdat-news/samizdat/bundle"
)

// HashIDPrefix starts every id that DeriveID makes by hashing text it
// cannot transliterate, and HashIDLen is the number of base32 characters
// (5 bits each, so 80 bits of SHA-256) that follow it.
const (
	HashIDPrefix = "a-"
	HashIDLen    = 16
)

// Slug turns a name into an article id: lowercase letters a-z and digits,
// runs of anything else made one '-', at most bundle.MaxIDLen bytes.
// Latin letters lose their accents (é → e, ß → ss); Cyrillic (Russian,
// Ukrainian, Belarusian, Serbian, Macedonian and Kazakh letters) and Greek
// are transliterated. A text in Ukrainian letters (one of і ї є ґ) is
// transliterated by the Ukrainian national system (г → h, Київ → kyiv), any
// other Cyrillic by Russian rules (г → g, переговоры → peregovory). Letters
// of other scripts are dropped: DeriveID hashes such names instead. Slug
// returns "" when nothing is left.
func Slug(name string) string {
	id, _ := slug(name)
	return id
}

// slug is Slug, and also reports whether a letter or digit had to be
// dropped because it has no transliteration.
func slug(name string) (id string, lossy bool) {
	s := strings.ToLower(norm.NFC.String(strings.ToValidUTF8(name, "\uFFFD")))
	ukrainian := strings.ContainsAny(s, "іїєґ")
	var b strings.Builder
	dash, wordStart := false, true
	emit := func(t string) {
		if t == "" {
			return
		}
		if dash && b.Len() > 0 {
			b.WriteByte('-')
		}
		b.WriteString(t)
		dash = false
	}
	rs := []rune(s)
	for i := 0; i < len(rs) && b.Len() < bundle.MaxIDLen; i++ {
		r := rs[i]
		t, ok := translit(r, ukrainian, wordStart)
		if r == 'ο' && i+1 < len(rs) && rs[i+1] == 'υ' { // Greek ου
			t, ok = "ou", true
			i++
		}
		if !ok {
			// Accents and compatibility forms: é → e + ◌́, ﬁ → fi, ２ → 2.
			for _, d := range norm.NFKD.String(string(r)) {
				if dt, dok := translit(unicode.ToLower(d), ukrainian, wordStart); dok {
					t += dt
				} else if unicode.IsLetter(d) || unicode.IsDigit(d) {
					lossy = true
				}
			}
		}
		letter := unicode.IsLetter(r) || unicode.IsDigit(r)
		if t == "" && !letter {
			dash = true
		}
		emit(t)
		wordStart = !letter && !unicode.IsMark(r)
	}
	id = b.String()
	if len(id) > bundle.MaxIDLen {
		id = id[:bundle.MaxIDLen]
	}
	return strings.TrimRight(id, "-"), lossy
}

// translit returns the ASCII for one lowercase rune, and false when it has
// none (a rune that is not a letter or digit gives "", true only for the
// Cyrillic hard and soft signs).
func translit(r rune, ukrainian, wordStart bool) (string, bool) {
	if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
		return string(r), true
	}
	if ukrainian {
		if t, ok := ukrainianLetters[r]; ok {
			if wordStart {
				switch r {
				case 'є':
					return "ye", true
				case 'ї':
					return "yi", true
				case 'й':
					return "y", true
				case 'ю':
					return "yu", true
				case 'я':
					return "ya", true
				}
			}
			return t, true
		}
	}
	t, ok := letters[r]
	return t, ok
}

// letters transliterates Cyrillic (by Russian rules where languages
// differ), Greek (after ELOT 743) and the Latin letters that do not
// decompose into a base letter and accents.
var letters = map[rune]string{
	// Russian.
	'а': "a", 'б': "b", 'в': "v", 'г': "g", 'д': "d", 'е': "e", 'ё': "e", 'ж': "zh",
	'з': "z", 'и': "i", 'й': "y", 'к': "k", 'л': "l", 'м': "m", 'н': "n", 'о': "o",
	'п': "p", 'р': "r", 'с': "s", 'т': "t", 'у': "u", 'ф': "f", 'х': "kh", 'ц': "ts",
	'ч': "ch", 'ш': "sh", 'щ': "shch", 'ъ': "", 'ы': "y", 'ь': "", 'э': "e", 'ю': "yu",
	'я': "ya",
	// Ukrainian and Belarusian letters outside Russian.
	'і': "i", 'ї': "i", 'є': "ie", 'ґ': "g", 'ў': "u",
	// Serbian and Macedonian.
	'ђ': "dj", 'ј': "j", 'љ': "lj", 'њ': "nj", 'ћ': "c", 'џ': "dz", 'ѓ': "gj", 'ќ': "kj", 'ѕ': "dz",
	// Kazakh and other Cyrillic alphabets of Central Asia.
	'ә': "a", 'ғ': "g", 'қ': "q", 'ң': "n", 'ө': "o", 'ұ': "u", 'ү': "u", 'һ': "h",
	// Greek.
	'α': "a", 'β': "v", 'γ': "g", 'δ': "d", 'ε': "e", 'ζ': "z", 'η': "i", 'θ': "th",
	'ι': "i", 'κ': "k", 'λ': "l", 'μ': "m", 'ν': "n", 'ξ': "x", 'ο': "o", 'π': "p",
	'ρ': "r", 'σ': "s", 'ς': "s", 'τ': "t", 'υ': "y", 'φ': "f", 'χ': "ch", 'ψ': "ps",
	'ω': "o",
	// Latin letters without a decomposition.
	'ß': "ss", 'æ': "ae", 'œ': "oe", 'ø': "o", 'đ': "d", 'ð': "d", 'þ': "th", 'ł': "l",
	'ı': "i", 'ħ': "h", 'ŋ': "ng", 'ĸ': "q", 'ſ': "s",
}

// ukrainianLetters are the letters that the Ukrainian national system
// (2010) writes otherwise than Russian rules do, in the middle of a word;
// translit handles the forms at the start of a word.
var ukrainianLetters = map[rune]string{
	'г': "h", 'ґ': "g", 'и': "y", 'і': "i", 'ї': "i", 'й': "i", 'є': "ie", 'ю': "iu",
	'я': "ia", 'х': "kh", 'щ': "shch",
}

// HashID returns the id that stands for text with no usable
// transliteration: HashIDPrefix and the first HashIDLen characters of the
// lowercase base32 of the SHA-256 of text, after NFC normalization,
// lowercasing and collapsing white space (so the same title always gives
// the same id).
func HashID(text string) string {
	t := strings.Join(strings.Fields(strings.ToLower(norm.NFC.String(strings.ToValidUTF8(text, "\uFFFD")))), " ")
	sum := sha256.Sum256([]byte(t))
	return HashIDPrefix + strings.ToLower(base32.StdEncoding.EncodeToString(sum[:]))[:HashIDLen]
}

// IDSources are the places an article id can come from, in order of
// precedence after an id the publisher gives explicitly (--id).
type IDSources struct {
	FrontMatter  string // the id or slug field of Markdown front matter
	GUID         string // a feed item's guid or id; a URL's scheme is dropped
	CanonicalURL string // its last path segment, as described at DeriveID
	FileName     string // without its folder; the extension is dropped
	Title        string // the last resort, for a feed item with nothing else
}

// webExtensions are the file extensions dropped from the last segment of a
// canonical URL.
var webExtensions = map[string]bool{".html": true, ".htm": true, ".shtml": true, ".php": true, ".asp": true, ".aspx": true, ".jsp": true, ".cms": true}

// DeriveID returns the id made from the first of s that has a letter or
// digit. Each is made an id by Slug; a text with a letter or digit that
// Slug cannot transliterate (Chinese, Japanese, Korean, Persian, Arabic,
// Hebrew...), or of which Slug keeps nothing, gives HashID of the text
// instead, so that two such titles do not share an id. From the canonical
// URL it takes the last path segment without a web extension (.html, .php
// ...), the folder's name for an index or default page, and the query if
// there is one (article.php?id=7 gives article-id-7). DeriveID returns ""
// only when no source has a letter or digit.
func DeriveID(s IDSources) string {
	guid := s.GUID
	if u, err := url.Parse(guid); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		if rest := strings.TrimPrefix(guid[len(u.Scheme):], "://"); idFrom(rest) != "" {
			guid = rest
		}
	}
	file := strings.TrimSuffix(s.FileName, path.Ext(s.FileName))
	for _, c := range []string{s.FrontMatter, guid, urlName(s.CanonicalURL), file, s.Title} {
		if id := idFrom(c); id != "" {
			return id
		}
	}
	return ""
}

// urlName returns the part of a canonical URL that names the article.
func urlName(canonical string) string {
	u, err := url.Parse(canonical)
	if err != nil || canonical == "" {
		return ""
	}
	dir, name := path.Split(strings.TrimSuffix(u.Path, "/"))
	if ext := path.Ext(name); webExtensions[strings.ToLower(ext)] {
		name = strings.TrimSuffix(name, ext)
	}
	if n := strings.ToLower(name); n == "index" || n == "default" {
		name = path.Base(dir)
	}
	if u.RawQuery != "" {
		name += " " + u.RawQuery
	}
	return name
}

// idFrom makes an id of one text: its slug, or its hash when the slug
// would drop a letter or digit, or "" when it has none.
func idFrom(text string) string {
	id, lossy := slug(text)
	if lossy || id == "" && strings.IndexFunc(text, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0 {
		return HashID(text)
	}
	return id
}
