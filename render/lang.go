package render

import (
	"strings"
	"time"
)

// autonyms are the names of common languages in themselves, for the
// language labels and filters of lists. A language not listed is shown by
// its tag.
var autonyms = map[string]string{
	"am": "አማርኛ", "ar": "العربية", "az": "Azərbaycan", "be": "Беларуская", "bg": "Български",
	"bn": "বাংলা", "bo": "བོད་ཡིག", "ckb": "کوردی", "cs": "Čeština", "de": "Deutsch",
	"el": "Ελληνικά", "en": "English", "es": "Español", "fa": "فارسی", "fr": "Français",
	"he": "עברית", "hi": "हिन्दी", "hy": "Հայերեն", "id": "Bahasa Indonesia", "it": "Italiano",
	"ja": "日本語", "ka": "ქართული", "kk": "Қазақ", "ko": "한국어", "ky": "Кыргызча",
	"my": "မြန်မာ", "pl": "Polski", "ps": "پښتو", "pt": "Português", "ro": "Română",
	"ru": "Русский", "sr": "Српски", "sw": "Kiswahili", "tg": "Тоҷикӣ", "th": "ไทย",
	"tk": "Türkmen", "tr": "Türkçe", "ug": "ئۇيغۇرچە", "uk": "Українська", "ur": "اردو",
	"uz": "Oʻzbek", "vi": "Tiếng Việt", "zh": "中文",
}

// Primary returns the primary language subtag of a tag, in lower case,
// or "" if the tag is not one LangAttr accepts: "fa" for "fa-IR".
func Primary(lang string) string {
	if LangAttr(lang) == "" {
		return ""
	}
	p, _, _ := strings.Cut(strings.ToLower(lang), "-")
	return p
}

// LanguageName returns the name of a language tag's language in that
// language ("فارسی" for "fa-IR"), or the tag itself if it is not one of
// the common languages known here, or "" if it is not a valid tag.
func LanguageName(lang string) string {
	p := Primary(lang)
	if n, ok := autonyms[p]; ok {
		return n
	}
	return LangAttr(lang)
}

// arabicScript are the primary language subtags written in Arabic script,
// whose lists are separated by the Arabic comma.
var arabicScript = map[string]bool{"ar": true, "fa": true, "ur": true, "ps": true, "ckb": true, "ug": true, "sd": true}

// Comma returns the separator of a list of names in text of the given
// language: "، " for languages written in Arabic script, else ", ".
func Comma(lang string) string {
	if arabicScript[Primary(lang)] && Direction(lang) == "rtl" {
		return "، "
	}
	return ", "
}

// Funcs are the template functions of every page that lists or shows
// articles (the mirror's and the local reader's): times and dates in UTC,
// and an article's language as a lang and dir attribute, a name and a
// separator between names. Each call returns a new map a page may add to.
func Funcs() map[string]any {
	return map[string]any{
		"time":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"date":     func(t time.Time) string { return t.UTC().Format("2006-01-02") },
		"dir":      Direction,
		"lang":     LangAttr,
		"langname": LanguageName,
		"comma":    Comma,
	}
}
