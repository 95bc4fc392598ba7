package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/samizdat-news/samizdat/bundle"
	"github.com/samizdat-news/samizdat/reader"
	"github.com/samizdat-news/samizdat/reader/local"
)

// readerFlags are the flags fetch and read share.
type readerFlags struct {
	trust       *string
	mirrors     multiFlag
	state       *string
	noState     *bool
	maxAge      *time.Duration
	timeout     *time.Duration
	stagger     *time.Duration
	insecureTLS *bool
	noDiscovery *bool
	full        *bool
	logLevel    *string
}

// addReaderFlags adds the reader's flags to fs; --full only when light
// (fetch: a reader that may keep no copy of the log), else a reader keeps
// the whole log (read, which lists every article).
func addReaderFlags(e *env, fs *flag.FlagSet, light bool) *readerFlags {
	f := &readerFlags{full: new(bool)}
	f.trust = fs.String("t", "", "the publisher's root public key file (publisher.pub), obtained from the publisher by a channel you trust")
	fs.Var(&f.mirrors, "m", "a mirror URL: http://HOST[:PORT], https://HOST[:PORT] or h3://HOST[:PORT] (HTTP/3), or any page's URL on the mirror as the browser shows it (.../p/ID/...); repeatable, tried in order. A bare HOST:PORT is refused: give the scheme")
	f.state = fs.String("state", defaultStateDir(e), "directory keeping the newest verified checkpoint, the log and saved articles, per publisher")
	f.noState = fs.Bool("no-state", false, "keep nothing between runs (no protection against rollback to an older checkpoint)")
	f.maxAge = fs.Duration("max-age", reader.DefaultMaxAge, "a checkpoint older than this is reported stale, and fresher mirrors are preferred")
	f.timeout = fs.Duration("timeout", reader.DefaultTimeout, "give up after this long")
	f.stagger = fs.Duration("stagger", reader.DefaultStagger, "wait this long for a mirror before trying the next one as well")
	f.insecureTLS = fs.Bool("insecure-tls", false, "accept mirrors' TLS certificates unchecked (content is verified all the same; the link's privacy is not)")
	f.noDiscovery = fs.Bool("no-discovery", false, "only ask the -m mirrors, not those learned from the publisher's mirror list or from mirrors")
	if !light {
		*f.full = true
	} else {
		fs.BoolVar(f.full, "full", false, "verify the whole log and keep it (later fetches read only what is new), instead of one article by its index proof or the newest articles by the log's last leaves; resumes where an earlier one stopped")
	}
	f.logLevel = fs.String("log-level", "warn", "debug (each mirror's outcome), info, warn or error")
	return f
}

// defaultStateDir is $XDG_STATE_HOME/samizdat/reader, or
// ~/.local/state/samizdat/reader.
func defaultStateDir(e *env) string {
	if d := e.getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "samizdat", "reader")
	}
	if h := e.getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "state", "samizdat", "reader")
	}
	return ""
}

func (f *readerFlags) client(e *env) (*reader.Client, error) {
	if *f.trust == "" {
		return nil, usagef("want -t PUBFILE, the publisher's root public key")
	}
	root, err := readPublicKey(*f.trust)
	if err != nil {
		return nil, err
	}
	state := *f.state
	if *f.noState {
		state = ""
	} else if state == "" {
		return nil, usagef("no state directory: give --state DIR or --no-state")
	}
	if len(f.mirrors) == 0 && *f.noDiscovery {
		return nil, usagef("want at least one -m URL")
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*f.logLevel)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", *f.logLevel)
	}
	// At warn, what is logged is a state that could not be saved.
	log := newLogger(e, *f.logLevel)
	for _, m := range f.mirrors {
		u, err := reader.ParseMirrorURL(m)
		if err != nil {
			return nil, usagef("-m: %v", err)
		}
		if u.Publisher != "" && u.Publisher != root.ID() {
			return nil, usagef("-m %s is a page of publisher %s, but -t %s is publisher %s", m, u.Publisher, *f.trust, root.ID())
		}
	}
	c, err := reader.New(&reader.Config{
		Root: root, Mirrors: f.mirrors, StateDir: state, NoDiscovery: *f.noDiscovery,
		Stagger: *f.stagger, Timeout: *f.timeout, MaxAge: *f.maxAge, InsecureTLS: *f.insecureTLS,
		Full: *f.full, Logger: log,
	})
	if err != nil {
		return nil, usagef("%v", err)
	}
	if len(f.mirrors) == 0 {
		if ms, err := c.Mirrors(); err != nil {
			c.Close()
			return nil, err
		} else if len(ms) == 0 {
			c.Close()
			return nil, usagef("want at least one -m URL: this reader knows no mirror of the publisher yet")
		}
	}
	return c, nil
}

func runFetch(e *env, args []string) error {
	fs := newFlags(e, "fetch", "-t PUBFILE -m URL [-m URL]... [--full] [-o DIR] [ID]\n\n"+fetchListHelp)
	rf := addReaderFlags(e, fs, true)
	out := fs.String("o", "", "write the article (index.html and its images) here; default ./ID")
	limit := fs.Int("n", 50, fmt.Sprintf("without ID: list this many of the most recently changed articles (0, or more than %d: all, which verifies the whole log)", reader.MaxNewest))
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("want at most one article ID, got %d", len(pos))
	}
	if len(pos) == 0 {
		// An article page's URL given as -m names the article.
		var named []string
		for _, m := range rf.mirrors {
			if u, err := reader.ParseMirrorURL(m); err == nil && u.Article != "" && !slices.Contains(named, u.Article) {
				named = append(named, u.Article)
			}
		}
		if len(named) > 1 {
			return usagef("the -m URLs name %d articles (%s): give the one to fetch as ID", len(named), strings.Join(named, ", "))
		}
		pos = named
	}
	if len(pos) == 1 {
		if err := bundle.CheckID(pos[0]); err != nil {
			return usagef("%v", err)
		}
	}
	c, err := rf.client(e)
	if err != nil {
		return err
	}
	defer c.Close()
	var res *reader.Result
	switch {
	case len(pos) == 0 && (*limit <= 0 || *limit > reader.MaxNewest || *rf.full):
		res, err = c.List(e.ctx)
	case len(pos) == 0:
		res, err = c.Newest(e.ctx, *limit)
	default:
		res, err = c.Fetch(e.ctx, pos[0])
	}
	var re *reader.Error
	if errors.As(err, &re) {
		forkAlarm(e, re.Forks(), c.ForkEvidence())
		fmt.Fprintf(e.stderr, "samizdat fetch: %s\n", printable(err.Error()))
		return errCheckFailed
	} else if err != nil {
		return err
	}
	forkAlarm(e, res.Forks(), c.ForkEvidence())
	if res.FullSync != "" {
		fmt.Fprintf(e.stderr, "samizdat fetch: %s gives no per-article proof (%s): verified the whole log instead\n", printable(res.Mirror), printable(strings.TrimPrefix(res.FullSync, "no per-article proof: ")))
	}
	fmt.Fprintf(e.stdout, "publisher %s (%s)\n", res.Trust.Root().Name(), res.Publisher)
	fmt.Fprintf(e.stdout, "checkpoint %d entries at %s, %s old, from %s\n", res.Checkpoint.Size, res.Checkpoint.Time.Format(time.RFC3339), res.Age.Round(time.Second), res.Mirror)
	if res.Stale {
		fmt.Fprintf(e.stderr, "samizdat fetch: warning: STALE: no mirror tried had a checkpoint newer than %s; newer articles or corrections may exist (--max-age %v)\n", res.Age.Round(time.Second), *rf.maxAge)
	}
	for _, f := range res.Failures {
		if errors.Is(f.Err, reader.ErrNotCarried) {
			fmt.Fprintf(e.stderr, "samizdat fetch: %s does not carry this publisher\n", printable(f.Mirror))
			continue
		}
		fmt.Fprintf(e.stderr, "samizdat fetch: refused %s\n", printable(f.String()))
	}
	if len(pos) == 0 {
		listArticles(e, c, res, *limit)
		return nil
	}
	if res.Article.Retracted {
		fmt.Fprintf(e.stderr, "samizdat fetch: %s was withdrawn by the publisher on %s (verified)\n", pos[0], res.Article.Time.Format(time.RFC3339))
		return errCheckFailed
	}
	dir := *out
	if dir == "" {
		dir = pos[0]
	}
	files, skipped, err := local.WriteArticle(dir, res)
	for _, s := range skipped {
		fmt.Fprintf(e.stderr, "samizdat fetch: warning: not saved: %s\n", printable(s.String()))
	}
	if err != nil {
		return err
	}
	m := res.Bundle.Manifest
	fmt.Fprintf(e.stdout, "verified %q: %s revision %d, signed by %s, updated %s\n", m.Title, m.ID, m.Revision, res.Bundle.Signer.Name(), m.Updated.Format(time.RFC3339))
	for _, f := range files {
		fmt.Fprintf(e.stdout, "wrote %s\n", f)
	}
	return nil
}

func runRead(e *env, args []string) error {
	fs := newFlags(e, "read", "-t PUBFILE -m URL [-m URL]... [--listen 127.0.0.1:PORT]")
	rf := addReaderFlags(e, fs, false)
	listen := fs.String("listen", "127.0.0.1:8470", "address of the local reader's web server; keep it on loopback")
	refresh := fs.Duration("refresh", local.DefaultRefresh, "how often to ask the mirrors for news in the background")
	prefetch := fs.Int("prefetch", local.DefaultPrefetch, "how many of the newest articles to download for offline reading (negative: none)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	c, err := rf.client(e)
	if err != nil {
		return err
	}
	defer c.Close()
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return usagef("--listen %q: %v", *listen, err)
	}
	var hosts []string
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		fmt.Fprintf(e.stderr, "samizdat read: warning: %s is not a loopback address; others on the network can read what you read\n", *listen)
		if ip != nil && ip.IsUnspecified() || host == "" {
			hosts = append(hosts, "*") // every address: any name may reach it
		} else {
			hosts = append(hosts, host)
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	log := newLogger(e, *rf.logLevel)
	srv := local.NewServer(c, &local.Options{Refresh: *refresh, Prefetch: *prefetch, Logger: log, Hosts: hosts})
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go srv.Run(e.ctx)
	fmt.Fprintf(e.stdout, "samizdat read: open http://%s/ in your browser; Ctrl-C stops\n", ln.Addr())
	go func() {
		<-e.ctx.Done()
		hs.Close()
	}()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// listArticles prints the limit (0: all) most recently changed articles of
// res, one a line, in the columns fetchListHelp documents. Titles and
// dates come from the articles' verified bundles: those the reader keeps,
// or fetched now from the mirror that answered, and kept.
func listArticles(e *env, c *reader.Client, res *reader.Result, limit int) {
	arts := res.Articles()
	if limit > 0 && len(arts) > limit {
		arts = arts[:limit]
	}
	// Bundles not kept yet are fetched listBundlesAtOnce at a time. Only
	// their manifests are kept: a bundle may be tens of MiB of images,
	// and a list of 50 held every one of them until it was printed.
	// All of them together get listBundleTime: a mirror that sends each
	// bundle just fast enough would otherwise hold a list of 50 for
	// 13 × reader.DefaultTimeout.
	ctx, cancel := context.WithTimeout(e.ctx, listBundleTime)
	defer cancel()
	manifests := make([]*bundle.Manifest, len(arts))
	errs := make([]error, len(arts))
	sem := make(chan struct{}, listBundlesAtOnce)
	var wg sync.WaitGroup
	late := 0
	for i, a := range arts {
		if a.Retracted {
			continue
		}
		sem <- struct{}{}
		if ctx.Err() != nil {
			<-sem
			if b := c.Saved(a); b != nil {
				manifests[i] = b.Manifest
			} else {
				late++
			}
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if b, err := c.Bundle(ctx, res, a); err != nil {
				errs[i] = err
			} else {
				manifests[i] = b.Manifest
			}
		})
	}
	wg.Wait()
	if late > 0 {
		fmt.Fprintf(e.stderr, "samizdat fetch: warning: no title or date for %d articles: the %v a list may spend fetching them is spent\n", late, listBundleTime)
	}
	for i, a := range arts {
		date, title := "-", "-"
		switch m, err := manifests[i], errs[i]; {
		case a.Retracted:
			date, title = a.Time.UTC().Format(time.RFC3339), "(withdrawn)"
		case m == nil && err == nil: // late: counted above
		case err != nil:
			fmt.Fprintf(e.stderr, "samizdat fetch: warning: no title or date for %s: %s\n", a.ID, printable(oneLine(err.Error())))
		default:
			date, title = m.Updated.UTC().Format(time.RFC3339), printable(oneLine(m.Title))
		}
		fmt.Fprintf(e.stdout, "%s\t%d\t%s\t%s\n", a.ID, a.Revision, date, title)
	}
}

// listBundlesAtOnce bounds the bundles a list fetches at the same time.
const listBundlesAtOnce = 4

// maxListBundleTime bounds the time a list spends fetching bundles for
// titles and dates, all together; rows left show "-".
const maxListBundleTime = time.Minute

// listBundleTime is maxListBundleTime; tests lower it.
var listBundleTime = maxListBundleTime

// fetchListHelp documents the list fetch prints without an article ID.
const fetchListHelp = `Without ID, fetch lists the publisher's most recently changed articles,
one a line, in four columns separated by tabs:

  ID  REVISION  DATE  TITLE

DATE is when that revision was made (the article's updated date, UTC,
RFC 3339); TITLE is last and may hold spaces. A withdrawn article shows the
date it was withdrawn and the title "(withdrawn)". Where no verified copy
could be had, DATE and TITLE are "-", and a warning says why. Titles and
dates come from each article's verified bundle: the copy kept in the state
directory, or else one fetched now from the mirror that answered (and then
kept), four at a time, for at most a minute in all.

A reader that keeps no copy of the log (the default; --full makes it keep
one) reads the -n newest from the log's last leaves and the hash tiles that
tie them to the checkpoint; with -n 0 or --full it verifies and keeps the
whole log, and a reader that keeps it reads only what is new.
With ID, it reads the article's index proof, which carries the article's
leaf, and its bundle: at most three round trips, whatever the log's size.

With an article page's URL as -m (as the browser shows it), ID may be left
out: the article the URL names is fetched.`

// printable escapes what a terminal would act on (control characters but
// newlines, and bidirectional overrides) in text that mirrors chose, so a
// mirror cannot move the cursor over a warning or rewrite a line.
func printable(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteRune(r)
		case unicode.IsControl(r), r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == utf8.RuneError:
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// forkAlarm says loudly that the publisher's log forked: its key signed
// two histories, which only theft or misuse of the key explains.
func forkAlarm(e *env, forks []reader.Failure, evidence []string) {
	for _, f := range forks {
		fmt.Fprintf(e.stderr, "samizdat fetch: ALARM: %s served a checkpoint signed by the publisher's key that contradicts the one this reader saw before: the key signed two histories (stolen or misused). Tell the publisher. (%s)\n", printable(f.Mirror), printable(f.Err.Error()))
	}
	if len(forks) > 0 && len(evidence) > 0 {
		fmt.Fprintf(e.stderr, "samizdat fetch: the evidence is kept in %s\n", strings.Join(evidence, ", "))
	}
}
