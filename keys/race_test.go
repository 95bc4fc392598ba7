//go:build race

package keys

// raceEnabled is true when the tests run under the race detector, which
// makes scrypt several times slower.
const raceEnabled = true
