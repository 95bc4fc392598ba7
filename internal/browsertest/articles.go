//go:build linux

package browsertest

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"testing"
)

// Article is a synthetic article for page tests.
type Article struct {
	ID, Lang, Title string
	Authors         []string
	Body            string // HTML; "img/photo.png" names PhotoPNG
}

// Articles are synthetic articles in English, Russian and Persian,
// written for the page tests: headings, quotes, lists, an image with
// punctuated alt text, bylines in another script than the article's.
var Articles = []Article{
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

// PhotoPNG returns a 640×360 PNG of a soft gradient.
func PhotoPNG(t *testing.T) []byte {
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
