//go:build cgo

package datasets

import (
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/memory/mallocator"
)

// cAllocators is arrow-go's C allocator (malloc and free), built with cgo.
func cAllocators() map[string]memory.Allocator {
	return map[string]memory.Allocator{"C (mallocator)": mallocator.NewMallocator()}
}
