//go:build linux

package web_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/internal/browsertest"
	"github.com/samizdat-news/samizdat/internal/testkeys"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/mirror/web"
	"github.com/samizdat-news/samizdat/publish"
)

// longPublisher is a publisher's key name as long as names go, to show
// that long names wrap on a phone (its signing key adds "-signing", and
// a key name is at most 64 bytes).
const longPublisher = "radio-farda-persian-service-of-radio-free-europe-liberty"

// synthetic articles in English, Russian and Persian, written for these
// tests: headings, quotes, lists, an image with punctuated alt text,
// bylines in another script than the article's.
var syntheticArticles = []struct {
	id, lang, title string
	authors         []string
	body            string
}{
	{"talks-end", "en", "Talks in Geneva end without agreement, but both sides say they will meet again",
		[]string{"Jane Doe", "Иван Петров"},
		`<p>Delegations from both countries ended eight hours of talks on Monday without an agreement, but said they would meet again within a month.</p>
<figure><img src="img/photo.png" alt="Delegates arrive: who sat where? «Round one» of the &quot;security&quot; talks"><figcaption>Delegates arrive for the first round of talks.</figcaption></figure>
<h2>What was discussed</h2>
<p>The talks covered arms control, military exercises near the border and the future of a treaty that both sides accuse each other of breaking.</p>
<ul><li>Arms control and missile deployments</li><li>Military exercises and notice periods</li><li>Confidence-building measures</li></ul>
<blockquote><p>“We had a frank and useful exchange, but the differences remain large,” one delegate said.</p></blockquote>
<p>Observers said the tone was calmer than expected. A further round is planned in Brussels, and a third in Vienna, where other governments will join.</p>`},
	{"peregovory", "ru", "Переговоры в Женеве завершились без договорённости",
		[]string{"Мария Иванова"},
		`<p>Делегации двух стран завершили восьмичасовые переговоры в понедельник, не достигнув соглашения, но договорились встретиться снова в течение месяца.</p>
<h2>Что обсуждали</h2>
<p>Стороны обсудили контроль над вооружениями, военные учения у границы и будущее договора, в нарушении которого обвиняют друг друга.</p>
<ul><li>Контроль над вооружениями</li><li>Военные учения и сроки уведомления</li><li>Меры доверия</li></ul>
<blockquote><p>«Обмен мнениями был откровенным и полезным, но разногласия остаются большими», — сказал один из участников.</p></blockquote>
<p>Наблюдатели отметили, что тон переговоров был спокойнее, чем ожидалось. Следующий раунд запланирован в Брюсселе.</p>`},
	{"mozakerat", "fa", "مذاکرات ژنو بدون توافق پایان یافت",
		[]string{"John Smith (Reuters)", "مریم احمدی"},
		`<p>هیئت‌های دو کشور روز دوشنبه پس از هشت ساعت گفت‌وگو بدون رسیدن به توافق به مذاکرات پایان دادند، اما گفتند ظرف یک ماه دوباره دیدار خواهند کرد.</p>
<h2>چه موضوعاتی مطرح شد</h2>
<p>دو طرف دربارهٔ کنترل تسلیحات، رزمایش‌های نظامی نزدیک مرز و آیندهٔ پیمانی گفت‌وگو کردند که هر یک دیگری را به نقض آن متهم می‌کند. به گفتهٔ یک دیپلمات، «NATO» و «OSCE» نیز در دورهای بعدی حضور خواهند داشت.</p>
<ul><li>کنترل تسلیحات</li><li>رزمایش‌های نظامی</li><li>اقدامات اعتمادساز</li></ul>
<blockquote><p>یکی از اعضای هیئت گفت: «گفت‌وگویی صریح و مفید داشتیم، اما اختلاف‌ها همچنان زیاد است.»</p></blockquote>
<p>ناظران گفتند لحن مذاکرات آرام‌تر از حد انتظار بود. دور بعدی در بروکسل برگزار می‌شود.</p>`},
}

// photoPNG returns a 640×360 PNG of a soft gradient.
func photoPNG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 640, 360))
	for y := 0; y < 360; y++ {
		for x := 0; x < 640; x++ {
			img.Set(x, y, color.RGBA{uint8(60 + x/8), uint8(90 + y/6), 150, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// syntheticMirror serves a store holding the synthetic articles, signed
// by a publisher with a long name, and returns its URL and the
// publisher's ID.
func syntheticMirror(t *testing.T) (string, string) {
	pub := testkeys.New(t, longPublisher)
	st, err := store.Open(filepath.Join(t.TempDir(), "store"), &store.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	p, err := publish.New(st, pub.Root.Public(), pub.Statement, pub.Signer, &publish.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	photo := photoPNG(t)
	var items []publish.Item
	for i, a := range syntheticArticles {
		it := publish.Item{
			Meta: bundle.Metadata{ID: a.id, Title: a.title, Language: a.lang, Authors: a.authors,
				CanonicalURL: "https://news.example/" + a.lang + "/2026/11/" + a.id + "-a-long-canonical-address-that-must-wrap-on-a-phone.html",
				Created:      now.Add(-time.Duration(i+1) * 26 * time.Hour)},
			Files: []bundle.File{{Type: "text/html", Data: []byte(a.body)}},
		}
		if strings.Contains(a.body, "img/photo.png") {
			it.Files = append(it.Files, bundle.File{Name: "img/photo.png", Type: "image/png", Data: photo})
		}
		items = append(items, it)
	}
	if _, err := p.Publish(items); err != nil {
		t.Fatal(err)
	}
	h := newHandler(t, st, []*keys.PublicKey{pub.Root.Public()}, &web.Config{
		Now: func() time.Time { return now.Add(3 * time.Hour) }, Rate: -1, Refresh: -1,
	})
	srv, _ := browsertest.NewLoggedServer(t, h)
	return srv.URL, pub.ID()
}

// TestBrowserPagesAccessibleAndShown loads the mirror's index and the
// English, Russian and Persian article pages in one headless Chromium at
// a phone's size (390×844) and a laptop's (1366×900). On each it runs
// axe-core, which must find no violation of impact serious or critical;
// checks that nothing is wider than the window; and saves a screenshot
// in browsertest.ScreenshotDir() for people to look at.
func TestBrowserPagesAccessibleAndShown(t *testing.T) {
	b := browsertest.StartBrowser(t)
	browsertest.AxeAvailable(t)
	started := time.Now()
	base, pub := syntheticMirror(t)
	pages := []struct{ name, path string }{
		{"index", "/"},
		{"index-fa", "/?lang=fa"},
		{"publisher", "/p/" + pub + "/"},
	}
	for _, a := range syntheticArticles {
		pages = append(pages, struct{ name, path string }{"article-" + a.lang, "/p/" + pub + "/a/" + a.id + "/"})
	}
	var saved []string
	for _, pg := range pages {
		for _, v := range []browsertest.Viewport{browsertest.Phone, browsertest.Desktop} {
			t.Run(pg.name+"-"+v.Name, func(t *testing.T) {
				p := b.Open(t, base+pg.path, v)
				var over []string
				if err := p.Eval(overflowScript, &over); err != nil {
					t.Fatal(err)
				}
				if len(over) > 0 {
					t.Errorf("wider than the %d px window: %q", v.Width, over)
				}
				saved = append(saved, browsertest.SaveScreenshot(t, "mirror-"+pg.name+"-"+v.Name, p.Screenshot(t, false)))
				if v.Mobile {
					saved = append(saved, browsertest.SaveScreenshot(t, "mirror-"+pg.name+"-"+v.Name+"-full", p.Screenshot(t, true)))
				}
				for _, vi := range browsertest.Serious(p.Axe(t)) {
					t.Errorf("axe: %s", vi)
				}
			})
		}
	}
	t.Logf("%d pages at 2 sizes in %v; screenshots: %s", len(pages), time.Since(started).Round(time.Millisecond), strings.Join(saved, " "))
}

// overflowScript lists the elements wider than the window, which a
// reader on a phone would have to scroll sideways to read.
const overflowScript = `(() => {
  const w = document.documentElement.clientWidth, out = [];
  if (document.documentElement.scrollWidth > w) out.push("page: " + document.documentElement.scrollWidth + " px");
  for (const e of document.body.querySelectorAll("*")) {
    const r = e.getBoundingClientRect();
    if (r.right > w + 1 || r.left < -1) out.push(e.tagName.toLowerCase() + (e.className ? "." + e.className : "") + ": " + Math.round(r.left) + " to " + Math.round(r.right) + " px");
    if (out.length > 10) break;
  }
  return out;
})()`
