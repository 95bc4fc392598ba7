package main

import (
	"fmt"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish"
	"github.com/samizdat-news/samizdat/publish/source"
)

// publishHelp says what publish does with each kind of file.
const publishHelp = `FILE is .html, .md or .txt. An HTML page is decoded to UTF-8 (from its
byte order mark, <meta> or XML declaration; a page that is UTF-8 whatever
it declares is read as UTF-8) and the article is extracted from it: the
signed body is a small page of its own with the story alone, no site
navigation, scripts or forms. The title (without the site's name), authors,
publication date, language and canonical URL come from the page's metadata.
--raw signs the page as it is instead. Images by relative path inside the
file's folder are included; remote images only with --fetch-images.
Doubtful charsets and images left out are warnings on stderr.`

func runPublish(e *env, args []string) error {
	fs := newFlags(e, "publish", "-k DIR -s STORE [flags] FILE...\n       samizdat publish -k DIR -s STORE [--follow-links] [--lang LANG] --feed FILE|URL\n\n"+publishHelp)
	dir := fs.String("k", "", "the publisher's key directory (from samizdat keygen)")
	storeDir := fs.String("s", "", "the store to publish into (created if missing)")
	id := fs.String("id", "", "article id (default: from front matter, the canonical URL or the file name); one FILE only; replaces the article of that id, whatever it is")
	title := fs.String("title", "", "title (default: from the file); one FILE only")
	url := fs.String("url", "", "canonical URL (default: from the file); one FILE only")
	lang := fs.String("lang", "", "language tag such as en, ru or fa (default: from the file)")
	date := fs.String("date", "", "publication date, YYYY-MM-DD or RFC 3339 (default: from the file, else now)")
	var authors multiFlag
	fs.Var(&authors, "author", "author (repeatable; default: from the file)")
	feedSrc := fs.String("feed", "", "publish each item of an RSS or Atom feed (a FILE or an http(s) URL) as an article, instead of FILEs")
	followLinks := fs.Bool("follow-links", false, fmt.Sprintf("with --feed: fetch each item's page and extract the article from it (from public addresses or the feed's own server only; at most %d pages, and %v for a feed's pages and images)", maxFollowedPages, maxFeedFetchTime))
	raw := fs.Bool("raw", false, "sign an HTML page as it is, not the article extracted from it (a page in another charset is still decoded to UTF-8, and a page that does not say it is UTF-8 is made to say so)")
	fetchImages := fs.Bool("fetch-images", false, fmt.Sprintf("download the remote images an HTML page shows into the bundle, so readers never load them from the origin (at most %d images, %d MiB each, %d MiB and %v in all; failures are warnings)", source.MaxFetchImages, source.MaxFetchImageSize>>20, source.MaxFetchTotal>>20, source.MaxFetchTime))
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *lang != "" {
		if *lang, err = source.LanguageTag(*lang); err != nil {
			return usagef("--lang: %v", err)
		}
	}
	if *feedSrc != "" {
		if len(files) > 0 || *id != "" || *title != "" || *url != "" || *date != "" || len(authors) > 0 {
			return usagef("--feed takes no FILE, --id, --title, --url, --date or --author: each item gives its own")
		}
		if *raw {
			return usagef("--raw goes with FILEs: a feed item's content is signed as it is, and a page --follow-links fetches has its article extracted")
		}
		if *storeDir == "" {
			return usagef("want -k DIR -s STORE --feed FILE|URL")
		}
		kd, err := loadKeyDir(*dir)
		if err != nil {
			return err
		}
		return publishFeed(e, kd, *storeDir, *feedSrc, feedOptions{followLinks: *followLinks, fetchImages: *fetchImages, lang: *lang})
	}
	if *followLinks {
		return usagef("--follow-links goes with --feed")
	}
	if *storeDir == "" || len(files) == 0 {
		return usagef("want -k DIR -s STORE and at least one FILE")
	}
	if len(files) > 1 && (*id != "" || *title != "" || *url != "") {
		return usagef("--id, --title and --url name one article: give one FILE")
	}
	kd, err := loadKeyDir(*dir)
	if err != nil {
		return err
	}
	var items []publish.Item
	fileOf := map[string]string{} // article id -> the file that made it
	for _, f := range files {
		a, err := source.Load(f, &source.Options{Raw: *raw, FetchImages: *fetchImages, Context: e.ctx})
		if err != nil {
			return err
		}
		for _, w := range a.Warnings {
			fmt.Fprintf(e.stderr, "samizdat publish: %s: warning: %s\n", f, w)
		}
		m := &a.Meta
		if *url != "" {
			// The canonical URL comes before the file name as a source
			// of the id.
			a.IDs.CanonicalURL = *url
			m.ID = source.DeriveID(a.IDs)
		}
		override(&m.ID, *id)
		override(&m.Title, *title)
		override(&m.CanonicalURL, *url)
		override(&m.Language, *lang)
		if len(authors) > 0 {
			m.Authors = authors
		}
		if *date != "" {
			if m.Created, err = source.ParseDate(*date); err != nil {
				return usagef("%v", err)
			}
		}
		if m.ID == "" {
			return usagef("%s: no article id can be made from the file name; give --id", f)
		}
		if err := bundle.CheckID(m.ID); err != nil {
			return usagef("--id: %v", err) // derived ids are valid
		}
		if other, ok := fileOf[m.ID]; ok && other == f {
			return fmt.Errorf("%s is given twice", f)
		} else if ok {
			return fmt.Errorf("%s and %s both make article id %q; publish them one at a time, with --id for one of them", other, f, m.ID)
		}
		fileOf[m.ID] = f
		items = append(items, publish.Item{Meta: *m, Files: a.Files, IDGiven: *id != ""})
	}
	signer, err := kd.privateKey(e, signKeyFile)
	if err != nil {
		return err
	}
	st, err := store.Open(*storeDir, &store.Options{Create: true})
	if err != nil {
		return err
	}
	defer st.Close()
	p, err := publish.New(st, kd.root, kd.statement, signer, nil)
	if err != nil {
		return err
	}
	res, err := p.Publish(items)
	if err != nil {
		return err
	}
	for _, r := range res {
		fmt.Fprintf(e.stdout, "%s %s\n", r.ID, r.Digest)
		if r.Resigned {
			fmt.Fprintf(e.stderr, "samizdat publish: %s: signed again as revision %d: the key that signed it is no longer trusted\n", r.ID, r.Revision)
		}
		if r.Unchanged {
			fmt.Fprintf(e.stderr, "samizdat publish: %s: unchanged since revision %d; not published again\n", r.ID, r.Revision)
		}
	}
	return nil
}

func runRetract(e *env, args []string) error {
	fs := newFlags(e, "retract", "-k DIR -s STORE ID...")
	dir := fs.String("k", "", "the publisher's key directory")
	storeDir := fs.String("s", "", "the publisher's store")
	ids, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *storeDir == "" || len(ids) == 0 {
		return usagef("want -k DIR -s STORE and at least one ID")
	}
	kd, err := loadKeyDir(*dir)
	if err != nil {
		return err
	}
	st, err := store.Open(*storeDir, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	signer, err := kd.privateKey(e, signKeyFile)
	if err != nil {
		return err
	}
	p, err := publish.New(st, kd.root, kd.statement, signer, nil)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := p.Retract(id); err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		fmt.Fprintf(e.stdout, "%s retracted\n", id)
	}
	return nil
}
