// Package mirror is the home of samizdat's node, the program a volunteer
// runs to copy and serve publishers' bundles: its sub-packages hold the
// on-disk store shared by publishers and mirrors (store), replication
// between nodes and its wire sessions, and the HTTP handler (web). The
// formats it keeps (catalog, bundle, keys) live at the top level, so
// readers can use them without the node.
package mirror
