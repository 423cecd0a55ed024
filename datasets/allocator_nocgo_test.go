//go:build !cgo

package datasets

import "github.com/apache/arrow-go/v18/arrow/memory"

func cAllocators() map[string]memory.Allocator { return nil }
