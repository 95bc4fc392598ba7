package netlimit

// FDLimit is fdLimit, for tests.
var FDLimit = fdLimit
