package main

import (
	"fmt"
	"strings"

	"github.com/samizdat-news/samizdat/mirror/static"
	"github.com/samizdat-news/samizdat/mirror/store"
)

const exportStaticHelp = `Writes every publisher the store holds as a static mirror: the files readers
fetch (key statement, checkpoint, mirror list, tiles, bundles), the pages
people read and the browser verifier page (verify.html, which reads the
export it sits in), as plain files any web server, CDN or bucket can
serve under any path. Readers give its URL as a mirror (samizdat fetch -m
URL).

Run it again to update the export: files that never change are written
once, pages when they changed, and each checkpoint last.

-o s3://BUCKET/PREFIX uploads to an S3-compatible bucket instead. The
credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
AWS_SESSION_TOKEN (optional); the region from AWS_REGION (optional).
--s3-endpoint names the server (default https://s3.amazonaws.com); http://
is allowed for a loopback address, elsewhere only with --s3-allow-http.
The store must not be open in a running mirror: a mirror keeps its own
export up to date with samizdat mirror --export-static.`

func runExportStatic(e *env, args []string) error {
	fs := newFlags(e, "export-static", "-s STORE -o DIR|s3://BUCKET/PREFIX [flags]\n\n"+exportStaticHelp)
	storeDir := fs.String("s", "", "the store to export")
	out := fs.String("o", "", "the directory to write, or s3://BUCKET/PREFIX")
	site := fs.String("site-name", "", "the name shown in page headers (default \"samizdat mirror\")")
	endpoint := fs.String("s3-endpoint", "", "the S3 server's URL (default https://s3.amazonaws.com)")
	allowHTTP := fs.Bool("s3-allow-http", false, "allow an http:// S3 endpoint that is not on loopback (credentials' signatures and objects cross the network in the clear)")
	proofs := fs.Int("index-proofs", 0, "write full index proofs for this many of each publisher's most recently changed articles (0: 100; -1: none): every export writes them anew, one file each; every article has a split proof, rewritten only where the index changed")
	rewrite := fs.Bool("rewrite-pages", false, "write every page again, changed or not")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn or error")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *storeDir == "" || *out == "" || len(pos) != 0 {
		return usagef("want -s STORE -o DIR|s3://BUCKET/PREFIX and no arguments")
	}
	if !strings.HasPrefix(*out, "s3://") && (*endpoint != "" || *allowHTTP) {
		return usagef("--s3-endpoint and --s3-allow-http go with -o s3://BUCKET/PREFIX")
	}
	if strings.HasPrefix(*out, "s3://") {
		if _, _, err := static.ParseS3URL(*out); err != nil {
			return usagef("%v", err)
		}
	}
	sink, err := static.NewSink(*out, s3Config(e, *endpoint, *allowHTTP))
	if err != nil {
		return &lineError{err.Error()}
	}
	st, err := store.Open(*storeDir, &store.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer st.Close()
	stats, err := static.Export(e.ctx, st, sink, &static.Options{SiteName: *site, Logger: newLogger(e, *logLevel), RewritePages: *rewrite, IndexProofs: *proofs})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "exported %d publisher(s) to %s: %d files written (%d bytes), %d unchanged, %d removed, %d left out\n",
		stats.Publishers, sink, stats.Written, stats.Bytes, stats.Skipped, stats.Deleted, len(stats.Left))
	return nil
}

// s3Config is the S3 server and credentials of an export: the endpoint
// and AllowHTTP from flags, the credentials and region from the standard
// AWS environment variables.
func s3Config(e *env, endpoint string, allowHTTP bool) *static.S3Config {
	return &static.S3Config{Endpoint: endpoint, AllowHTTP: allowHTTP,
		AccessKey: e.getenv("AWS_ACCESS_KEY_ID"), SecretKey: e.getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken: e.getenv("AWS_SESSION_TOKEN"), Region: e.getenv("AWS_REGION")}
}
