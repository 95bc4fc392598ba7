//go:build race

package main

// crashRace is set when the tests run under the race detector: the
// samizdat binary the crash test builds is then built with it too.
const crashRace = true
