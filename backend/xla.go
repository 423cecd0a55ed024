//go:build xla

package backend

// With -tags xla the XLA backend (PJRT plugins for CPU/GPU) is compiled in. It is used only when
// GOMLX_BACKEND selects it, e.g. GOMLX_BACKEND=xla:cpu or xla:cuda.
import _ "github.com/gomlx/go-xla/compute/xla"
