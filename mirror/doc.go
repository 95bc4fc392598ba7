// Package mirror is samizdat's node, the program a volunteer runs to copy
// and serve publishers' bundles, assembled from its sub-packages: the
// on-disk store shared by publishers and mirrors (store), the sync
// protocol's sessions (session), replication between nodes over them
// (replica), and the HTTP handler (web).
// The formats it keeps (catalog, bundle, keys) live at the top level, so
// readers can use them without the node.
//
// A Config says what a mirror carries and where it listens; LoadConfig
// reads one from a mirror.toml file (dist/mirror.toml in the repository
// documents every setting), and Check reports its mistakes as
// *ConfigError. Run runs a mirror until its context ends; Start and
// Shutdown do the same in two steps, for callers that need the bound
// addresses.
//
//	cfg, err := mirror.LoadConfig("/etc/samizdat/mirror.toml")
//	if err != nil {
//		return err
//	}
//	cfg.Logger = slog.Default()
//	return mirror.Run(ctx, cfg)
package mirror
