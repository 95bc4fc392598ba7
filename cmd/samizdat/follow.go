package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/samizdat-news/samizdat/internal/files"
	"github.com/samizdat-news/samizdat/keys"
	"github.com/samizdat-news/samizdat/mirror"
	"github.com/samizdat-news/samizdat/mirror/replica"
	"github.com/samizdat-news/samizdat/mirror/store"
	"github.com/samizdat-news/samizdat/publish"
	"github.com/samizdat-news/samizdat/publish/source"
)

// Timing and bounds of `samizdat follow`.
const (
	// defaultFollowEvery is how often feeds are polled by default.
	defaultFollowEvery = 5 * time.Minute
	// followBackoffCap caps the wait before polling again a feed that is
	// down. The wait starts at --every and doubles with each failed poll.
	followBackoffCap = time.Hour
	// maxFollowFeeds bounds the feeds one follow polls.
	maxFollowFeeds = 100
	// maxStateSize bounds the state file read at start.
	maxStateSize = 1 << 20
	// maxPassphraseSize bounds a --passphrase-file.
	maxPassphraseSize = 4 << 10
	// followPushTimeout bounds one push to one mirror in a round.
	followPushTimeout = 2 * time.Minute
)

func runFollow(e *env, args []string) error {
	fs := newFlags(e, "follow", "-k DIR -s STORE --feed URL... [--push ADDR...] [--every DURATION] [flags]\n\n"+
		"Polls each feed (conditional GET with ETag and Last-Modified), publishes new and changed\n"+
		"items, signs a fresh checkpoint each round so readers see the publisher is alive, and\n"+
		"pushes the store to the mirrors. A feed that is down is polled again after --every,\n"+
		"then twice as long each time, up to an hour. SIGTERM or SIGINT stops it between steps.\n"+
		"It opens the store only during a round: other commands can use it in between.\n"+
		"The passphrase comes from --passphrase-file, else SAMIZDAT_PASSPHRASE, else the terminal.")
	dir := fs.String("k", "", "the publisher's key directory")
	storeDir := fs.String("s", "", "the store to publish into (created if missing)")
	var feeds, pushes multiFlag
	fs.Var(&feeds, "feed", "a feed to follow: an http(s) URL or a FILE (repeatable)")
	fs.Var(&pushes, "push", "a mirror to push to after each round: quic://HOST:PORT or tcp://HOST:PORT (repeatable)")
	every := fs.Duration("every", defaultFollowEvery, "how often to poll the feeds")
	followLinks := fs.Bool("follow-links", false, fmt.Sprintf("fetch each item's page and extract the article from it (from public addresses or the feed's own server only; at most %d pages, and %v for a feed's pages and images)", maxFollowedPages, maxFeedFetchTime))
	fetchImages := fs.Bool("fetch-images", false, "download the remote images items show into their bundles, so readers never load them from the origin")
	lang := fs.String("lang", "", "language of items that give none")
	stateFile := fs.String("state", "", "file that keeps each feed's ETag and Last-Modified across restarts (default: STORE.follow.json, beside the store)")
	passFile := fs.String("passphrase-file", "", "file holding the signing key's passphrase (its first line)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	format := fs.String("log-format", "text", "text or json")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usagef("follow takes no arguments, only flags")
	case *storeDir == "" || len(feeds) == 0:
		return usagef("want -k DIR -s STORE and at least one --feed")
	case len(feeds) > maxFollowFeeds:
		return usagef("at most %d feeds", maxFollowFeeds)
	case *every <= 0:
		return usagef("--every must be positive")
	case *format != "text" && *format != "json":
		return usagef("--log-format: want text or json")
	}
	if *lang != "" {
		var err error
		if *lang, err = source.LanguageTag(*lang); err != nil {
			return usagef("--lang: %v", err)
		}
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(*level)); err != nil {
		return usagef("--log-level: want debug, info, warn or error")
	}
	var peers []replica.Peer
	for _, a := range pushes {
		p, err := mirror.ParsePeer(a)
		if err != nil {
			return usagef("--push: %s", strings.TrimPrefix(err.Error(), "mirror: "))
		}
		peers = append(peers, p)
	}
	kd, err := loadKeyDir(*dir)
	if err != nil {
		return err
	}
	signer, err := followSigner(e, kd, *passFile)
	if err != nil {
		return err
	}
	if *stateFile == "" {
		*stateFile = filepath.Clean(*storeDir) + ".follow.json"
	}
	// The store is opened for each round and closed after it, so that
	// other commands (retract, mirrors, refresh) can use it in between.
	// It is opened once here to report a store that cannot be opened now.
	st, err := store.Open(*storeDir, &store.Options{Create: true})
	if err != nil {
		return err
	}
	st.Close()
	_, nodeKey, err := ed25519.GenerateKey(nil)
	if err != nil {
		return err
	}
	log := newFormatLogger(e.stderr, *level, *format)
	f := &follower{kd: kd, signer: signer, storeDir: *storeDir, nodeKey: nodeKey, peers: peers, every: *every, client: feedClient(), log: log,
		opts: feedOptions{followLinks: *followLinks, fetchImages: *fetchImages, lang: *lang}, statePath: *stateFile}
	for _, u := range feeds {
		f.feeds = append(f.feeds, &followedFeed{src: u})
	}
	f.loadState()
	return f.run(e.ctx)
}

// followSigner reads the signing key with the passphrase from passFile,
// or as other commands do.
func followSigner(e *env, kd *keyDir, passFile string) (*keys.PrivateKey, error) {
	if passFile == "" {
		return kd.privateKey(e, signKeyFile)
	}
	data, err := files.ReadAtMost(passFile, maxPassphraseSize)
	if err != nil {
		return nil, fmt.Errorf("--passphrase-file: %w", err)
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) == 0 {
		return nil, fmt.Errorf("--passphrase-file: %s is empty", passFile)
	}
	return keys.ReadKeyFile(filepath.Join(kd.dir, signKeyFile), line)
}

// follower is the state of `samizdat follow`. Only its run goroutine
// uses it.
type follower struct {
	kd        *keyDir
	signer    *keys.PrivateKey
	storeDir  string
	nodeKey   ed25519.PrivateKey // the same for every round's pushes
	st        *store.Store       // during a round
	pub       *publish.Publisher // during a round
	node      *replica.Node      // during a round
	peers     []replica.Peer
	every     time.Duration
	client    *http.Client
	log       *slog.Logger
	opts      feedOptions
	statePath string
	feeds     []*followedFeed
}

// followedFeed is one feed's polling state.
type followedFeed struct {
	src      string
	have     validator // of the last copy whose items were all published
	failures int       // polls failed in a row
	next     time.Time // no poll before this, while it is down
}

// followState is the state file: each feed's validators, so that a
// restart polls with a conditional GET too.
type followState struct {
	Feeds map[string]validator `json:"feeds"`
}

func (f *follower) loadState() {
	data, err := files.ReadAtMost(f.statePath, maxStateSize)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var s followState
	if err == nil {
		err = json.Unmarshal(data, &s)
	}
	if err != nil {
		f.log.Warn("state file ignored: every feed is fetched in full once", "file", f.statePath, "err", err)
		return
	}
	for _, fd := range f.feeds {
		fd.have = s.Feeds[fd.src]
	}
}

// saveState writes the state file through a temporary file and a rename,
// so that it is always whole.
func (f *follower) saveState() {
	s := followState{Feeds: map[string]validator{}}
	for _, fd := range f.feeds {
		if fd.have != (validator{}) {
			s.Feeds[fd.src] = fd.have
		}
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err == nil {
		err = replaceFile(f.statePath, append(data, '\n'), 0o600)
	}
	if err != nil {
		f.log.Error("saving the state file", "file", f.statePath, "err", err)
	}
}

// backoff is the wait before polling again a feed that failed n polls in
// a row: every, doubled for each failure after the first, capped.
func backoff(every time.Duration, n int) time.Duration {
	d := every
	for i := 1; i < n && d < followBackoffCap; i++ {
		d *= 2
	}
	return min(d, followBackoffCap)
}

// run polls until ctx is done. A round in progress when it is done stops
// at its next step; what it published is in the store (each publication
// is one transaction) and the state file is written whole or not at all.
func (f *follower) run(ctx context.Context) error {
	f.log.Info("following", "feeds", len(f.feeds), "mirrors", len(f.peers), "every", f.every, "state", f.statePath)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			f.log.Info("stopped")
			return nil
		case <-t.C:
		}
		f.round(ctx)
		t.Reset(f.every)
	}
}

// round polls the feeds that are due, publishes their new and changed
// items, signs a fresh checkpoint and pushes to the mirrors.
func (f *follower) round(ctx context.Context) {
	var published, unchanged, failed int
	defer f.saveState()
	st, err := store.Open(f.storeDir, &store.Options{Create: true})
	if err != nil {
		f.log.Error("round skipped", "err", oneLine(err.Error()))
		return
	}
	defer st.Close()
	if f.pub, err = publish.New(st, f.kd.root, f.kd.statement, f.signer, nil); err != nil {
		f.log.Error("round skipped", "err", oneLine(err.Error()))
		return
	}
	if f.node, err = replica.New(st, []*keys.PublicKey{f.kd.root}, &replica.Config{Key: f.nodeKey, Logger: f.log.With("part", "push")}); err != nil {
		f.log.Error("round skipped", "err", oneLine(err.Error()))
		return
	}
	f.st = st
	defer func() { f.st, f.pub, f.node = nil, nil, nil }()
	// Ids taken by earlier feeds this round: an item of a later feed with
	// the same id is skipped, or the two would replace each other as new
	// revisions every round.
	seen := map[string]bool{}
	for _, fd := range f.feeds {
		if ctx.Err() != nil {
			return
		}
		if time.Now().Before(fd.next) {
			continue
		}
		p, u, n := f.poll(ctx, fd, seen)
		published, unchanged, failed = published+p, unchanged+u, failed+n
	}
	if ctx.Err() != nil {
		return
	}
	cp, err := f.pub.Refresh()
	if err != nil {
		f.log.Warn("no checkpoint signed", "err", err)
		f.log.Info("round", "published", published, "unchanged", unchanged, "failed", failed)
		return
	}
	f.log.Debug("checkpoint", "size", cp.Size, "time", cp.Time)
	for _, peer := range f.peers {
		if ctx.Err() != nil {
			return
		}
		pctx, cancel := context.WithTimeout(ctx, followPushTimeout)
		err := pushTo(pctx, f.node, peer)
		cancel()
		if err != nil {
			f.log.Warn("push failed", "mirror", peer.Addr, "err", oneLine(err.Error()))
			continue
		}
		f.log.Info("pushed", "mirror", peer.Addr, "size", cp.Size, "checkpoint", cp.Time.Format(time.RFC3339))
	}
	f.log.Info("round", "published", published, "unchanged", unchanged, "failed", failed)
}

// poll reads one feed and publishes its items. The feed's validators are
// kept only when every item was published, so that a failed item is
// tried again at the next poll.
func (f *follower) poll(ctx context.Context, fd *followedFeed, seen map[string]bool) (published, unchanged, failed int) {
	have := fd.have
	fe, next, addr, err := readFeed(ctx, f.client, fd.src, &have)
	if ctx.Err() != nil {
		return
	}
	switch {
	case errors.Is(err, errNotModified):
		f.log.Debug("feed not modified", "feed", fd.src)
		fd.failures, fd.next = 0, time.Time{}
		return
	case err != nil:
		fd.failures++
		wait := backoff(f.every, fd.failures)
		fd.next = time.Now().Add(wait)
		f.log.Warn("feed down", "feed", fd.src, "err", oneLine(err.Error()), "failures", fd.failures, "retry_in", wait)
		return
	}
	fd.failures, fd.next = 0, time.Time{}
	pages := pageClient(addr)
	defer pages.CloseIdleConnections()
	var (
		res       []publish.Result
		more      []itemFailure
		retracted []string
	)
	fails, warnings := feedItems(ctx, pages, fe, f.opts, seen, func(items []publish.Item) {
		if ctx.Err() != nil {
			return
		}
		r, m, rt := publishItems(f.pub, f.st, f.kd.trust.PublisherID(), items)
		res, more, retracted = append(res, r...), append(more, m...), append(retracted, rt...)
	})
	if ctx.Err() != nil {
		return
	}
	for _, w := range warnings {
		f.log.Warn("item skipped", "feed", fd.src, "warning", oneLine(w))
	}
	fails = append(fails, more...)
	for _, id := range retracted {
		f.log.Debug("item skipped: retracted", "feed", fd.src, "id", id)
	}
	for _, r := range res {
		if r.Unchanged {
			unchanged++
			continue
		}
		published++
		f.log.Info("published", "feed", fd.src, "id", r.ID, "revision", r.Revision, "digest", r.Digest.String())
	}
	for _, fl := range fails {
		f.log.Warn("item failed", "feed", fd.src, "id", fl.name, "err", oneLine(fl.err.Error()))
	}
	if len(fails) == 0 {
		fd.have = next
	}
	return published, unchanged, len(fails)
}
