package backend_test

import (
	"fmt"
	"os"

	"github.com/mtlora/mtlora/backend"
)

// The backend comes from the environment, never from model code: GOMLX_BACKEND unset means the pure-Go
// backend, built in and needing no setup.
func ExampleName() {
	os.Unsetenv("GOMLX_BACKEND")
	b, err := backend.New()
	if err != nil {
		panic(err)
	}
	fmt.Println(backend.Name(), b.Name())
	// Output:
	// go Go Backend
}
