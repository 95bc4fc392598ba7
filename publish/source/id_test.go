package source_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/publish/source"
)

func TestSlug(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"story", "story"},
		{"My Story", "my-story"},
		{"  Hello,  World!  ", "hello-world"},
		{"2024-03-01_report.v2", "2024-03-01-report-v2"},
		{"---", ""},
		{"", ""},
		{"UPPER", "upper"},
		{strings.Repeat("ab ", 100), strings.Repeat("ab-", 42) + "ab"},
		{strings.Repeat("щ", 100), strings.Repeat("shch", 32)},
		// Latin letters lose their accents.
		{"Café au lait", "cafe-au-lait"},
		{"Straße Łódź Ærø", "strasse-lodz-aero"},
		{"ﬁnal №５", "final-no5"},
		// Russian.
		{"переговоры", "peregovory"},
		{"Переговоры в Женеве", "peregovory-v-zheneve"},
		{"Новости", "novosti"},
		{"Щёлково, объём, съезд", "shchelkovo-obem-sezd"},
		{"Хрущёв и Чайковский", "khrushchev-i-chaykovskiy"},
		// Ukrainian, by the national system.
		{"Київ", "kyiv"},
		{"Україна", "ukraina"},
		{"Запоріжжя", "zaporizhzhia"},
		{"Ялта Євген Їжакевич Юрій", "yalta-yevhen-yizhakevych-yurii"},
		// Belarusian, Serbian.
		{"Беларусь", "belarus"},
		{"Ўладзімір", "uladzimir"},
		{"Ђорђе Љубљана", "djordje-ljubljana"},
		// Greek.
		{"Αθήνα", "athina"},
		{"Ευρώπη", "eyropi"},
		{"Μουσείο", "mouseio"},
		{"ΨΥΧΗ", "psychi"},
		// Other scripts are dropped by Slug; DeriveID hashes them.
		{"北京 2024", "2024"},
		{"خبر", ""},
	} {
		got := source.Slug(tt.in)
		if got != tt.want {
			t.Errorf("Slug(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got != "" {
			if err := bundle.CheckID(got); err != nil {
				t.Errorf("Slug(%q) = %q is not an article id: %v", tt.in, got, err)
			}
		}
	}
}

func TestDeriveID(t *testing.T) {
	hashOf := source.HashID
	for _, tt := range []struct {
		name string
		in   source.IDSources
		want string
	}{
		{"file name", source.IDSources{FileName: "story.html"}, "story"},
		{"Cyrillic file name", source.IDSources{FileName: "переговоры.md"}, "peregovory"},
		{"front matter first", source.IDSources{FrontMatter: "Geneva Talks", GUID: "g", CanonicalURL: "https://x.example/a/b", FileName: "f.md"}, "geneva-talks"},
		{"front matter transliterated", source.IDSources{FrontMatter: "Переговоры в Женеве", FileName: "f.md"}, "peregovory-v-zheneve"},
		{"guid before canonical URL", source.IDSources{GUID: "urn:uuid:1B2C-3d4e", CanonicalURL: "https://x.example/a/b", FileName: "f.md"}, "urn-uuid-1b2c-3d4e"},
		{"guid URL loses its scheme", source.IDSources{GUID: "https://www.example.org/?p=123"}, "www-example-org-p-123"},
		{"canonical URL before file name", source.IDSources{CanonicalURL: "https://x.example/news/2024/geneva-talks/", FileName: "source.html"}, "geneva-talks"},
		{"canonical URL web extension", source.IDSources{CanonicalURL: "https://x.example/news/story-17.shtml", FileName: "f.html"}, "story-17"},
		{"canonical URL index page", source.IDSources{CanonicalURL: "https://x.example/news/talks/index.html", FileName: "f.html"}, "talks"},
		{"canonical URL query", source.IDSources{CanonicalURL: "https://x.example/article.php?id=7", FileName: "f.html"}, "article-id-7"},
		{"canonical URL percent-encoded Cyrillic", source.IDSources{CanonicalURL: "https://x.example/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8", FileName: "f.html"}, "novosti"},
		{"canonical URL root skipped", source.IDSources{CanonicalURL: "https://x.example/", FileName: "f.html"}, "f"},
		{"empty front matter skipped", source.IDSources{FrontMatter: " -- ", FileName: "f.md"}, "f"},
		{"CJK file name hashed", source.IDSources{FileName: "北京新闻.html"}, hashOf("北京新闻")},
		{"mixed text hashed whole", source.IDSources{FileName: "Путин 北京.html"}, hashOf("Путин 北京")},
		{"Persian hashed", source.IDSources{FrontMatter: "گفت‌وگوهای ژنو"}, hashOf("گفت‌وگوهای ژنو")},
		{"hard sign alone hashed", source.IDSources{FileName: "ъ.md"}, hashOf("ъ")},
		{"title last", source.IDSources{Title: "Talks End"}, "talks-end"},
		{"CJK title", source.IDSources{Title: "日内瓦会谈结束"}, hashOf("日内瓦会谈结束")},
		{"nothing", source.IDSources{FileName: "___.txt", CanonicalURL: "https://x.example/"}, ""},
		{"nothing at all", source.IDSources{}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := source.DeriveID(tt.in)
			if got != tt.want {
				t.Errorf("DeriveID(%+v) = %q, want %q", tt.in, got, tt.want)
			}
			if got != "" {
				if err := bundle.CheckID(got); err != nil {
					t.Errorf("%q is not an article id: %v", got, err)
				}
			}
		})
	}
}

func TestHashID(t *testing.T) {
	id := source.HashID("日内瓦会谈结束")
	if !strings.HasPrefix(id, source.HashIDPrefix) || len(id) != len(source.HashIDPrefix)+source.HashIDLen {
		t.Errorf("HashID = %q, want %s and %d characters", id, source.HashIDPrefix, source.HashIDLen)
	}
	if err := bundle.CheckID(id); err != nil {
		t.Error(err)
	}
	// Stable across white space and case; different for different text.
	if got := source.HashID("  日内瓦会谈结束\n"); got != id {
		t.Errorf("HashID with white space = %q, want %q", got, id)
	}
	if got := source.HashID("日内瓦会谈开始"); got == id {
		t.Error("two titles share a hash id")
	}
	if source.HashID("ΑΘΉΝΑ 北") != source.HashID("αθήνα 北") {
		t.Error("HashID depends on case")
	}
	// The value itself is part of what publishers rely on: the same title
	// must give the same id in every version.
	if want := "a-"; !strings.HasPrefix(source.HashID("x"), want) {
		t.Error("prefix changed")
	}
}

// FuzzDeriveID checks that DeriveID makes a valid article id of any text
// that has a letter or digit, whichever source it comes from, and "" only
// of text that has none.
func FuzzDeriveID(f *testing.F) {
	for _, s := range []string{"story", "переговоры", "Київ", "Αθήνα", "北京", "خبر", "ъь", "a\xffb", "___", "①", "ǅ", "İstanbul", strings.Repeat("щ", 200), "https://x.example/a?b=c"} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, s string, which uint8) {
		var in source.IDSources
		switch which % 5 {
		case 0:
			in.FrontMatter = s
		case 1:
			in.GUID = s
		case 2:
			in.CanonicalURL = "https://x.example/" + s
		case 3:
			in.FileName = s + ".md"
		case 4:
			in.Title = s
		}
		id := source.DeriveID(in)
		has := strings.IndexFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0
		if id == "" {
			// A canonical URL's path may lose what its query or
			// fragment held; every other source keeps all of s.
			if has && which%5 != 2 {
				t.Fatalf("DeriveID(%+v) = \"\" of text with a letter or digit", in)
			}
			return
		}
		if err := bundle.CheckID(id); err != nil {
			t.Fatalf("DeriveID(%+v) = %q: %v", in, id, err)
		}
		if got := source.DeriveID(in); got != id {
			t.Fatalf("DeriveID not stable: %q then %q", id, got)
		}
	})
}

func ExampleDeriveID() {
	fmt.Println(source.DeriveID(source.IDSources{FileName: "переговоры.md"}))
	fmt.Println(source.DeriveID(source.IDSources{FrontMatter: "Київ сьогодні", FileName: "kyiv.md"}))
	fmt.Println(source.DeriveID(source.IDSources{CanonicalURL: "https://example.org/news/2026/geneva-talks.html", FileName: "source.html"}))
	fmt.Println(source.DeriveID(source.IDSources{Title: "日内瓦会谈结束"}))
	// Output:
	// peregovory
	// kyiv-sohodni
	// geneva-talks
	// a-7ucdhz3mrvbjfkdz
}

func BenchmarkDeriveID(b *testing.B) {
	for _, in := range []struct{ name, text string }{
		{"latin", "U.S.-Russia Conclude Geneva Talks"},
		{"cyrillic", "Переговоры в Женеве завершились без соглашения"},
		{"hashed", "گفت‌وگوهای ژنو بدون توافق به پایان رسید"},
	} {
		b.Run(in.name, func(b *testing.B) {
			for b.Loop() {
				source.DeriveID(source.IDSources{FileName: in.text + ".md"})
			}
		})
	}
}
