//go:build cgo && !noxla

package backend

import "github.com/gomlx/go-xla/compute/xla"

// XLA (PJRT plugins for CPU and GPU) is compiled into every build with cgo (a C compiler); build with
// CGO_ENABLED=0 or -tags noxla for a binary with the pure-Go backend only. go-xla's auto-installer, which
// downloads plugins from GitHub, is not imported: plugins come from `mtlora fetch-assets -xla` or your own.
func init() {
	xlaCompiled = true
	xlaPlugins = func() []string { return xla.GetAvailablePlugins() }
}
