//go:build !amd64 || goexperiment.simd

package backend

const simdBuild = true
