//go:build race

package reader_test

// raceDetector is set when the tests run under the race detector, whose
// tenfold slowdown would make a log of 100,000 leaves take minutes to
// build: the cost tests then measure the small log only.
const raceDetector = true
