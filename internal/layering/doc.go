// Package layering holds no code: its tests enforce the project's layout.
// TestLayering lists every package's dependencies with `go list -deps` and
// checks them against the rules in layering_test.go (which packages may link
// which); TestPackageDocs checks that every package, internal and cmd ones
// included, has a doc comment.
package layering
