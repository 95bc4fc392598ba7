// Package mirror is the home of samizdat's node: its sub-packages hold the
// publisher catalog (catalog), the on-disk store shared by publishers and
// mirrors (store), the turning of article files into bundles (source),
// publishing into a store (publish) and offline copies (export).
package mirror
