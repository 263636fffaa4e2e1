// Package archtest holds no code: its tests keep the architecture of
// docs/architecture.md true. imports_test.go checks who may import whom
// (the "Dependencies point one way" map) with go list; cyclo_test.go
// refuses a new non-test function above cyclomatic complexity 15. Each
// keeps an explicit list of today's exceptions, every one a known debt that
// may shrink and never grow.
package archtest
