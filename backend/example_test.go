package backend_test

import (
	"fmt"

	"github.com/mtlora/mtlora/backend"
)

// The backend comes from the environment ($GOMLX_BACKEND; unset: the pure-Go backend, built in), never from
// model code. The Go backend's SIMD kernels need a build with GOEXPERIMENT=simd, as the README's commands set.
func ExampleSIMD() {
	b, err := backend.New()
	if err != nil {
		panic(err)
	}
	defer b.Finalize()
	fmt.Println(backend.SIMD())
	// Output:
	// true
}
